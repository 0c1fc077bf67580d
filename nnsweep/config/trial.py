"""The sections that say what one trial is: its data, its tuned parameters, its scoring.

``[data]`` (`DataSpec`: the data set and its held-out split), one ``[search_space.<name>]``
table per tuned estimator parameter (`ParamSpec`, which checks its own range) and ``[cv]``
(`CVSpec`: the K-fold cross-validation that scores each trial).

Leaves out: how the search runs (`nnsweep.config.runtime`) and the study as a whole
(`nnsweep.config.schema`).
"""

import os
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from .base import Bool, Dataset, Float, Int, NonEmpty, Number, Scalar, Str, loading, section
from .fields import Expected, FromEnv, Only, fail, show, variant_keys

__all__ = ["CVSpec", "DataSpec", "ParamSpec"]


@section
class DataSpec:
    """``[data]``: the data set, its held-out split and preprocessing."""

    name: Dataset  # the data set
    path: Annotated[NonEmpty | None, Only("csv", "npz")] = None  # the file, relative to the cwd
    label_column: Annotated[NonEmpty, Only("csv")] = "label"  # csv: the class label's column
    # mnist/fashion-mnist: the IDX files' folder (unset: the loader's default)
    data_dir: Annotated[
        NonEmpty | None, Only("mnist", "fashion-mnist"), FromEnv("NNSWEEP_DATA_DIR")
    ] = None
    subset: Annotated[Int | None, Field(ge=1)] = None  # only the first N training samples
    # held-out fraction where there is no official test split
    test_size: Annotated[Float, Field(gt=0, lt=1), Only("digits", "csv", "npz")] = 0.25
    # random_state of that train_test_split
    split_seed: Annotated[Int, Field(ge=0), Only("digits", "csv", "npz")] = 0
    preprocessing: Literal["none", "standard", "minmax"] = "none"  # a step before the net
    variant: ClassVar[str] = "name"

    @model_validator(mode="after")
    def _file_exists(self, info):
        if self.name in ("csv", "npz") and self.path is None:
            fail("path", f'missing required key; name = "{self.name}" needs a file')
        used = self.name in ("csv", "npz")  # else refused as a key of another data set
        if loading(info) and used and self.path is not None and not os.path.isfile(self.path):
            where = f"relative to {os.getcwd()}"
            fail("path", f'expected an existing file ({where}), got "{self.path}"')
        return self


_CHOICES = Expected("a non-empty list of strings, numbers or booleans")


@section
class ParamSpec:
    """One ``[search_space.<name>]`` table: a tuned estimator parameter."""

    name: Str  # the estimator parameter (the table's name)
    type: Literal["categorical", "float", "int"]  # how it is sampled
    low: Annotated[Number | None, Only("float", "int")] = None  # required: lower bound (incl.)
    high: Annotated[Number | None, Only("float", "int")] = None  # required: upper bound (incl.)
    log: Annotated[Bool, Only("float", "int")] = False  # sample on a log scale (low > 0)
    # the discretisation step (unset: continuous, or 1 for int); divides high - low
    step: Annotated[Number | None, Only("float", "int")] = None
    choices: Annotated[
        tuple[Scalar, ...],
        Only("categorical"),
        _CHOICES,
    ] = ()  # required: the values to choose from
    # set: each trial first draws "<name>.enabled"; off, the parameter takes this value
    off: Annotated[Number | None, Only("float", "int")] = None
    variant: ClassVar[str] = "type"

    @model_validator(mode="wrap")
    @classmethod
    def _keys_of_its_type(cls, data, handler):
        if isinstance(data, dict) and data.get("type") in ("categorical", "float", "int"):
            only = variant_keys(cls)
            valid = ["type", *(k for k in only if data["type"] in only[k])]
            if data["type"] == "categorical" and "choices" not in data:
                fail("choices", f"missing required key; expected {_CHOICES}")
            for key in (k for k in data if k not in (*valid, "name")):
                raise PydanticCustomError("unknown", "{key}", {"key": key, "valid": valid})
        return handler(data)

    @model_validator(mode="after")
    def _range(self):
        if self.type == "categorical":
            if not self.choices:
                fail("choices", f"expected {_CHOICES}, got {show([], True)}")
            dups = [c for i, c in enumerate(self.choices) if c in self.choices[:i]]  # 1 == true
            if dups:
                fail("choices", f"expected distinct values, got {show(dups[0])} twice")
            return self
        what = "an integer" if self.type == "int" else "a number"
        for bound in ("low", "high"):
            if getattr(self, bound) is None:
                fail(bound, f"missing required key; expected {what}")
        shown = {k: show(getattr(self, k)) for k in ("low", "high", "step")}  # as written
        for key in ("low", "high", "step", "off"):
            value = getattr(self, key)
            if self.type == "int" and isinstance(value, float):
                fail(key, f"expected an integer, got {show(value, True)}")
            if self.type == "float" and isinstance(value, int):
                object.__setattr__(self, key, float(value))  # still being built: not frozen yet
        low, high, step = self.low, self.high, self.step
        if self.log and low <= 0:
            fail("low", f"expected {what} > 0 with log = true, got {shown['low']}")
        if low > high or (self.type == "float" and low == high):
            rel = "<" if self.type == "float" else "<="
            fail("low", f"expected {rel} high = {shown['high']}, got {shown['low']}")
        if step is not None:
            if step <= 0:
                fail("step", f"expected {what} > 0, got {shown['step']}")
            if self.log and step != 1:
                fail("step", "expected no step with log = true (Optuna can't do both)")
            n = (high - low) / step
            if abs(n - round(n)) > 1e-9 * max(1.0, n):
                fail("step", f"expected a divisor of high - low, got {shown['step']}")
        return self


@section
class CVSpec:
    """``[cv]``: the K-fold cross-validation that scores each trial."""

    n_splits: Annotated[Int, Field(ge=2)] = 5  # K, the number of folds
    stratified: Bool = True  # StratifiedKFold rather than KFold
    shuffle: Bool = True  # shuffle before splitting
    seed: Annotated[Int, Field(ge=0)] = 0  # random_state of the splitter (with shuffle)
