"""Optuna searches whose objective is K-fold cross-validation, run by worker processes.

The pieces, in the order a sweep uses them:

* `suggest_params` turns a study's search space into estimator parameters for one
  trial (including "off or a range": a ``<name>.enabled`` choice first).
* `CrossValidationObjective` scores a trial by K-fold CV. The K fold models are
  trained **in lockstep**, one epoch each in turn (`NeuralNetworkClassifier.iter_epochs`),
  and after every epoch the mean validation score over the folds is reported to
  Optuna, so the pruner compares trials on a cross-validated score at equal
  epochs and stops a hopeless configuration after a few of them.
* `run_sweep` creates (or resumes) the study in its storage and starts W worker
  processes under joblib (loky locally, Dask on a cluster). Each worker loads the
  same study with its own sampler seed, limits BLAS to one thread,
  and asks and tells trials until the study's total budget is reached. The budget
  is counted in the storage, so it holds across workers, Ctrl-C and resumes.

This module never imports mlflow: tracking is handed in as plain callables
(``on_trial_start(study, trial)`` and Optuna-style ``callback(study, frozen_trial)``).
It names no hyperparameter either: the study file's search space does.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled
from optuna.trial import TrialState
from sklearn.base import clone
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from threadpoolctl import threadpool_limits

from . import stopping
from .config import StudyChangedError, changed_keys, study_fingerprint
from .estimator import NeuralNetworkClassifier, TrainingDivergedError
from .journal import DiskError, is_disk_error
from .locks import StudyLock, SweepLock, budget_lock_for
from .records import Attr, StopReason, StudyAttr, TrialRecord, is_interrupted
from .redact import redact_text
from .scoring import FoldScorer
from .stopping import SweepStopped, should_stop
from .storage import check_storage, make_storage, repair_journal

__all__ = [
    "CrossValidationObjective",
    "SweepResult",
    "build_estimator",
    "make_pruner",
    "make_sampler",
    "make_storage",
    "run_sweep",
    "suggest_params",
]

#: Trial states that count against the study's budget (with RUNNING ones), unless
#: the trial was interrupted (its worker died or the sweep was stopped): those are retried.
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
INTERRUPTED = StopReason.INTERRUPTED.value


# --------------------------------------------------------------------------- building blocks
def build_estimator(spec):
    """The study's model: the network with its fixed parameters, after a scaler if asked."""
    net = NeuralNetworkClassifier(**dict(spec.estimator))
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler}.get(spec.data.preprocessing)
    return Pipeline([("scale", scaler()), ("net", net)]) if scaler else net


def make_sampler(sampler_spec, search_space, seed):
    """The Optuna sampler named by a study's ``[sampler]`` table, seeded with ``seed``.

    ``seed`` differs per worker (so TPE, random and CMA-ES workers explore differently); the
    grid and QMC samplers take the study's own seed instead, the same in every worker, since
    their trial i is point i of one seeded sequence.
    """
    name = sampler_spec.name
    startup = {}
    if sampler_spec.n_startup_trials is not None:
        startup = {"n_startup_trials": sampler_spec.n_startup_trials}
    if name == "tpe":
        multivariate = sampler_spec.multivariate
        # group=True lets a multivariate TPE model conditional ("off or a range") parameters
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=multivariate, group=multivariate, **startup
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        # One low-discrepancy sequence for the study: every worker scrambles it the same way.
        return optuna.samplers.QMCSampler(
            seed=sampler_spec.seed or 0, warn_independent_sampling=False
        )
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False, **startup)
    if name == "grid":
        grid = {}
        for p in search_space:
            if p.type == "categorical":
                grid[p.name] = list(p.choices)
            else:
                grid[p.name] = list(range(p.low, p.high + 1, p.step or 1))
        # The grid's order comes from the seed, and trial i takes point i of that order: every
        # worker must use the same seed, or two workers map one trial number to two points.
        return GridSampler(grid, seed=sampler_spec.seed or 0)
    raise ValueError(f"unknown sampler {name!r}")


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler for workers that ask and tell.

    Optuna's own calls ``study.stop()`` once the grid is exhausted, which works only inside
    ``study.optimize`` and raises in an ask-and-tell loop. Here `run_worker` stops instead:
    before asking, when every grid point has been started (`grid_done`).
    """

    def __init__(self, search_space, seed=None):
        super().__init__(search_space, seed=seed)
        self.n_points = math.prod(len(v) for v in search_space.values())

    def after_trial(self, study, trial, state, values):  # no study.stop(): see the docstring
        return None


def grid_done(study) -> bool:
    """True when the study's sampler is a `GridSampler` and every grid point has a trial.

    A point counts once a trial for it started (running or finished), so a second worker does
    not re-run a point the first is still on; a trial waiting in the queue (an interrupted one
    to retry) keeps the study going.
    """
    sampler = study.sampler
    if not isinstance(sampler, GridSampler):
        return False
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return False
    started = {t.system_attrs.get("grid_id") for t in trials} - {None}
    return len(started) >= sampler.n_points


def make_pruner(pruner_spec):
    """The Optuna pruner named by a study's ``[pruner]`` table (epochs are its steps)."""
    p = pruner_spec
    if p.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps
        )
    min_resource = "auto" if p.min_resource is None else p.min_resource
    if p.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=p.reduction_factor
        )
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1 if p.min_resource is None else p.min_resource,
            reduction_factor=p.reduction_factor,
        )
    return optuna.pruners.NopPruner()


def suggest_params(trial, search_space):
    """Sample one trial's estimator parameters from a study's search space.

    A parameter with ``off`` set is "off or a range": the trial first chooses
    ``<name>.enabled`` and takes the ``off`` value when it is False.
    """
    params = {}
    for p in search_space:
        if p.off is not None and not trial.suggest_categorical(f"{p.name}.enabled", [False, True]):
            params[p.name] = p.off
        elif p.type == "categorical":
            params[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type == "int":
            params[p.name] = trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            params[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
    return params


def make_cv(cv_spec):
    """The splitter of a study's ``[cv]`` table."""
    kind = StratifiedKFold if cv_spec.stratified else KFold
    seed = cv_spec.seed if cv_spec.shuffle else None
    return kind(n_splits=cv_spec.n_splits, shuffle=cv_spec.shuffle, random_state=seed)


# --------------------------------------------------------------------------- the objective
class CrossValidationObjective:
    """Score a trial by K-fold cross-validation, with the folds trained in lockstep.

    After every epoch each fold's model is scored on its held-out fold with the
    study's metric, and the mean over folds is reported to Optuna as the trial's
    intermediate value for that epoch; the pruner may stop the trial there. A
    fold whose training stops early (loss plateau) keeps its last score.

    What it records on the trial: a `nnsweep.records.TrialRecord` as user attributes (fold
    scores, their mean and std, epochs, fit time, why it stopped, the error, and the curves).

    Parameters
    ----------
    estimator : NeuralNetworkClassifier or Pipeline ending in one
        The model with its fixed parameters; it is cloned for every fold.
    X, y : array-like
        Training data only: the test split is never seen by the search.
    search_space : sequence of config.ParamSpec
    cv : cross-validation splitter
    scoring : str, default="accuracy"
        A scikit-learn scorer name (greater is better).
    live_interval : float or None, default=1.0
        While the trial trains, its curves (``curve_val_mean``, ``curve_loss_mean``,
        ``curve_time``) are written to the trial at most every ``live_interval`` seconds,
        for the MLflow writer to follow; None: only at the end.
    """

    def __init__(self, estimator, X, y, search_space, cv, scoring="accuracy", live_interval=1.0):
        self.estimator = estimator
        self.X = X
        self.y = y
        self.search_space = search_space
        self.cv = cv
        self.scoring = scoring
        self.live_interval = live_interval

    def _fold_data(self):
        """Per fold: the (pre-processed) training and validation data, computed once."""
        if getattr(self, "_folds", None) is None:
            steps = self.estimator.steps[:-1] if isinstance(self.estimator, Pipeline) else []
            folds = []
            for train, val in self.cv.split(self.X, self.y):
                X_tr, X_val = self.X[train], self.X[val]
                if steps:
                    pre = clone(Pipeline(steps)).fit(X_tr, self.y[train])
                    X_tr, X_val = pre.transform(X_tr), pre.transform(X_val)
                folds.append((X_tr, self.y[train], X_val, self.y[val]))
            self._folds = folds
        return self._folds

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_folds"] = None  # recomputed in each worker instead of pickled
        return state

    def __call__(self, trial):
        """Run the trial; return the mean CV score (raises TrialPruned when pruned)."""
        params = suggest_params(trial, self.search_space)
        net = (
            self.estimator.steps[-1][1] if isinstance(self.estimator, Pipeline) else self.estimator
        )
        fixed = {k: v for k, v in net.get_params().items() if k != "epoch_callback"}
        trial.set_user_attr(Attr.ESTIMATOR_PARAMS, {**fixed, **params})
        scorer = FoldScorer(self.scoring)  # sklearn's numbers, without re-checking the data
        folds = self._fold_data()
        models = [clone(net).set_params(**params) for _ in folds]
        epochs = [
            m.iter_epochs(X_tr, y_tr) for m, (X_tr, y_tr, _, _) in zip(models, folds, strict=True)
        ]
        scores = [math.nan] * len(folds)
        record = TrialRecord(
            estimator_params={**fixed, **params},
            stop_reason=StopReason.COMPLETED,
            curve_val_folds=[[] for _ in folds],
        )
        live = _LiveCurves(trial, record, self.live_interval)
        start = time.perf_counter()
        try:
            active = list(range(len(folds)))
            while active:
                losses = []
                for i in list(active):
                    info = next(epochs[i], None)
                    if info is None:  # this fold stopped early: keep its last score
                        active.remove(i)
                        continue
                    _, _, X_val, y_val = folds[i]
                    scores[i] = scorer(models[i], X_val, y_val)
                    record.curve_val_folds[i].append(scores[i])
                    losses.append(info.loss)
                if not losses:
                    break
                epoch = len(record.curve_val_mean) + 1
                mean = float(np.mean(scores))
                record.curve_val_mean.append(mean)
                record.curve_loss_mean.append(float(np.mean(losses)))
                record.curve_time.append(time.perf_counter() - start)
                trial.report(mean, epoch)
                live.maybe_flush()
                if should_stop():  # a safe point: between epochs, no journal write under way
                    raise SweepStopped(f"stopped after epoch {epoch}")
                if trial.should_prune():
                    record.stop_reason = StopReason.PRUNED
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}: CV {mean:.4f}")
        except TrainingDivergedError as exc:
            record.stop_reason, record.error = StopReason.DIVERGED, str(exc)
            raise
        except (KeyboardInterrupt, SweepStopped) as exc:
            record.stop_reason = StopReason.INTERRUPTED
            record.error = f"{type(exc).__name__}: the sweep was stopped"
            raise
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            if is_disk_error(exc):
                raise  # the disk, not the trial: the sweep stops, the trial is retried
            record.stop_reason, record.error = StopReason.FAILED, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            for gen in epochs:
                gen.close()
            record.fold_scores = scores
            record.cv_mean = float(np.mean(scores))
            record.cv_std = float(np.std(scores))
            record.n_epochs = len(record.curve_val_mean)
            record.fit_time = time.perf_counter() - start
            for key, value in record.to_attrs().items():
                trial.set_user_attr(key, value)
        return record.cv_mean


class _LiveCurves:
    """Write a running trial's curves to its user attributes, at most every ``interval`` s.

    The MLflow writer follows the storage and turns them into step metrics while the trial
    trains; the validation mean is also in Optuna's intermediate values (``trial.report``).
    """

    def __init__(self, trial, record, interval):
        self.trial, self.record, self.interval = trial, record, interval
        self.last = time.perf_counter()

    def maybe_flush(self):
        if self.interval is None or time.perf_counter() - self.last < self.interval:
            return
        r = self.record
        for key, value in (
            (Attr.CURVE_VAL_MEAN, r.curve_val_mean),
            (Attr.CURVE_LOSS_MEAN, r.curve_loss_mean),
            (Attr.CURVE_TIME, r.curve_time),
        ):
            self.trial.set_user_attr(key, [v if math.isfinite(v) else None for v in value])
        self.last = time.perf_counter()


# --------------------------------------------------------------------------- the workers
def count_budget(study):
    """Trials that count against the budget: finished or running, not interrupted."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=(*_FINISHED, TrialState.RUNNING))
        if not is_interrupted(t)
    )


def retry_interrupted(study, frozen):
    """Queue a fresh trial with the parameters of an interrupted one (once)."""
    if not frozen.params or any(
        t.user_attrs.get(Attr.RETRY_OF) == frozen.number for t in study.get_trials(deepcopy=False)
    ):
        return
    study.enqueue_trial(frozen.params, user_attrs={Attr.RETRY_OF: frozen.number})


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


def run_worker(job, worker_index, in_process=False):
    """Ask and tell trials until the study's budget or the deadline is reached, or a stop.

    Returns the number of trials this worker finished. A stop request (`nnsweep.stopping`)
    ends the running trial at its next epoch, marked interrupted; a full or read-only disk
    raises `nnsweep.journal.DiskError`.
    """
    stopping.worker_setup(in_process)
    try:
        return _worker_loop(job, worker_index)
    except OSError as exc:
        if is_disk_error(exc):
            raise DiskError(exc.errno, f"{job.storage_url}: {exc.strerror or exc}") from None
        raise
    finally:
        stopping.worker_teardown(in_process)


def _worker_loop(job, worker_index):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # We run the heartbeat thread ourselves around each asked trial (below).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    storage = make_storage(job.storage_url, job.heartbeat_interval)
    done = 0
    with threadpool_limits(limits=job.blas_threads):
        study = optuna.load_study(study_name=job.study_name, storage=storage)
        # A fresh seed per worker and per (re)start, so resumed runs do not replay samples.
        seed = job.base_seed + worker_index + 1000 * len(study.get_trials(deepcopy=False))
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
                if grid_done(study):
                    break
                trial = study.ask()
            trial.set_user_attr(Attr.WORKER, f"{socket.gethostname()}:{os.getpid()}")
            with get_heartbeat_thread(trial._trial_id, storage):
                _, how = _run_trial(study, trial, job.objective)
            if how == "killed":
                raise KeyboardInterrupt
            if how == "stopped":
                break
            done += 1
    return done


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


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    """What `run_sweep` returns and prints."""

    study_name: str
    best_params: dict = field(default_factory=dict)
    best_value: float | None = None
    best_std: float | None = None
    best_trial_number: int | None = None
    test_score: float | None = None
    test_metric: str = "accuracy"
    model: object = None
    X_example: object = None
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    wall_time: float = 0.0
    refit_time: float | None = None
    output_dir: str = ""
    interrupted: bool = False
    tracking_code: int | None = None  # the MLflow writer's exit code (3: behind)
    stop_signal: int | None = None  # the signal that stopped it (interrupted)

    def summary(self) -> dict:
        """The result without the model: what ``summary.json`` holds (JSON types only)."""
        keys = ("study_name", "best_trial_number", "best_value", "best_std", "test_metric")
        keys += ("test_score", "n_complete", "n_pruned", "n_failed", "wall_time", "refit_time")
        out = {k: getattr(self, k) for k in keys}
        out["best_params"] = {k: _jsonable(v) for k, v in self.best_params.items()}
        return out

    def record(self) -> dict:
        """`summary` plus where the model is and when: the study's ``nnsweep_result``."""
        model = Path(self.output_dir) / "model.joblib" if self.output_dir else None
        path = str(model.resolve()) if model is not None and model.is_file() else None
        return {**self.summary(), "model_path": path, "finished_at": time.time()}


def _jsonable(value):
    return value.item() if isinstance(value, np.generic) else value


def split_data(spec, dataset):
    """Training and test data of a study: the official test split, or a held-out one."""
    X, y, X_test, y_test = dataset.X_train, dataset.y_train, dataset.X_test, dataset.y_test
    if X_test is None:
        X, X_test, y, y_test = train_test_split(
            X, y, test_size=spec.data.test_size, random_state=spec.data.split_seed
        )
    if spec.data.subset:
        X, y = X[: spec.data.subset], y[: spec.data.subset]
    return np.ascontiguousarray(X), y, X_test, y_test


def resolve_n_jobs(n_jobs):
    """Worker count: 0 or -1 mean one per core."""
    return joblib.cpu_count() if n_jobs in (0, -1) else n_jobs


def recover_interrupted(study):
    """Fail trials left RUNNING by a dead worker or a stopped sweep; queue their retries.

    Called while holding the study's `SweepLock`, so no other local sweep runs.
    With heartbeats (server databases) only trials whose heartbeat is stale are
    failed, so that workers on other machines are left alone; with a journal file
    every RUNNING trial is stale. Returns the number of trials failed.
    """
    storage = study._storage
    if is_heartbeat_enabled(storage):
        stale_ids = storage._get_stale_trial_ids(study._study_id)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        stale_ids += [
            t._trial_id for t in running if _worker_is_dead(t) and t._trial_id not in stale_ids
        ]
    else:
        stale_ids = [
            t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        ]
    failed = 0
    for trial_id in stale_ids:
        storage.set_trial_user_attr(trial_id, Attr.STOP_REASON, INTERRUPTED)
        storage.set_trial_user_attr(trial_id, Attr.ERROR, "the worker stopped during the trial")
        try:
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished meanwhile
        failed += 1
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if is_interrupted(t):
            retry_interrupted(study, t)
    return failed


def _worker_is_dead(trial):
    """True when the trial's worker ran on this machine and its process is gone."""
    host, _, pid = str(trial.user_attrs.get(Attr.WORKER, "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def run_sweep(
    spec, dataset, *, writer=None, progress=True, output_dir=None, log=print, accept_changes=False
):
    """Run (or resume) a study's sweep, then refit and test the best model.

    The whole life cycle: take the study's lock, open (or create) the study once, record the
    data set and study file on it, start the MLflow writer on it, recover trials a dead sweep
    left running, run the workers, refit and test, save, and finish the writer.

    Parameters
    ----------
    spec : config.StudySpec
    dataset : datasets.Dataset
    writer : tracking.follow.WriterHandle, optional
        The MLflow writer (None: no tracking). It is told when the study is open
        (``start(study)``), when the workers are done (``trials_done()``: it pushes the last
        trials and makes the plots while the best model is refit), and when the result is
        on the study (``finish()``) or the sweep was stopped (``interrupted()``).
    progress : bool, default=True
        Show a progress bar (trials done, best so far, time left).
    output_dir : str or Path, default=None
        Where the refit model (``model.joblib``, with ``X_example.npy``) and ``summary.json``
        (`SweepResult.summary`) go; default ``mlruns/studies/<name>``.
    log : callable, default=print
    accept_changes : bool, default=False
        Resume a study whose file changed its data, estimator, search space, metric or CV
        (`check_unchanged`); otherwise that is refused before anything starts.

    Returns
    -------
    SweepResult
        ``interrupted`` (and ``stop_signal``) when a signal stopped it: SIGINT, SIGTERM or
        SIGHUP end the running trials at their next epoch, marked interrupted, and the study
        resumes where it stopped; a second signal stops at once (`nnsweep.stopping`).

    Examples
    --------
    >>> from nnsweep.config import load_study
    >>> from nnsweep.datasets import load_dataset
    >>> spec = load_study("studies/quick.toml")                      # doctest: +SKIP
    >>> result = run_sweep(spec, load_dataset("digits"))             # doctest: +SKIP
    >>> result.best_params, result.best_value, result.test_score     # doctest: +SKIP
    """
    started = time.time()
    X, y, X_test, y_test = split_data(spec, dataset)
    result = SweepResult(spec.name, test_metric=spec.metric)
    check_storage(spec)  # a read-only or full disk: refused before anything starts
    with stopping.GracefulStop(children=local_worker_pids):
        with SweepLock.for_study(spec):
            for message in repair_journal(spec):
                log(message)
            study = create_study(spec)
            check_unchanged(study, spec, dataset, accept_changes)
            record_study(study, spec, dataset)
            if writer is not None:
                writer.start(study)
            _run_trials(spec, study, X, y, started, result, progress, log)
        _summarise_trials(study, result)
        result.wall_time = time.time() - started
        if not result.interrupted:
            if writer is not None:
                writer.trials_done()
            if spec.evaluation.refit and result.best_value is not None:
                _refit(spec, result, X, y, X_test, y_test, output_dir)
        if result.interrupted:
            result.stop_signal = stopping.stop_signal()
            log("interrupted: run the same command again to resume the study")
            if writer is not None:
                result.tracking_code = writer.interrupted()
            return result
        result.wall_time = time.time() - started
        study.set_user_attr(StudyAttr.RESULT, result.record())
        if writer is not None:
            result.tracking_code = writer.finish()
    return result


def _run_trials(spec, study, X, y, started, result, progress, log):
    """Recover what a dead sweep left, run the workers, note whether a stop cut them short."""
    recovered = recover_interrupted(study)
    if recovered:
        log(f"{recovered} trial(s) interrupted earlier were marked failed and will be retried")
    n_workers = resolve_n_jobs(spec.workers.n_jobs)
    if spec.budget.n_trials is not None:
        n_workers = max(1, min(n_workers, spec.budget.n_trials))
    deadline = started + spec.budget.timeout if spec.budget.timeout else None
    job = make_job(spec, X, y, n_workers, deadline)
    bar = _ProgressBar(study, spec.budget.n_trials, deadline, enabled=progress)
    try:
        _run_workers(job, n_workers, spec, study, log)
    finally:
        bar.close()
    if stopping.requested():
        result.interrupted = True
        recover_interrupted(study)


def _refit(spec, result, X, y, X_test, y_test, output_dir):
    refit_started = time.time()
    _refit_and_test(spec, build_estimator(spec), result, X, y, X_test, y_test, output_dir)
    if stopping.requested():  # stopped mid-refit: no model, no result; a rerun refits
        result.interrupted = True
        return
    result.refit_time = time.time() - refit_started
    summary = json.dumps(result.summary(), indent=2, default=str)
    (Path(result.output_dir) / "summary.json").write_text(summary + "\n")


def check_unchanged(study, spec, dataset, accept_changes=False):
    """Refuse to resume a study whose file changed what its trials mean (or note it first).

    The study's fingerprint (data, metric, estimator, search space, CV: `config.study_fingerprint`)
    is stored on the study when it is created; a resumed study must have the same one, unless
    ``accept_changes`` (``--accept-changes``), which stores the new one.

    Raises
    ------
    config.StudyChangedError
        Naming the file, the study and each changed key with its old and new value.
    """
    current = study_fingerprint(spec, data_digest=dataset.digest)
    stored = study.user_attrs.get(StudyAttr.CONFIG)
    changed = [] if stored is None else changed_keys(stored, current)
    if changed and not accept_changes:
        raise StudyChangedError(spec.path, spec.name, stored, current)
    if stored is None or changed:
        study.set_user_attr(StudyAttr.CONFIG, current)


def local_worker_pids():
    """Pids of this process's loky worker processes (to pass a stop request on to)."""
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    pids = []
    for child in children:
        try:
            if "popen_loky" in " ".join(child.cmdline()):
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids


def record_study(study, spec, dataset):
    """Put the data set's description and the study file's text on the study (once each).

    The MLflow writer reads them from there, so ``nnsweep sync`` can rebuild a run's inputs
    and the parent's study file from the storage alone.
    """
    attrs = study.user_attrs
    values = {StudyAttr.DATASET: dataset.describe(), StudyAttr.STUDY_FILE: _study_text(spec)}
    for key, value in values.items():
        if value and attrs.get(key) != value:
            study.set_user_attr(key, value)


def _study_text(spec):
    text = spec.source_text
    if not text and spec.path and os.path.isfile(spec.path):
        text = Path(spec.path).read_text(encoding="utf-8")
    return redact_text(text or "")


def create_study(spec):
    """Create the study in its storage, or load it when it exists."""
    return optuna.create_study(
        study_name=spec.name,
        storage=make_storage(spec.storage.url, spec.storage.heartbeat_interval),
        direction="maximize",
        load_if_exists=True,
        sampler=make_sampler(spec.sampler, spec.search_space, spec.sampler.seed),
        pruner=make_pruner(spec.pruner),
    )


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
        # One BLAS thread per worker process, however many workers: 2-thread OpenBLAS was
        # measured to collapse 5-100x on small products whenever the other core is busy.
        blas_threads=1,
        budget_lock=budget_lock_for(spec),
    )


def add_workers(spec, dataset, n_workers=1, *, log=print):
    """Join a running (or waiting) study with more workers: ``nnsweep worker``.

    Optuna's own pattern for distributed optimisation: any machine that reaches
    the study's storage can start workers; they share its budget. No refit here:
    the ``nnsweep run`` that owns the study does that.
    """
    X, y, _, _ = split_data(spec, dataset)
    create_study(spec)
    deadline = time.time() + spec.budget.timeout if spec.budget.timeout else None
    job = make_job(spec, X, y, n_workers, deadline)
    study = optuna.load_study(study_name=spec.name, storage=make_storage(spec.storage.url))
    _run_workers(job, n_workers, spec, study, log)


def _run_workers(job, n_workers, spec, study, log, max_restarts=3):
    """Run the workers; if one dies, fail its trial and start them again."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    for restart in range(max_restarts + 1):
        try:
            if n_workers == 1 and spec.workers.backend == "loky":
                run_worker(job, 0, in_process=True)
            else:
                backend = "dask" if spec.workers.backend == "dask" else "loky"
                with joblib.parallel_backend(backend, **_backend_options(spec)):
                    joblib.Parallel(n_jobs=n_workers)(
                        joblib.delayed(run_worker)(job, i) for i in range(n_workers)
                    )
            return
        except TerminatedWorkerError as exc:
            if restart == max_restarts:
                raise
            n = recover_interrupted(study)
            log(f"a worker died ({exc.__class__.__name__}); {n} trial(s) marked failed, resuming")


def _backend_options(spec):
    if spec.workers.backend != "dask":
        return {}
    return {"scheduler_host": spec.workers.scheduler} if spec.workers.scheduler else {}


def _summarise_trials(study, result):
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    result.n_complete = states.count(TrialState.COMPLETE)
    result.n_pruned = states.count(TrialState.PRUNED)
    result.n_failed = states.count(TrialState.FAIL)
    if result.n_complete:
        best = study.best_trial
        result.best_params = dict(best.user_attrs.get(Attr.ESTIMATOR_PARAMS, best.params))
        result.best_value = best.value
        result.best_std = best.user_attrs.get(Attr.CV_STD)
        result.best_trial_number = best.number


def _refit_and_test(spec, estimator, result, X, y, X_test, y_test, output_dir):
    """Refit the best parameters on all training data; score the test split once; save."""
    model = clone(estimator)
    tuned = {p.name for p in spec.search_space}
    best = {k: v for k, v in result.best_params.items() if k in tuned}
    if isinstance(model, Pipeline):
        best = {f"{model.steps[-1][0]}__{k}": v for k, v in best.items()}
    model.set_params(**best)
    net = model.steps[-1][1] if isinstance(model, Pipeline) else model
    net.set_params(epoch_callback=_stop_requested)  # Ctrl-C during the refit: stop at an epoch
    with threadpool_limits(limits=joblib.cpu_count()):
        model.fit(X, y)
    net.set_params(epoch_callback=None)
    if stopping.requested():
        return
    with threadpool_limits(limits=joblib.cpu_count()):
        result.test_score = float(get_scorer(spec.metric)(model, X_test, y_test))
    result.model = model
    result.X_example = np.asarray(X[:5])
    out = Path(output_dir or Path("mlruns") / "studies" / spec.name)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    np.save(out / "X_example.npy", result.X_example)  # the MLflow model's input example
    result.output_dir = str(out)


def _stop_requested(_estimator, _info):
    """An ``epoch_callback`` that ends training when the sweep is asked to stop."""
    return stopping.requested()


class _ProgressBar:
    """A tqdm bar fed by polling the study's storage from a thread of the parent process."""

    def __init__(self, study, n_trials, deadline, enabled=True, interval=1.0):
        self._stop = threading.Event()
        self._thread = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(total=n_trials, desc=f"study {study.study_name}", unit="trial")
        self._study, self._deadline, self._interval = study, deadline, interval
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.wait(self._interval):
            self._update()

    def _update(self):
        try:
            trials = self._study.get_trials(deepcopy=False, states=_FINISHED)
        except Exception:  # the storage is busy: try again at the next tick
            return
        done = sum(1 for t in trials if t.user_attrs.get(Attr.STOP_REASON) != INTERRUPTED)
        values = [t.value for t in trials if t.state == TrialState.COMPLETE]
        postfix = {"best": f"{max(values):.4f}"} if values else {}
        if self._deadline:
            postfix["left"] = f"{max(0, self._deadline - time.time()):.0f}s"
        self._bar.n = done
        self._bar.set_postfix(postfix, refresh=True)

    def close(self):
        """Stop polling and close the bar after a last update."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._update()
            self._bar.close()
