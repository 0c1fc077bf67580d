"""How sure a sweep's answer is: the test score's interval, the trials within noise of the best.

Two questions, each answered by a standard method (scipy does the arithmetic):

* **How wide is a test score?** A test set of ``n`` samples gives one draw of the score.
  For accuracy, the number right is binomial, and `score_interval` is Wilson's score interval
  (Wilson 1927; ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``), which holds up
  near 0 and 1 where the normal approximation does not. For any other metric, it is a
  percentile bootstrap over the test samples (``scipy.stats.bootstrap``, paired: the samples
  are resampled with their labels). Either interval is for the test-set sampling error only:
  it says nothing about the spread over training seeds, which the refits over seeds measure.

* **Which trials can the folds not tell from the best?** Trials of one study share their K
  folds, so their fold scores are paired. A plain paired t-test on them is too confident:
  the K training sets overlap, so the fold differences are correlated. `corrected_ttest` is
  the corrected resampled t-test of Nadeau and Bengio (2003, *Machine Learning* 52:239-281),
  which inflates the variance of the mean difference from ``1/K`` to
  ``1/K + n_test/n_train``::

      d_k = best_k - other_k                  the paired fold differences, k = 1..K
      t   = mean(d) / sqrt((1/K + n_test/n_train) * var(d, ddof=1))

  with ``K - 1`` degrees of freedom. `within_noise` keeps each trial whose one-sided p-value
  (the best better than it) is at least ``alpha``: at the 5 % level, the folds give no
  evidence that the best is better.

Leaves out: which trials are compared (`nnsweep.sweep.refit`) and where the answer is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score, log_loss

__all__ = ["Interval", "corrected_ttest", "score_interval", "within_noise"]


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` around a test score, over ``n`` test samples."""

    low: float
    high: float
    n: int
    method: str  # "wilson" or "bootstrap"
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        """Half the interval's width: the ``±`` a reader quotes."""
        return (self.high - self.low) / 2

    def as_dict(self) -> dict:
        """JSON-safe fields, with the half width."""
        return {
            "low": self.low,
            "high": self.high,
            "half_width": self.half_width,
            "n": self.n,
            "method": self.method,
            "confidence": self.confidence,
        }


def score_interval(metric, y_true, proba, classes, confidence=0.95, seed=0):
    """The ``confidence`` interval of a model's test score for the test set's sampling error.

    Parameters
    ----------
    metric : {"accuracy", "neg_log_loss", "f1_macro"}
        With ``"accuracy"``, Wilson's interval on the number right; otherwise a percentile
        bootstrap over the test samples (999 resamples).
    y_true : array-like of shape (n,)
        The test labels.
    proba : ndarray of shape (n, n_classes)
        The model's ``predict_proba`` on the test set.
    classes : ndarray of shape (n_classes,)
        The model's ``classes_``, the columns of ``proba``.
    confidence : float, default=0.95
    seed : int, default=0
        The bootstrap's random state: the same predictions give the same interval.

    Returns
    -------
    Interval
    """
    y_true, proba, classes = np.asarray(y_true), np.asarray(proba), np.asarray(classes)
    n = int(y_true.shape[0])
    if metric == "accuracy":
        right = int(np.sum(classes[np.argmax(proba, axis=1)] == y_true))
        ci = stats.binomtest(right, n).proportion_ci(confidence_level=confidence, method="wilson")
        return Interval(float(ci.low), float(ci.high), n, "wilson", confidence)
    score = _METRICS[metric]
    res = stats.bootstrap(
        (np.arange(n),),
        lambda idx: score(y_true[idx], proba[idx], classes),
        vectorized=False,
        confidence_level=confidence,
        n_resamples=999,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return Interval(float(ci.low), float(ci.high), n, "bootstrap", confidence)


#: The other metrics, of the labels and the probabilities (as the scorers compute them).
_METRICS = {
    "neg_log_loss": lambda y, p, classes: -log_loss(y, p, labels=classes),
    "f1_macro": lambda y, p, classes: f1_score(y, classes[np.argmax(p, axis=1)], average="macro"),
}


def corrected_ttest(best_scores, other_scores, n_train, n_test):
    """Nadeau and Bengio's corrected resampled t-test of the best trial against another.

    Parameters
    ----------
    best_scores, other_scores : sequence of float, length K
        The two trials' scores on the same K folds (higher is better).
    n_train, n_test : int
        The sizes of one fold's training and validation sets.

    Returns
    -------
    t : float
        The corrected t statistic of ``best - other`` (``inf`` when every fold differs by the
        same positive amount, ``nan`` when they are all equal).
    p : float
        The one-sided p-value of "the best is better", with ``K - 1`` degrees of freedom.
    """
    d = np.asarray(best_scores, dtype=float) - np.asarray(other_scores, dtype=float)
    k = d.size
    if k < 2:
        raise ValueError(f"the corrected t-test needs 2 folds or more, got {k}")
    mean, var = float(d.mean()), float(d.var(ddof=1))
    if var == 0.0:
        if mean == 0.0:
            return math.nan, 1.0
        return math.copysign(math.inf, mean), 0.0 if mean > 0 else 1.0
    t = mean / math.sqrt((1.0 / k + n_test / n_train) * var)
    return t, float(stats.t.sf(t, k - 1))


def within_noise(best_scores, trials_scores, n_train, n_test, alpha=0.05):
    """The trials whose fold scores the folds cannot tell from the best's.

    Parameters
    ----------
    best_scores : sequence of float
        The best trial's fold scores.
    trials_scores : dict
        ``{key: fold scores}`` of the other trials (same folds, same order; scores that are
        None or NaN, from a fold that did not finish, leave the trial out).
    n_train, n_test : int
        The sizes of one fold's training and validation sets.
    alpha : float, default=0.05
        A trial is within noise when the one-sided p-value is at least ``alpha``.

    Returns
    -------
    dict
        ``{key: p}`` of the trials within noise, best first.
    """
    kept = {}
    for key, scores in trials_scores.items():
        if len(scores) != len(best_scores) or any(
            s is None or not math.isfinite(s) for s in scores
        ):
            continue
        _, p = corrected_ttest(best_scores, scores, n_train, n_test)
        if p >= alpha:
            kept[key] = p
    return dict(sorted(kept.items(), key=lambda kv: -kv[1]))
