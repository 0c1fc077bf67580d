"""The commands that run things: ``nnsweep run``, ``nnsweep worker``, ``nnsweep sync``.

Each loads the study file (`load_spec`), calls the runner or the tracking package, and
prints; the sweep's life cycle itself is `nnsweep.sweep.run_sweep`'s.
"""

from __future__ import annotations

import sys

from .. import phases
from ..study.redact import redact_url
from ..study.storage import StorageError
from .children import child_pids, stop_children
from .inputs import load_built_study, load_data, load_spec, scale_warning
from .report import print_summary
from .signals import EXIT_CODES, GracefulStop, stop_signal
from .ui import runs_page

__all__ = [
    "check_tracking",
    "cmd_run",
    "cmd_sync",
    "cmd_worker",
    "load_data",
    "load_spec",
    "start_tracking",
]

EXIT_INTERRUPTED = 130
ALREADY: set[int] = set()  # children of this process before the command started


def start_tracking(spec):
    """Start the MLflow writer process, or None when tracking is off.

    The writer imports MLflow and opens the store while this process loads the data; before
    anything trains, `check_tracking` waits for its answer.
    """
    if not spec.tracking.enabled:
        return None
    from ..tracking.follow import start_writer

    return start_writer(spec)


def check_tracking(writer, sync_later=False):
    """Wait for the writer to open the tracking store; an unusable one is an error.

    Unless ``sync_later``: the sweep then runs, and the writer catches up when the store
    answers (or ``nnsweep sync`` does).
    """
    from ..tracking import TrackingError

    refusal = writer.checked()
    if refusal and not sync_later:
        raise TrackingError(refusal)
    if refusal:
        print(f"nnsweep: warning: {refusal}; going on (--sync-later)", file=sys.stderr)


def cmd_run(args):
    """``nnsweep run STUDY``: run or resume a sweep, refit the best model, print a summary.

    Exit codes: 0 done; 1 no trial completed, or the disk filled up; 2 a bad study file, data
    set, storage or tracking store (refused before anything starts); 130, 143, 129 stopped
    by SIGINT (Ctrl-C), SIGTERM or SIGHUP (run it again to resume).
    """
    from ..sweep import run_sweep

    spec = load_spec(args)
    sources = [load_built_study(name) for name in getattr(args, "warm_start", None) or []]
    already = set(ALREADY) or child_pids()  # called from Python: others' processes
    writer = start_tracking(spec)
    failed = True
    try:
        phases.enter("loading")
        dataset = load_data(spec)
        if writer is not None:
            check_tracking(writer, args.sync_later)
        print(
            f"study {spec.name}: data set {dataset.name} ({dataset.digest}), "
            f"storage {redact_url(spec.storage.url)}, "
            + (f"tracking {_tracking_shown(spec)}" if writer else "tracking off")
        )
        if warning := scale_warning(spec, dataset):
            print(warning, file=sys.stderr)
        with GracefulStop() as stop:  # the first signal asks the sweep to stop
            result = run_sweep(
                spec,
                dataset,
                writer=writer,
                progress=not args.no_progress,
                accept_changes=args.accept_changes,
                should_stop=stop.requested,
                warm_start=sources,
            )
        failed = False
    finally:
        if writer is not None:
            writer.kill() if failed else writer.close(timeout=5)
        stop_children(keep=already)
    print_summary(spec, result)
    if result.interrupted:
        return EXIT_CODES.get(stop_signal(), EXIT_INTERRUPTED)
    if writer is not None:
        _print_tracking(spec, result)
    if result.n_complete == 0:
        print(
            f"nnsweep: error: no trial of study {spec.name} completed ({result.n_failed} "
            f"failed, {result.n_pruned} pruned){_first_error(result)}",
            file=sys.stderr,
        )
        return 1
    return 0


def _first_error(result):
    return f"; the first error: {result.first_error}" if result.first_error else ""


def _tracking_shown(spec):
    from ..tracking.store import absolute_uri

    return redact_url(absolute_uri(spec.tracking.uri))


def _print_tracking(spec, result):
    """Where the runs are in the MLflow UI (its runs page, not the GenAI overview)."""
    if result.tracking_code == 3:
        return  # the writer said what is behind and how to catch up
    if result.tracking_code != 0:  # None: it was still trying at its time limit, and ended
        print(
            f"MLflow: the writer did not finish ({_writer_end(result.tracking_code)}); every "
            f"trial is in the Optuna study: run `nnsweep sync {spec.path or 'STUDY_FILE'}` "
            "when the tracking store is reachable",
            file=sys.stderr,
        )
        return
    experiment = result.mlflow_experiment_id
    if not experiment:
        return
    print(f"MLflow runs: {runs_page(spec.tracking.uri, experiment)}")


def _writer_end(code):
    return "stopped at its time limit" if code is None else f"exit code {code}"


def cmd_worker(args):
    """``nnsweep worker STUDY``: add workers to a study from any machine reaching its storage.

    Workers report to the study's storage only; the ``nnsweep run`` that owns the study (or
    ``nnsweep sync STUDY --follow``) puts their trials in MLflow.
    """
    from ..sweep import add_workers

    spec = load_spec(args)
    if spec.tracking.enabled:
        from ..tracking.store import absolute_uri, open_store

        open_store(absolute_uri(spec.tracking.uri))
    dataset = load_data(spec)
    print(f"worker(s) for study {spec.name} on {redact_url(spec.storage.url)}")
    n = args.n_jobs if args.n_jobs else 1
    add_workers(spec, dataset, n)
    if spec.tracking.enabled:  # after the last trial: this process trains no more
        _sync_trials(spec)
    return 0


def _sync_trials(spec):
    """One pass of the MLflow writer over the study's trials (the parent run is left as it is).

    The ``nnsweep run`` that owns the study may have ended before this worker's last trial;
    this puts it in MLflow, once the study's writer lock is free (another writer, the sweep's
    or another worker's, may hold it: this waits for it). A failure is a warning:
    ``nnsweep sync`` catches up later.
    """
    from ..study.storage import load_study
    from ..tracking.follow import sync_study
    from ..tracking.writer import StudyWriter

    def waiting(holder):
        print(f"nnsweep: {holder}: waiting for it to end", file=sys.stderr, flush=True)

    try:
        sync_study(StudyWriter(spec), load_study(spec), end_parent=False, wait=waiting)
    except Exception as exc:
        print(
            f"nnsweep: warning: MLflow not updated ({type(exc).__name__}: {exc}); run "
            f"`nnsweep sync {spec.path}` later",
            file=sys.stderr,
        )


def cmd_sync(args):
    """``nnsweep sync STUDY``: project the study into MLflow now (``--follow``: keep at it).

    Another MLflow writer of the study (a sweep's, or another ``nnsweep sync``) holding its
    writer lock is an error that names it.
    """
    from ..study.storage import load_study
    from ..tracking import TrackingError
    from ..tracking.follow import sync_study
    from ..tracking.store import absolute_uri, open_store
    from ..tracking.writer import StudyWriter

    spec = load_spec(args)
    if not spec.tracking.enabled:
        raise TrackingError(f"{spec.path}: tracking.enabled is false: nothing to sync")
    writer = StudyWriter(spec, open_store(absolute_uri(spec.tracking.uri)))
    try:
        study = load_study(spec)
    except KeyError:
        raise StorageError(
            f"no study {spec.name!r} in {redact_url(spec.storage.url)}: run it first"
        ) from None
    counts = sync_study(writer, study, keep_following=args.follow)
    print(
        f"study {spec.name} -> MLflow {_tracking_shown(spec)}: {len(study.trials)} trials; "
        f"runs created {counts['created']}, finished {counts['finished']}, updated "
        f"{counts['updated']}"
    )
    return 0
