"""A sweep's life cycle, start to end: `run_sweep`, and `add_workers` to join one.

`run_sweep` takes the study's lock, opens (or creates) the study once, records the data set
and the study file on it, starts the MLflow writer on it, recovers trials a dead sweep left
running, runs the workers, refits and tests the best model, saves it, and finishes the writer.
The sweep never imports mlflow: the writer is a handle to another process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .. import stopping
from ..config import StudyChangedError, changed_keys, study_fingerprint
from ..study.locks import SweepLock
from ..study.records import StudyAttr
from ..study.redact import redact_text
from ..study.storage import check_storage, repair_journal
from . import warmstart
from .factories import build_estimator, create_study, fixed_params
from .progress import ProgressBar
from .recovery import recover_interrupted
from .refit import SweepResult, refit, summarise_trials
from .worker import make_job, resolve_n_jobs, run_workers

__all__ = ["add_workers", "check_unchanged", "record_study", "run_sweep", "split_data"]


def run_sweep(
    spec,
    dataset,
    *,
    writer=None,
    progress=True,
    output_dir=None,
    log=print,
    accept_changes=False,
    should_stop=None,
    warm_start=(),
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
    warm_start : sequence of (config.StudySpec, optuna.Study), default=()
        Earlier studies on the same data set and metric: their complete trials that lie in
        this study's space are added to it first (`nnsweep.sweep.warmstart`), once each.
    should_stop : callable, default=None
        Asked (no arguments) at the sweep's safe points: once it returns True, the running
        trials end at their next epoch, marked interrupted, and so does a refit; the study
        resumes where it stopped. It is called from this thread, and from a thread of this
        process while worker processes run (`nnsweep.stopping.relayed`). None: never. The
        caller decides how a stop arrives (``nnsweep run``: its signal handlers; a
        notebook: a callback, another thread); this function installs no signal handler.
        A `KeyboardInterrupt` stops at once and leaves the study resumable: the next run
        recovers its running trials.

    Returns
    -------
    SweepResult
        ``interrupted`` when ``should_stop`` stopped it.

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
    with stopping.checking(should_stop):
        with SweepLock.for_study(spec):
            for message in repair_journal(spec):
                log(message)
            study = create_study(spec)
            check_unchanged(study, spec, dataset, accept_changes)
            record_study(study, spec, dataset)
            for message in warmstart.warm_start(
                study, spec, warm_start, fixed_params(build_estimator(spec), spec.search_space)
            ):
                log(message)
            if writer is not None:
                writer.start(study)
            _run_trials(spec, study, X, y, started, result, progress, log)
        summarise_trials(spec, study, result, shape=(len(y), X.shape[1], len(np.unique(y))))
        result.wall_time = time.time() - started
        if not result.interrupted:
            if writer is not None:
                writer.trials_done()
            if spec.evaluation.refit and result.best_value is not None:
                refit(spec, result, X, y, X_test, y_test, output_dir)
        if result.interrupted:
            log("interrupted: run the same command again to resume the study")
            if writer is not None:
                result.tracking_code = writer.interrupted()
            return result
        result.wall_time = time.time() - started
        study.set_user_attr(StudyAttr.RESULT, result.record())
        if writer is not None:
            result.tracking_code = writer.finish()
            result.mlflow_experiment_id = writer.experiment_id  # for the runs' page
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
    bar = ProgressBar(study, spec.budget.n_trials, deadline, enabled=progress)
    try:
        run_workers(job, n_workers, spec, study, log)
    finally:
        bar.close()
    if stopping.should_stop():
        result.interrupted = True
        recover_interrupted(study)
    figures = study.user_attrs.get(StudyAttr.CONVERGED) if job.converge else None
    if figures:
        result.converged = figures
        log(
            f"converged after {figures['n_complete']} complete trials: the last "
            f"{figures['window']} improved the best CV by {figures['improvement']:.4f}, less "
            f"than its noise {figures['noise']:.4f} (the statistical error of its fold mean)"
        )


def add_workers(spec, dataset, n_workers=1, *, log=print):
    """Join a running (or waiting) study with more workers: ``nnsweep worker``.

    Optuna's own pattern for distributed optimisation: any machine that reaches
    the study's storage can start workers; they share its budget. No refit here:
    the ``nnsweep run`` that owns the study does that.
    """
    X, y, _, _ = split_data(spec, dataset)
    study = create_study(spec)
    deadline = time.time() + spec.budget.timeout if spec.budget.timeout else None
    job = make_job(spec, X, y, n_workers, deadline)
    run_workers(job, n_workers, spec, study, log)


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
