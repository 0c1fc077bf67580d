"""The refits over seeds: R refits in parallel processes against one refit, on the same data.

`nnsweep.sweep.refit.fit_seeds` refits a configuration with R seeds as R processes of one BLAS
thread, at most one per core. This benchmark times, interleaved over rounds, on the same data
and parameters: one refit in this process at 1 BLAS thread, one at every core's threads (what
``refit_seeds = 1`` does), and R = 2, 3 and 4 refits through `fit_seeds`. The goal of #20 is
R = 4 within 2.2x the wall time of one 1-thread refit on 2 cores. Each refit is fit from
scratch; process start-up and the data's transfer to the workers are inside the times.

Data: MNIST (60,000 training images, the MNIST study's fixed estimator and one of its best
configurations, ``--epochs`` epochs) when ``NNSWEEP_DATA_DIR`` (or ``--data-dir``) has it, and
the digits study's refit (its best parameters as in the README's run) in any case.

Usage: ``python benchmarks/bench_refit_seeds.py [--rounds N] [--epochs E] [--quick]``.
"""

import argparse
import os
import statistics
import time

import common

common.blas_threads(1)

import joblib  # noqa: E402
from common import ROOT, table  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from nnsweep.config import load_study  # noqa: E402
from nnsweep.estimator import NeuralNetworkClassifier  # noqa: E402
from nnsweep.sweep.refit import fit_seeds  # noqa: E402

MNIST_BEST = dict(  # studies/mnist.toml, 30-min study with sampler seed 1, trial 0 (mnist_seeds)
    learning_rate=0.08072,
    learning_rate_decay=0.02058,
    dropout_rate=0.5099,
    input_dropout_rate=0.1871,
    max_norm=3.5,
)
DIGITS_BEST = dict(learning_rate=0.1, momentum=0.9, dropout_rate=0.2, hidden_layer_sizes=(256,))


def cases(args):
    """``{name: (template, X, y)}`` of the data sets at hand."""
    from nnsweep.datasets import load_dataset

    out = {}
    fixed = dict(load_study(ROOT / "studies" / "digits.toml").estimator)
    digits = load_dataset("digits")
    out["digits (1,347 images)"] = (
        NeuralNetworkClassifier(**{**fixed, **DIGITS_BEST}),
        digits.X_train[:1347],
        digits.y_train[:1347],
    )
    try:
        mnist = load_dataset("mnist", data_dir=args.data_dir)
    except FileNotFoundError as exc:
        print(f"MNIST left out: {exc}")
        return out
    fixed = dict(load_study(ROOT / "studies" / "mnist.toml").estimator)
    fixed["max_epochs"] = args.epochs
    n = 6000 if args.quick else len(mnist.y_train)
    out[f"MNIST ({n:,} images, {args.epochs} epochs)"] = (
        NeuralNetworkClassifier(**{**fixed, **MNIST_BEST}),
        mnist.X_train[:n],
        mnist.y_train[:n],
    )
    return out


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def one_refit(template, X, y, threads):
    with threadpool_limits(limits=threads):
        fit_seeds(template, [0], X, y) if threads > 1 else template.fit(X, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5, help="MNIST epochs per refit")
    parser.add_argument("--data-dir", default=os.environ.get("NNSWEEP_DATA_DIR"))
    parser.add_argument("--quick", action="store_true", help="1 round, 6,000 MNIST images")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    env = common.environment()
    cores = joblib.cpu_count()
    variants = {"1 refit, 1 thread": None, f"1 refit, {cores} threads": None}
    variants.update({f"{r} refits (fit_seeds)": r for r in (2, 3, 4)})
    times = {}
    for name, (template, X, y) in cases(args).items():
        runs = {v: [] for v in variants}
        for _ in range(rounds):  # interleaved: every variant once per round
            for variant, r in variants.items():
                if r is None:
                    threads = 1 if variant.endswith("1 thread") else cores
                    runs[variant].append(timed(one_refit, template, X, y, threads))
                else:
                    runs[variant].append(timed(fit_seeds, template, list(range(r)), X, y))
        times[name] = runs
    rows = []
    for name, runs in times.items():
        base = statistics.median(runs["1 refit, 1 thread"])
        for variant, ts in runs.items():
            med = statistics.median(ts)
            rows.append([name, variant, f"{med:.2f}", f"{med / base:.2f}"])
    common.write_results(
        "refit_seeds",
        "Refits over seeds in parallel against one refit",
        env,
        [
            table(
                "Wall time (median of rounds)",
                ["data", "refits", "wall s", "/ one 1-thread refit"],
                rows,
            )
        ],
        data={"times_s": times, "rounds": rounds, "cores": cores, "mnist_params": MNIST_BEST},
        about=f"{rounds} round(s), interleaved; {cores} cores. The goal: 4 refits within 2.2x "
        "one 1-thread refit. Each time includes starting the processes and sending the data.",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
