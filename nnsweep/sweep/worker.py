"""The workers: processes that ask and tell trials until the study's budget is spent.

`run_sweep` (`nnsweep.sweep.runner`) starts W of them under joblib (loky locally, Dask on a
cluster). Each loads the same study with its own sampler seed, limits BLAS to one thread, and
asks and tells trials until the budget is reached. The budget is counted in the storage
(`count_budget`), so it holds across workers, stops and resumes.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from dataclasses import dataclass

import joblib
import numpy as np
import optuna
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits

from .. import stopping
from ..compat.optuna import heartbeat_thread, is_heartbeat_enabled
from ..stopping import SweepStopped, should_stop
from ..study.journal import DiskError, is_disk_error
from ..study.locks import StudyLock, budget_lock_for
from ..study.records import Attr, StopReason, StudyAttr, is_added, is_interrupted
from ..study.storage import make_storage
from .convergence import converged
from .factories import build_estimator, grid_done, make_cv, make_pruner, make_sampler
from .objective import CrossValidationObjective
from .recovery import recover_interrupted

__all__ = [
    "FINISHED",
    "count_budget",
    "make_job",
    "resolve_n_jobs",
    "run_worker",
    "run_workers",
    "worker_seed",
]

#: Trial states that count against the study's budget (with RUNNING ones), unless
#: the trial was interrupted (its worker died or the sweep was stopped): those are retried.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def count_budget(study, running=True):
    """Trials that count against the budget: finished (or ``running``), not interrupted.

    Trials added by a warm start (`nnsweep.sweep.warmstart`) do not count.
    """
    states = (*FINISHED, TrialState.RUNNING) if running else FINISHED
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=states)
        if not is_interrupted(t) and not is_added(t)
    )


def resolve_n_jobs(n_jobs):
    """Worker count: 0 or -1 mean one per core."""
    return joblib.cpu_count() if n_jobs in (0, -1) else n_jobs


@dataclass
class _WorkerJob:
    """Everything a worker process needs, picklable (sent to loky or Dask workers)."""

    study_name: str
    storage_url: str
    heartbeat_interval: int | None
    sampler_spec: object
    pruner_spec: object
    search_space: tuple
    base_seed: int
    objective: CrossValidationObjective
    n_trials: int | None
    deadline: float | None
    blas_threads: int
    budget_lock: StudyLock
    stop_file: str  # created when the sweep is asked to stop (`nnsweep.stopping.relayed`)
    converge: tuple | None = None  # (window, min_trials) with [budget] stop = "converged"


def make_job(spec, X, y, n_workers, deadline=None):
    """What each of ``n_workers`` workers of a study runs (see `run_worker`)."""
    objective = CrossValidationObjective(
        build_estimator(spec), X, y, spec.search_space, make_cv(spec.cv), spec.metric
    )
    return _WorkerJob(
        study_name=spec.name,
        storage_url=spec.storage.url,
        heartbeat_interval=spec.storage.heartbeat_interval,
        sampler_spec=spec.sampler,
        pruner_spec=spec.pruner,
        search_space=spec.search_space,
        base_seed=spec.sampler.seed,
        objective=objective,
        n_trials=spec.budget.n_trials,
        deadline=deadline,
        # One BLAS thread per worker process, however many workers: multi-threaded OpenBLAS
        # collapses on small products whenever another core is busy
        # (benchmarks/results/scaleout.md, "BLAS threads").
        blas_threads=1,
        budget_lock=budget_lock_for(spec),
        stop_file=stopping.new_stop_file(),
        converge=(
            (spec.budget.window, spec.budget.min_trials)
            if spec.budget.stop == "converged"
            else None
        ),
    )


def run_worker(job, worker_index, in_process=False):
    """Ask and tell trials until the study's budget or the deadline is reached, or a stop.

    Returns the number of trials this worker finished. A stop request (`nnsweep.stopping`)
    ends the running trial at its next epoch, marked interrupted; a full or read-only disk
    raises `nnsweep.study.journal.DiskError`. ``in_process``: in the caller's thread.
    """
    try:
        with stopping.in_worker(job.stop_file, in_process):
            return _worker_loop(job, worker_index)
    except OSError as exc:
        if is_disk_error(exc):
            raise DiskError(exc.errno, f"{job.storage_url}: {exc.strerror or exc}") from None
        raise


def worker_seed(base_seed, worker_index, n_trials):
    """The sampler seed of one worker: one per worker, per (re)start and per study seed.

    Worker ``worker_index`` of a study with ``base_seed``, started when the study had
    ``n_trials`` trials. NumPy's `~numpy.random.SeedSequence` of the three numbers: workers
    explore differently, a resumed study does not replay its samples, and two study seeds
    share no worker's draws (as ``base_seed + worker_index`` would).
    """
    entropy = (base_seed, worker_index, n_trials)
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _worker_loop(job, worker_index):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # We run the heartbeat thread ourselves around each asked trial (below).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    storage = make_storage(job.storage_url, job.heartbeat_interval)
    done = 0
    with threadpool_limits(limits=job.blas_threads):
        study = optuna.load_study(study_name=job.study_name, storage=storage)
        seed = worker_seed(job.base_seed, worker_index, len(study.get_trials(deepcopy=False)))
        study.sampler = make_sampler(job.sampler_spec, job.search_space, seed)
        study.pruner = make_pruner(job.pruner_spec)
        while job.deadline is None or time.time() < job.deadline:
            if should_stop():
                break
            with job.budget_lock:
                if is_heartbeat_enabled(storage):  # a dead worker's trial: fail it, retry it
                    recover_interrupted(study)
                if job.n_trials is not None and count_budget(study) >= job.n_trials:
                    break
                if grid_done(study) or _converged(study, job.converge):
                    break
                trial = study.ask()
            trial.set_user_attr(Attr.WORKER, f"{socket.gethostname()}:{os.getpid()}")
            with heartbeat_thread(trial, storage):
                _, how = _run_trial(study, trial, job.objective)
            if how == "killed":
                raise KeyboardInterrupt
            if how == "stopped":
                break
            done += 1
    return done


def _converged(study, converge):
    """With ``[budget] stop = "converged"``: whether the study has converged (then recorded).

    Once recorded (by another worker, or an earlier run) the study stays stopped; a study
    run again with ``stop = "budget"`` goes on to its budget.
    """
    if converge is None:
        return False
    if StudyAttr.CONVERGED in study.user_attrs:
        return True
    figures = converged(study.get_trials(deepcopy=False), *converge)
    if figures:
        study.set_user_attr(StudyAttr.CONVERGED, figures)
    return bool(figures)


def _run_trial(study, trial, objective):
    """Run one trial and tell Optuna its outcome: ``(frozen_trial, how it was cut short)``.

    ``how`` is None for a trial that ended by itself (complete, pruned, failed: a divergence
    or a bug fails the trial and the worker goes on), "stopped" for a stop request, "killed"
    for a KeyboardInterrupt (a hard stop). A full disk is raised: nothing can be told.
    """
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED), None
    except SweepStopped:
        return study.tell(trial, state=TrialState.FAIL), "stopped"
    except KeyboardInterrupt:
        return study.tell(trial, state=TrialState.FAIL), "killed"
    except Exception as exc:
        if is_disk_error(exc):
            raise
        if Attr.STOP_REASON not in trial.user_attrs:
            trial.set_user_attr(Attr.STOP_REASON, StopReason.FAILED.value)
            trial.set_user_attr(Attr.ERROR, f"{type(exc).__name__}: {exc}")
        return study.tell(trial, state=TrialState.FAIL), None
    return study.tell(trial, value), None


def run_workers(job, n_workers, spec, study, log, max_restarts=3):
    """Run the workers; if one dies, fail its trial and start them again.

    After a stop request, a worker process that died is the stop itself: one still starting
    (unpickling its job) when the signal came has no handler yet and ends; the sweep stops.
    """
    from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

    for restart in range(max_restarts + 1):
        try:
            if n_workers == 1 and spec.workers.backend == "loky":
                run_worker(job, 0, in_process=True)
            else:
                backend = "dask" if spec.workers.backend == "dask" else "loky"
                with (
                    stopping.relayed(job.stop_file),
                    joblib.parallel_backend(backend, **_backend_options(spec)),
                ):
                    joblib.Parallel(n_jobs=n_workers)(
                        joblib.delayed(run_worker)(job, i) for i in range(n_workers)
                    )
            return
        except BrokenProcessPool as exc:
            if should_stop():
                return  # the running trials are failed and queued again by the caller
            if not isinstance(exc, TerminatedWorkerError) or restart == max_restarts:
                raise
            n = recover_interrupted(study)
            log(f"a worker died ({exc.__class__.__name__}); {n} trial(s) marked failed, resuming")


def _backend_options(spec):
    if spec.workers.backend != "dask":
        return {"initializer": stopping.worker_process_init}
    return {"scheduler_host": spec.workers.scheduler} if spec.workers.scheduler else {}
