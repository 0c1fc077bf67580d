"""Conditional search spaces (issue 19): a layers table tunes the depth and each layer's width,
a ``when`` draws a parameter only when others have given values.

The trials draw exactly the parameters that apply, the fold models get them (and the
estimator's own value for the others), what is recorded and logged to MLflow holds exactly the
drawn ones, and a stopped conditional study resumes to its exact budget.
"""

import optuna
import pytest
from optuna.trial import TrialState

from nnsweep import NeuralNetworkClassifier
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.study.records import Attr, TrialRecord, is_interrupted
from nnsweep.sweep import count_budget, run_sweep, suggest_params
from nnsweep.sweep.factories import draw_order
from tests.support.processes import run_nnsweep
from tests.support.readback import (
    check_trials_match_runs,
    load_optuna_study,
    mlflow_runs,
    trials_now,
)
from tests.support.studyfiles import TINY, merge, write_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

# The dependents come before the parameters they name: the trial draws them after.
SPACE = {
    "decay_steps": {
        "type": "int",
        "low": 1,
        "high": 3,
        "when": {"learning_rate_schedule": "step"},
    },
    "learning_rate_decay": {
        "type": "float",
        "low": 0.01,
        "high": 0.1,
        "when": {"learning_rate_schedule": ["exponential", "step"]},
    },
    "learning_rate": {"type": "float", "low": 0.05, "high": 0.3, "log": True},
    "hidden_layer_sizes": {
        "type": "layers",
        "min_layers": 0,
        "max_layers": 2,
        "low": 8,
        "high": 32,
        "step": 8,
    },
    "learning_rate_schedule": {
        "type": "categorical",
        "choices": ["constant", "step", "exponential"],
    },
    "dropout_rate": {"type": "float", "low": 0.0, "high": 0.3, "when": {"n_layers": [1, 2]}},
}
TUNED = set(SPACE)
FIXED = set(NeuralNetworkClassifier().get_params()) - TUNED - {"epoch_callback"}


def write_conditional(folder, name, changes=None):
    base = merge(TINY, {"search_space": None})  # the whole space replaced, not merged
    changes = {"search_space": SPACE, "estimator": {"max_epochs": 3}, **(changes or {})}
    return write_study(folder, name, changes, base=base)


def applies(params):
    """The Optuna parameters a trial with ``params`` should have drawn, by the study's rules."""
    depth, schedule = params["n_layers"], params["learning_rate_schedule"]
    names = {"learning_rate", "n_layers", "learning_rate_schedule"}
    names |= {f"layer_{k}_units" for k in range(1, depth + 1)}
    names |= {"decay_steps"} if schedule == "step" else set()
    names |= {"learning_rate_decay"} if schedule != "constant" else set()
    return names | ({"dropout_rate"} if depth >= 1 else set())


def estimator_params_of(params, tuned=TUNED):
    """What the estimator gets from the trial's Optuna parameters: the drawn ones alone."""
    out = {k: v for k, v in params.items() if k in tuned}
    out["hidden_layer_sizes"] = tuple(
        params[f"layer_{k}_units"] for k in range(1, params["n_layers"] + 1)
    )
    return out


def test_the_draw_order_puts_each_parameter_after_the_ones_its_when_names(tmp_path):
    spec = load_study(write_conditional(tmp_path, "order"))
    assert [p.name for p in draw_order(spec.search_space)] == [
        "learning_rate",
        "hidden_layer_sizes",
        "learning_rate_schedule",
        "decay_steps",
        "learning_rate_decay",
        "dropout_rate",
    ]


def test_each_draw_holds_exactly_the_parameters_that_apply_along_a_chain(tmp_path):
    chained = {
        **SPACE,  # max_norm only with hidden layers, and the dropout only with max_norm 4
        "max_norm": {"type": "categorical", "choices": [2.0, 4.0], "when": {"n_layers": [1, 2]}},
        "dropout_rate": {"type": "float", "low": 0.0, "high": 0.3, "when": {"max_norm": 4.0}},
    }
    spec = load_study(write_conditional(tmp_path, "chain", {"search_space": chained}))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        drawn = suggest_params(trial, spec.search_space)
        p = trial.params
        expected = applies(p) - {"dropout_rate"} | ({"max_norm"} if p["n_layers"] else set())
        expected |= {"dropout_rate"} if p.get("max_norm") == 4.0 else set()
        assert set(p) == expected
        assert drawn == estimator_params_of(p, set(chained))
        seen.add((p["n_layers"], p["learning_rate_schedule"], p.get("max_norm")))
        study.tell(trial, 0.5)
    assert {n for n, _, _ in seen} == {0, 1, 2}  # every branch was taken
    assert {s for _, s, _ in seen} == {"constant", "step", "exponential"}
    assert {m for _, _, m in seen} == {None, 2.0, 4.0}


def _stop_mid_trial(storage, name, after):
    """A ``should_stop``: true from when ``after`` trials have finished and another has trained
    an epoch (it is then stopped mid-trial, interrupted, and retried on resuming)."""
    said = []

    def check():
        trials = [] if said else trials_now(storage, name)
        done = sum(t.state.is_finished() for t in trials)
        if done >= after and any(
            t.intermediate_values for t in trials if t.state.name == "RUNNING"
        ):
            said.append(True)  # once true, it stays true
        return bool(said)

    return check


def test_a_conditional_sweep_draws_builds_records_and_resumes_to_its_exact_budget(
    tmp_path, monkeypatch
):
    from nnsweep.tracking.payload import trial_params

    built = []  # every fold model, as it starts training: its parameters and weights' shapes
    iter_epochs = NeuralNetworkClassifier.iter_epochs

    def spy(self, X, y):
        for i, info in enumerate(iter_epochs(self, X, y)):
            if i == 0:
                built.append((self.get_params(), [w.shape for w in self.coefs_]))
            yield info

    monkeypatch.setattr(NeuralNetworkClassifier, "iter_epochs", spy)
    path = write_conditional(
        tmp_path,
        "resume",
        {"budget": {"n_trials": 6}, "workers": {"n_jobs": 1}, "evaluation": {"refit": False}},
    )
    spec = load_study(path)
    digits = load_dataset("digits")
    stopped = run_sweep(
        spec, digits, progress=False, should_stop=_stop_mid_trial(spec.storage.url, "resume", 4)
    )
    assert stopped.interrupted and stopped.n_complete + stopped.n_pruned == 4
    resumed = run_sweep(spec, digits, progress=False)
    assert not resumed.interrupted
    study = load_optuna_study("resume", spec.storage.url)
    assert count_budget(study) == 6
    assert len([t for t in study.trials if not is_interrupted(t)]) == 6
    dead = [t for t in study.trials if is_interrupted(t)]
    assert len(dead) == 1
    retry = [t for t in study.trials if t.user_attrs.get(Attr.RETRY_OF) == dead[0].number]
    assert len(retry) == 1 and retry[0].params == dead[0].params
    assert retry[0].state == TrialState.COMPLETE

    n_features, n_classes = digits.X_train.shape[1], 10
    started = sorted(study.trials, key=lambda t: t.datetime_start)
    assert any(TUNED - set(estimator_params_of(t.params)) for t in started)  # some left out
    assert len(built) == 3 * len(started)  # 3 folds per trial
    for i, t in enumerate(started):
        assert set(t.params) == applies(t.params), t.number
        drawn = estimator_params_of(t.params)
        record = TrialRecord.of(t)
        # the record: the fixed parameters and the drawn ones, no others
        assert set(record.estimator_params) == FIXED | set(drawn), t.number
        assert record.estimator_params["hidden_layer_sizes"] == list(drawn["hidden_layer_sizes"])
        # MLflow's params of the run: the Optuna parameters and the record's
        assert set(trial_params(t)) == set(t.params) | FIXED | set(drawn), t.number
        defaults = NeuralNetworkClassifier().get_params()
        for params, shapes in built[3 * i : 3 * i + 3]:
            assert {k: params[k] for k in drawn} == drawn, t.number
            for name in TUNED - set(drawn):  # not drawn: the estimator's own value
                assert params[name] == defaults[name], (t.number, name)
            sizes = [n_features, *drawn["hidden_layer_sizes"], n_classes]
            assert shapes == list(zip(sizes, sizes[1:], strict=False)), t.number


@pytest.mark.slow
def test_the_mlflow_runs_of_a_conditional_study_hold_exactly_the_drawn_parameters(tmp_path):
    from mlflow import MlflowClient

    tracking = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    path = write_conditional(
        tmp_path,
        "logged",
        {
            "budget": {"n_trials": 6},
            "tracking": {"enabled": True, "uri": tracking},
            "evaluation": {"refit": False},
        },
    )
    ran = run_nnsweep("run", str(path), "--no-progress", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    study = load_optuna_study("logged", str(tmp_path / "optuna" / "logged.log"))
    runs = check_trials_match_runs(study, tracking, "logged")
    assert any(TUNED - set(estimator_params_of(t.params)) for t in study.trials)  # some left out
    for t in study.trials:
        logged = runs[t.number].data.params
        drawn = estimator_params_of(t.params)
        assert set(logged) == set(t.params) | FIXED | set(drawn), t.number
        for name in TUNED - set(drawn):  # absent, not logged as a default or a 0
            assert name not in logged, (t.number, name)
        assert logged["hidden_layer_sizes"] == str(list(drawn["hidden_layer_sizes"]))
    # Optuna's parallel coordinates draw the study with its parameters some trials lack
    parent = mlflow_runs(tracking, "logged")[0][0].info.run_id
    plots = {a.path for a in MlflowClient(tracking).list_artifacts(parent, "plots")}
    assert "plots/parallel_coordinate.png" in plots, plots
