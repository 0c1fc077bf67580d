"""Optuna searches whose objective is K-fold cross-validation, run by worker processes.

One module per job, in the order a sweep uses them:

* `factories`: the study file's sampler, pruner, CV splitter and estimator, and the study;
  a trial's parameters drawn from the search space (`suggest_params`).
* `objective`: `CrossValidationObjective`, a trial scored by K-fold CV with the folds
  trained in lockstep, its mean reported to the pruner after every epoch.
* `worker`: the processes that ask and tell trials until the study's budget is spent.
* `recovery`: trials a dead worker or a stopped sweep left running, failed and retried.
* `refit`: `SweepResult`, and the best parameters refit on all the training data.
* `runner`: `run_sweep`, the whole life cycle (lock, study, writer, workers, refit, save).
* `progress`: the progress bar.

The sweep never imports mlflow: tracking is a handle to the writer process, and what a
trial reports is `nnsweep.study.records.TrialRecord`. It names no hyperparameter either: the
study file's search space does.
"""

from ..study.storage import make_storage
from .factories import (
    build_estimator,
    create_study,
    make_cv,
    make_pruner,
    make_sampler,
    suggest_params,
)
from .objective import CrossValidationObjective
from .recovery import recover_interrupted, retry_interrupted
from .refit import SweepResult
from .runner import add_workers, check_unchanged, record_study, run_sweep, split_data
from .worker import count_budget, make_job, resolve_n_jobs, run_worker

__all__ = [
    "CrossValidationObjective",
    "SweepResult",
    "add_workers",
    "build_estimator",
    "check_unchanged",
    "count_budget",
    "create_study",
    "make_cv",
    "make_job",
    "make_pruner",
    "make_sampler",
    "make_storage",
    "recover_interrupted",
    "record_study",
    "resolve_n_jobs",
    "retry_interrupted",
    "run_sweep",
    "run_worker",
    "split_data",
    "suggest_params",
]
