"""Study files: load a ``studies/*.toml`` file, validate it, return a frozen `StudySpec`.

Holds the dataclasses describing a study, `load_study` (TOML text -> validated spec, with
command-line overrides applied first), `parse_overrides` (``--set key=value``) and
`StudyFileError`. Any problem is refused before anything starts, as one error (the first found)
naming the file, the dotted key and what was expected. Also a study's identity for resuming it:
`study_fingerprint` (the settings that define its trials), `changed_keys` and
`StudyChangedError`.

Settings are resolved here, in this order: overrides > study file > environment
(``NNSWEEP_DATA_DIR``, ``DASK_SCHEDULER_ADDRESS``, ``MLFLOW_TRACKING_URI``) > defaults, so the
spec records what a run actually used.

Leaves out: running anything. No Optuna, MLflow, scikit-learn or estimator import; no data
loading (only ``data.path`` is checked to exist). The estimator's parameters come from the
caller: its parameter names, so that *keys* are checked here, and a validator of its own, so
that the *values* of ``[estimator]`` and the search space's bounds and choices are checked
with the estimator's constraints (``nnsweep.compat.sklearn.check_estimator_params``).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

Scalar = int | float | str | bool

DATASETS = ("digits", "mnist", "fashion-mnist", "csv", "npz")
METRICS = ("accuracy", "neg_log_loss", "f1_macro")  # all maximised
SAMPLERS = ("tpe", "random", "qmc", "cmaes", "grid")
PRUNERS = ("median", "successive_halving", "hyperband", "none")
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


class StudyFileError(ValueError):
    """A study file (or an override) is invalid: ``path``, dotted ``key`` (or None), ``what``."""

    def __init__(self, path: str, key: str | None, what: str):
        self.path, self.key, self.what = str(path), key, what
        where = key or ""
        if key and "." in key:
            section, leaf = key.rsplit(".", 1)
            where = f"[{section}] {leaf}"
        super().__init__(f"{self.path}: {where + ': ' if where else ''}{what}")


@dataclass(frozen=True)
class DataSpec:
    """``[data]``: the data set, its held-out split and preprocessing."""

    name: str  # "digits" | "mnist" | "fashion-mnist" | "csv" | "npz"
    path: str | None = None  # csv/npz file, as written (relative to the current directory)
    label_column: str = "label"  # csv: the column holding the class label
    data_dir: str | None = None  # mnist/fashion-mnist (None: NNSWEEP_DATA_DIR, else loader's)
    subset: int | None = None  # use only the first N training samples (None: all)
    test_size: float = 0.25  # held-out fraction when there is no official test split
    split_seed: int = 0  # random_state of that train_test_split
    preprocessing: str = "none"  # "none" | "standard" | "minmax": a Pipeline step before the net


@dataclass(frozen=True)
class ParamSpec:
    """One ``[search_space.<name>]`` table: a tuned estimator parameter."""

    name: str  # estimator parameter name
    type: str  # "float" | "int" | "categorical"
    low: float | int | None = None  # float/int: lower bound, inclusive
    high: float | int | None = None  # float/int: upper bound, inclusive
    log: bool = False  # sample on a log scale (low > 0)
    step: float | int | None = None  # discretisation step (None: continuous, or 1 for int)
    choices: tuple[Scalar, ...] = ()  # categorical: the values to choose from
    off: float | int | None = None  # if set: a "<name>.enabled" choice first; off -> this value


@dataclass(frozen=True)
class CVSpec:
    """``[cv]``: the K-fold cross-validation that scores each trial."""

    n_splits: int = 5  # K
    stratified: bool = True  # StratifiedKFold rather than KFold
    shuffle: bool = True  # shuffle before splitting
    seed: int = 0  # random_state of the splitter (meaningful only with shuffle)


@dataclass(frozen=True)
class BudgetSpec:
    """``[budget]``: how many trials, how long."""

    n_trials: int | None = 20  # study total across workers/resumes (None: only timeout set)
    timeout: float | None = None  # seconds for this invocation (None: no limit)


@dataclass(frozen=True)
class SamplerSpec:
    """``[sampler]``: the Optuna sampler."""

    name: str = "tpe"  # "tpe" | "random" | "qmc" | "cmaes" | "grid"
    seed: int = 0  # base seed; worker i uses seed + i
    n_startup_trials: int | None = None  # tpe/cmaes: random trials first (None: Optuna's)
    multivariate: bool = True  # tpe: model the parameters jointly


@dataclass(frozen=True)
class PrunerSpec:
    """``[pruner]``: the Optuna pruner; a step is an epoch."""

    name: str = "median"  # "median" | "successive_halving" | "hyperband" | "none"
    n_startup_trials: int = 5  # median: finished trials before any pruning
    n_warmup_steps: int = 5  # median: epochs before a trial can be pruned
    min_resource: int | None = None  # successive_halving/hyperband: epochs (None: "auto")
    reduction_factor: int = 3  # successive_halving/hyperband: 1/factor promoted per rung


@dataclass(frozen=True)
class WorkersSpec:
    """``[workers]``: where trials run."""

    n_jobs: int = 0  # worker processes; 0 or -1: all cores
    backend: str = "loky"  # "loky" (local processes) | "dask" (a Dask cluster)
    scheduler: str | None = None  # dask: address (else DASK_SCHEDULER_ADDRESS; None: local)


@dataclass(frozen=True)
class StorageSpec:
    """``[storage]``: where the Optuna study lives (shared by workers, survives restarts)."""

    url: str = ""  # RDB URL ("://") or journal file (.log); load_study: mlruns/optuna/<name>.log
    heartbeat_interval: int | None = None  # RDB only: seconds between trial heartbeats


@dataclass(frozen=True)
class TrackingSpec:
    """``[tracking]``: MLflow."""

    uri: str = DEFAULT_TRACKING_URI  # tracking URI (else MLFLOW_TRACKING_URI)
    experiment: str = ""  # experiment name; load_study fills in the study name
    enabled: bool = True  # log trials to MLflow at all
    # the registered model's format: "cloudpickle" (loading it runs code: trust your store)
    # or "skops" (safer against a tampered store; its import costs about 1-2 s of CPU)
    model_format: str = "cloudpickle"


@dataclass(frozen=True)
class EvaluationSpec:
    """``[evaluation]``: what happens after the search."""

    refit: bool = True  # refit best params on all training data, score the test split, save


@dataclass(frozen=True)
class StudySpec:
    """A validated study file; nested sections as above."""

    name: str  # study name: Optuna study, default MLflow experiment, journal file stem
    data: DataSpec  # [data]
    description: str = ""  # free text
    metric: str = "accuracy"  # CV score to maximise: "accuracy" | "neg_log_loss" | "f1_macro"
    estimator: tuple[tuple[str, Scalar], ...] = ()  # fixed parameters, file order; dict() it
    search_space: tuple[ParamSpec, ...] = ()  # tuned parameters, file order
    cv: CVSpec = CVSpec()  # [cv]
    budget: BudgetSpec = BudgetSpec()  # [budget]
    sampler: SamplerSpec = SamplerSpec()  # [sampler]
    pruner: PrunerSpec = PrunerSpec()  # [pruner]
    workers: WorkersSpec = WorkersSpec()  # [workers]
    storage: StorageSpec = StorageSpec()  # [storage]
    tracking: TrackingSpec = TrackingSpec()  # [tracking]
    evaluation: EvaluationSpec = EvaluationSpec()  # [evaluation]
    path: str = ""  # the study file, as given to load_study
    source_text: str = ""  # its raw text (logged as an artifact)
    overrides: tuple[tuple[str, Any], ...] = ()  # overrides applied on top of the file, coerced


# Schema: key -> (kind, predicate or None, what is expected); "" is the top level.
def _quoted(options: Any) -> str:
    return ", ".join(f'"{o}"' for o in options)


def _int(lo: int) -> tuple:
    return ("int", lambda v: v >= lo, f"an integer >= {lo}")


def _one_of(*options: str) -> tuple:
    return ("str", lambda v: v in options, f"one of {_quoted(options)}")


_BOOL = ("bool", None, "true or false")
_STR = ("str", None, "a string")
_NONEMPTY = ("str", bool, "a non-empty string")
_SCHEMA: dict[str, dict[str, tuple]] = {
    "": {
        "name": ("str", re.compile(r"[A-Za-z0-9_.-]+").fullmatch, "a name of A-Z a-z 0-9 _ . -"),
        "description": _STR,
        "metric": _one_of(*METRICS),
    },
    "data": {
        "name": _one_of(*DATASETS),
        "path": _NONEMPTY,
        "label_column": _NONEMPTY,
        "data_dir": _NONEMPTY,
        "subset": _int(1),
        "test_size": ("float", lambda v: 0 < v < 1, "a number in (0, 1)"),
        "split_seed": _int(0),
        "preprocessing": _one_of("none", "standard", "minmax"),
    },
    "cv": {"n_splits": _int(2), "stratified": _BOOL, "shuffle": _BOOL, "seed": _int(0)},
    "budget": {"n_trials": _int(1), "timeout": ("float", lambda v: v > 0, "a number > 0")},
    "sampler": {
        "name": _one_of(*SAMPLERS),
        "seed": _int(0),
        "n_startup_trials": _int(0),
        "multivariate": _BOOL,
    },
    "pruner": {
        "name": _one_of(*PRUNERS),
        "n_startup_trials": _int(0),
        "n_warmup_steps": _int(0),
        "min_resource": _int(1),
        "reduction_factor": _int(2),
    },
    "workers": {
        "n_jobs": ("int", lambda v: v >= -1, "an integer >= 0, or -1 (0 and -1: all cores)"),
        "backend": _one_of("loky", "dask"),
        "scheduler": _NONEMPTY,
    },
    "storage": {"url": _STR, "heartbeat_interval": _int(1)},
    "tracking": {
        "uri": _STR,
        "experiment": _STR,
        "enabled": _BOOL,
        "model_format": _one_of("cloudpickle", "skops"),
    },
    "evaluation": {"refit": _BOOL},
}
_TOP_KEYS = [*_SCHEMA[""], "data", "estimator", "search_space", *list(_SCHEMA)[2:]]
_RANGE_KEYS = ("type", "low", "high", "log", "step", "off")
_PARAM_KEYS = {"categorical": ("type", "choices"), "float": _RANGE_KEYS, "int": _RANGE_KEYS}
# Sections with variants: section -> (key choosing the variant, its default), and the keys
# that only some variants take (any other variant refuses them).
_SELECTOR = {
    "data": ("name", None),
    "sampler": ("name", "tpe"),
    "pruner": ("name", "median"),
    "workers": ("backend", "loky"),
}
_ONLY_FOR = {
    "data.path": ("csv", "npz"),
    "data.label_column": ("csv",),
    "data.data_dir": ("mnist", "fashion-mnist"),
    "data.test_size": ("digits", "csv", "npz"),
    "data.split_seed": ("digits", "csv", "npz"),
    "sampler.n_startup_trials": ("tpe", "cmaes"),
    "sampler.multivariate": ("tpe",),
    "pruner.n_startup_trials": ("median",),
    "pruner.n_warmup_steps": ("median",),
    "pruner.min_resource": ("successive_halving", "hyperband"),
    "pruner.reduction_factor": ("successive_halving", "hyperband"),
    "workers.scheduler": ("dask",),
}
_KIND_OK = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
}
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list"}
# How a value's type is worded in a validator's "expected ..." (then "got" needs no type);
# an integer is a valid float.
_TYPE_WORDS = {
    bool: r"\bbool\b",
    int: r"\b(int(eger)?|float|real)\b",
    float: r"\b(float|real)\b",
    str: r"\bstr(ing)?\b",
}


def _show(v: Any, typed: bool = False) -> str:
    if isinstance(v, dict):
        return "a table"
    text = ("true" if v else "false") if isinstance(v, bool) else repr(v)
    if isinstance(v, str):
        text = '"' + v.replace('"', '\\"') + '"'
    kind = _TYPE_NAMES.get(type(v), type(v).__name__)
    return f"{text} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})" if typed else text


def _is_scalar(v: Any) -> bool:
    return isinstance(v, str | bool | int) or (isinstance(v, float) and math.isfinite(v))


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return float(text)  # ".5"; a word raises ValueError


def _coerce(parts: list[str], value: Any) -> Any:
    """Convert an override string to the type its key expects; unchanged if that fails."""
    if not isinstance(value, str):
        return value
    if len(parts) == 3 and parts[0] == "search_space":
        kind = {"type": "str", "log": "bool"}.get(parts[2])  # low/high/...: as TOML
    else:
        kind = _SCHEMA.get(parts[0] if len(parts) == 2 else "", {}).get(parts[-1], (None,))[0]
    try:
        if kind == "bool":
            return {"true": True, "false": False}[value.lower()]
        return {"str": str, "int": int, "float": float}.get(kind, _toml_value)(value)
    except (ValueError, KeyError):
        return value  # reported by validation: expected ..., got "..." (a string)


def parse_overrides(items: list[str]) -> dict[str, str]:
    """Parse ``--set key=value`` items into ``{dotted key: value string}`` (later items win).

    Values stay strings: `load_study` converts each to the type its key expects.
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value (e.g. budget.n_trials=10), got {item!r}")
        out[key.strip()] = value.strip()
    return out


class _Checker:
    """Validation of one parsed study file; `fail` raises the first error found."""

    def __init__(self, path: str, overrides: dict[str, Any], estimator_check=None):
        self.path, self.cli, self.estimator_check = path, overrides, estimator_check

    def fail(self, key: str | None, what: str) -> NoReturn:
        given = [k for k in self.cli if key and (k == key or k.startswith(key + "."))]
        what += f" (from override {given[0]})" if given else ""
        raise StudyFileError(self.path, key, what)

    def table(self, value: Any, key: str) -> dict:
        if value is None or isinstance(value, dict):
            return value or {}
        self.fail(key, f"expected a table [{key}], got {_show(value, True)}")

    def keys(self, tbl: dict, section: str, valid: Any) -> None:
        for key in (k for k in tbl if k not in valid):
            homes = [s for s in _SCHEMA if key in _SCHEMA[s] and s != section]
            if section in _SCHEMA and "" in homes:
                hint = f"{key} is a top-level key: put it above the first [table] header"
            elif section in _SCHEMA and homes:
                hint = f"did you mean {key} in [{homes[0]}]?"
            else:
                close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
                hint = f'did you mean "{close[0]}"?' if close else ""
            what = "; ".join(x for x in ("unknown key", hint) if x)
            what += f" (valid: {', '.join(valid)})" if len(valid) <= 12 else ""
            self.fail(f"{section}.{key}" if section else key, what)

    def value(self, key: str, v: Any, kind: str, ok: Any, expect: str) -> Any:
        if not _KIND_OK[kind](v):
            self.fail(key, f"expected {expect}, got {_show(v, True)}")
        if ok is not None and not ok(v):
            self.fail(key, f"expected {expect}, got {_show(v)}")
        return float(v) if kind == "float" else v

    def section(self, raw: dict, name: str) -> dict:
        tbl = self.table(raw.get(name), name)
        rules = _SCHEMA[name]
        self.keys(tbl, name, rules)
        vals = {k: self.value(f"{name}.{k}", v, *rules[k]) for k, v in tbl.items()}
        selector, default = _SELECTOR.get(name, (None, None))
        chosen = vals.get(selector, default)
        if name == "data" and chosen is None:
            self.fail("data.name", f"missing required key; expected {rules['name'][2]}")
        for k in vals:
            only = _ONLY_FOR.get(f"{name}.{k}", (chosen,))
            if chosen not in only:
                note = "" if selector in vals else " (the default)"
                used = f'not used with {selector} = "{chosen}"{note}, only with {_quoted(only)}'
                self.fail(f"{name}.{k}", used)
        return vals

    def known(self, section: str, name: str, params: list[str] | None) -> None:
        if params is not None and name not in params:
            close = difflib.get_close_matches(name, params, n=1, cutoff=0.5)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            self.fail(f"{section}.{name}", f"not a parameter of the estimator{hint}")

    def allowed(self, key: str, name: str, value: Any) -> None:
        """Refuse a value the estimator would refuse for parameter ``name`` (if checked)."""
        if self.estimator_check is None:
            return
        try:
            self.estimator_check({name: value})
        except (ValueError, TypeError) as exc:
            expected = str(exc)
            typed = not re.search(_TYPE_WORDS.get(type(value), "^$"), expected, re.IGNORECASE)
            self.fail(key, f"expected {expected}, got {_show(value, typed)}")

    def param(self, name: str, raw: Any) -> ParamSpec:
        key = f"search_space.{name}"
        tbl = self.table(raw, key)
        if "type" not in tbl:
            self.keys(tbl, key, _PARAM_KEYS["float"])
            self.fail(
                f"{key}.type", f"missing required key; expected one of {_quoted(_PARAM_KEYS)}"
            )
        ptype = self.value(f"{key}.type", tbl["type"], *_one_of(*_PARAM_KEYS))
        self.keys(tbl, key, _PARAM_KEYS[ptype])
        if ptype == "categorical":
            choices = tbl.get("choices")
            if not isinstance(choices, list) or not choices or not all(map(_is_scalar, choices)):
                what = "a non-empty list of strings, numbers or booleans"
                self.fail(f"{key}.choices", f"expected {what}, got {_show(choices, True)}")
            dups = [c for i, c in enumerate(choices) if c in choices[:i]]  # 1 == 1.0 == true
            if dups:
                self.fail(
                    f"{key}.choices", f"expected distinct values, got {_show(dups[0])} twice"
                )
            return ParamSpec(name, ptype, choices=tuple(choices))
        kind, what = ("int", "an integer") if ptype == "int" else ("float", "a number")
        for bound in ("low", "high"):
            if bound not in tbl:
                self.fail(f"{key}.{bound}", f"missing required key; expected {what}")
        low = self.value(f"{key}.low", tbl["low"], kind, None, what)
        high = self.value(f"{key}.high", tbl["high"], kind, None, what)
        log = self.value(f"{key}.log", tbl.get("log", False), *_BOOL)
        shown = {k: _show(tbl.get(k)) for k in ("low", "high", "step")}
        if log and low <= 0:
            self.fail(f"{key}.low", f"expected {what} > 0 with log = true, got {shown['low']}")
        if low > high or (ptype == "float" and low == high):
            rel = "<" if ptype == "float" else "<="
            self.fail(f"{key}.low", f"expected {rel} high = {shown['high']}, got {shown['low']}")
        step = tbl.get("step")
        if step is not None:
            step = self.value(f"{key}.step", step, kind, lambda v: v > 0, f"{what} > 0")
            if log and step != 1:
                self.fail(f"{key}.step", "expected no step with log = true (Optuna can't do both)")
            n = (high - low) / step
            if abs(n - round(n)) > 1e-9 * max(1.0, n):
                self.fail(f"{key}.step", f"expected a divisor of high - low, got {shown['step']}")
        off = tbl.get("off")
        off = None if off is None else self.value(f"{key}.off", off, kind, None, what)
        return ParamSpec(name, ptype, low, high, log, step, (), off)

    def study(self, raw: dict, params: list[str] | None) -> dict:
        self.keys(raw, "", _TOP_KEYS)
        top = {k: self.value(k, raw[k], *rule) for k, rule in _SCHEMA[""].items() if k in raw}
        if "name" not in top:
            self.fail("name", f"missing required key; expected {_SCHEMA['']['name'][2]}")
        name, s = top["name"], {k: self.section(raw, k) for k in list(_SCHEMA)[1:]}
        data, storage, tracking, workers = s["data"], s["storage"], s["tracking"], s["workers"]
        if data["name"] in ("csv", "npz") and "path" not in data:
            self.fail("data.path", f'missing required key; name = "{data["name"]}" needs a file')
        if "path" in data and not os.path.isfile(data["path"]):
            where = f"relative to {os.getcwd()}"
            self.fail(
                "data.path", f"expected an existing file ({where}), got {_show(data['path'])}"
            )
        if data["name"] in ("mnist", "fashion-mnist"):
            data.setdefault("data_dir", os.environ.get("NNSWEEP_DATA_DIR") or None)
        estimator = self.table(raw.get("estimator"), "estimator")
        for k, v in estimator.items():
            self.known("estimator", k, params)
            if not _is_scalar(v):
                what = "a string, number or boolean"
                self.fail(f"estimator.{k}", f"expected {what}, got {_show(v, True)}")
            self.allowed(f"estimator.{k}", k, v)
        space = []
        for k, v in self.table(raw.get("search_space"), "search_space").items():
            self.known("search_space", k, params)
            if k in estimator:
                self.fail(f"search_space.{k}", "also fixed in [estimator]: tune it or fix it")
            p = self.param(k, v)
            for field in ("low", "high", "off", "choices"):  # ranges: their ends suffice
                values = p.choices if field == "choices" else [getattr(p, field)]
                for value in (x for x in values if x is not None):
                    self.allowed(f"search_space.{k}.{field}", k, value)
            grid_ok = p.type == "categorical" or (p.type == "int" and p.step is not None)
            if s["sampler"].get("name") == "grid" and not grid_ok:
                got = "a float range" if p.type == "float" else "an int range without step"
                what = "the grid sampler needs categorical choices or an int range with step"
                self.fail(f"search_space.{k}", f"{what}, got {got}")
            space.append(p)
        s["budget"].setdefault("n_trials", None if "timeout" in s["budget"] else 20)
        storage["url"] = url = storage.get("url") or f"mlruns/optuna/{name}.log"
        if "://" not in url and not url.endswith(".log"):
            what = "an Optuna storage URL (sqlite:///...) or a journal file path ending in .log"
            self.fail("storage.url", f"expected {what}, got {_show(url)}")
        if "heartbeat_interval" in storage and "://" not in url:
            self.fail("storage.heartbeat_interval", f"only for RDB storages, not journal {url}")
        env_uri = os.environ.get("MLFLOW_TRACKING_URI")
        tracking["uri"] = tracking.get("uri") or env_uri or DEFAULT_TRACKING_URI
        tracking["experiment"] = tracking.get("experiment") or name
        if workers.get("backend") == "dask":
            workers.setdefault("scheduler", os.environ.get("DASK_SCHEDULER_ADDRESS") or None)
        return dict(top, estimator=tuple(estimator.items()), search_space=tuple(space), **s)


_SECTION_TYPES = dict(
    data=DataSpec,
    cv=CVSpec,
    budget=BudgetSpec,
    sampler=SamplerSpec,
    pruner=PrunerSpec,
    workers=WorkersSpec,
    storage=StorageSpec,
    tracking=TrackingSpec,
    evaluation=EvaluationSpec,
)


def load_study(
    path: str | os.PathLike,
    *,
    estimator_params: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
    estimator_check: Callable[[dict[str, Any]], None] | None = None,
) -> StudySpec:
    """Read, override and validate a study file.

    Parameters
    ----------
    path : str or path-like
        The TOML study file.
    estimator_params : iterable of str, optional
        Valid estimator parameter names (``NeuralNetworkClassifier().get_params().keys()``);
        when given, the keys of ``[estimator]`` and ``[search_space]`` must be among them.
    overrides : dict, optional
        ``{dotted key: value}`` applied before validation (see `parse_overrides`); string
        values are converted to the type their key expects.
    estimator_check : callable, optional
        Checks estimator parameter values: called with one ``{name: value}`` at a time, for
        each ``[estimator]`` value and each search-space ``low``, ``high``, ``off`` and
        choice, it raises ``ValueError`` or ``TypeError`` for a value the estimator would
        refuse, with a message saying what the value should be, worded to follow
        "expected" ("a float in the range [0.0, 1.0)"). The command line passes
        ``nnsweep.compat.sklearn.check_estimator_params``. Without it, values are not
        checked against the estimator (only as the schema says).

    Returns
    -------
    StudySpec

    Raises
    ------
    StudyFileError
        The first problem found, naming the file, the key and what was expected.
    """
    path, overrides = str(path), dict(overrides or {})
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyFileError(path, None, f"cannot read the study file: {exc}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        lines = text.splitlines()
        n = int(found.group(1)) if found else 0
        shown = f"\n    line {n}: {lines[n - 1].strip()}" if 0 < n <= len(lines) else ""
        raise StudyFileError(path, None, f"invalid TOML: {exc}{shown}") from None
    checker, applied = _Checker(path, overrides, estimator_check), []
    for dotted, value in overrides.items():
        parts, node = dotted.split("."), raw
        if not all(parts):
            checker.fail(dotted, "expected a dotted key such as budget.n_trials")
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                checker.fail(".".join(parts[: i + 1]), f"is not a table; cannot set {dotted}")
        node[parts[-1]] = _coerce(parts, value)
        value = node[parts[-1]]
        applied.append((dotted, tuple(value) if isinstance(value, list) else value))
    known = None if estimator_params is None else list(estimator_params)
    fields = checker.study(raw, known)
    sections = {k: cls(**fields.pop(k)) for k, cls in _SECTION_TYPES.items()}
    return StudySpec(**fields, **sections, path=path, source_text=text, overrides=tuple(applied))


# A study's identity. Resuming a study (same name, same storage) with other values of these
# would mix trials of two configurations: the data, the score, the fixed parameters, the
# search space and the CV define what every trial's value means. Left out, as changes that
# do not: the budget and timeout (how many trials), workers, storage and tracking (where they
# run and are shown), evaluation (what happens after them), the description, and the sampler
# and pruner (they choose the next trial's parameters and when to stop one; every finished
# trial is still a CV score of the same model on the same data, and a pruned one is still a
# pruned one). data.data_dir is left out too: it says where the official files are.
_NOT_SET = object()


def study_fingerprint(spec: StudySpec, data_digest: str | None = None) -> dict[str, Any]:
    """The settings that define a study's trials, as JSON types (for an Optuna user attribute).

    Parameters
    ----------
    spec : StudySpec
    data_digest : str, optional
        The loaded data set's content digest (``Dataset.digest``). Given, it identifies the
        data in place of ``data.path`` (so the same file moved is the same study and a file
        rewritten in place is not); else ``data.path`` stands for the data.

    Returns
    -------
    dict
        ``{"data", "metric", "estimator", "search_space", "cv"}``: the resolved values
        (defaults included), estimator parameters and search-space entries sorted by name, so
        that the same study gives the same dict, and the same JSON text, however its file is
        ordered or formatted. Compare two with `changed_keys`.
    """
    data = {k: v for k, v in asdict(spec.data).items() if k != "data_dir"}
    if data_digest is not None:
        data.pop("path")
        data["digest"] = data_digest
    space = {
        p.name: {k: v for k, v in asdict(p).items() if k != "name"} for p in spec.search_space
    }
    fingerprint = {
        "data": data,
        "metric": spec.metric,
        "estimator": dict(sorted(spec.estimator)),
        "search_space": dict(sorted(space.items())),
        "cv": asdict(spec.cv),
    }
    return _plain(fingerprint)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal as study settings: 1 == 1.0, but true != 1, and lists element by element."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a is not _NOT_SET and b is not _NOT_SET and a == b


def changed_keys(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The dotted keys whose values differ between two `study_fingerprint` dicts.

    Parameters
    ----------
    stored, current : dict
        Fingerprints (or any nested dicts of JSON values), e.g. the one stored on the study
        when it was created and the one of the study file now.

    Returns
    -------
    list of str
        In ``current``'s order, then keys only ``stored`` has; a table on one side only is
        one key (``"search_space.dropout_rate"``), else the leaves that differ
        (``["estimator.dropout_rate", "search_space.learning_rate.high"]``). Empty: the same
        study.
    """
    out = []
    for key in [*current, *(k for k in stored if k not in current)]:
        old, new = stored.get(key, _NOT_SET), current.get(key, _NOT_SET)
        if isinstance(old, dict) and isinstance(new, dict):
            out.extend(f"{key}.{leaf}" for leaf in changed_keys(old, new))
        elif not _same(old, new):
            out.append(key)
    return out


def _lookup(tree: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part, _NOT_SET) if isinstance(tree, dict) else _NOT_SET
    return tree


def _inline(v: Any) -> str:
    """A fingerprint value as TOML-like text: unset, "a", [1, 2], {low = 1, ...}."""
    if v is _NOT_SET or v is None:
        return "unset"
    if isinstance(v, dict):
        shown = (f"{k} = {_inline(x)}" for k, x in v.items() if x is not None and x != [])
        return "{" + ", ".join(shown) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(map(_inline, v)) + "]"
    return _show(v)


class StudyChangedError(StudyFileError):
    """A study exists under this name with other settings: resuming would mix two studies.

    Parameters
    ----------
    path : str
        The study file.
    study : str
        The study's name.
    stored, current : dict
        The `study_fingerprint` stored on the existing study, and the study file's now.

    Attributes
    ----------
    study : str
    changes : list of (str, object, object)
        ``(dotted key, stored value, current value)`` for each of `changed_keys`.
    changed : list of str
        The dotted keys alone.
    """

    def __init__(self, path: str, study: str, stored: dict[str, Any], current: dict[str, Any]):
        self.study = study
        self.changed = changed_keys(stored, current)
        self.changes = [(k, _lookup(stored, k), _lookup(current, k)) for k in self.changed]
        shown = "".join(f"\n    {k}: {_inline(a)} -> {_inline(b)}" for k, a, b in self.changes)
        what = (
            f'study "{study}" already exists with other settings, and resuming it would mix '
            f"trials of two configurations:{shown}\n"
            f'  Give the study a new name (name = "..." in the file, or --set name=...) to '
            f"start a new one, or pass --accept-changes to resume it anyway."
        )
        super().__init__(path, None, what)
