"""The noise floor under an MNIST study's result: one configuration, refit with several seeds.

A study's result is one refit model's test error. This benchmark takes fixed parameters (the
best trials of three MNIST study runs, given below; docs/benchmarks.md says which runs),
refits each on all 60,000 training images
with ``random_state`` 0, 1, 2, ... (the initial weights, the batch order and the dropout masks
change; the data and the parameters do not), and reports each model's error on the official
10,000 test images. This is a measurement of the spread of the test error, not a selection:
nothing is chosen by it. Each fit runs in its own process with one BLAS thread, two at a time.

Usage: ``python benchmarks/bench_mnist_seeds.py [--seeds N]``; about 2 minutes of a core per fit.
"""

import argparse
import os
import statistics
import time

import common

common.blas_threads(1)

from common import ROOT, table  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

from nnsweep.config import load_study  # noqa: E402

# The fixed part of studies/mnist.toml's [estimator], without its random_state (varied here).
FIXED = dict(load_study(ROOT / "studies" / "mnist.toml").estimator)
FIXED.pop("random_state", None)
# The best trials' parameters of three runs of the MNIST study (docs/benchmarks.md).
CONFIGS = {
    "45-min study, trial 35": dict(
        learning_rate=0.0963,
        learning_rate_decay=0.03123,
        dropout_rate=0.4592,
        input_dropout_rate=0.1796,
        max_norm=5.0,
    ),
    "30-min study, sampler seed 0, trial 14": dict(
        learning_rate=0.1009,
        learning_rate_decay=0.03563,
        dropout_rate=0.4765,
        input_dropout_rate=0.105,
        max_norm=5.0,
    ),
    "30-min study, sampler seed 1, trial 0": dict(
        learning_rate=0.08072,
        learning_rate_decay=0.02058,
        dropout_rate=0.5099,
        input_dropout_rate=0.1871,
        max_norm=3.5,
    ),
}


def fit_one(params, seed, data_dir):
    """Test error (%) and CPU seconds of one refit."""
    from nnsweep.datasets import load_dataset
    from nnsweep.estimator import NeuralNetworkClassifier

    d = load_dataset("mnist", data_dir=data_dir)
    start = time.process_time()
    model = NeuralNetworkClassifier(**FIXED, **params, random_state=seed).fit(d.X_train, d.y_train)
    return 100 * (1 - model.score(d.X_test, d.y_test)), time.process_time() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="random_state 0..N-1 (default 4)")
    parser.add_argument("--data-dir", default=os.environ.get("NNSWEEP_DATA_DIR"))
    parser.add_argument("--quick", action="store_true", help="2 seeds of 2 epochs (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        FIXED["max_epochs"] = 2
    seeds = range(2 if args.quick else args.seeds)
    env = common.environment()
    jobs = [(name, params, s) for name, params in CONFIGS.items() for s in seeds]
    out = Parallel(n_jobs=2)(delayed(fit_one)(p, s, args.data_dir) for _, p, s in jobs)
    rows, summary = [], []
    for name in CONFIGS:
        errors = [e for (n, _, _), (e, _) in zip(jobs, out, strict=True) if n == name]
        cpu = [c for (n, _, _), (_, c) in zip(jobs, out, strict=True) if n == name]
        rows += [
            [name, str(s), f"{e:.2f} %", f"{c:.0f}"]
            for s, e, c in zip(seeds, errors, cpu, strict=True)
        ]
        summary.append(
            [
                name,
                f"{statistics.mean(errors):.3f} %",
                f"{min(errors):.2f}-{max(errors):.2f} %",
                f"{statistics.stdev(errors):.3f}" if len(errors) > 1 else "n/a",
                f"{sum(e <= 1.2 for e in errors)} of {len(errors)}",
            ]
        )
    fixed = ", ".join(f"{k}={v}" for k, v in FIXED.items())
    params = [[name, ", ".join(f"{k}={v}" for k, v in p.items())] for name, p in CONFIGS.items()]
    fits = [
        {"parameters": n, "random_state": s, "test_error_pct": e, "cpu_s": c}
        for (n, _, s), (e, c) in zip(jobs, out, strict=True)
    ]
    common.write_results(
        "mnist_seeds",
        "MNIST test error of fixed configurations over estimator seeds",
        env,
        [
            table("Summary", ["parameters", "mean", "range", "std", "<= 1.2 %"], summary),
            table("Every fit", ["parameters", "random_state", "test error", "CPU s"], rows),
            table("Parameters", ["parameters", "tuned values"], params),
        ],
        data={"fixed": FIXED, "configs": CONFIGS, "fits": fits},
        about=f"Fixed: {fixed}; trained on all 60,000 training images, scored on the official "
        f"10,000 test images; random_state {seeds.start}..{seeds.stop - 1}; one BLAS thread "
        "per fit, two fits at a time. One test image is 0.01 %; the binomial standard error of "
        "a 1.2 % error rate on 10,000 images is 0.11 %.",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
