"""The command line: ``nnsweep run | worker | sync | show | list``.

``nnsweep run studies/digits.toml`` validates the study file, checks that the tracking store
answers and starts the MLflow writer, loads the data, then runs the sweep and prints a
summary. Everything is refused before any training if the study file, the data or the
tracking store is wrong. ``nnsweep sync`` projects a study into MLflow at any time.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from . import __version__
from .config import StudyFileError, load_study, parse_overrides
from .datasets import DatasetError, load_dataset
from .estimator import NeuralNetworkClassifier
from .journal import DiskError
from .locks import StudyBusyError
from .records import Attr, StudyAttr, count_states
from .redact import redact_url
from .stopping import EXIT_CODES, stop_signal
from .storage import StorageError

EXIT_INTERRUPTED = 130
_ALREADY: set[int] = set()  # children of this process before the command started


def _overrides(args):
    overrides = parse_overrides(args.set or [])
    for key, value in (
        ("budget.n_trials", args.n_trials),
        ("budget.timeout", args.timeout),
        ("workers.n_jobs", args.n_jobs),
        ("storage.url", args.storage),
        ("tracking.uri", args.tracking_uri),
        ("workers.scheduler", getattr(args, "scheduler", None)),
    ):
        if value is not None:
            overrides[key] = str(value)
    if getattr(args, "scheduler", None):
        overrides["workers.backend"] = "dask"
    if getattr(args, "no_tracking", False):
        overrides["tracking.enabled"] = "false"
    return overrides


def load_spec(args):
    """Validate the study file with the command line's overrides applied."""
    from .compat.sklearn import check_estimator_params

    params = NeuralNetworkClassifier().get_params().keys()
    return load_study(
        args.study,
        estimator_params=params,
        overrides=_overrides(args),
        estimator_check=check_estimator_params,
    )


def load_data(spec):
    """Load the study's data set (before anything starts: a bad file stops here)."""
    d = spec.data
    if d.name in ("csv", "npz"):
        return load_dataset(d.name, path=d.path, label_column=d.label_column)
    return load_dataset(d.name, data_dir=d.data_dir)


def start_tracking(spec, sync_later=False):
    """Check the tracking store and start the MLflow writer process, or None when off.

    The check imports no MLflow; the writer process does, while this one loads the data. An
    unreachable store is an error before anything starts, unless ``sync_later``: the sweep
    then runs, and the writer catches up when the store answers (or ``nnsweep sync`` does).
    """
    if not spec.tracking.enabled:
        return None
    from .tracking import TrackingError, check_reachable, start_writer
    from .tracking.store import absolute_uri

    try:
        check_reachable(absolute_uri(spec.tracking.uri))
    except TrackingError as exc:
        if not sync_later:
            raise
        print(f"nnsweep: warning: {exc}; going on (--sync-later)", file=sys.stderr)
    return start_writer(spec)


def cmd_run(args):
    """``nnsweep run STUDY``: run or resume a sweep, refit the best model, print a summary.

    Exit codes: 0 done; 1 no trial completed, or the disk filled up; 2 a bad study file, data
    set, storage or tracking store (refused before anything starts); 130, 143, 129 stopped
    by SIGINT (Ctrl-C), SIGTERM or SIGHUP (run it again to resume).
    """
    from .sweep import run_sweep

    spec = load_spec(args)
    already = set(_ALREADY) or child_pids()  # called from Python: others' processes
    writer = start_tracking(spec, args.sync_later)
    failed = True
    try:
        dataset = load_data(spec)
        print(
            f"study {spec.name}: data set {dataset.name} ({dataset.digest}), "
            f"storage {redact_url(spec.storage.url)}, "
            + (f"tracking {_tracking_shown(spec)}" if writer else "tracking off")
        )
        result = run_sweep(
            spec,
            dataset,
            writer=writer,
            progress=not args.no_progress,
            accept_changes=args.accept_changes,
        )
        failed = False
    finally:
        if writer is not None:
            writer.kill() if failed else writer.close(timeout=5)
        stop_children(keep=already)
    print_summary(spec, result)
    if result.interrupted:
        return EXIT_CODES.get(result.stop_signal, EXIT_INTERRUPTED)
    if writer is not None:
        _print_tracking(spec, result)
    if result.n_complete == 0:
        print(
            f"nnsweep: error: no trial of study {spec.name} completed ({result.n_failed} "
            f"failed, {result.n_pruned} pruned){_first_error(spec)}",
            file=sys.stderr,
        )
        return 1
    return 0


def _first_error(spec):
    from .storage import load_study

    try:
        trials = load_study(spec).get_trials(deepcopy=False)
    except Exception:
        return ""
    errors = [t.user_attrs[Attr.ERROR] for t in trials if t.user_attrs.get(Attr.ERROR)]
    return f"; the first error: {errors[0]}" if errors else ""


def child_pids():
    """Pids of this process's children (and theirs)."""
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def stop_children(grace=3.0, keep=frozenset()):
    """End every process this command started that is still alive: none outlives it.

    The worker processes end by themselves (loky shuts them down at exit); this is the
    guarantee when a hard stop or an error cut that short. ``keep``: children that were there
    before the command started (`main` called from Python, e.g. by a test with servers).
    """
    import psutil

    try:
        children = [p for p in psutil.Process().children(recursive=True) if p.pid not in keep]
    except psutil.Error:
        return
    mine = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" in " ".join(child.cmdline()):
                continue  # loky's: it ends when this process does, and cleans up after it
            child.terminate()
            mine.append(child)
    children = mine
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


def _tracking_shown(spec):
    from .tracking.store import absolute_uri

    return redact_url(absolute_uri(spec.tracking.uri))


def _print_tracking(spec, result):
    """Where the runs are in the MLflow UI (its runs page, not the GenAI overview)."""
    from .storage import load_study
    from .tracking.store import absolute_uri, scheme_of

    if result.tracking_code == 3:
        return  # the writer said what is behind and how to catch up
    try:
        experiment = load_study(spec).user_attrs.get(StudyAttr.MLFLOW_EXPERIMENT)
    except Exception:
        return
    if not experiment:
        return
    uri = absolute_uri(spec.tracking.uri)
    if scheme_of(uri) in ("http", "https"):
        print(f"MLflow runs: {redact_url(uri).rstrip('/')}/#/experiments/{experiment}/runs")
    else:
        print(
            f"MLflow runs: `make ui`, then http://127.0.0.1:5000/#/experiments/{experiment}/runs"
        )


def cmd_worker(args):
    """``nnsweep worker STUDY``: add workers to a study from any machine reaching its storage.

    Workers report to the study's storage only; the ``nnsweep run`` that owns the study (or
    ``nnsweep sync STUDY --follow``) puts their trials in MLflow.
    """
    from .sweep import add_workers

    spec = load_spec(args)
    if spec.tracking.enabled:
        from .tracking import check_reachable
        from .tracking.store import absolute_uri

        check_reachable(absolute_uri(spec.tracking.uri))
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
    this puts it in MLflow. A failure is a warning: ``nnsweep sync`` catches up later.
    """
    from .storage import load_study
    from .tracking import StudyWriter
    from .tracking.sync import sync_study

    try:
        sync_study(StudyWriter(spec), load_study(spec), end_parent=False)
    except Exception as exc:
        print(
            f"nnsweep: warning: MLflow not updated ({type(exc).__name__}: {exc}); run "
            f"`nnsweep sync {spec.path}` later",
            file=sys.stderr,
        )


def cmd_sync(args):
    """``nnsweep sync STUDY``: project the study into MLflow now (``--follow``: keep at it)."""
    from .storage import load_study
    from .tracking import TrackingError, check_reachable
    from .tracking.store import absolute_uri

    spec = load_spec(args)
    if not spec.tracking.enabled:
        raise TrackingError(f"{spec.path}: tracking.enabled is false: nothing to sync")
    check_reachable(absolute_uri(spec.tracking.uri))
    try:
        study = load_study(spec)
    except KeyError:
        raise StorageError(
            f"no study {spec.name!r} in {redact_url(spec.storage.url)}: run it first"
        ) from None
    from .tracking import StudyWriter
    from .tracking.sync import sync_study

    writer = StudyWriter(spec)
    counts = sync_study(writer, study, follow=args.follow)
    print(
        f"study {spec.name} -> MLflow {_tracking_shown(spec)}: {len(study.trials)} trials; "
        f"runs created {counts['created']}, finished {counts['finished']}, updated "
        f"{counts['updated']}, duplicates removed {counts['deduplicated']}"
    )
    return 0


def print_summary(spec, result):
    """Best parameters, CV mean +- std, test score, trial counts, wall time."""
    print(
        f"\nstudy {spec.name}: {result.n_complete} complete, {result.n_pruned} pruned, "
        f"{result.n_failed} failed; {result.wall_time:.1f} s"
    )
    if result.best_value is None:
        print("no trial completed yet")
        return
    std = f" +- {result.best_std:.4f}" if result.best_std is not None else ""
    print(f"best trial #{result.best_trial_number}: CV {spec.metric} {result.best_value:.4f}{std}")
    tuned = {p.name for p in spec.search_space}
    for name, value in sorted(result.best_params.items()):
        if name in tuned:
            print(f"  {name:<24} {value}")
    if result.test_score is not None:
        print(f"test {spec.metric}: {result.test_score:.4f} (model saved in {result.output_dir})")


def cmd_show(args):
    """``nnsweep show STUDY``: the best trials as a table."""
    from .storage import load_study

    spec = load_spec(args)
    study = load_study(spec)
    trials = [t for t in study.get_trials(deepcopy=False) if t.value is not None]
    trials.sort(key=lambda t: t.value, reverse=True)
    names = [p.name for p in spec.search_space]
    header = ["trial", "state", spec.metric, "std", "epochs", *names]
    rows = []
    for t in trials[: args.top]:
        params = t.user_attrs.get(Attr.ESTIMATOR_PARAMS, t.params)
        std = t.user_attrs.get(Attr.CV_STD)
        rows.append(
            [
                str(t.number),
                t.state.name,
                f"{t.value:.4f}",
                "" if std is None else f"{std:.4f}",
                str(t.user_attrs.get(Attr.N_EPOCHS, "")),
                *(_fmt(params.get(n)) for n in names),
            ]
        )
    _print_table(header, rows)
    counts = count_states(study.get_trials(deepcopy=False))
    print(", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())))
    return 0


def cmd_list(args):
    """``nnsweep list``: the studies in a storage."""
    import optuna

    from .storage import make_storage

    url = args.storage or "mlruns/optuna"
    urls = sorted(str(p) for p in Path(url).glob("*.log")) if ("://" not in url) else [url]
    for u in urls:
        for s in optuna.get_all_study_summaries(make_storage(u)):
            best = "" if s.best_trial is None else f"best {s.best_trial.value:.4f}"
            print(f"{s.study_name:<24} {s.n_trials:>5} trials  {best}  ({redact_url(u)})")
    return 0


def _fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_table(header, rows):
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def build_parser():
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="nnsweep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nnsweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def study_command(name, help_):
        p = sub.add_parser(name, help=help_)
        p.add_argument("study", help="a study file, e.g. studies/digits.toml")
        p.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override one value of the study file, e.g. budget.n_trials=10",
        )
        p.add_argument("--storage", help="Optuna storage URL or journal file")
        p.add_argument("--tracking-uri", help="MLflow tracking URI")
        p.add_argument("--n-trials", type=int, help="total trials for the study")
        p.add_argument("--timeout", type=float, help="seconds for this invocation")
        p.add_argument("--n-jobs", type=int, help="worker processes (0: one per core)")
        return p

    run = study_command("run", "run or resume a sweep")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    run.add_argument("--scheduler", help="Dask scheduler address: run the workers on Dask")
    run.add_argument(
        "--accept-changes",
        action="store_true",
        help="resume the study even if its file changed its data, estimator, space or CV",
    )
    run.add_argument(
        "--sync-later",
        action="store_true",
        help="run even if the tracking store does not answer; MLflow catches up later",
    )
    run.set_defaults(func=cmd_run)
    worker = study_command(
        "worker", "add worker processes to a study (Optuna's distributed pattern)"
    )
    worker.add_argument(
        "--no-tracking", action="store_true", help="do not sync its trials to MLflow at its end"
    )
    worker.set_defaults(func=cmd_worker)
    sync = study_command(
        "sync", "project the study into MLflow (idempotent; rebuilds a lost store)"
    )
    sync.add_argument(
        "--follow", action="store_true", help="keep following the study until Ctrl-C"
    )
    sync.set_defaults(func=cmd_sync)
    show = study_command("show", "the best trials of a study as a table")
    show.add_argument("--top", type=int, default=10)
    show.set_defaults(func=cmd_show)
    lst = sub.add_parser("list", help="the studies in a storage")
    lst.add_argument("--storage", help="storage URL, or a folder of journal files (mlruns/optuna)")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv=None):
    """Entry point of the ``nnsweep`` command."""
    args = build_parser().parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar and summary speak
    started = time.time()
    _ALREADY.clear()
    _ALREADY.update(child_pids())
    try:
        return args.func(args)
    except (StudyFileError, DatasetError, StudyBusyError, StorageError) as exc:
        print(f"nnsweep: error: {exc}", file=sys.stderr)
        return 2
    except DiskError as exc:
        print(
            f"nnsweep: error: {exc.strerror or exc}; the sweep stopped. The study is kept: free "
            "some space (or fix the folder) and run the same command again to resume it",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        stop_children(grace=1.0, keep=_ALREADY)
        print(
            f"\nstopped after {time.time() - started:.0f} s; the study is kept: run the same "
            "command again to resume it",
            file=sys.stderr,
        )
        return EXIT_CODES.get(stop_signal(), EXIT_INTERRUPTED)
    except Exception as exc:
        if type(exc).__name__ in ("TrackingError",):
            print(f"nnsweep: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
