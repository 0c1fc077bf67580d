"""The study-file schema, declared once: one frozen pydantic dataclass per table.

Each field carries its TOML type (strict: "10" is not an integer), its constraints
(``Field(ge=...)``, ``Literal`` choices) and its default, with a one-line comment saying what
it means (above the field when the line is full). What its type does not say is pydantic
metadata of the field (`meta`: ``Field(json_schema_extra=...)``): ``only``, the variants of
its table that take it (values of the table's ``variant`` key: ``name``, ``backend``,
``type``); ``env``, the variable filling it; ``expected``, what it should be in words when its
constraints don't say it. `json_schema`, pydantic's JSON schema of `StudySpec`, holds all of
it: the error messages, the overrides' types, the environment's keys and the documentation's
study-key tables read it there. Rules involving several keys are validators beside the fields
they constrain: `ParamSpec` checks its keys and its range, `StudySpec` the keys of another
variant, the search space's conditions (each ``when`` names a tuned categorical, int or
depth, and values it can take; no cycle) and the rules across sections.

A file is validated through `validate_study`, with the file's tables as pydantic's validation
context: only then are keys of another variant refused and ``data.path`` checked to exist.
Building a spec directly checks the rest; unpickling one validates nothing again.

Leaves out: the wording of pydantic's errors (`nnsweep.config.errors`), TOML, overrides, the
environment and the estimator's own checks (`nnsweep.config.load`).
"""

import difflib
import functools
import graphlib
import os
import typing
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, Strict, TypeAdapter, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

Dataset = Literal["digits", "mnist", "fashion-mnist", "csv", "npz"]
Metric = Literal["accuracy", "neg_log_loss", "f1_macro"]  # all maximised
DATASETS, METRICS = typing.get_args(Dataset), typing.get_args(Metric)
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


def meta(*only: str, env: str | None = None, expected: str | None = None) -> Any:
    """A key's metadata beside its type, as pydantic ``Field(json_schema_extra=...)``.

    Parameters
    ----------
    *only : str
        The variants of its table that take the key (values of the table's ``variant`` key).
    env : str, optional
        The environment variable that fills the key when the file leaves it.
    expected : str, optional
        What the value should be, in words, when its constraints don't say it.

    Returns
    -------
    pydantic.fields.FieldInfo
        For the field's ``Annotated`` metadata, beside its constraints.
    """
    extra = {"only": only or None, "env": env, "expected": expected}
    return Field(json_schema_extra={k: v for k, v in extra.items() if v is not None})


# TOML types, strictly: "10" is not an integer, true is not 1; an integer is a float.
Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # finite: the config refuses nan and inf
Str = Annotated[str, Strict()]
NonEmpty = Annotated[str, Strict(), Field(min_length=1)]
Number = Int | Float
Scalar = Annotated[Str | Bool | Int | Float, meta(expected="a string, number or boolean")]
# an [estimator] value: a list of integers too (hidden_layer_sizes = [128, 64])
Fixed = Annotated[
    Str | Bool | Int | Float | tuple[Int, ...],
    meta(expected="a string, number, boolean or list of integers"),
]


def _variant(schema: dict, cls: type) -> None:
    schema["variant"] = getattr(cls, "variant", None)  # the key choosing the table's variant


_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra=_variant)
section = dataclass(frozen=True, config=_CONFIG)


def fail(key: str, what: str) -> typing.NoReturn:
    """Raise a validation error at ``key`` (dotted, relative to the table being validated)."""
    raise PydanticCustomError("study", "{what}", {"key": key, "what": what})


def show(v: Any, typed: bool = False) -> str:
    """A value as TOML writes it (``"a"``, ``true``, ``0.5``), with its type if ``typed``."""
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, tuple | list):
        text = "[" + ", ".join(map(show, v)) + "]"
        return f"{text} (a list)" if typed else text
    text = ("true" if v else "false") if isinstance(v, bool) else repr(v)
    if isinstance(v, str):
        text = '"' + v.replace('"', '\\"') + '"'
    names = {bool: "boolean", int: "integer", float: "float", str: "string"}
    kind = names.get(type(v), type(v).__name__)
    return f"{text} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})" if typed else text


def takes(table: dict, variant: Any) -> list[str]:
    """The keys of a table's JSON schema that its variant ``variant`` takes, in order."""
    return [k for k, node in table["properties"].items() if variant in node.get("only", [variant])]


@section
class DataSpec:
    """``[data]``: the data set, its held-out split and preprocessing."""

    name: Dataset  # the data set
    path: Annotated[NonEmpty | None, meta("csv", "npz")] = None  # the file, relative to the cwd
    label_column: Annotated[NonEmpty, meta("csv")] = "label"  # csv: the class label's column
    # mnist/fashion-mnist: the IDX files' folder (unset: the loader's default)
    data_dir: Annotated[
        NonEmpty | None, meta("mnist", "fashion-mnist", env="NNSWEEP_DATA_DIR")
    ] = None
    subset: Annotated[Int | None, Field(ge=1)] = None  # only the first N training samples
    # held-out fraction where there is no official test split
    test_size: Annotated[Float, Field(gt=0, lt=1), meta("digits", "csv", "npz")] = 0.25
    # random_state of that train_test_split
    split_seed: Annotated[Int, Field(ge=0), meta("digits", "csv", "npz")] = 0
    preprocessing: Literal["none", "standard", "minmax"] = "none"  # a step before the net
    variant: ClassVar[str] = "name"

    @model_validator(mode="after")
    def _file_exists(self, info):
        if self.name in ("csv", "npz") and self.path is None:
            fail("path", f'missing required key; name = "{self.name}" needs a file')
        if info.context and self.name in ("csv", "npz") and not os.path.isfile(self.path):
            where = f"relative to {os.getcwd()}"
            fail("path", f'expected an existing file ({where}), got "{self.path}"')
        return self


_RANGE = meta("float", "int", "layers")
_CHOICES = "a non-empty list of strings, numbers or booleans"
_WHEN = "a table of parameter = value or [values]"
ParamType = Literal["categorical", "float", "int", "layers"]
DEPTH = "n_layers"  # a layers table's depth, as Optuna and a `when` name it


@section
class ParamSpec:
    """One ``[search_space.<name>]`` table: a tuned estimator parameter."""

    name: Str  # the estimator parameter (the table's name)
    # how it is sampled; layers: hidden layers, as the depth n_layers (if min_layers <
    # max_layers) and the widths layer_1_units .. layer_<n>_units
    type: ParamType
    low: Annotated[Number | None, _RANGE] = None  # required: lower bound (incl.; layers: a width)
    high: Annotated[Number | None, _RANGE] = None  # required: upper bound (incl.)
    log: Annotated[Bool, _RANGE] = False  # sample on a log scale (low > 0)
    # the discretisation step (unset: continuous, or 1 for int); divides high - low
    step: Annotated[Number | None, _RANGE] = None
    # required: the values to choose from
    choices: Annotated[tuple[Scalar, ...], meta("categorical", expected=_CHOICES)] = ()
    # set: each trial first draws "<name>.enabled"; off, the parameter takes this value
    off: Annotated[Number | None, meta("float", "int")] = None
    # the fewest hidden layers, n_layers' lower bound (0: softmax regression; unset: 1)
    min_layers: Annotated[Int | None, Field(ge=0), meta("layers")] = None
    # required: the most hidden layers, n_layers' upper bound
    max_layers: Annotated[Int | None, Field(ge=1), meta("layers")] = None
    # drawn only when each named parameter has the value, or one of the list's (n_layers: the
    # layers table's depth); not drawn, it is the estimator's default and is not recorded
    when: Annotated[tuple[tuple[Str, tuple[Scalar, ...]], ...] | None, meta(expected=_WHEN)] = None
    variant: ClassVar[str] = "type"

    @model_validator(mode="before")
    @classmethod
    def _keys_of_its_type(cls, data):
        if isinstance(data, dict) and data.get("type") in typing.get_args(ParamType):
            valid = takes(json_schema()["$defs"]["ParamSpec"], data["type"])[1:]  # not name
            if data["type"] == "categorical" and "choices" not in data:
                fail("choices", f"missing required key; expected {_CHOICES}")
            for key in (k for k in data if k not in (*valid, "name")):
                raise PydanticCustomError("unknown", "{key}", {"key": key, "valid": valid})
        when = data.get("when") if isinstance(data, dict) else None
        if when is None:
            return data
        if not isinstance(when, dict):
            fail("when", f"expected {_WHEN}, got {show(when, True)}")
        for key, v in when.items():
            values = v if isinstance(v, list) else [v]
            if not values or not all(isinstance(x, str | bool | int | float) for x in values):
                what = "a value or a non-empty list of values"
                fail("when", f"{key}: expected {what}, got {show(v, True)}")
        pairs = ((k, tuple(v) if isinstance(v, list) else (v,)) for k, v in when.items())
        return {**data, "when": tuple(sorted(pairs))}

    @model_validator(mode="after")
    def _range(self):
        if self.type == "categorical":
            if not self.choices:
                fail("choices", f"expected {_CHOICES}, got {show([], True)}")
            dups = [c for i, c in enumerate(self.choices) if c in self.choices[:i]]  # 1 == true
            if dups:
                fail("choices", f"expected distinct values, got {show(dups[0])} twice")
            return self
        if self.type == "layers":
            if self.max_layers is None:
                fail("max_layers", "missing required key; expected an integer >= 1")
            if self.min_layers is None:
                object.__setattr__(self, "min_layers", 1)  # still being built: not frozen yet
            if self.min_layers > self.max_layers:
                what = f"expected <= max_layers = {self.max_layers}, got {self.min_layers}"
                fail("min_layers", what)
        what = "a number" if self.type == "float" else "an integer"
        for bound in ("low", "high"):
            if getattr(self, bound) is None:
                fail(bound, f"missing required key; expected {what}")
        shown = {k: show(getattr(self, k)) for k in ("low", "high", "step")}  # as written
        for key in ("low", "high", "step", "off"):
            value = getattr(self, key)
            if self.type != "float" and isinstance(value, float):
                fail(key, f"expected an integer, got {show(value, True)}")
            if self.type == "float" and isinstance(value, int):
                object.__setattr__(self, key, float(value))
        low, high, step = self.low, self.high, self.step
        if self.type == "layers" and low < 1:
            fail("low", f"expected an integer >= 1 (a layer's width), got {shown['low']}")
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

    @property
    def drawn_as(self) -> str:
        """Its Optuna name, which a ``when`` names it by: its own, a layers table's `DEPTH`."""
        return DEPTH if self.type == "layers" else self.name

    def values_unlike(self, value: Any) -> str:
        """What a ``when`` may ask of it, in words; empty if it may ask ``value``."""
        if self.type == "categorical":
            boolean = isinstance(value, bool)  # true is not 1
            if any(isinstance(c, bool) == boolean and c == value for c in self.choices):
                return ""
            return "one of its choices " + ", ".join(map(show, self.choices))
        low, high, step = (
            (self.min_layers, self.max_layers, 1)
            if self.type == "layers"
            else (self.low, self.high, self.step or 1)
        )
        number = isinstance(value, int) and not isinstance(value, bool)
        if number and (low <= value <= high and (value - low) % step == 0 or value == self.off):
            return ""
        by = f" by {step}" if step != 1 else ""
        off = f", or its off value {self.off}" if self.off is not None else ""
        return f"an integer from {low} to {high}{by}{off}"


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
    # "converged": end the study once its best moved less than the CV noise over a window
    stop: Literal["budget", "converged"] = "budget"
    window: Annotated[Int, Field(ge=1)] = 10  # converged: the trials the best is watched over
    min_trials: Annotated[Int, Field(ge=2)] = 15  # converged: complete trials before any check

    @model_validator(mode="before")
    @classmethod
    def _timeout_alone(cls, data):
        if isinstance(data, dict) and "timeout" in data and "n_trials" not in data:
            return {**data, "n_trials": None}  # a timeout alone: no trial limit
        return data


@section
class SamplerSpec:
    """``[sampler]``: the Optuna sampler."""

    name: Literal["tpe", "random", "qmc", "cmaes", "grid"] = "tpe"  # the sampler
    seed: Annotated[Int, Field(ge=0)] = 0  # base seed: each worker draws its own from it
    # random trials first (unset: Optuna's default)
    n_startup_trials: Annotated[Int | None, Field(ge=0), meta("tpe", "cmaes")] = None
    multivariate: Annotated[Bool, meta("tpe")] = True  # model the parameters jointly
    variant: ClassVar[str] = "name"


_HALVING = meta("successive_halving", "hyperband")


@section
class PrunerSpec:
    """``[pruner]``: the Optuna pruner; a step is an epoch."""

    name: Literal["median", "successive_halving", "hyperband", "none"] = "median"  # the pruner
    n_startup_trials: Annotated[Int, Field(ge=0), meta("median")] = 5  # trials before pruning
    n_warmup_steps: Annotated[Int, Field(ge=0), meta("median")] = 5  # epochs before pruning
    min_resource: Annotated[Int | None, Field(ge=1), _HALVING] = None  # epochs (unset: auto)
    reduction_factor: Annotated[Int, Field(ge=2), _HALVING] = 3  # 1/factor promoted per rung
    variant: ClassVar[str] = "name"


_ALL_CORES = meta(expected="an integer >= 0, or -1 (0 and -1: all cores)")


@section
class WorkersSpec:
    """``[workers]``: where trials run."""

    n_jobs: Annotated[Int, Field(ge=-1), _ALL_CORES] = 0  # worker processes; 0 or -1: all cores
    backend: Literal["loky", "dask"] = "loky"  # local processes, or a Dask cluster
    # the Dask scheduler's address (unset: a local cluster)
    scheduler: Annotated[NonEmpty | None, meta("dask", env="DASK_SCHEDULER_ADDRESS")] = None
    variant: ClassVar[str] = "backend"


@section
class StorageSpec:
    """``[storage]``: where the Optuna study lives (shared by workers, survives restarts)."""

    url: Str = ""  # RDB URL ("://") or journal file (.log); unset: mlruns/optuna/<name>.log
    heartbeat_interval: Annotated[Int | None, Field(ge=1)] = None  # RDB: seconds between beats


@section
class TrackingSpec:
    """``[tracking]``: MLflow."""

    uri: Annotated[Str, meta(env="MLFLOW_TRACKING_URI")] = DEFAULT_TRACKING_URI  # tracking URI
    experiment: Str = ""  # the MLflow experiment (unset: the study's name)
    enabled: Bool = True  # log trials to MLflow at all
    # the registered model's format: "cloudpickle" (loading it runs code: trust your store)
    # or "skops" (safer against a tampered store; its import costs about 1-2 s of CPU)
    model_format: Literal["cloudpickle", "skops"] = "cloudpickle"


@section
class EvaluationSpec:
    """``[evaluation]``: what happens after the search."""

    refit: Bool = True  # refit best params on all training data, score the test split, save
    # refits with random_state, random_state + 1, ...: one process of one BLAS thread each
    refit_seeds: Annotated[Int, Field(ge=1, le=64)] = 1
    choose: Literal["best", "simplest"] = "best"  # simplest: fewest weights within noise of best
    ensemble: Bool = False  # the registered model: the soft vote of the refits (else the first)
    # what the R refits are: the chosen configuration with R seeds, or the chosen one and the
    # other trials within noise of the best, best first, one seed each (its further seeds fill
    # in where fewer are tied)
    members: Literal["seeds", "within_noise"] = "seeds"


_NAME = meta(expected="a name of A-Z a-z 0-9 _ . -")


@section
class StudySpec:
    """A validated study file; nested sections as above."""

    name: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_.-]+$"), _NAME]  # study, journal, experiment
    data: DataSpec  # [data]
    description: Str = ""  # free text
    metric: Metric = "accuracy"  # the CV score to maximise
    estimator: tuple[tuple[Str, Fixed], ...] = ()  # fixed parameters, file order; dict() it
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

    @model_validator(mode="after")
    def _keys_of_variants(self, info):
        for name, schema in sections().items() if info.context else ():  # the file's tables
            table, variant, keys = info.context[name], schema["variant"], schema["properties"]
            chosen = getattr(getattr(self, name), variant) if variant else None
            for key in (k for k in keys if k in table and k not in takes(schema, chosen)):
                note = "" if variant in table else " (the default)"
                used = ", ".join(f'"{o}"' for o in keys[key]["only"])
                what = f'not used with {variant} = "{chosen}"{note}, only with {used}'
                fail(f"{name}.{key}", what)
        return self

    @model_validator(mode="after")
    def _conditions(self):
        layers = [p.name for p in self.search_space if p.type == "layers"]
        if len(layers) > 1:
            what = f"expected one layers table, got a second ({layers[0]} is one): both draw"
            fail(f"search_space.{layers[1]}", f"{what} {DEPTH} and layer_<k>_units")
        tables = {p.drawn_as: p for p in self.search_space}
        for p in (p for p in self.search_space if p.when):
            for name, values in p.when:
                q, key = tables.get(name), f"search_space.{p.name}.when"
                if q is None:
                    close = difflib.get_close_matches(name, tables, n=1, cutoff=0.5)
                    hint = f'; did you mean "{close[0]}"?' if close else ""
                    hint = f'; its depth is "{DEPTH}"' if name in layers else hint
                    what = f"a [search_space] parameter, or {DEPTH} for the layers' depth"
                    fail(key, f"expected {what}, got {show(name)}{hint}")
                if q.type == "float":
                    only = "only categorical, int and layers parameters can be conditions"
                    fail(key, f"{name} is a float range: {only}")
                for v in (v for v in values if q.values_unlike(v)):
                    typed = q.type != "categorical" and type(v) is not int
                    fail(key, f"{name}: expected {q.values_unlike(v)}, got {show(v, typed)}")
        graph = {p.name: [tables[n].name for n, _ in p.when or ()] for p in self.search_space}
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1][::-1])
            what = f"a cycle of conditions: {cycle} (each drawn only when the next is)"
            fail(f"search_space.{exc.args[1][-1]}.when", what)
        return self

    @model_validator(mode="after")
    def _across_sections(self):
        fixed = dict(self.estimator)
        for p in self.search_space:
            key = f"search_space.{p.name}"
            if p.name in fixed:
                fail(key, "also fixed in [estimator]: tune it or fix it")
            if self.sampler.name != "grid":
                continue
            if p.when or p.min_layers != p.max_layers:
                got = "a when" if p.when else f"{DEPTH} from {p.min_layers} to {p.max_layers}"
                fail(key, f"the grid sampler needs an unconditional space, got {got}")
            if p.type == "float" or (p.type != "categorical" and p.step is None):
                got = {"float": "a float range", "int": "an int range without step"}
                got = got.get(p.type, "layer widths without step")
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
def json_schema() -> dict:
    """`StudySpec`'s JSON schema (pydantic's), with every key's metadata and table's variant."""
    return TypeAdapter(StudySpec).json_schema()


def kinds(node: dict) -> list[dict]:
    """The types a key's JSON schema allows but null (TOML has none), tables resolved."""
    defs = json_schema()["$defs"]
    found = [k for k in node.get("anyOf", [node]) if k.get("type") != "null"]
    return [defs[k["$ref"].rsplit("/", 1)[1]] if "$ref" in k else k for k in found]


def sections() -> dict[str, dict]:
    """``{name: JSON schema}`` of `StudySpec`'s tables of keys (``[data]``, ``[cv]``, ...)."""
    tables = json_schema()["properties"].items()
    return {name: kinds(node)[0] for name, node in tables if "$ref" in node}


def validate_study(raw: dict) -> StudySpec:
    """Validate a study file's tables (as `nnsweep.config.load` resolved them) into a spec.

    ``raw`` is also the validation context, which tells a file from a spec built directly.
    Raises ``pydantic.ValidationError``; `nnsweep.config.errors.study_file_error` words it.
    """
    return TypeAdapter(StudySpec).validate_python(raw, context=raw)
