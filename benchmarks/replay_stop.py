"""Replay stop rules on finished fixed-budget digits studies: where would each have stopped?

How the defaults of ``[budget] stop = "converged"`` (``window``, ``min_trials``) were chosen:
the finished trials of studies that ran their whole budget (``bench_budget.py`` keeps its
studies in a temporary folder, ``budget-<seed>/``), in the order they finished, are checked
with `nnsweep.sweep.convergence.converged` after each one, as the workers check between trials.
For each rule it prints the search time up to the stop as a fraction of the whole budget's,
and the best CV found by then against the budget's.

A replay is not a run: a run that stops earlier also stops its workers' trials in flight, and
with two workers the trial order differs from run to run. Confirm a choice with
``bench_budget.py`` on other seeds.

    python benchmarks/replay_stop.py /tmp/nnsweep-budget-*/budget-*
"""

import argparse
import statistics
from pathlib import Path

import common

common.blas_threads(1)

import optuna  # noqa: E402
from common import ROOT  # noqa: E402

from nnsweep.config import load_study  # noqa: E402
from nnsweep.study.storage import make_storage  # noqa: E402
from nnsweep.sweep.convergence import converged  # noqa: E402

RULES = [(10, 20), (5, 20), (10, 15), (7, 15), (10, 10), (20, 10)]  # (window, min_trials)


def finished(folder: Path, spec) -> list:
    storage = make_storage(str(folder / spec.storage.url))
    study = optuna.load_study(study_name=spec.name, storage=storage)
    trials = [
        t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")
    ]
    return sorted(trials, key=lambda t: t.datetime_complete)


def replay(trials, window, min_trials):
    """``(fraction of the search time, best CV at the stop, best CV of the whole budget)``."""
    start = min(t.datetime_start for t in trials)
    stop = next(
        (k for k in range(1, len(trials) + 1) if converged(trials[:k], window, min_trials)),
        len(trials),
    )

    def best(ts):
        return max(t.value for t in ts if t.state.name == "COMPLETE")

    def elapsed(t):
        return (t.datetime_complete - start).total_seconds()

    return elapsed(trials[stop - 1]) / elapsed(trials[-1]), best(trials[:stop]), best(trials)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="bench_budget's budget-<seed>/")
    args = parser.parse_args(argv)
    spec = load_study(ROOT / "studies" / "digits.toml")
    studies = [finished(folder, spec) for folder in args.folders]
    print(f"{len(studies)} studies, {sum(map(len, studies))} finished trials")
    for window, min_trials in RULES:
        runs = [replay(trials, window, min_trials) for trials in studies]
        share = [r[0] for r in runs]
        gap = [r[1] - r[2] for r in runs]
        print(
            f"window {window:2d}, min_trials {min_trials}: search time "
            f"{statistics.mean(share):.2f}"
            f" of the budget's ({min(share):.2f}-{max(share):.2f}); best CV "
            f"{statistics.mean(gap):+.4f} from the budget's (worst {min(gap):+.4f})"
        )


if __name__ == "__main__":
    main()
