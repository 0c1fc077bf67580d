"""How far apart may the features' scales be before an unscaled network trains worse?

`nnsweep.datasets.profile.SCALE_RATIO` is chosen from this. Two real data sets (breast cancer,
wine) are standardised, then each feature is multiplied by a factor log-spread from 1 down to
1/R, so that the features' ranges span a factor R while the largest stays of order 1. For each
R, the 5-fold CV accuracy of one fixed network at two learning rates; the `scale_ratio` that
nnsweep measures on the result; and, for comparison, the ratio on digits and MNIST as they ship.

Usage: ``python benchmarks/bench_feature_scales.py [--quick]``; about 2 minutes of a core.
"""

import argparse
import os

import common

common.blas_threads(1)

import numpy as np  # noqa: E402
from common import table  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from nnsweep import NeuralNetworkClassifier  # noqa: E402
from nnsweep.datasets import load_dataset  # noqa: E402
from nnsweep.datasets.profile import SCALE_RATIO, scale_ratio  # noqa: E402

RATIOS = (1, 10, 30, 100, 300, 1000, 10000)
RATES = (0.01, 0.1)


def cv_accuracy(X, y, learning_rate, epochs):
    model = NeuralNetworkClassifier(
        hidden_layer_sizes=(64,), learning_rate=learning_rate, max_epochs=epochs, random_state=0
    )
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(model, X, y, cv=folds, error_score=np.nan).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 ratios, 5 epochs (smoke run)")
    args = parser.parse_args(argv)
    ratios, epochs = ((1, 100, 10000), 5) if args.quick else (RATIOS, 60)
    env = common.environment()
    rows, data = [], []
    for name, loader in (
        ("breast cancer", datasets.load_breast_cancer),
        ("wine", datasets.load_wine),
    ):
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        rng = np.random.default_rng(0)
        for ratio in ratios:
            scales = np.exp(-rng.permutation(np.linspace(0, np.log(ratio), X.shape[1])))
            Xs = X * scales  # the largest feature keeps std 1, the smallest gets 1 / ratio
            accs = [cv_accuracy(Xs, y, lr, epochs) for lr in RATES]
            measured = scale_ratio(Xs)
            rows.append([name, f"{ratio:g}", f"{measured:,.0f}", *(f"{a:.3f}" for a in accs)])
            data.append({"data": name, "ratio": ratio, "scale_ratio": measured, "cv": accs})
    shipped = [["digits", f"{scale_ratio(load_dataset('digits').X_train):.1f}"]]
    data_dir = os.environ.get("NNSWEEP_DATA_DIR")
    if data_dir:
        mnist = load_dataset("mnist", data_dir=data_dir).X_train
        shipped.append(["MNIST", f"{scale_ratio(mnist):.1f}"])
    cols = ["data", "R", "scale_ratio", *(f"CV accuracy, lr {lr}" for lr in RATES)]
    common.write_results(
        "feature_scales",
        "Feature scales: CV accuracy of an unscaled network as the features' ranges spread",
        env,
        [
            table("Spread scales", cols, rows),
            table("The data sets as they ship", ["data", "scale_ratio"], shipped),
        ],
        data={"fits": data, "threshold": SCALE_RATIO},
        about=f"A 64-unit ReLU network, {epochs} epochs, 5-fold stratified CV; features "
        "standardised, then scaled by factors log-spread over 1..1/R. scale_ratio is "
        "nnsweep.datasets.profile.scale_ratio (95th over 5th percentile of the features' "
        f"ranges); nnsweep warns and `nnsweep new` standardises above {SCALE_RATIO:g}.",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
