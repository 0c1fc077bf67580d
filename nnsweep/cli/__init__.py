"""The command line: run, worker, sync, show, list, new, compare, ui and dashboard.

``nnsweep run studies/digits.toml`` validates the study file, starts the MLflow writer (which
opens the tracking store while the command loads the data, and tells it whether it could),
then runs the sweep and prints a summary. Everything is refused before any training if the
study file, the data or the tracking store is wrong. ``nnsweep sync`` projects a study into
MLflow at any time.

The package: `inputs` (the study file, the data), `commands` (run, worker, sync), `report`
(show, list, the summary), `signals` (the command's stop signals and its deadline),
`children` (its process tree, none of which outlives it); this module parses the arguments
and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import sys
import time

from .. import __version__
from ..config import StudyFileError
from ..datasets import DatasetError
from ..study.journal import DiskError
from ..study.locks import StudyBusyError
from ..study.storage import StorageError
from . import commands, compare, new, ui
from .children import child_pids, stop_children
from .commands import EXIT_INTERRUPTED, cmd_run, cmd_sync, cmd_worker, start_tracking
from .inputs import load_data, load_spec
from .report import cmd_list, cmd_show, print_summary
from .signals import EXIT_CODES, stop_signal

__all__ = [
    "build_parser",
    "cmd_list",
    "cmd_run",
    "cmd_show",
    "cmd_sync",
    "cmd_worker",
    "load_data",
    "load_spec",
    "main",
    "print_summary",
    "start_tracking",
]


def build_parser():
    """The argument parser."""
    parser = argparse.ArgumentParser(
        prog="nnsweep",
        description="Hyperparameter sweeps of a NumPy neural network: Optuna over K-fold "
        "cross-validation, every trial in MLflow.",
        epilog="Start with: nnsweep run studies/digits.toml (in a checkout), or nnsweep new "
        "NAME --csv FILE --label COLUMN (your own data). nnsweep COMMAND --help says more.",
    )
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
        "--warm-start",
        action="append",
        metavar="STUDY",
        help="first add the finished trials of an earlier study (file or name) on the same "
        "data and metric that lie in this study's space; repeatable",
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
    new.add_parser(sub)
    compare.add_parser(sub)
    ui.add_parsers(sub)
    return parser


def main(argv=None):
    """Entry point of the ``nnsweep`` command."""
    args = build_parser().parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar and summary speak
    started = time.time()
    commands.ALREADY.clear()
    commands.ALREADY.update(child_pids())
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
        stop_children(grace=1.0, keep=commands.ALREADY)
        resumable = args.func in (cmd_run, cmd_worker)
        print(
            f"\nstopped after {time.time() - started:.0f} s"
            + (
                "; the study is kept: run the same command again to resume it" if resumable else ""
            ),
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
