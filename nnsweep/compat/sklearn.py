"""The scikit-learn names nnsweep uses that scikit-learn does not make public.

Parameter validation lives in ``sklearn.utils._param_validation``: the constraint classes an
estimator's ``_parameter_constraints`` are made of (`Interval`, `StrOptions`), the function
that checks values against them and the error it raises. `check_params` uses them to check
values before anything is built, so that a study file's bad value is refused when the file is
loaded rather than by every trial. ``sklearn.base._fit_context`` (an estimator's ``fit``
validates its parameters once, skipping nested validation) and
``sklearn.utils.multiclass._check_partial_fit_first_call`` (``classes`` on the first
``partial_fit``) are what scikit-learn's own estimators use.

Leaves out: any private name of another library, and any public scikit-learn name (import
those from scikit-learn directly).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import _check_partial_fit_first_call

__all__ = [
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "check_params",
    "_check_partial_fit_first_call",
    "_fit_context",
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
