"""The study-file schema, declared once: one frozen pydantic dataclass per section.

Each field carries its TOML type (strict: "10" is not an integer), its constraints
(``Field(ge=...)``, ``Literal`` choices, the markers of `nnsweep.config.fields`: `Only` the
variants using it, `FromEnv` the variable filling it) and its default, with a one-line comment
saying what it means (above the field when the line is full); the documentation's study-key
tables read all of them. Rules involving several keys are validators beside the fields they
constrain: `ParamSpec` checks its range, `StudySpec` the keys that only some variants take,
the grid sampler's needs and the storage URL.

The sections live in `nnsweep.config.trial` (``[data]``, ``[search_space.*]``, ``[cv]``) and
`nnsweep.config.runtime` (budget, sampler, pruner, workers, storage, tracking, evaluation),
built of `nnsweep.config.base` (the choices, TOML's types, `section`); this module holds
`StudySpec`, which nests them and checks the rules across sections, and re-exports them all.

A file is validated through `validate_study`: only then are keys of another variant refused
and ``data.path`` checked to exist. Building a spec directly, or unpickling one (pydantic
validates it again, e.g. in a worker process, maybe on another host), checks only the rest.

Leaves out: error messages (`nnsweep.config.errors` words pydantic's errors as today's), TOML,
overrides, the environment and the estimator's own checks (`nnsweep.config.load`).
"""

import dataclasses
import functools
import typing
from typing import Annotated, Any

from pydantic import Field, model_validator

from .base import DATASETS, METRICS, PRUNERS, SAMPLERS, Metric, Scalar, Str, loading, section
from .fields import Expected, fail, show, variant_keys
from .runtime import (
    DEFAULT_TRACKING_URI,
    BudgetSpec,
    EvaluationSpec,
    PrunerSpec,
    SamplerSpec,
    StorageSpec,
    TrackingSpec,
    WorkersSpec,
)
from .trial import CVSpec, DataSpec, ParamSpec

__all__ = ["StudySpec", "sections", "validate_study"]
# Re-exported, as before the sections moved out (`nnsweep.config` imports them from here; the
# sections themselves are imported above for StudySpec).
__all__ += ["DATASETS", "DEFAULT_TRACKING_URI", "METRICS", "PRUNERS", "SAMPLERS"]

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
