"""The test score's interval and the within-noise test (nnsweep.sweep.uncertainty), against
values worked by hand."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss

from nnsweep.sweep.uncertainty import corrected_ttest, score_interval, within_noise


def test_wilson_interval_of_441_right_out_of_450():
    # p = 441/450 = 0.98, z = 1.959964, z^2/n = 0.0085366:
    # centre = (p + z^2/2n) / (1 + z^2/n) = 0.9842683 / 1.0085366 = 0.9759371
    # half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2) = 1.943371 * 0.0069497 = 0.0135058
    y = np.ones(450, dtype=int)
    pred = np.r_[np.ones(441, dtype=int), np.zeros(9, dtype=int)]
    ci = score_interval("accuracy", y, one_hot(pred, 2), np.array([0, 1]))
    assert ci.method == "wilson" and ci.n == 450
    assert ci.low == pytest.approx(0.962431, abs=1e-6)
    assert ci.high == pytest.approx(0.989443, abs=1e-6)
    assert ci.half_width == pytest.approx(0.013506, abs=1e-6)  # the README's "±1.4 % on 450"
    # not symmetric about 0.98: Wilson's interval leans away from the bound at 1
    assert 0.98 - ci.low > ci.high - 0.98


def test_wilson_interval_stays_inside_0_and_1():
    ci = score_interval(
        "accuracy", np.zeros(20), one_hot(np.zeros(20, dtype=int), 2), np.array([0, 1])
    )
    assert ci.high == 1.0 and 0.8 < ci.low < 1.0


def test_bootstrap_interval_for_another_metric_is_reproducible():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.8, y, (y + 1) % 3)
    proba = 0.1 + 0.7 * one_hot(pred, 3)  # rows sum to 1
    classes = np.arange(3)
    ci = score_interval("f1_macro", y, proba, classes)
    f1 = f1_score(y, pred, average="macro")
    assert ci.method == "bootstrap" and ci.low < f1 < ci.high
    assert ci == score_interval("f1_macro", y, proba, classes)
    assert 0.02 < ci.half_width < 0.08  # ~ sqrt(0.8 * 0.2 / 300) * 1.96 = 0.045
    loss = score_interval("neg_log_loss", y, proba, classes)
    assert loss.low < -log_loss(y, proba) < loss.high


def one_hot(labels, k):
    return np.eye(k)[labels]


def test_corrected_ttest_by_hand():
    # d = [0.01, 0.02, 0.00, 0.01, 0.01]: mean 0.01, var (ddof 1) = 0.0002 / 4 = 5e-5
    # corrected: (1/5 + 100/400) * 5e-5 = 2.25e-5, t = 0.01 / 0.0047434 = 2.10819, df 4
    t, p = corrected_ttest([0.91, 0.92, 0.90, 0.91, 0.91], [0.90] * 5, n_train=400, n_test=100)
    assert t == pytest.approx(2.108185, abs=1e-6)
    assert p == pytest.approx(0.051350, abs=1e-6)
    # the uncorrected paired t-test would say t = 0.01 / sqrt(5e-5 / 5) = 3.162, p = 0.017:
    # a difference, where the overlap of the training sets leaves none at the 5 % level
    assert within_noise([0.91, 0.92, 0.90, 0.91, 0.91], {7: [0.90] * 5}, 400, 100) == {7: p}


def test_corrected_ttest_degenerate_differences():
    t, p = corrected_ttest([0.9, 0.9], [0.9, 0.9], 10, 5)
    assert math.isnan(t) and p == 1.0
    assert corrected_ttest([1.0, 0.5], [0.5, 0.0], 10, 5) == (math.inf, 0.0)
    with pytest.raises(ValueError, match="2 folds"):
        corrected_ttest([0.9], [0.8], 10, 5)


def test_within_noise_keeps_the_close_trials_best_first_and_skips_unfinished_folds():
    best = [0.95, 0.96, 0.94, 0.95, 0.97]
    others = {
        1: [0.95, 0.95, 0.94, 0.95, 0.96],  # 0.006 below on average, noisy: within
        2: [0.80, 0.82, 0.79, 0.81, 0.80],  # far below: out
        3: [0.95, 0.96, 0.94, 0.95, 0.97],  # the same scores: p = 1
        4: [0.95, None, 0.94, 0.95, 0.97],  # a fold that never finished: left out
        5: [0.95, 0.96],  # other folds: left out
    }
    kept = within_noise(best, others, n_train=1000, n_test=250)
    assert list(kept) == [3, 1]
