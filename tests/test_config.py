"""Study files: the shipped ones load; every kind of mistake is refused with file, key, reason."""

import pickle
from pathlib import Path

import pytest

from nnsweep.config import (
    ParamSpec,
    StudyChangedError,
    StudyFileError,
    StudySpec,
    changed_keys,
    load_study,
    parse_overrides,
    study_fingerprint,
)
from nnsweep.estimator import check_estimator_params

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "studies").glob("*.toml"))
# NeuralNetworkClassifier().get_params().keys()
PARAMS = (
    "hidden_layer_sizes activation learning_rate momentum nesterov "
    "learning_rate_schedule learning_rate_decay decay_steps l1_penalty l2_penalty dropout_rate "
    "input_dropout_rate max_norm batch_size max_epochs early_stopping validation_fraction "
    "n_iter_no_change tol dtype warm_start random_state verbose epoch_callback"
).split()
BASE = 'name = "t"\n[data]\nname = "digits"\n'
ENV = ("MLFLOW_TRACKING_URI", "NNSWEEP_DATA_DIR", "DASK_SCHEDULER_ADDRESS")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


def write(tmp_path, text, name="study.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path, text, **kwargs):
    return load_study(write(tmp_path, text), estimator_params=PARAMS, **kwargs)


def rendered(key):
    """How a dotted key appears in a message: ``[section] leaf``."""
    section, _, leaf = key.rpartition(".")
    return f"[{section}] {leaf}" if section else key


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_study_loads(path):
    spec = load_study(path, estimator_params=PARAMS, estimator_check=check_estimator_params)
    assert spec.name == path.stem  # study name = file name = journal file stem
    assert spec.search_space and spec.source_text == path.read_text()


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_study_values_are_accepted_by_the_estimator(path):
    from nnsweep.estimator import NeuralNetworkClassifier

    spec = load_study(path, estimator_params=PARAMS)
    fixed = dict(spec.estimator)
    NeuralNetworkClassifier(**fixed)._validate_params()
    for p in spec.search_space:
        for value in (p.low, p.high, p.off, *p.choices):
            if value is not None:
                value = (value,) * p.max_layers if p.type == "layers" else value
                NeuralNetworkClassifier(**fixed, **{p.name: value})._validate_params()


def test_names_match_the_estimator_and_the_loader():
    from nnsweep import config, datasets
    from nnsweep.estimator import NeuralNetworkClassifier

    assert set(PARAMS) == set(NeuralNetworkClassifier().get_params())
    assert config.DATASETS == datasets.DATASETS


def test_shipped_studies_exist():
    names = {p.stem for p in STUDIES}
    assert {"digits", "mnist", "fashion-mnist", "softmax-regression", "quick"} <= names


def test_digits_protocol():
    spec = load_study(ROOT / "studies" / "digits.toml", estimator_params=PARAMS)
    assert (spec.data.name, spec.data.test_size, spec.data.split_seed) == ("digits", 0.25, 0)
    assert (spec.cv.n_splits, spec.cv.stratified, spec.cv.shuffle, spec.cv.seed) == (
        5,
        True,
        True,
        0,
    )
    assert spec.metric == "accuracy"
    assert (spec.budget.n_trials, spec.budget.timeout) == (60, 170.0)
    assert (spec.pruner.name, spec.pruner.n_warmup_steps) == ("median", 10)
    decay = {p.name: p for p in spec.search_space}["learning_rate_decay"]
    assert decay == ParamSpec("learning_rate_decay", "float", 1e-3, 0.1, True, off=0.0)
    assert dict(spec.estimator)["learning_rate_schedule"] == "exponential"


def test_minimal_study_defaults(tmp_path):
    spec = load(tmp_path, BASE)
    assert spec.budget.n_trials == 20 and spec.budget.timeout is None
    assert spec.storage.url == "mlruns/optuna/t.log"
    assert spec.tracking.uri == "sqlite:///mlruns/mlflow.db"
    assert spec.tracking.experiment == "t"
    assert (spec.sampler.name, spec.pruner.name, spec.workers.n_jobs) == ("tpe", "median", 0)
    assert spec.search_space == () and spec.estimator == ()
    assert spec.path.endswith("study.toml") and spec.source_text == BASE


def test_spec_is_frozen_hashable_and_picklable():
    spec = load_study(ROOT / "studies" / "digits.toml")
    assert isinstance(spec, StudySpec)
    assert pickle.loads(pickle.dumps(spec)) == spec
    hash(spec)
    with pytest.raises(AttributeError):
        spec.budget.n_trials = 1


def test_timeout_only_means_no_trial_limit(tmp_path):
    assert load(tmp_path, BASE + "[budget]\ntimeout = 60\n").budget.n_trials is None


def test_environment_fills_defaults_and_file_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("NNSWEEP_DATA_DIR", "/data")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://env:8786")
    text = 'name = "t"\n[data]\nname = "mnist"\n[workers]\nbackend = "dask"\n'
    spec = load(tmp_path, text)
    assert spec.tracking.uri == "http://mlflow:5000"
    assert spec.data.data_dir == "/data" and spec.workers.scheduler == "tcp://env:8786"
    spec = load(tmp_path, text + 'scheduler = "tcp://file:8786"\n[tracking]\nuri = "file:x"\n')
    assert spec.workers.scheduler == "tcp://file:8786" and spec.tracking.uri == "file:x"


def test_search_space_entries(tmp_path):
    text = BASE + (
        '[search_space.l2_penalty]\ntype = "float"\nlow = 1e-5\nhigh = 1\nlog = true\noff = 0\n'
        '[search_space.batch_size]\ntype = "int"\nlow = 64\nhigh = 512\nstep = 64\n'
        '[search_space.activation]\ntype = "categorical"\nchoices = ["relu", "tanh"]\n'
    )
    l2, batch, act = load(tmp_path, text).search_space
    assert l2 == ParamSpec("l2_penalty", "float", 1e-5, 1.0, True, None, (), 0.0)
    assert isinstance(l2.high, float) and isinstance(l2.off, float)
    assert batch == ParamSpec("batch_size", "int", 64, 512, step=64)
    assert act == ParamSpec("activation", "categorical", choices=("relu", "tanh"))


def test_csv_with_existing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,label\n1,0\n")
    text = 'name = "t"\n[data]\nname = "csv"\npath = "d.csv"\nlabel_column = "label"\n'
    assert load(tmp_path, text).data.path == "d.csv"


def test_estimator_keys_unchecked_without_estimator_params(tmp_path):
    spec = load_study(write(tmp_path, BASE + "[estimator]\nanything = 1\n"))
    assert spec.estimator == (("anything", 1),)


SS = '[search_space.learning_rate]\ntype = "float"\n'
# fmt: off
INVALID = [
    # (id, toml, key, fragment)
    ("typo-section", BASE + '[smapler]\nname = "tpe"\n', "smapler", 'did you mean "sampler"'),
    ("typo-key", BASE + "[cv]\nn_split = 3\n", "cv.n_split", 'did you mean "n_splits"'),
    ("key-wrong-table", BASE + "[sampler]\nn_warmup_steps = 3\n", "sampler.n_warmup_steps",
     "in [pruner]"),
    ("top-level-key-in-table", BASE + '[cv]\nmetric = "f1_macro"\n', "cv.metric",
     "put it above the first [table]"),
    ("unknown-estimator-param", BASE + "[estimator]\nlearnig_rate = 0.1\n",
     "estimator.learnig_rate", 'did you mean "learning_rate"'),
    ("unknown-tuned-param", BASE + '[search_space.lr]\ntype = "float"\nlow = 0.1\nhigh = 1\n',
     "search_space.lr", "not a parameter of the estimator"),
    ("unknown-param-key", BASE + SS + "low = 0.1\nhigh = 1\nlog_scale = true\n",
     "search_space.learning_rate.log_scale", 'did you mean "log"'),
    ("str-for-int", BASE + '[budget]\nn_trials = "10"\n', "budget.n_trials", '"10" (a string)'),
    ("bool-for-int", BASE + "[cv]\nn_splits = true\n", "cv.n_splits", "true (a boolean)"),
    ("list-for-float", BASE + "test_size = [0.2]\n",
     "data.test_size", "(a list)"),
    ("float-for-int-bound", BASE + '[search_space.batch_size]\ntype = "int"\n'
     "low = 1.5\nhigh = 8\n", "search_space.batch_size.low", "expected an integer"),
    ("nan", BASE + SS + "low = nan\nhigh = 1\n", "search_space.learning_rate.low", "got nan"),
    ("low>high", BASE + SS + "low = 0.5\nhigh = 0.1\n", "search_space.learning_rate.low",
     "expected < high = 0.1, got 0.5"),
    ("low==high-float", BASE + SS + "low = 0.5\nhigh = 0.5\n", "search_space.learning_rate.low",
     "expected < high"),
    ("log-low<=0", BASE + SS + "low = -1\nhigh = 1\nlog = true\n",
     "search_space.learning_rate.low", "> 0 with log = true"),
    ("step-with-log", BASE + SS + "low = 0.1\nhigh = 1\nlog = true\nstep = 0.1\n",
     "search_space.learning_rate.step", "no step with log"),
    ("step-not-dividing", BASE + '[search_space.batch_size]\ntype = "int"\nlow = 64\n'
     "high = 500\nstep = 64\n", "search_space.batch_size.step", "divisor of high - low"),
    ("missing-type", BASE + "[search_space.learning_rate]\nlow = 0.1\nhigh = 1\n",
     "search_space.learning_rate.type", "missing required key"),
    ("missing-high", BASE + SS + "low = 0.1\n", "search_space.learning_rate.high",
     "missing required key"),
    ("choices-on-float", BASE + SS + 'low = 0.1\nhigh = 1\nchoices = [0.1]\n',
     "search_space.learning_rate.choices", "unknown key"),
    ("empty-choices", BASE + '[search_space.activation]\ntype = "categorical"\nchoices = []\n',
     "search_space.activation.choices", "non-empty list"),
    ("duplicate-choices", BASE + '[search_space.max_norm]\ntype = "categorical"\n'
     "choices = [2, 2.0]\n", "search_space.max_norm.choices", "distinct"),
    ("fixed-and-tuned", BASE + "[estimator]\nlearning_rate = 0.1\n" + SS + "low = 0.1\nhigh = 1\n",
     "search_space.learning_rate", "also fixed in [estimator]"),
    ("list-estimator-value", BASE + "[estimator]\nhidden_layer_sizes = [1.5]\n",
     "estimator.hidden_layer_sizes", "expected a string, number, boolean or list of integers"),
    ("unknown-data-set", 'name = "t"\n[data]\nname = "cifar"\n', "data.name",
     'one of "digits", "mnist"'),
    ("missing-data-name", 'name = "t"\n[data]\nsubset = 10\n', "data.name",
     "missing required key"),
    ("missing-data", 'name = "t"\n', "data.name", "missing required key"),
    ("csv-without-path", 'name = "t"\n[data]\nname = "csv"\n', "data.path",
     "missing required key"),
    ("csv-path-not-found", 'name = "t"\n[data]\nname = "csv"\npath = "nope.csv"\n', "data.path",
     "expected an existing file"),
    ("path-for-digits", BASE + 'path = "x.npz"\n', "data.path", 'not used with name = "digits"'),
    ("bad-preprocessing", BASE + 'preprocessing = "zscore"\n', "data.preprocessing",
     '"standard"'),
    ("zero-subset", BASE + "subset = 0\n", "data.subset", "an integer >= 1"),
    ("unknown-sampler", BASE + '[sampler]\nname = "bayes"\n', "sampler.name", '"tpe"'),
    ("sampler-option-mismatch", BASE + '[sampler]\nname = "random"\nmultivariate = false\n',
     "sampler.multivariate", 'not used with name = "random", only with "tpe"'),
    ("grid-with-float", BASE + '[sampler]\nname = "grid"\n' + SS + "low = 0.1\nhigh = 1\n",
     "search_space.learning_rate", "got a float range"),
    ("grid-int-no-step", BASE + '[sampler]\nname = "grid"\n[search_space.batch_size]\n'
     'type = "int"\nlow = 1\nhigh = 4\n', "search_space.batch_size", "int range without step"),
    ("unknown-pruner", BASE + '[pruner]\nname = "asha"\n', "pruner.name", '"hyperband"'),
    ("pruner-option-mismatch", BASE + '[pruner]\nname = "median"\nmin_resource = 3\n',
     "pruner.min_resource", '"successive_halving", "hyperband"'),
    ("pruner-option-default", BASE + "[pruner]\nreduction_factor = 3\n",
     "pruner.reduction_factor", 'name = "median"'),
    ("unknown-metric", 'name = "t"\nmetric = "auc"\n[data]\nname = "digits"\n', "metric",
     '"neg_log_loss"'),
    ("n_splits<2", BASE + "[cv]\nn_splits = 1\n", "cv.n_splits", "an integer >= 2"),
    ("zero-timeout", BASE + "[budget]\ntimeout = 0\n", "budget.timeout", "a number > 0"),
    ("n_jobs<-1", BASE + "[workers]\nn_jobs = -2\n", "workers.n_jobs", "or -1"),
    ("scheduler-with-loky", BASE + '[workers]\nscheduler = "tcp://h:8786"\n',
     "workers.scheduler", 'not used with backend = "loky"'),
    ("bad-storage-url", BASE + '[storage]\nurl = "optuna.db"\n', "storage.url", "ending in .log"),
    ("heartbeat-with-journal", BASE + "[storage]\nheartbeat_interval = 60\n",
     "storage.heartbeat_interval", "only for RDB storages"),
    ("section-not-table", 'name = "t"\ndata = "digits"\n', "data", "expected a table"),
    ("missing-name", '[data]\nname = "digits"\n', "name", "missing required key"),
    ("bad-name", 'name = "my study"\n[data]\nname = "digits"\n', "name", "A-Z a-z 0-9"),
    ("top-level-key-of-a-table", BASE.replace("[data]", "n_trials = 3\n[data]"), "n_trials",
     "in [budget]"),
    ("invalid-toml", 'name = "t"\n[data]\nname "digits"\n', None, "invalid TOML"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), [c[1:] for c in INVALID],
                         ids=[c[0] for c in INVALID])
# fmt: on
@pytest.mark.parametrize("checked", [False, True], ids=["names", "names+values"])
def test_invalid_study_is_refused(tmp_path, monkeypatch, text, key, fragment, checked):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, text)
    check = check_estimator_params if checked else None
    with pytest.raises(StudyFileError) as info:
        load_study(path, estimator_params=PARAMS, estimator_check=check)
    message = str(info.value)
    assert info.value.path == str(path) and message.startswith(f"{path}: ")
    assert info.value.key == key
    if key:
        assert rendered(key) in message
    assert fragment in message
    assert isinstance(info.value, ValueError)


def test_error_message_format(tmp_path):
    path = write(tmp_path, BASE + SS + "low = 0\nhigh = 1\nlog = true\n")
    with pytest.raises(StudyFileError) as info:
        load_study(path)
    expected = "[search_space.learning_rate] low: expected a number > 0 with log = true, got 0"
    assert str(info.value) == f"{path}: {expected}"
    assert info.value.key == "search_space.learning_rate.low"


def test_invalid_toml_reports_the_line(tmp_path):
    path = write(tmp_path, 'name = "t"\n[data]\nname "digits"\n')
    with pytest.raises(StudyFileError, match=r"line 3") as info:
        load_study(path)
    assert 'name "digits"' in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(StudyFileError, match="cannot read"):
        load_study(tmp_path / "nope.toml")


def test_overrides_are_coerced(tmp_path):
    overrides = parse_overrides(
        [
            "budget.n_trials=3",
            "budget.timeout=5",
            "workers.n_jobs=1",
            "cv.shuffle=false",
            "storage.url=sqlite:///a=b.db",
            "tracking.uri=file:/tmp/mlruns",
            "tracking.experiment=123",
            "estimator.activation=tanh",
            "estimator.max_epochs=5",
            "search_space.learning_rate.high=.3",
        ]
    )
    assert overrides["storage.url"] == "sqlite:///a=b.db"
    digits = ROOT / "studies" / "digits.toml"
    spec = load_study(digits, estimator_params=PARAMS, overrides=overrides)
    assert spec.budget.n_trials == 3 and isinstance(spec.budget.n_trials, int)
    assert spec.budget.timeout == 5.0 and spec.workers.n_jobs == 1 and spec.cv.shuffle is False
    assert spec.storage.url == "sqlite:///a=b.db" and spec.tracking.uri == "file:/tmp/mlruns"
    assert spec.tracking.experiment == "123"
    assert dict(spec.estimator)["activation"] == "tanh"
    assert dict(spec.estimator)["max_epochs"] == 5
    assert {p.name: p for p in spec.search_space}["learning_rate"].high == 0.3
    assert ("budget.n_trials", 3) in spec.overrides
    assert "n_trials = 60" in spec.source_text  # the file as written; overrides kept apart


def test_override_with_typed_values(tmp_path):
    spec = load(tmp_path, BASE, overrides={"budget.n_trials": 10, "sampler.name": "random"})
    assert spec.budget.n_trials == 10 and spec.sampler.name == "random"


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"budget.n_trial": "3"}, "budget.n_trial", 'did you mean "n_trials"'),
        ({"budgett.n_trials": "3"}, "budgett", 'did you mean "budget"'),
        ({"budget.n_trials": "ten"}, "budget.n_trials", '"ten" (a string)'),
        ({"budget.n_trials": "0"}, "budget.n_trials", "an integer >= 1"),
        ({"name.x": "1"}, "name", "not a table"),
        ({"pruner.min_resource": "2"}, "pruner.min_resource", "not used with"),
    ],
)
def test_bad_override_is_refused(tmp_path, overrides, key, fragment):
    with pytest.raises(StudyFileError) as info:
        load(tmp_path, BASE, overrides=overrides)
    assert info.value.key == key and fragment in str(info.value)
    assert "study.toml" in str(info.value) and "override" in str(info.value)


@pytest.mark.parametrize("item", ["budget.n_trials", "=3", ""])
def test_parse_overrides_rejects_malformed_items(item):
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides([item])


def test_parse_overrides_last_wins():
    assert parse_overrides(["a.b=1", " a.b = 2 "]) == {"a.b": "2"}


def test_override_of_a_list_keeps_the_spec_hashable(tmp_path):
    text = BASE + '[search_space.activation]\ntype = "categorical"\nchoices = ["relu"]\n'
    spec = load(tmp_path, text, overrides={"search_space.activation.choices": '["tanh", "relu"]'})
    assert spec.search_space[0].choices == ("tanh", "relu")
    hash(spec)


# Estimator values, checked at load with the estimator's own constraints (issue 11).
def load_checked(tmp_path, text, **kwargs):
    path = write(tmp_path, text)
    return load_study(
        path, estimator_params=PARAMS, estimator_check=check_estimator_params, **kwargs
    )


# fmt: off
BAD_VALUES = [
    # (id, toml after BASE, key, the message after "path: ")
    ("dropout-1.5", "[estimator]\ndropout_rate = 1.5\n", "estimator.dropout_rate",
     "[estimator] dropout_rate: expected a float in the range [0.0, 1.0), got 1.5"),
    ("max-epochs-word", '[estimator]\nmax_epochs = "five"\n', "estimator.max_epochs",
     '[estimator] max_epochs: expected an int in the range [1, inf), got "five" (a string)'),
    ("float-for-int", "[estimator]\nbatch_size = 16.5\n", "estimator.batch_size",
     "[estimator] batch_size: expected an int in the range [1, inf), got 16.5 (a float)"),
    ("unknown-option", '[estimator]\nactivation = "gelu"\n', "estimator.activation",
     'got "gelu"'),
    ("string-for-bool", '[estimator]\nnesterov = "yes"\n', "estimator.nesterov",
     "\'bool\'"),
    ("tuned-high", SS.replace("learning_rate", "dropout_rate") + "low = 0.1\nhigh = 1.5\n",
     "search_space.dropout_rate.high",
     "[search_space.dropout_rate] high: expected a float in the range [0.0, 1.0), got 1.5"),
    ("tuned-low", SS.replace("learning_rate", "momentum") + "low = -0.5\nhigh = 0.9\n",
     "search_space.momentum.low", "got -0.5"),
    ("tuned-off", SS.replace("learning_rate", "l2_penalty")
     + "low = 1e-5\nhigh = 1\nlog = true\noff = -1\n", "search_space.l2_penalty.off", "got -1.0"),
    ("tuned-float-range-of-int", '[search_space.batch_size]\ntype = "float"\nlow = 16\n'
     "high = 64\n", "search_space.batch_size.low",
     "expected an int in the range [1, inf), got 16.0 (a float)"),
    ("tuned-choice", '[search_space.activation]\ntype = "categorical"\n'
     'choices = ["relu", "gelu"]\n', "search_space.activation.choices", 'got "gelu"'),
]
# fmt: on


@pytest.mark.parametrize(("text", "key", "message"), [c[1:] for c in BAD_VALUES],
                         ids=[c[0] for c in BAD_VALUES])  # fmt: skip
def test_value_the_estimator_refuses_is_refused_at_load(tmp_path, text, key, message):
    with pytest.raises(StudyFileError) as info:
        load_checked(tmp_path, BASE + text)
    path = tmp_path / "study.toml"
    assert info.value.key == key and info.value.path == str(path)
    assert str(info.value).startswith(f"{path}: {rendered(key)}: expected ")
    assert message in str(info.value)


def test_good_values_load_with_the_check(tmp_path):
    text = BASE + (
        '[estimator]\ndropout_rate = 0.5\nmax_epochs = 5\nactivation = "tanh"\nnesterov = true\n'
        "learning_rate = 1\n"  # an integer is a float
        '[search_space.momentum]\ntype = "float"\nlow = 0.0\nhigh = 0.99\n'
        '[search_space.batch_size]\ntype = "categorical"\nchoices = [16, 32]\n'
    )
    spec = load_checked(tmp_path, text)
    assert dict(spec.estimator) == {
        "dropout_rate": 0.5,
        "max_epochs": 5,
        "activation": "tanh",
        "nesterov": True,
        "learning_rate": 1,
    }
    assert [p.name for p in spec.search_space] == ["momentum", "batch_size"]


def test_value_from_an_override_names_the_override(tmp_path):
    with pytest.raises(StudyFileError) as info:
        load_checked(tmp_path, BASE, overrides={"estimator.dropout_rate": "1.5"})
    assert info.value.key == "estimator.dropout_rate"
    assert str(info.value).endswith("got 1.5 (from override estimator.dropout_rate)")


def test_values_unchecked_without_the_check(tmp_path):
    # config itself knows no estimator: the caller's check is what refuses values
    spec = load(tmp_path, BASE + "[estimator]\ndropout_rate = 1.5\n")
    assert dict(spec.estimator) == {"dropout_rate": 1.5}


def test_check_is_called_one_parameter_at_a_time(tmp_path):
    seen = []

    def check(params):
        seen.append(dict(params))
        if params.get("batch_size") == 7:
            raise ValueError("an even integer")

    text = BASE + "[estimator]\nmax_epochs = 3\nbatch_size = 7\n" + SS + "low = 0.1\nhigh = 1\n"
    with pytest.raises(StudyFileError, match=r"\] batch_size: expected an even integer, got 7$"):
        load_study(write(tmp_path, text), estimator_check=check)
    assert seen == [{"max_epochs": 3}, {"batch_size": 7}]
    seen.clear()
    load_study(write(tmp_path, text.replace("= 7", "= 8")), estimator_check=check)
    assert seen == [
        {"max_epochs": 3},
        {"batch_size": 8},
        {"learning_rate": 0.1},
        {"learning_rate": 1.0},
    ]


def test_search_space_bounds_still_refused_as_before_with_the_check(tmp_path):
    # the schema's own checks come first: the same error as without the estimator's check
    text = BASE + SS.replace("learning_rate", "dropout_rate") + "low = 0.5\nhigh = 0.1\n"
    with pytest.raises(StudyFileError) as info:
        load_checked(tmp_path, text)
    assert info.value.key == "search_space.dropout_rate.low"
    assert "expected < high = 0.1, got 0.5" in str(info.value)


# A study's identity for resuming it (issue 11).
STUDY = (
    'name = "t"\n[data]\nname = "digits"\nsubset = 300\n'
    "[estimator]\nmax_epochs = 5\nbatch_size = 32\n"
    '[search_space.learning_rate]\ntype = "float"\nlow = 0.01\nhigh = 0.3\nlog = true\n'
    '[search_space.activation]\ntype = "categorical"\nchoices = ["relu", "tanh"]\n'
    "[cv]\nn_splits = 3\n[budget]\nn_trials = 10\n"
)
REORDERED = (  # the same study: other key and table order, comments, spacing, 32 as 0x20
    "# a comment\n[cv]\nn_splits   =   3\n\n[search_space.activation]\n"
    'choices = [ "relu", "tanh" ]  # two\ntype = "categorical"\n'
    "[estimator]\nbatch_size = 0x20\nmax_epochs = 5\n"
    '[search_space.learning_rate]\nlog = true\nhigh = 0.30\nlow = 1e-2\ntype = "float"\n'
    '[budget]\nn_trials = 10\n[data]\nsubset = 300\nname = "digits"\n'
).replace("[cv]", 'name = "t"\n[cv]', 1)


def fingerprint_of(tmp_path, text, name="study.toml", **kwargs):
    return study_fingerprint(load_study(write(tmp_path, text, name), **kwargs))


def test_fingerprint_is_json_and_survives_a_round_trip(tmp_path):
    import json

    fp = fingerprint_of(tmp_path, STUDY)
    assert list(fp) == ["data", "metric", "estimator", "search_space", "cv"]
    assert json.loads(json.dumps(fp)) == fp  # lists, not tuples
    assert fp["search_space"]["activation"]["choices"] == ["relu", "tanh"]
    assert fp["estimator"] == {"batch_size": 32, "max_epochs": 5}
    assert fp["cv"] == {"n_splits": 3, "stratified": True, "shuffle": True, "seed": 0}
    assert changed_keys(json.loads(json.dumps(fp)), fp) == []


def test_fingerprint_stable_across_key_order_and_formatting(tmp_path):
    import json

    a = fingerprint_of(tmp_path, STUDY, "a.toml")
    b = fingerprint_of(tmp_path, REORDERED, "b.toml")
    assert a == b and json.dumps(a) == json.dumps(b)
    assert changed_keys(a, b) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"budget.n_trials": "50"},
        {"budget.timeout": "60"},
        {"workers.n_jobs": "1"},
        {"storage.url": "sqlite:///other.db"},
        {"tracking.enabled": "false"},
        {"evaluation.refit": "false"},
        {"description": "longer"},
        {"sampler.name": "random"},
        {"pruner.name": "hyperband"},
    ],
    ids=lambda o: next(iter(o)),
)
def test_settings_outside_the_fingerprint_are_not_a_change(tmp_path, overrides):
    spec = load_study(write(tmp_path, STUDY))
    assert study_fingerprint(load_study(spec.path, overrides=overrides)) == study_fingerprint(spec)


def test_changed_keys_lists_each_changed_leaf(tmp_path):
    stored = fingerprint_of(tmp_path, STUDY)
    overrides = {
        "estimator.max_epochs": "8",
        "search_space.learning_rate.high": "0.5",
        "cv.shuffle": "false",
        "metric": "f1_macro",
        "data.subset": "400",
        "budget.n_trials": "30",  # not a change
    }
    current = study_fingerprint(load_study(tmp_path / "study.toml", overrides=overrides))
    assert changed_keys(stored, current) == [
        "data.subset",
        "metric",
        "estimator.max_epochs",
        "search_space.learning_rate.high",
        "cv.shuffle",
    ]


def test_changed_keys_added_and_removed_entries():
    stored = {"estimator": {"max_epochs": 5}, "search_space": {"lr": {"low": 0.1}}}
    current = {"estimator": {"dropout_rate": 0.2, "max_epochs": 5}, "search_space": {}}
    assert changed_keys(stored, current) == ["estimator.dropout_rate", "search_space.lr"]
    assert changed_keys(current, current) == []


def test_changed_keys_compares_as_settings():
    assert changed_keys({"a": 1}, {"a": 1.0}) == []  # the same number
    assert changed_keys({"a": True}, {"a": 1}) == ["a"]  # true is not 1
    assert changed_keys({"a": [1, 2]}, {"a": [2, 1]}) == ["a"]  # choices keep their order
    assert changed_keys({"a": None}, {}) == []  # a key one side lacks is unset
    assert changed_keys({"a": 0}, {}) == ["a"] and changed_keys({}, {"a": []}) == ["a"]
    assert changed_keys({"a": {"b": 1}}, {"a": 1}) == ["a"]


def test_data_digest_stands_for_the_data_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,label\n1,0\n")
    (tmp_path / "e.csv").write_text("a,label\n1,0\n")
    text = 'name = "t"\n[data]\nname = "csv"\npath = "d.csv"\n'
    d = load_study(write(tmp_path, text))
    e = load_study(d.path, overrides={"data.path": "e.csv"})
    assert changed_keys(study_fingerprint(d), study_fingerprint(e)) == ["data.path"]
    same, other = study_fingerprint(d, "abc"), study_fingerprint(e, "abc")
    assert "path" not in same["data"] and same == other  # the same content, moved
    assert changed_keys(same, study_fingerprint(d, "def")) == ["data.digest"]


def test_data_dir_is_not_part_of_the_study(tmp_path):
    text = 'name = "t"\n[data]\nname = "mnist"\n'
    a = fingerprint_of(tmp_path, text + 'data_dir = "/a"\n', "a.toml")
    b = fingerprint_of(tmp_path, text + 'data_dir = "/b"\n', "b.toml")
    assert a == b


def test_study_changed_error_names_file_study_changes_and_ways_out(tmp_path):
    stored = fingerprint_of(tmp_path, STUDY)
    text = STUDY.replace("max_epochs = 5", "max_epochs = 5\ndropout_rate = 0.2")
    text = text.replace("high = 0.3", "high = 0.5")
    text += '[search_space.momentum]\ntype = "float"\nlow = 0.5\nhigh = 0.99\n'
    spec = load_study(write(tmp_path, text, "new.toml"))
    error = StudyChangedError(spec.path, spec.name, stored, study_fingerprint(spec))
    assert isinstance(error, StudyFileError) and isinstance(error, ValueError)
    assert error.path == spec.path and error.study == "t" and error.key is None
    assert error.changed == [
        "estimator.dropout_rate",
        "search_space.learning_rate.high",
        "search_space.momentum",
    ]
    assert error.changes[1] == ("search_space.learning_rate.high", 0.3, 0.5)
    message = str(error)
    assert message.startswith(f'{spec.path}: study "t" already exists with other settings')
    assert "    estimator.dropout_rate: unset -> 0.2\n" in message
    assert "    search_space.learning_rate.high: 0.3 -> 0.5\n" in message
    momentum = '{type = "float", low = 0.5, high = 0.99, log = false}'
    assert f"    search_space.momentum: unset -> {momentum}\n" in message
    assert 'name = "..."' in message and "--accept-changes" in message


# The schema is declared once, as pydantic dataclasses (issue 12).
def test_unknown_key_message_in_full(tmp_path):
    path = write(tmp_path, BASE + SS + "lowe = 0.1\nhigh = 1\n")
    with pytest.raises(StudyFileError) as info:
        load_study(path)
    expected = (
        '[search_space.learning_rate] lowe: unknown key; did you mean "low"? '
        "(valid: type, low, high, log, step, off, when)"
    )
    assert str(info.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (BASE + '[sampler]\nname = "grid"\n' + SS + "low = 0.1\nhigh = 0.5\nstep = 0.1\n",
         "search_space.learning_rate", "got a float range"),
        (BASE + '[search_space.activation]\ntype = "categorical"\n',
         "search_space.activation.choices", "missing required key"),
        (BASE + '[search_space.activation]\ntype = "categorical"\nchoices = [[1]]\n',
         "search_space.activation.choices", "got [1] (a list) in the list"),
        (BASE + "[estimator]\nbatch_size = inf\n", "estimator.batch_size", "got inf (a float)"),
        (BASE + '[workers]\nbackend = "dask"\nscheduler = ""\n', "workers.scheduler",
         "a non-empty string"),
        ('path = "x"\n' + BASE, "path", "unknown key"),
        (BASE + SS + 'name = "momentum"\nlow = 0.1\nhigh = 1\n',
         "search_space.learning_rate.name", "unknown key"),
        (BASE + "[search_space]\nmomentum = 3\n", "search_space.momentum",
         "expected a table [search_space.momentum], got 3 (an integer)"),
        (BASE + "[search_space.batch_size]\ntype = \"int\"\nlow = 1\nhigh = 9\nstep = 0\n",
         "search_space.batch_size.step", "expected an integer > 0, got 0"),
        (BASE + "[evaluation]\nrefit_seeds = 100\n", "evaluation.refit_seeds",
         "expected an integer from 1 to 64, got 100"),
        (BASE + '[evaluation]\nchoose = "smallest"\n', "evaluation.choose",
         'expected one of "best", "simplest", got "smallest"'),
    ],
)  # fmt: skip
def test_more_invalid_studies(tmp_path, text, key, fragment):
    with pytest.raises(StudyFileError) as info:
        load(tmp_path, text)
    assert info.value.key == key and fragment in str(info.value)


def test_empty_tracking_uri_means_the_environment_then_the_default(tmp_path, monkeypatch):
    text = BASE + '[tracking]\nuri = ""\nexperiment = ""\n'
    assert load(tmp_path, text).tracking.uri == "sqlite:///mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    spec = load(tmp_path, text)
    assert spec.tracking.uri == "http://env:5000" and spec.tracking.experiment == "t"


def test_environment_fills_only_the_variant_that_uses_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSWEEP_DATA_DIR", "/data")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://env:8786")
    spec = load(tmp_path, BASE)  # digits, loky: neither takes them
    assert spec.data.data_dir is None and spec.workers.scheduler is None


def test_unpickling_reads_neither_the_filesystem_nor_the_environment(tmp_path, monkeypatch):
    # A worker (maybe on another host, in another directory) validates the spec again.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,label\n1,0\n")
    spec = load(tmp_path, 'name = "t"\n[data]\nname = "csv"\npath = "d.csv"\n')
    blob = pickle.dumps(spec)
    (tmp_path / "d.csv").unlink()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    again = pickle.loads(blob)
    assert again == spec and again.tracking.uri == "sqlite:///mlruns/mlflow.db"


def test_sections_built_directly_are_validated():
    from pydantic import ValidationError

    from nnsweep.config import CVSpec, DataSpec

    with pytest.raises(ValidationError):
        ParamSpec("learning_rate", "float", 0.5, 0.1)
    with pytest.raises(ValidationError):
        CVSpec(n_splits=1)
    assert issubclass(ValidationError, ValueError)
    spec = StudySpec(name="t", data=DataSpec("digits"))
    assert spec.cv == CVSpec() and spec.budget.n_trials == 20
    assert ParamSpec("x", "float", 1, 2).low == 1.0  # a float range's bounds are floats


# Conditional spaces (issue 19): a layers table for depth and widths, `when` on any table.
LAYERS = (
    '[search_space.hidden_layer_sizes]\ntype = "layers"\nmin_layers = 1\nmax_layers = 3\n'
    "low = 64\nhigh = 1024\nlog = true\n"
)
SCHEDULE = (
    '[search_space.learning_rate_schedule]\ntype = "categorical"\n'
    'choices = ["constant", "step", "exponential"]\n'
)
DECAY_STEPS = '[search_space.decay_steps]\ntype = "int"\nlow = 5\nhigh = 30\nstep = 5\n'
CONDITIONAL = (
    BASE + LAYERS + SCHEDULE + DECAY_STEPS + 'when = { learning_rate_schedule = "step" }\n'
    '[search_space.learning_rate_decay]\ntype = "float"\nlow = 1e-3\nhigh = 0.1\nlog = true\n'
    'when = { n_layers = [2, 3], learning_rate_schedule = ["exponential", "step"] }\n'
)


def test_a_layers_table_and_whens_load(tmp_path):
    spec = load_checked(tmp_path, CONDITIONAL)
    layers, schedule, steps, decay = spec.search_space
    assert layers == ParamSpec(
        "hidden_layer_sizes", "layers", 64, 1024, True, min_layers=1, max_layers=3
    )
    assert layers.drawn_as == "n_layers" and schedule.drawn_as == "learning_rate_schedule"
    assert steps.when == (("learning_rate_schedule", ("step",)),)
    # a table of conditions, in the order of its keys (the file's order does not matter)
    assert decay.when == (
        ("learning_rate_schedule", ("exponential", "step")),
        ("n_layers", (2, 3)),
    )
    assert schedule.when is None
    hash(spec)
    fp = study_fingerprint(spec)["search_space"]
    assert fp["decay_steps"]["when"] == [["learning_rate_schedule", ["step"]]]
    # min_layers defaults to 1; 0 allows softmax regression (no hidden layer)
    assert (
        load(tmp_path, BASE + LAYERS.replace("min_layers = 1\n", "")).search_space[0].min_layers
        == 1
    )
    assert load(tmp_path, BASE + LAYERS.replace("min_layers = 1", "min_layers = 0")).search_space


def test_a_when_may_name_an_int_by_its_values_and_its_off_value(tmp_path):
    ints = BASE + DECAY_STEPS + "off = 0\n" + SS + "low = 0.1\nhigh = 1\n"
    for value in ("10", "0", "[5, 30]"):
        assert load(tmp_path, ints + f"when = {{ decay_steps = {value} }}\n").search_space


def test_a_fixed_architecture_is_a_list_in_the_estimator_table(tmp_path):
    spec = load_checked(tmp_path, BASE + "[estimator]\nhidden_layer_sizes = [128, 64]\n")
    assert dict(spec.estimator) == {"hidden_layer_sizes": (128, 64)}
    spec = load_checked(tmp_path, BASE + "[estimator]\nhidden_layer_sizes = []\n")
    assert dict(spec.estimator) == {"hidden_layer_sizes": ()}  # softmax regression
    assert study_fingerprint(spec)["estimator"] == {"hidden_layer_sizes": []}


def test_a_study_without_the_new_keys_keeps_its_fingerprint(tmp_path):
    # a fingerprint stored before the schema had min_layers, max_layers and when
    current = fingerprint_of(tmp_path, STUDY)
    stored = {**current, "search_space": {}}
    for name, entry in current["search_space"].items():
        old = {k: v for k, v in entry.items() if k not in ("min_layers", "max_layers", "when")}
        stored["search_space"][name] = old
    assert stored != current and changed_keys(stored, current) == []


W = "search_space.decay_steps.when"
CONDITION = BASE + LAYERS + SCHEDULE + DECAY_STEPS
# fmt: off
BAD_CONDITIONAL = [
    # (id, toml, key, the message after "path: ")
    ("unknown-parameter", CONDITION + 'when = { learning_rate_schedul = "step" }\n', W,
     '[search_space.decay_steps] when: expected a [search_space] parameter, or n_layers for '
     'the layers\' depth, got "learning_rate_schedul"; did you mean "learning_rate_schedule"?'),
    ("the-layers-table-by-name", CONDITION + "when = { hidden_layer_sizes = 2 }\n", W,
     '[search_space.decay_steps] when: expected a [search_space] parameter, or n_layers for '
     'the layers\' depth, got "hidden_layer_sizes"; its depth is "n_layers"'),
    ("fixed-not-tuned", CONDITION + 'when = { activation = "relu" }\n', W,
     'got "activation"'),
    ("impossible-choice", CONDITION + 'when = { learning_rate_schedule = ["step", "stpe"] }\n', W,
     '[search_space.decay_steps] when: learning_rate_schedule: expected one of its choices '
     '"constant", "step", "exponential", got "stpe"'),
    ("impossible-depth", CONDITION + "when = { n_layers = 4 }\n", W,
     "[search_space.decay_steps] when: n_layers: expected an integer from 1 to 3, got 4"),
    ("float-for-depth", CONDITION + "when = { n_layers = 2.0 }\n", W,
     "n_layers: expected an integer from 1 to 3, got 2.0 (a float)"),
    ("int-off-its-step", BASE + DECAY_STEPS + SS + "low = 0.1\nhigh = 1\n"
     "when = { decay_steps = 7 }\n", "search_space.learning_rate.when",
     "[search_space.learning_rate] when: decay_steps: expected an integer from 5 to 30 by 5, "
     "got 7"),
    ("bool-for-int", BASE + DECAY_STEPS + SS + "low = 0.1\nhigh = 1\n"
     "when = { decay_steps = true }\n", "search_space.learning_rate.when", "got true (a boolean)"),
    ("float-condition", BASE + SS + "low = 0.1\nhigh = 1\n" + DECAY_STEPS
     + "when = { learning_rate = 0.1 }\n", W,
     "[search_space.decay_steps] when: learning_rate is a float range: only categorical, int "
     "and layers parameters can be conditions"),
    ("cycle", BASE + SCHEDULE + "when = { decay_steps = 5 }\n" + DECAY_STEPS
     + 'when = { learning_rate_schedule = "step" }\n', "search_space.learning_rate_schedule.when",
     "[search_space.learning_rate_schedule] when: a cycle of conditions: learning_rate_schedule "
     "-> decay_steps -> learning_rate_schedule (each drawn only when the next is)"),
    ("itself", CONDITION + "when = { decay_steps = 5 }\n", W,
     "a cycle of conditions: decay_steps -> decay_steps"),
    ("not-a-table", CONDITION + 'when = "step"\n', W,
     '[search_space.decay_steps] when: expected a table of parameter = value or [values], '
     'got "step" (a string)'),
    ("empty-list", CONDITION + "when = { learning_rate_schedule = [] }\n", W,
     "when: learning_rate_schedule: expected a value or a non-empty list of values, got [] "
     "(a list)"),
    ("table-for-a-value", CONDITION + "when = { learning_rate_schedule = { a = 1 } }\n", W,
     "learning_rate_schedule: expected a value or a non-empty list of values, got a table"),
    ("grid-with-a-when", BASE + '[sampler]\nname = "grid"\n' + SCHEDULE + DECAY_STEPS
     + 'when = { learning_rate_schedule = "step" }\n', "search_space.decay_steps",
     "[search_space] decay_steps: the grid sampler needs an unconditional space, got a when"),
    ("grid-with-depths", BASE + '[sampler]\nname = "grid"\n' + LAYERS,
     "search_space.hidden_layer_sizes",
     "the grid sampler needs an unconditional space, got n_layers from 1 to 3"),
    ("grid-widths-without-step", BASE + '[sampler]\nname = "grid"\n'
     + LAYERS.replace("max_layers = 3", "max_layers = 1"), "search_space.hidden_layer_sizes",
     "the grid sampler needs categorical choices or an int range with step, got layer widths "
     "without step"),
    ("min-over-max", BASE + LAYERS.replace("min_layers = 1", "min_layers = 4"),
     "search_space.hidden_layer_sizes.min_layers",
     "[search_space.hidden_layer_sizes] min_layers: expected <= max_layers = 3, got 4"),
    ("negative-depth", BASE + LAYERS.replace("min_layers = 1", "min_layers = -1"),
     "search_space.hidden_layer_sizes.min_layers", "expected an integer >= 0, got -1"),
    ("no-depth", BASE + LAYERS.replace("max_layers = 3", "max_layers = 0"),
     "search_space.hidden_layer_sizes.max_layers", "expected an integer >= 1, got 0"),
    ("missing-max-layers", BASE + LAYERS.replace("max_layers = 3\n", ""),
     "search_space.hidden_layer_sizes.max_layers",
     "missing required key; expected an integer >= 1"),
    ("zero-width", BASE + LAYERS.replace("low = 64\nhigh = 1024\nlog = true", "low = 0\nhigh = 8"),
     "search_space.hidden_layer_sizes.low",
     "[search_space.hidden_layer_sizes] low: expected an integer >= 1 (a layer's width), got 0"),
    ("negative-width", BASE + LAYERS.replace("low = 64\nhigh = 1024\nlog = true",
     "low = -8\nhigh = 8"), "search_space.hidden_layer_sizes.low", "got -8"),
    ("low-over-high", BASE + LAYERS.replace("low = 64", "low = 2048"),
     "search_space.hidden_layer_sizes.low", "expected <= high = 1024, got 2048"),
    ("float-width", BASE + LAYERS.replace("low = 64", "low = 64.5"),
     "search_space.hidden_layer_sizes.low", "expected an integer, got 64.5 (a float)"),
    ("off-on-layers", BASE + LAYERS + "off = 0\n", "search_space.hidden_layer_sizes.off",
     "unknown key (valid: type, low, high, log, step, min_layers, max_layers, when)"),
    ("depth-on-an-int", BASE + DECAY_STEPS + "max_layers = 2\n",
     "search_space.decay_steps.max_layers", "unknown key"),
    ("two-layers-tables", BASE + LAYERS + LAYERS.replace("hidden_layer_sizes", "batch_size"),
     "search_space.batch_size",
     "[search_space] batch_size: expected one layers table, got a second (hidden_layer_sizes is "
     "one): both draw n_layers and layer_<k>_units"),
    ("layers-of-a-scalar", BASE + LAYERS.replace("hidden_layer_sizes", "batch_size"),
     "search_space.batch_size.low",
     "[search_space.batch_size] low: expected an int in the range [1, inf), got [64] (a list)"),
]
# fmt: on


@pytest.mark.parametrize(("text", "key", "message"), [c[1:] for c in BAD_CONDITIONAL],
                         ids=[c[0] for c in BAD_CONDITIONAL])  # fmt: skip
def test_a_bad_conditional_space_is_refused_at_load(tmp_path, text, key, message):
    with pytest.raises(StudyFileError) as info:
        load_checked(tmp_path, text)
    path = tmp_path / "study.toml"
    assert info.value.key == key and info.value.path == str(path)
    assert str(info.value).startswith(f"{path}: {rendered(key)}: ")
    assert message in str(info.value)
