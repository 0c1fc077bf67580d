"""Run the benchmarks, each in its own process.

Usage: ``python benchmarks/run.py [--only speed|accuracy] [--quick]``.

Benchmarks are not tests: they measure, print markdown tables and write them to
``benchmarks/results/<name>.md`` (``speed.md``, ``accuracy.md``), each headed with
the date, the machine, its load and the versions used. ``make bench`` runs this.

* ``speed``: seconds per epoch on MNIST, nnsweep against scikit-learn's
  ``MLPClassifier``, PyTorch and the bound set by the matrix products alone.
* ``accuracy``: digits cross-validation, MNIST and Fashion-MNIST test accuracy of
  fixed configurations.

A separate process per benchmark keeps BLAS thread limits and imported libraries
(torch, OpenMP runtimes) from leaking from one into the next.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {"speed": "bench_speed.py", "accuracy": "bench_accuracy.py"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=sorted(BENCHMARKS),
        action="append",
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: fewer repeats, configurations and epochs"
    )
    args = parser.parse_args(argv)
    failed = []
    for name in args.only or list(BENCHMARKS):
        cmd = [sys.executable, str(HERE / BENCHMARKS[name])] + (["--quick"] if args.quick else [])
        print(f"== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd, cwd=HERE.parent)
        print(
            f"== {name}: exit {code} after {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
