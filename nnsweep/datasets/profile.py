"""What a careful user looks at in a data set before a sweep: its features' scales, its classes.

`scale_ratio` measures how far apart the features' scales are; `SCALE_RATIO` is where an
unscaled network starts to train worse (benchmarks/bench_feature_scales.py).
`class_counts` and `imbalance` describe the labels, `suggest_preprocessing` and
`suggest_metric` turn both into a study file's settings, each with its reason.

Leaves out: changing the data (the estimator's pipeline does, `preprocessing`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "IMBALANCED",
    "SCALE_RATIO",
    "class_counts",
    "imbalance",
    "scale_ratio",
    "suggest_metric",
    "suggest_preprocessing",
]

#: Features whose ranges differ by more than this factor (`scale_ratio`) want scaling. On
#: breast cancer and wine, standardised and then given ranges spread over a factor R, 5-fold
#: CV accuracy held while `scale_ratio` measured up to 22 and fell from 72 on (wine: 0.977 ->
#: 0.859 at a learning rate of 0.01; benchmarks/results/feature_scales.md); digits measure 8,
#: MNIST 2.4.
SCALE_RATIO = 50.0
#: Labels are imbalanced when the smallest class has fewer than this share of the largest's.
IMBALANCED = 0.5
_LARGE = 10.0  # inputs of order 1 suit the initialisation; a feature beyond this is large


def scale_ratio(X) -> float:
    """How far apart the features' ranges are: the 95th over the 5th percentile of the ranges.

    Percentiles, not max over min, so that a few near-constant columns (the border pixels of
    digits) do not count as a scale; constant columns are left out. 1.0 for fewer than two
    varying features.
    """
    X = np.asarray(X, dtype=np.float64)
    ranges = X.max(axis=0) - X.min(axis=0)  # (n_features,)
    ranges = ranges[ranges > 0]
    if len(ranges) < 2:
        return 1.0
    low, high = np.percentile(ranges, [5, 95])
    return float(high / low)


def class_counts(y) -> dict:
    """``{label: count}``, labels sorted."""
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    return {
        label.item() if hasattr(label, "item") else label: int(n)
        for label, n in zip(labels, counts, strict=True)
    }


def imbalance(y) -> float:
    """The smallest class's count over the largest's (1.0: balanced)."""
    counts = list(class_counts(y).values())
    return min(counts) / max(counts)


def suggest_preprocessing(X) -> tuple[str, str]:
    """``(preprocessing, reason)`` for a study of ``X``: ``"standard"`` or ``"none"``."""
    ratio = scale_ratio(X)
    if ratio > SCALE_RATIO:
        return "standard", f"the features' ranges differ by {ratio:,.0f}x (over {SCALE_RATIO:g}x)"
    largest = float(np.max(np.abs(X))) if np.size(X) else 0.0
    if largest > _LARGE:
        return "standard", f"features reach {largest:,.4g}; the network wants inputs of order 1"
    return "none", f"features of order 1 with ranges within {ratio:,.1f}x of each other"


def suggest_metric(y) -> tuple[str, str]:
    """``(metric, reason)``: ``"f1_macro"`` for imbalanced labels, else ``"accuracy"``."""
    counts = class_counts(y)
    small, large = min(counts.values()), max(counts.values())
    span = f"{len(counts)} classes of {small} to {large} rows"
    if small / large < IMBALANCED:
        return "f1_macro", (
            f"imbalanced: {span}; accuracy would reward predicting the large classes, "
            "macro F1 weighs every class alike"
        )
    return "accuracy", f"balanced enough: {span}"
