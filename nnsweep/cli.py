"""The command line: ``nnsweep run | worker | show | list``.

``nnsweep run studies/digits.toml`` validates the study file, loads the data,
checks that the tracking store answers, then runs the sweep with the MLflow
callback and prints a summary. Everything is refused before any training if the
study file, the data or the tracking store is wrong.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .config import StudyFileError, load_study, parse_overrides
from .datasets import DatasetError, load_dataset
from .estimator import NeuralNetworkClassifier
from .locks import StudyBusyError
from .redact import redact_url
from .search import StorageError

EXIT_INTERRUPTED = 130


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
    params = NeuralNetworkClassifier().get_params().keys()
    return load_study(args.study, estimator_params=params, overrides=_overrides(args))


def load_data(spec):
    """Load the study's data set (before anything starts: a bad file stops here)."""
    d = spec.data
    if d.name in ("csv", "npz"):
        return load_dataset(d.name, path=d.path, label_column=d.label_column)
    return load_dataset(d.name, data_dir=d.data_dir)


def make_tracker(spec, dataset, tracking_uri=None):
    """The MLflow tracker, checked to be reachable, or None when tracking is off.

    ``tracking_uri`` (``--tracking-uri``) wins over the study file and the
    ``MLFLOW_TRACKING_URI`` environment variable.
    """
    if not spec.tracking.enabled:
        return None
    from .tracking import MLflowTracker

    tracker = MLflowTracker(spec, dataset, tracking_uri=tracking_uri)
    tracker.check_reachable()
    return tracker


def start_tracking(tracker, spec, finish_later=False):
    """Start ``tracker`` on the study: ``(study, callbacks, on_trial_start)`` for `run_sweep`.

    With no tracker: ``(None, (), ())``. ``finish_later``: `MLflowTracker.finish` will run in
    this process after the sweep, so its imports are loaded meanwhile when the workers are
    other processes (more than one, or on Dask).
    """
    if tracker is None:
        return None, (), ()
    from .search import create_study, resolve_n_jobs

    study = create_study(spec)
    workers = spec.workers
    elsewhere = resolve_n_jobs(workers.n_jobs) > 1 or workers.backend == "dask"
    tracker.start(study, prewarm_finish=finish_later and elsewhere)
    return study, (tracker,), (tracker.trial_started,)


def cmd_run(args):
    """``nnsweep run STUDY``: run or resume a sweep, refit the best model, print a summary."""
    from .search import run_sweep

    spec = load_spec(args)
    dataset = load_data(spec)
    tracker = make_tracker(spec, dataset, args.tracking_uri)
    print(
        f"study {spec.name}: data set {dataset.name} ({dataset.digest}), "
        f"storage {redact_url(spec.storage.url)}"
        + (f", tracking {redact_url(tracker.tracking_uri)}" if tracker else ", tracking off")
    )
    study, callbacks, on_start = start_tracking(tracker, spec, finish_later=True)
    result = run_sweep(
        spec,
        dataset,
        on_trial_start=on_start,
        callbacks=callbacks,
        progress=not args.no_progress,
    )
    if tracker is not None and not result.interrupted and result.best_value is not None:
        tracker.finish(study, result)
    print_summary(spec, result)
    return EXIT_INTERRUPTED if result.interrupted else 0


def cmd_worker(args):
    """``nnsweep worker STUDY``: add workers to a study from any machine reaching its storage."""
    from .search import add_workers

    spec = load_spec(args)
    dataset = load_data(spec)
    tracker = make_tracker(spec, dataset, args.tracking_uri)
    study, callbacks, on_start = start_tracking(tracker, spec)
    print(f"worker(s) for study {spec.name} on {redact_url(spec.storage.url)}")
    n = args.n_jobs if args.n_jobs else 1
    add_workers(spec, dataset, n, on_trial_start=on_start, callbacks=callbacks)
    if tracker is not None:  # as `nnsweep run` does in finish(): no run left RUNNING
        tracker.catch_up(study)
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
    import optuna

    from .search import make_storage

    spec = load_spec(args)
    study = optuna.load_study(study_name=spec.name, storage=make_storage(spec.storage.url))
    trials = [t for t in study.get_trials(deepcopy=False) if t.value is not None]
    trials.sort(key=lambda t: t.value, reverse=True)
    names = [p.name for p in spec.search_space]
    header = ["trial", "state", spec.metric, "std", "epochs", *names]
    rows = []
    for t in trials[: args.top]:
        params = t.user_attrs.get("estimator_params", t.params)
        std = t.user_attrs.get("cv_std")
        rows.append(
            [
                str(t.number),
                t.state.name,
                f"{t.value:.4f}",
                "" if std is None else f"{std:.4f}",
                str(t.user_attrs.get("n_epochs", "")),
                *(_fmt(params.get(n)) for n in names),
            ]
        )
    _print_table(header, rows)
    counts = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    print(", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())))
    return 0


def cmd_list(args):
    """``nnsweep list``: the studies in a storage."""
    import optuna

    from .search import make_storage

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
    run.set_defaults(func=cmd_run)
    worker = study_command(
        "worker", "add worker processes to a study (Optuna's distributed pattern)"
    )
    worker.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    worker.set_defaults(func=cmd_worker)
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
    try:
        return args.func(args)
    except (StudyFileError, DatasetError, StudyBusyError, StorageError) as exc:
        print(f"nnsweep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\ninterrupted after {time.time() - started:.0f} s; run again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except Exception as exc:
        if type(exc).__name__ in ("TrackingError",):
            print(f"nnsweep: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
