"""Run the benchmarks, each in its own process.

Usage: ``python benchmarks/run.py [--only NAME ...] [--quick] [--results DIR]``; ``make
bench`` runs it.

Benchmarks are not tests: they measure, and write ``benchmarks/results/<name>.json`` (the
date, the machine, its load, the versions and the commit measured; the measurements; the
tables) and ``<name>.md`` generated from it (``common.py``). Every
``benchmarks/bench_<name>.py`` is a benchmark called ``<name>``; ``speed`` and ``accuracy``
run first, the others after them in alphabetical order:

* ``speed``: seconds per epoch on MNIST, nnsweep against scikit-learn's
  ``MLPClassifier``, PyTorch and the bound set by the matrix products alone.
* ``accuracy``: digits cross-validation, MNIST and Fashion-MNIST test accuracy of
  fixed configurations.
* ``mnist_study``: the shipped MNIST study end to end, twice (about an hour); run only
  when named, ``--only mnist_study`` (``make bench-mnist``).
* ``mnist_seeds``: the spread of the test error over estimator seeds, for fixed
  parameters (about 10 minutes); run only when named.
* ``mnist_ensembles``: soft votes of the deep study's runs, seeds of the best configuration
  against the configurations within noise (about 35 minutes); run only when named.
* ``make_sweep``: ``make sweep`` on fresh clones, medians and ranges (about 8 minutes); run
  only when named (``make bench-sweep``).

The others: ``digits_sweep`` (``make sweep`` here and at a baseline commit), ``faults``,
``logging`` (MLflow's cost), ``refit_seeds`` (refits over seeds in parallel), ``scaleout``
and ``sweep``. docs/benchmarks.md describes each.

A separate process per benchmark keeps BLAS thread limits and imported libraries
(torch, OpenMP runtimes) from leaking from one into the next.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRST = ("speed", "accuracy")
# long: only with --only
ON_REQUEST = ("mnist_study", "mnist_seeds", "mnist_ensembles", "make_sweep")


def discover():
    """Benchmark name -> script, ``speed`` and ``accuracy`` first."""
    found = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    order = [n for n in FIRST if n in found] + [n for n in found if n not in FIRST]
    return {n: found[n] for n in order}


def main(argv=None):
    benchmarks = discover()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=list(benchmarks),
        nargs="+",
        help="run only these benchmarks (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: fewer repeats, configurations and epochs"
    )
    parser.add_argument(
        "--results",
        metavar="DIR",
        help="write the results into DIR instead of benchmarks/results (NNSWEEP_BENCH_RESULTS)",
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.results:
        env["NNSWEEP_BENCH_RESULTS"] = str(Path(args.results).resolve())
    failed = []
    for name in args.only or [n for n in benchmarks if n not in ON_REQUEST]:
        script = benchmarks[name]
        quick = args.quick and "--quick" in script.read_text()
        cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
        print(f"== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd, cwd=HERE.parent, env=env)
        elapsed = time.perf_counter() - t0
        print(f"== {name}: exit {code} after {elapsed:.0f} s", file=sys.stderr, flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
