"""Accuracy of fixed configurations: digits (cross-validation), MNIST and Fashion-MNIST (test set).

* **digits** (1797 8x8 images, scaled to [0, 1] by the loader). The protocol:
  ``train_test_split(test_size=0.25, random_state=0)``, then 5-fold
  ``StratifiedKFold(shuffle=True, random_state=0)`` cross-validation on the 75 %
  training part; every configuration tried is reported, the best is chosen by that
  CV mean alone, and only then is its accuracy on the held-out 25 % looked at. The
  same folds serve scikit-learn's ``MLPClassifier`` (default adam, 100 and 256
  hidden units, ``max_iter=300``). The CV on all 1797 samples is shown too.
* **MNIST** and **Fashion-MNIST**, official split: one fixed configuration trained
  on all 60000 training images for a fixed number of epochs, accuracy on the
  10000 test images (the test accuracy every 10 epochs is shown as a curve, and
  is never used to choose anything).

Run ``python benchmarks/bench_accuracy.py [--quick] [--parts digits mnist fashion-mnist]``;
results go to ``benchmarks/results/accuracy.json`` and ``accuracy.md``.
"""

import argparse
import sys
import time
import warnings

import common

ABOUT = (
    "digits: X = digits / 16; `train_test_split(test_size=0.25, random_state=0)`; "
    "`StratifiedKFold(5, shuffle=True, random_state=0)` on the 75 % part (1347 samples) and, "
    "separately, on all 1797 samples; training stops early when the training loss has not "
    "improved by 1e-4 for 10 epochs (the estimator's default). MNIST and Fashion-MNIST: one "
    "fixed configuration trained on the 60000 training images for every epoch, scored on the "
    "10000 test images."
)

# digits: the starting point, and what was tried around it (all of it is reported).
DIGITS_BASE = dict(
    hidden_layer_sizes=(256,),
    activation="relu",
    learning_rate=0.1,
    momentum=0.9,
    batch_size=32,
    max_epochs=60,
    random_state=0,
)
DIGITS_VARIANTS = {
    "base": {},
    "l2 1e-4": dict(l2_penalty=1e-4),
    "dropout 0.2": dict(dropout_rate=0.2),
    "nesterov": dict(nesterov=True),
    "exp decay 0.05": dict(learning_rate_schedule="exponential", learning_rate_decay=0.05),
    "nesterov + exp decay 0.05": dict(
        nesterov=True, learning_rate_schedule="exponential", learning_rate_decay=0.05
    ),
    "dropout 0.2 + exp decay 0.05": dict(
        dropout_rate=0.2, learning_rate_schedule="exponential", learning_rate_decay=0.05
    ),
    "l2 1e-4 + exp decay 0.05": dict(
        l2_penalty=1e-4, learning_rate_schedule="exponential", learning_rate_decay=0.05
    ),
    "l2 1e-4 + dropout 0.2 + nesterov + exp decay 0.05": dict(
        l2_penalty=1e-4,
        dropout_rate=0.2,
        nesterov=True,
        learning_rate_schedule="exponential",
        learning_rate_decay=0.05,
    ),
}
# MNIST and Fashion-MNIST: one fixed configuration (Srivastava et al. 2014 style dropout net).
MNIST_CONFIG = dict(
    hidden_layer_sizes=(800,),
    activation="relu",
    learning_rate=0.1,
    momentum=0.9,
    nesterov=True,
    learning_rate_schedule="exponential",
    learning_rate_decay=0.05,
    dropout_rate=0.5,
    input_dropout_rate=0.2,
    max_norm=3.5,
    batch_size=128,
    max_epochs=60,
    n_iter_no_change=10**6,  # run every epoch: no stopping on the training loss
    random_state=0,
)


def _config_text(params):
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _cv(estimator, X, y, cv, n_jobs):
    from sklearn.model_selection import cross_validate

    res = cross_validate(estimator, X, y, cv=cv, n_jobs=n_jobs, return_estimator=True)
    scores = res["test_score"]
    epochs = [e.n_iter_ for e in res["estimator"]]
    return scores, epochs


def digits_part(quick, n_jobs):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.neural_network import MLPClassifier

    from nnsweep import NeuralNetworkClassifier
    from nnsweep.datasets import load_dataset

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    ds = load_dataset("digits")  # X already divided by 16
    X, y = ds.X_train, ds.y_train
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

    candidates = []
    variants = {"base": {}} if quick else DIGITS_VARIANTS
    for name, extra in variants.items():
        params = {**DIGITS_BASE, **extra}
        if quick:
            params["max_epochs"] = 20
        candidates.append(("ours", name, NeuralNetworkClassifier(**params), params))
    for hidden in (100,) if quick else (100, 256):
        params = dict(hidden_layer_sizes=(hidden,), max_iter=300, random_state=0)
        candidates.append(
            ("sklearn MLP (adam)", f"hidden {hidden}", MLPClassifier(**params), params)
        )

    rows = []
    for family, name, est, params in candidates:
        t0 = time.perf_counter()
        scores_tr, epochs = _cv(est, X_tr, y_tr, cv, n_jobs)
        scores_all, _ = _cv(est, X, y, cv, n_jobs)
        test = est.fit(X_tr, y_tr).score(X_te, y_te)
        seconds = time.perf_counter() - t0
        rows.append(
            dict(
                family=family,
                name=name,
                params=params,
                cv_mean=float(np.mean(scores_tr)),
                cv_std=float(np.std(scores_tr)),
                cv_all_mean=float(np.mean(scores_all)),
                cv_all_std=float(np.std(scores_all)),
                epochs=f"{min(epochs)}-{max(epochs)}" if min(epochs) != max(epochs) else epochs[0],
                test=test,
                seconds=seconds,
            )
        )
        print(
            f"digits {family} {name}: CV {rows[-1]['cv_mean']:.4f} +- {rows[-1]['cv_std']:.4f}, "
            f"all {rows[-1]['cv_all_mean']:.4f}, held-out {test:.4f} ({seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )

    ours = [r for r in rows if r["family"] == "ours"]
    best = max(ours, key=lambda r: r["cv_mean"])  # chosen by CV on the 75 % part only
    base = {**DIGITS_BASE, "max_epochs": 20} if quick else DIGITS_BASE
    result = common.table(
        "digits: 5-fold cross-validation",
        [
            "model",
            "configuration",
            "CV (75 % train) mean ± std",
            "CV (all 1797) mean ± std",
            "held-out 25 %",
            "epochs (folds)",
            "wall s",
        ],
        [
            [
                r["family"],
                ("**" + r["name"] + "**") if r is best else r["name"],
                f"{r['cv_mean']:.4f} ± {r['cv_std']:.4f}",
                f"{r['cv_all_mean']:.4f} ± {r['cv_all_std']:.4f}",
                f"{r['test']:.4f}",
                r["epochs"],
                f"{r['seconds']:.1f}",
            ]
            for r in rows
        ],
        note=f"Ours: `{_config_text(base)}` plus each row's change; in bold the best by CV on "
        "the 75 % part (the held-out 25 % is read afterwards, for every row, and chooses "
        "nothing).",
    )
    return [result], rows


def mnist_part(name, quick):
    import numpy as np

    from nnsweep import NeuralNetworkClassifier
    from nnsweep.datasets import load_dataset

    params = dict(MNIST_CONFIG)
    if quick:
        params["max_epochs"] = 3
    ds = load_dataset(name)
    clf = NeuralNetworkClassifier(**params)
    curve = []
    t0, c0 = time.perf_counter(), time.process_time()
    train_seconds = train_cpu = 0.0
    for info in clf.iter_epochs(ds.X_train, ds.y_train):
        train_seconds = time.perf_counter() - t0 - sum(c[3] for c in curve)
        train_cpu = time.process_time() - c0 - sum(c[4] for c in curve)
        if info.epoch % 10 == 0 or info.epoch == params["max_epochs"]:
            t1, c1 = time.perf_counter(), time.process_time()
            acc = float(np.mean(clf.predict(ds.X_test) == ds.y_test))
            curve.append(
                (info.epoch, info.loss, acc, time.perf_counter() - t1, time.process_time() - c1)
            )
            print(f"{name}: {info}, test {acc:.4f}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    train_acc = float(np.mean(clf.predict(ds.X_train) == ds.y_train))
    test_acc = curve[-1][2]
    tables = [
        common.table(
            f"{name}: official split, 60000 train / 10000 test",
            ["test accuracy", "train accuracy", "epochs", "training s", "s/epoch"]
            + ["CPU s/epoch", "wall s"],
            [
                [
                    f"**{test_acc:.4f}**",
                    f"{train_acc:.4f}",
                    clf.n_iter_,
                    f"{train_seconds:.0f}",
                    f"{train_seconds / clf.n_iter_:.2f}",
                    f"{train_cpu / clf.n_iter_:.2f}",
                    f"{wall:.0f}",
                ]
            ],
            note=f"`NeuralNetworkClassifier({_config_text(params)})`",
        ),
        common.table(
            "",
            ["epoch", "training loss", "test accuracy (chooses nothing)"],
            [[e, f"{loss:.4f}", f"{acc:.4f}"] for e, loss, acc, *_ in curve],
        ),
    ]
    data = {"params": params, "test": test_acc, "train": train_acc, "epochs": clf.n_iter_}
    data |= {"training_s": train_seconds, "training_cpu_s": train_cpu, "wall_s": wall}
    data["curve"] = [dict(zip(("epoch", "loss", "test"), c[:3], strict=True)) for c in curve]
    return tables, data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer configs/epochs")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["digits", "mnist", "fashion-mnist"],
        choices=["digits", "mnist", "fashion-mnist"],
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads for the MNIST fits (default 1)"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=2, help="processes for the digits CV (1 BLAS thread each)"
    )
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    env = common.environment()
    t0 = time.perf_counter()
    tables, data = [], {}
    for part in args.parts:
        if part == "digits":
            with threadpool_limits(1):
                part_tables, data[part] = digits_part(args.quick, args.n_jobs)
        else:
            with threadpool_limits(args.threads):
                part_tables, data[part] = mnist_part(part, args.quick)
        tables += part_tables
    env["extra"] = {
        "BLAS threads": f"1 per process for digits ({args.n_jobs} processes over the folds), "
        f"{args.threads} for MNIST and Fashion-MNIST",
        "total": f"{time.perf_counter() - t0:.0f} s",
    }
    common.write_results(
        "accuracy",
        "Accuracy of fixed configurations",
        env,
        tables,
        data=data,
        about=ABOUT,
        quick=args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
