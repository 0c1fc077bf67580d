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

ROOT = Path(__file__).resolve().parents[1]
# Every private name nnsweep.compat.sklearn takes from scikit-learn: (module, name).
PRIVATE = [
    ("sklearn.utils._param_validation", "Interval"),
    ("sklearn.utils._param_validation", "InvalidParameterError"),
    ("sklearn.utils._param_validation", "StrOptions"),
    ("sklearn.utils._param_validation", "validate_parameter_constraints"),
]
# Still importing scikit-learn's private names themselves; they should take them from
# nnsweep.compat.sklearn (their owners were told). Nothing may be added to this list.
NOT_YET_MOVED = {"nnsweep/estimator.py", "tests/test_estimator.py"}
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
    imported = re.search(r"from (sklearn\.\S+) import \(([^)]*)\)", source)
    names = {n.strip() for n in imported.group(2).split(",") if n.strip()}
    assert {(imported.group(1), n) for n in names} == set(PRIVATE)
    assert names <= set(compat.__all__)


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
    assert offenders - NOT_YET_MOVED - {"nnsweep/compat/sklearn.py"} == set()


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
        compat.check_estimator_params(params)
    assert str(info.value) == expected
    assert isinstance(info.value.__cause__, compat.InvalidParameterError)
    assert str(info.value.__cause__).startswith(f"The '{next(iter(params))}' parameter of ")


def test_good_values_and_unknown_names_pass():
    compat.check_estimator_params(
        {"dropout_rate": 0.0, "max_epochs": 1, "max_norm": None, "activation": "tanh"}
    )
    compat.check_estimator_params({"not_a_parameter": object()})  # names are checked elsewhere


def test_first_bad_value_raises():
    with pytest.raises(ValueError, match=r"^an int in the range \[1, inf\)$"):
        compat.check_estimator_params({"dropout_rate": 0.5, "max_epochs": 0, "momentum": 2})


def test_check_params_with_other_constraints():
    constraints = {
        "k": [compat.Interval(Integral, 2, 4, closed="both")],
        "s": [compat.StrOptions({"a"})],
    }
    compat.check_params(constraints, {"k": 3, "s": "a"}, "f")
    with pytest.raises(ValueError, match=r"^an int in the range \[2, 4\]$"):
        compat.check_params(constraints, {"k": 5}, "f")
