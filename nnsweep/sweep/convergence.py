"""When a study has converged: its best stopped moving by more than the folds' own noise.

``[budget] stop = "converged"`` ends a study early, on a rule of the same kind as Optuna's
Terminator (a room for improvement against the objective's statistical error), computed from
the fold scores every trial already keeps:

* **the noise**: the statistical error of the best trial's CV mean, as Optuna's
  ``CrossValidationErrorEvaluator`` computes it from its K fold scores,
  ``sqrt((1/K + 1/(K - 1)) * var(scores))`` (Nadeau and Bengio's correction for the overlap
  of the training sets, with ``n_test / n_train = 1 / (K - 1)``);
* **the improvement**: how much the best CV rose over the last ``window`` complete trials.

The study has converged when the improvement is smaller than the noise, after at least
``min_trials`` complete trials: the last ``window`` trials moved the best by less than the
folds can resolve. Optuna's own Terminator estimates the room for improvement with a Gaussian
process (``RegretBoundEvaluator``, which needs PyTorch) and is deprecated since Optuna 4.9;
this rule needs neither (docs/how_it_works.md gives the measured comparison).

Every worker checks it between trials, under the budget lock; the first to see it records
the figures on the study (`StudyAttr.CONVERGED`), and every worker, and every later run of
the study, stops there.
"""

from __future__ import annotations

import math

import numpy as np

from ..study.records import Attr, is_added

__all__ = ["converged", "cv_noise"]


def cv_noise(fold_scores) -> float:
    """The statistical error of a CV mean from its K fold scores (Optuna's formula)."""
    scores = np.asarray([s for s in fold_scores if s is not None], dtype=float)
    k = scores.size
    if k < 2 or not np.isfinite(scores).all():
        return math.nan
    return float(np.sqrt((1 / k + 1 / (k - 1)) * np.var(scores)))


def converged(trials, window: int, min_trials: int) -> dict | None:
    """The figures of a converged study (``improvement``, ``noise``...), or None.

    Parameters
    ----------
    trials : list of optuna.trial.FrozenTrial
        The study's trials (any states), maximised. Only its own complete ones count: the
        trials a warm start added were not found by this search.
    window, min_trials : int
        As ``[budget]`` names them.
    """
    done = sorted(
        (
            t
            for t in trials
            if t.state.name == "COMPLETE" and t.datetime_complete and not is_added(t)
        ),
        key=lambda t: t.datetime_complete,
    )
    if len(done) < max(min_trials, window + 1):
        return None
    best = max(done, key=lambda t: t.value)
    noise = cv_noise(best.user_attrs.get(Attr.FOLD_SCORES) or [])
    improvement = best.value - max(t.value for t in done[:-window])
    if not improvement < noise:  # a NaN noise never stops the study
        return None
    return {
        "improvement": float(improvement),
        "noise": noise,
        "window": window,
        "n_complete": len(done),
        "best_trial": best.number,
    }
