"""The sections that say how the search runs, and what it keeps.

``[budget]``, ``[sampler]``, ``[pruner]``, ``[workers]``, ``[storage]``, ``[tracking]`` and
``[evaluation]``: one frozen pydantic dataclass each, every field with its default.

Leaves out: what a trial is (`nnsweep.config.trial`) and the rules across sections
(`nnsweep.config.schema`).
"""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from .base import Bool, Float, Int, NonEmpty, Pruner, Sampler, Str, section
from .fields import Expected, FromEnv, Only

__all__ = [
    "DEFAULT_TRACKING_URI",
    "BudgetSpec",
    "EvaluationSpec",
    "PrunerSpec",
    "SamplerSpec",
    "StorageSpec",
    "TrackingSpec",
    "WorkersSpec",
]

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


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
