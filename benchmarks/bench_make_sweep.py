"""`make sweep` as a newcomer runs it: a fresh clone each time, the set-up and the sweep timed.

Each run clones this checkout's HEAD into an empty temporary folder and runs ``make sweep``
there (a new virtual environment, ``pip install -e .[dev]`` from the machine's pip cache, then
the digits study with two workers). It records the whole command's wall time, the sweep's own
time as its summary prints it, the trials complete and pruned, the best CV score and the test
score, and reports each as a median with its range: with two workers the pruning, and so the
time and the scores, differ from run to run. The README's timing comes from here.

Usage: ``python benchmarks/bench_make_sweep.py [--runs N]`` (``make bench-sweep``); about
1.5 minutes a run.
"""

import argparse
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import common
from common import ROOT, table

SUMMARY = re.compile(r"study digits: (\d+) complete, (\d+) pruned, (\d+) failed.*?; ([\d.]+) s")
BEST = re.compile(r"best trial #\d+: CV accuracy ([\d.]+)")
TEST = re.compile(r"test accuracy: ([\d.]+)")


def one_run(folder):
    """Clone HEAD into ``folder`` and time ``make sweep`` there; the figures of its output."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    start = time.perf_counter()
    proc = subprocess.run(["make", "sweep"], cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"make sweep failed in {folder}:\n{proc.stdout[-3000:]}\n{proc.stderr}")
    complete, pruned, failed, sweep_s = SUMMARY.search(proc.stdout).groups()
    return {
        "wall_s": wall,
        "sweep_s": float(sweep_s),
        "complete": int(complete),
        "pruned": int(pruned),
        "failed": int(failed),
        "best_cv": float(BEST.search(proc.stdout).group(1)),
        "test": float(TEST.search(proc.stdout).group(1)),
    }


def median_range(values, fmt):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-" + (
        f"{fmt.format(max(values))})"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh clones (default 5)")
    parser.add_argument("--quick", action="store_true", help="one run (smoke run)")
    args = parser.parse_args(argv)
    env = common.environment()
    runs = []
    for i in range(1 if args.quick else args.runs):
        with tempfile.TemporaryDirectory(prefix="nnsweep-fresh-") as tmp:
            runs.append(one_run(Path(tmp) / "nnsweep"))
        print(f"run {i + 1}: {runs[-1]}", flush=True)
    rows = [
        [
            str(i + 1),
            f"{r['wall_s']:.0f}",
            f"{r['sweep_s']:.1f}",
            f"{r['complete']} / {r['pruned']}",
            f"{r['best_cv']:.4f}",
            f"{r['test']:.4f}",
        ]
        for i, r in enumerate(runs)
    ]
    pick = {k: [r[k] for r in runs] for k in runs[0]}
    summary = [
        ["make sweep, in all (s)", median_range(pick["wall_s"], "{:.0f}")],
        ["the sweep itself (s)", median_range(pick["sweep_s"], "{:.1f}")],
        ["trials complete", median_range(pick["complete"], "{:.0f}")],
        ["trials pruned", median_range(pick["pruned"], "{:.0f}")],
        ["best CV accuracy", median_range(pick["best_cv"], "{:.4f}")],
        ["test accuracy", median_range(pick["test"], "{:.4f}")],
    ]
    common.write_results(
        "make_sweep",
        "`make sweep` on a fresh clone: medians and ranges",
        env,
        [
            table(f"Median (range) over {len(runs)} fresh clones", ["figure", "value"], summary),
            table(
                "Every run",
                ["run", "wall s", "sweep s", "complete / pruned", "best CV", "test accuracy"],
                rows,
            ),
        ],
        data={"runs": runs},
        about="Each run: git clone of HEAD into an empty temporary folder, then `make sweep` "
        "(venv, pip install -e .[dev] from the pip cache, studies/digits.toml with two "
        "workers, MLflow on). Wall time is the whole make command; the sweep's time is the "
        "one its summary prints.",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
