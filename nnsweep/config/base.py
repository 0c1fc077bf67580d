"""What every section of the schema is built of: the choices, TOML's types, `section`.

The names a study file may choose from (data sets, metrics, samplers, pruners), as ``Literal``
types and as tuples; TOML's scalar types, strictly (`Int`, `Float`, `Str`, ...); `section`,
the frozen pydantic dataclass every section is; `loading`, which tells a file being validated
from a spec built directly or unpickled.

Leaves out: the sections themselves (`nnsweep.config.trial`, `nnsweep.config.runtime`) and
the study (`nnsweep.config.schema`).
"""

import typing
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, Strict
from pydantic.dataclasses import dataclass

from .fields import Expected

__all__ = [
    "DATASETS",
    "METRICS",
    "PRUNERS",
    "SAMPLERS",
    "Bool",
    "Dataset",
    "Float",
    "Int",
    "Metric",
    "NonEmpty",
    "Number",
    "Pruner",
    "Sampler",
    "Scalar",
    "Str",
    "loading",
    "section",
]

Dataset = Literal["digits", "mnist", "fashion-mnist", "csv", "npz"]
Metric = Literal["accuracy", "neg_log_loss", "f1_macro"]  # all maximised
Sampler = Literal["tpe", "random", "qmc", "cmaes", "grid"]
Pruner = Literal["median", "successive_halving", "hyperband", "none"]
DATASETS, METRICS = typing.get_args(Dataset), typing.get_args(Metric)
SAMPLERS, PRUNERS = typing.get_args(Sampler), typing.get_args(Pruner)


# TOML types, strictly: "10" is not an integer, true is not 1; an integer is a float.
Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # finite: the config refuses nan and inf
Str = Annotated[str, Strict()]
NonEmpty = Annotated[str, Strict(), Field(min_length=1)]
Number = Int | Float
Scalar = Annotated[Str | Bool | Int | Float, Expected("a string, number or boolean")]
_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
section = dataclass(frozen=True, config=_CONFIG)


def loading(info: Any) -> bool:
    """Whether a file is being validated (`validate_study`), not a spec built or unpickled."""
    return isinstance(info.context, dict) and info.context.get("file", False)
