"""The scikit-learn names nnsweep uses that scikit-learn does not make public.

Parameter validation lives in ``sklearn.utils._param_validation``: the constraint classes an
estimator's ``_parameter_constraints`` are made of (`Interval`, `StrOptions`), the function
that checks values against them and the error it raises. `check_estimator_params` uses them
to check values for `NeuralNetworkClassifier` before anything is built, so that a study
file's bad value is refused when the file is loaded rather than by every trial.

Leaves out: any private name of another library, and any public scikit-learn name (import
those from scikit-learn directly).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "check_estimator_params",
    "check_params",
    "validate_parameter_constraints",
]

# validate_parameter_constraints' message (scikit-learn 1.2 to 1.9 at least):
#   "The 'dropout_rate' parameter of NeuralNetworkClassifier must be a float in the range
#    [0.0, 1.0). Got 1.5 instead."
_MESSAGE = re.compile(r"The '.+' parameter of .+ must be (?P<expected>.+?)\. Got .* instead\.")


def check_params(constraints: Mapping[str, Any], params: Mapping[str, Any], caller: str) -> None:
    """Check parameter values against scikit-learn constraints, one parameter at a time.

    Parameters
    ----------
    constraints : mapping
        ``{name: list of constraints}``, as an estimator's ``_parameter_constraints``.
    params : mapping
        ``{name: value}`` to check; names without a constraint are not checked.
    caller : str
        The estimator's name, for scikit-learn's message.

    Raises
    ------
    InvalidParameterError
        For the first value that satisfies none of its constraints. A subclass of both
        ``ValueError`` and ``TypeError``; its message is what the value should be, in
        scikit-learn's words, as a noun phrase ("a float in the range [0.0, 1.0)"), to follow
        "expected". scikit-learn's own message is its ``__cause__``.
    """
    for name, value in params.items():
        try:
            validate_parameter_constraints(constraints, {name: value}, caller)
        except InvalidParameterError as exc:
            found = _MESSAGE.fullmatch(str(exc))
            expected = found.group("expected") if found else str(exc)
            raise InvalidParameterError(expected) from exc


def check_estimator_params(params: Mapping[str, Any]) -> None:
    """Check values for `NeuralNetworkClassifier` against its ``_parameter_constraints``.

    The validator the command line passes to `nnsweep.config.load_study`
    (``estimator_check``): the study file's fixed parameters and search-space bounds are
    checked as the estimator's ``fit`` would check them, before any trial starts.

    Parameters
    ----------
    params : mapping
        ``{parameter name: value}``; unknown names are not checked here (the caller checks
        names against ``get_params()``).

    Raises
    ------
    InvalidParameterError
        As `check_params`: the message says what the first bad value should be.

    Examples
    --------
    >>> check_estimator_params({"dropout_rate": 0.5})
    >>> check_estimator_params({"dropout_rate": 1.5})
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: a float in the range [0.0, 1.0)
    """
    # Imported here: the estimator may import its constraint classes from this module.
    from ..estimator import NeuralNetworkClassifier

    cls = NeuralNetworkClassifier
    check_params(cls._parameter_constraints, params, cls.__name__)
