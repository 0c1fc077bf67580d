"""The compatibility modules: every private name they import still exists where they take it.

A scikit-learn release that moves or renames one fails here, by name, rather than somewhere
in a sweep. Also: no other module imports scikit-learn's private names.
"""

import importlib
import re
from numbers import Integral
from pathlib import Path

import pytest

from nnsweep.compat import sklearn as compat
from nnsweep.estimator import check_estimator_params

ROOT = Path(__file__).resolve().parents[1]
# Every private name nnsweep.compat.sklearn takes from scikit-learn: (module, name).
PRIVATE = [
    ("sklearn.base", "_fit_context"),
    ("sklearn.utils._param_validation", "Interval"),
    ("sklearn.utils._param_validation", "InvalidParameterError"),
    ("sklearn.utils._param_validation", "StrOptions"),
    ("sklearn.utils._param_validation", "validate_parameter_constraints"),
    ("sklearn.utils.multiclass", "_check_partial_fit_first_call"),
]
PRIVATE_IMPORT = re.compile(
    r"^\s*(from\s+sklearn(\.\w+)*\._\w+|from\s+sklearn[\w.]*\s+import\s+.*\b_\w+"
    r"|import\s+sklearn(\.\w+)*\._\w+)",
    re.MULTILINE,
)


@pytest.mark.parametrize(("module", "name"), PRIVATE, ids=lambda x: x)
def test_private_name_still_exists(module, name):
    assert hasattr(importlib.import_module(module), name), f"{module}.{name} is gone"
    assert getattr(compat, name) is getattr(importlib.import_module(module), name)


def test_every_name_the_module_imports_is_listed():
    source = Path(compat.__file__).read_text()
    imported = {
        (module, name.strip())
        for module, grouped, single in re.findall(
            r"^from (sklearn\S*) import (?:\(([^)]*)\)|(.+))$", source, re.M
        )
        for name in (grouped or single).split(",")
        if name.strip()
    }
    assert imported == set(PRIVATE)
    assert {name for _, name in imported} <= set(compat.__all__)


def test_no_other_module_imports_sklearn_private_names():
    places = [
        p
        for folder in ("nnsweep", "tests", "benchmarks", "examples", "docs")
        for p in (ROOT / folder).rglob("*.py")
    ]
    offenders = {
        str(p.relative_to(ROOT))
        for p in places
        if PRIVATE_IMPORT.search(p.read_text(encoding="utf-8", errors="replace"))
    }
    assert offenders - {"nnsweep/compat/sklearn.py"} == set()


def test_invalid_parameter_error_is_a_value_and_a_type_error():
    assert issubclass(compat.InvalidParameterError, ValueError)
    assert issubclass(compat.InvalidParameterError, TypeError)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"dropout_rate": 1.5}, "a float in the range [0.0, 1.0)"),
        ({"max_epochs": "five"}, "an int in the range [1, inf)"),
        ({"max_norm": -1.0}, "a float in the range (0.0, inf) or None"),
        ({"nesterov": "yes"}, "an instance of 'bool' or an instance of 'numpy.bool'"),
    ],
)
def test_message_is_what_the_value_should_be(params, expected):
    # scikit-learn's sentence, "The 'x' parameter of C must be <expected>. Got 1.5 instead.",
    # is parsed: a change of its wording fails here
    with pytest.raises(compat.InvalidParameterError) as info:
        check_estimator_params(params)
    assert str(info.value) == expected
    assert isinstance(info.value.__cause__, compat.InvalidParameterError)
    assert str(info.value.__cause__).startswith(f"The '{next(iter(params))}' parameter of ")


def test_good_values_and_unknown_names_pass():
    check_estimator_params(
        {"dropout_rate": 0.0, "max_epochs": 1, "max_norm": None, "activation": "tanh"}
    )
    check_estimator_params({"not_a_parameter": object()})  # names are checked elsewhere


def test_first_bad_value_raises():
    with pytest.raises(ValueError, match=r"^an int in the range \[1, inf\)$"):
        check_estimator_params({"dropout_rate": 0.5, "max_epochs": 0, "momentum": 2})


def test_check_params_with_other_constraints():
    constraints = {
        "k": [compat.Interval(Integral, 2, 4, closed="both")],
        "s": [compat.StrOptions({"a"})],
    }
    compat.check_params(constraints, {"k": 3, "s": "a"}, "f")
    with pytest.raises(ValueError, match=r"^an int in the range \[2, 4\]$"):
        compat.check_params(constraints, {"k": 5}, "f")


# --------------------------------------------------------------------------- Optuna
# Every private name nnsweep.compat.optuna uses: (module or class, name). A release that moves
# one fails here, by name.
OPTUNA_PRIVATE = [
    ("optuna.storages._heartbeat", "get_heartbeat_thread"),
]
OPTUNA_PRIVATE_ATTRS = [
    ("optuna.study.Study", "_storage"),
    ("optuna.study.Study", "_study_id"),
    ("optuna.trial.Trial", "_trial_id"),
    ("optuna.trial.FrozenTrial", "_trial_id"),
    ("optuna.storages.RDBStorage", "_get_stale_trial_ids"),
]
# A private Optuna or MLflow module, or a private attribute of a study, trial or storage.
OPTUNA_PRIVATE_USE = re.compile(
    r"(from\s+optuna(\.\w+)*\._\w+|import\s+optuna(\.\w+)*\._\w+"
    r"|\._trial_id\b|\._study_id\b|\._storage\b|\._get_stale_trial_ids\b)"
)
MLFLOW_PRIVATE_USE = re.compile(r"(from|import)\s+mlflow(\.\w+)*\._\w+")


@pytest.mark.parametrize(("module", "name"), OPTUNA_PRIVATE, ids=lambda x: x)
def test_optuna_private_name_still_exists(module, name):
    from nnsweep.compat import optuna as compat_optuna

    assert hasattr(importlib.import_module(module), name), f"{module}.{name} is gone"
    assert getattr(compat_optuna, name) is getattr(importlib.import_module(module), name)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::optuna.exceptions.ExperimentalWarning")
def test_optuna_private_attributes_still_exist(tmp_path):
    import optuna

    from nnsweep.compat import optuna as compat_optuna

    assert hasattr(optuna.storages.RDBStorage, "_get_stale_trial_ids")
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat_interval=60
    )
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    frozen = study.trials[0]
    assert compat_optuna.trial_id(trial) == compat_optuna.trial_id(frozen)
    assert compat_optuna.study_storage(study).get_trial(compat_optuna.trial_id(trial)).number == 0
    assert compat_optuna.study_id(study) == storage.get_study_id_from_name(study.study_name)
    assert compat_optuna.is_heartbeat_enabled(compat_optuna.study_storage(study))
    assert compat_optuna.stale_trial_ids(study) == []  # fresh: its heartbeat is not stale
    with compat_optuna.heartbeat_thread(trial, compat_optuna.study_storage(study)):
        pass
    assert not compat_optuna.is_heartbeat_enabled(optuna.storages.InMemoryStorage())
    listed = {name for _, name in OPTUNA_PRIVATE_ATTRS}
    source = Path(compat_optuna.__file__).read_text()
    assert set(re.findall(r"\.(_\w+)", source)) <= listed | {"_heartbeat"}


def test_optuna_grid_sampler_still_records_the_grid_point():
    import optuna

    from nnsweep.compat import optuna as compat_optuna

    study = optuna.create_study(sampler=optuna.samplers.GridSampler({"x": [1, 2, 3]}, seed=0))
    study.optimize(lambda t: t.suggest_categorical("x", [1, 2, 3]), n_trials=3)
    assert sorted(compat_optuna.grid_point(t) for t in study.trials) == [0, 1, 2]


def test_optuna_public_replacements_exist():
    import optuna

    # What Optuna offers in place of the private names, where it offers something
    assert callable(optuna.storages.fail_stale_trials)
    assert hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback")


# --------------------------------------------------------------------------- MLflow
def test_mlflow_private_name_still_exists():
    from mlflow.tracking._tracking_service import utils

    from nnsweep.compat import mlflow as compat_mlflow

    assert hasattr(utils, "_tracking_uri"), "mlflow's _tracking_service.utils._tracking_uri"
    assert compat_mlflow.explicit_tracking_uri() == utils._tracking_uri


@pytest.mark.parametrize(
    ("pattern", "owner"),
    [
        (OPTUNA_PRIVATE_USE, "nnsweep/compat/optuna.py"),
        (MLFLOW_PRIVATE_USE, "nnsweep/compat/mlflow.py"),
    ],
    ids=["optuna", "mlflow"],
)
def test_no_other_module_uses_optuna_or_mlflow_private_names(pattern, owner):
    places = [
        p for folder in ("nnsweep", "tests", "examples") for p in (ROOT / folder).rglob("*.py")
    ]
    offenders = {
        str(p.relative_to(ROOT))
        for p in places
        if pattern.search(p.read_text(encoding="utf-8", errors="replace"))
    }
    assert offenders - {owner, "tests/test_compat.py"} == set()


# --------------------------------------------------------------------------- versions
def test_installed_versions_are_within_the_declared_bounds():
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in map(Requirement, deps):
        assert dep.specifier.contains(version(dep.name), prereleases=True), (
            dep,
            version(dep.name),
        )
        if dep.name in ("numpy", "scikit-learn", "optuna", "mlflow", "joblib"):
            assert any(s.operator == "<" for s in dep.specifier), f"{dep.name}: no upper bound"
