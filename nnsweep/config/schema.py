"""The study-file schema, declared once: one frozen pydantic dataclass per section.

Each field carries its TOML type (strict: "10" is not an integer), its constraints
(``Field(ge=...)``, ``Literal`` choices, the markers of `nnsweep.config.fields`: `Only` the
variants using it, `FromEnv` the variable filling it) and its default, with a one-line comment
saying what it means (above the field when the line is full); the documentation's study-key
tables read all of them. Rules involving several keys are validators beside the fields they
constrain: `ParamSpec` checks its range, `StudySpec` the keys that only some variants take,
the grid sampler's needs and the storage URL.

A file is validated through `validate_study`: only then are keys of another variant refused
and ``data.path`` checked to exist. Building a spec directly, or unpickling one (pydantic
validates it again, e.g. in a worker process, maybe on another host), checks only the rest.

Leaves out: error messages (`nnsweep.config.errors` words pydantic's errors as today's), TOML,
overrides, the environment and the estimator's own checks (`nnsweep.config.load`).
"""

import dataclasses
import functools
import os
import typing
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, Strict, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from .fields import Expected, FromEnv, Only, fail, show, variant_keys

Dataset = Literal["digits", "mnist", "fashion-mnist", "csv", "npz"]
Metric = Literal["accuracy", "neg_log_loss", "f1_macro"]  # all maximised
Sampler = Literal["tpe", "random", "qmc", "cmaes", "grid"]
Pruner = Literal["median", "successive_halving", "hyperband", "none"]
DATASETS, METRICS = typing.get_args(Dataset), typing.get_args(Metric)
SAMPLERS, PRUNERS = typing.get_args(Sampler), typing.get_args(Pruner)
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


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


@section
class BudgetSpec:
    """``[budget]``: how many trials, how long."""

    n_trials: Annotated[Int | None, Field(ge=1)] = 20  # study total (unset: timeout alone)
    timeout: Annotated[Float | None, Field(gt=0)] = None  # seconds for this run (unset: none)

    @model_validator(mode="before")
    @classmethod
    def _timeout_alone(cls, data):
        if isinstance(data, dict) and "timeout" in data and "n_trials" not in data:
            return {**data, "n_trials": None}  # a timeout alone: no trial limit
        return data


@section
class SamplerSpec:
    """``[sampler]``: the Optuna sampler."""

    name: Sampler = "tpe"  # the sampler
    seed: Annotated[Int, Field(ge=0)] = 0  # base seed; worker i uses seed + i
    # random trials first (unset: Optuna's default)
    n_startup_trials: Annotated[Int | None, Field(ge=0), Only("tpe", "cmaes")] = None
    multivariate: Annotated[Bool, Only("tpe")] = True  # model the parameters jointly
    variant: ClassVar[str] = "name"


_HALVING = Only("successive_halving", "hyperband")


@section
class PrunerSpec:
    """``[pruner]``: the Optuna pruner; a step is an epoch."""

    name: Pruner = "median"  # the pruner
    n_startup_trials: Annotated[Int, Field(ge=0), Only("median")] = 5  # trials before pruning
    n_warmup_steps: Annotated[Int, Field(ge=0), Only("median")] = 5  # epochs before pruning
    min_resource: Annotated[Int | None, Field(ge=1), _HALVING] = None  # epochs (unset: auto)
    reduction_factor: Annotated[Int, Field(ge=2), _HALVING] = 3  # 1/factor promoted per rung
    variant: ClassVar[str] = "name"


_ALL_CORES = Expected("an integer >= 0, or -1 (0 and -1: all cores)")


@section
class WorkersSpec:
    """``[workers]``: where trials run."""

    n_jobs: Annotated[Int, Field(ge=-1), _ALL_CORES] = 0  # worker processes; 0 or -1: all cores
    backend: Literal["loky", "dask"] = "loky"  # local processes, or a Dask cluster
    # the Dask scheduler's address (unset: a local cluster)
    scheduler: Annotated[NonEmpty | None, Only("dask"), FromEnv("DASK_SCHEDULER_ADDRESS")] = None
    variant: ClassVar[str] = "backend"


@section
class StorageSpec:
    """``[storage]``: where the Optuna study lives (shared by workers, survives restarts)."""

    url: Str = ""  # RDB URL ("://") or journal file (.log); unset: mlruns/optuna/<name>.log
    heartbeat_interval: Annotated[Int | None, Field(ge=1)] = None  # RDB: seconds between beats


@section
class TrackingSpec:
    """``[tracking]``: MLflow."""

    uri: Annotated[Str, FromEnv("MLFLOW_TRACKING_URI")] = DEFAULT_TRACKING_URI  # tracking URI
    experiment: Str = ""  # the MLflow experiment (unset: the study's name)
    enabled: Bool = True  # log trials to MLflow at all
    # the registered model's format: "cloudpickle" (loading it runs code: trust your store)
    # or "skops" (safer against a tampered store; its import costs about 1-2 s of CPU)
    model_format: Literal["cloudpickle", "skops"] = "cloudpickle"


@section
class EvaluationSpec:
    """``[evaluation]``: what happens after the search."""

    refit: Bool = True  # refit best params on all training data, score the test split, save


_NAME = Expected("a name of A-Z a-z 0-9 _ . -")


@section
class StudySpec:
    """A validated study file; nested sections as above."""

    name: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_.-]+$"), _NAME]  # study, journal, experiment
    data: DataSpec  # [data]
    description: Str = ""  # free text
    metric: Metric = "accuracy"  # the CV score to maximise
    estimator: tuple[tuple[Str, Scalar], ...] = ()  # fixed parameters, file order; dict() it
    search_space: tuple[ParamSpec, ...] = ()  # tuned parameters, file order
    cv: CVSpec = CVSpec()  # [cv]
    budget: BudgetSpec = BudgetSpec()  # [budget]
    sampler: SamplerSpec = SamplerSpec()  # [sampler]
    pruner: PrunerSpec = PrunerSpec()  # [pruner]
    workers: WorkersSpec = WorkersSpec()  # [workers]
    storage: StorageSpec = StorageSpec()  # [storage]
    tracking: TrackingSpec = TrackingSpec()  # [tracking]
    evaluation: EvaluationSpec = EvaluationSpec()  # [evaluation]
    path: Str = ""  # the study file, as given to load_study
    source_text: Str = ""  # its raw text (logged as an artifact)
    overrides: tuple[tuple[Str, Any], ...] = ()  # overrides applied on top of the file, coerced

    @model_validator(mode="wrap")
    @classmethod
    def _file(cls, data, handler, info):
        if not (isinstance(data, dict) and loading(info)):
            return handler(data)
        spec = handler(data)
        for name, table in data.items():  # keys given for another variant
            kind = sections().get(name)
            if kind is not None and getattr(kind, "variant", None) and isinstance(table, dict):
                chosen = getattr(getattr(spec, name), kind.variant)
                for key, only in variant_keys(kind).items():
                    if key in table and chosen not in only:
                        note = "" if kind.variant in table else " (the default)"
                        used = ", ".join(f'"{o}"' for o in only)
                        what = f'not used with {kind.variant} = "{chosen}"{note}, only with'
                        fail(f"{name}.{key}", f"{what} {used}")
        return spec

    @model_validator(mode="after")
    def _across_sections(self):
        fixed = dict(self.estimator)
        for p in self.search_space:
            key = f"search_space.{p.name}"
            if p.name in fixed:
                fail(key, "also fixed in [estimator]: tune it or fix it")
            on_grid = p.type == "categorical" or (p.type == "int" and p.step is not None)
            if self.sampler.name == "grid" and not on_grid:
                got = "a float range" if p.type == "float" else "an int range without step"
                what = "the grid sampler needs categorical choices or an int range with step"
                fail(key, f"{what}, got {got}")
        url = self.storage.url
        if url and "://" not in url and not url.endswith(".log"):
            what = "an Optuna storage URL (sqlite:///...) or a journal file path ending in .log"
            fail("storage.url", f"expected {what}, got {show(url)}")
        if self.storage.heartbeat_interval is not None and url and "://" not in url:
            fail("storage.heartbeat_interval", f"only for RDB storages, not journal {url}")
        return self


@functools.cache
def sections() -> dict[str, type]:
    """``{name: dataclass}`` of `StudySpec`'s sections, in declaration order."""
    hints = typing.get_type_hints(StudySpec)
    return {f: t for f, t in hints.items() if isinstance(t, type) and dataclasses.is_dataclass(t)}


def validate_study(raw: dict) -> StudySpec:
    """Validate a study file's tables (as `nnsweep.config.load` resolved them) into a spec.

    Raises ``pydantic.ValidationError``; `nnsweep.config.errors.study_file_error` words it.
    """
    return StudySpec.__pydantic_validator__.validate_python(raw, context={"file": True})
