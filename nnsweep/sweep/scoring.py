"""Scores of the cross-validation's fold models: scikit-learn's numbers, without its checks.

The lockstep CV (`nnsweep.sweep.CrossValidationObjective`) scores K models after every epoch,
each on one fold's few hundred rows: K times the epochs in every trial. scikit-learn's
scorer validates the model's input and then the targets (``check_array``, ``type_of_target``,
``np.unique``) every time, which cost more than the network's forward pass itself. The fold
models and data do not change kind between epochs, so `FoldScorer` checks only what can make
its answer differ (shapes, lengths, finite inputs, known labels) and computes accuracy,
negative log-loss and macro F1 from the network's logits with a few NumPy operations, by the
definitions scikit-learn uses (tests compare the two on random models and folds, multi-class
and binary).

Anything else goes to scikit-learn's scorer unchanged, which then scores it or raises its
usual error: another metric, a model that is not a bare `NeuralNetworkClassifier`, sparse
input, non-finite inputs or probabilities, targets that are not a 1-d array as long as X (or
of object dtype), or a fold whose labels the model has not seen (or, for the log-loss, that
lacks a class).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import get_scorer

from ..config import METRICS
from ..estimator import NeuralNetworkClassifier
from ..nn.functions import softmax

__all__ = ["FAST_METRICS", "FoldScorer"]

FAST_METRICS = METRICS  # every metric a study file may name (config's list) has the fast path


class FoldScorer:
    """``scorer(model, X_val, y_val) -> float``, greater is better, as from ``get_scorer``.

    Parameters
    ----------
    scoring : str
        A scikit-learn scorer name. ``accuracy``, ``neg_log_loss`` and ``f1_macro`` have the
        fast path; any other name is scikit-learn's scorer.

    Attributes
    ----------
    n_fast, n_sklearn : int
        How many scores took each path (the tests check that the fast one is used).
    """

    def __init__(self, scoring):
        self.scoring = scoring
        self.sklearn_scorer = get_scorer(scoring)
        self.n_fast = 0
        self.n_sklearn = 0
        self._checked = {}  # id(X_val) -> (key, X_val, y_val, prepared): checked once per fold

    def __call__(self, model, X_val, y_val) -> float:
        """The score of ``model`` on a validation fold (NumPy when it can, else sklearn)."""
        score = self._fast(model, X_val, y_val)
        if score is None:
            self.n_sklearn += 1
            return float(self.sklearn_scorer(model, X_val, y_val))
        self.n_fast += 1
        return score

    def _fast(self, model, X_val, y_val):
        """The score by NumPy, or None when scikit-learn's scorer must decide."""
        if (
            self.scoring not in FAST_METRICS
            or type(model) is not NeuralNetworkClassifier
            or not hasattr(model, "coefs_")
            or sp.issparse(X_val)
        ):
            return None
        prepared = self._prepare(model, X_val, y_val)
        if prepared is None:
            return None
        X, idx = prepared
        n_classes = len(model.classes_)
        logits = model._logits(X, checked=True)
        if self.scoring == "accuracy":
            return float(np.mean(np.argmax(logits, axis=1) == idx))
        if self.scoring == "neg_log_loss":
            return _neg_log_loss(logits, idx, n_classes)
        return _f1_macro(np.argmax(logits, axis=1), idx, n_classes)

    def _prepare(self, model, X_val, y_val):
        """``(X in the model's dtype, label indices)`` of a fold, or None (sklearn decides).

        The lockstep CV scores the same fold arrays after every epoch, so the checks and the
        conversion run once per fold (and model dtype, classes, width), not once per epoch.
        """
        key = (model.coefs_[0].dtype, model.n_features_in_, tuple(model.classes_))
        hit = self._checked.get(id(X_val))
        if hit is not None and hit[0] == key and hit[1] is X_val and hit[2] is y_val:
            return hit[3]
        prepared = _check_fold(model, X_val, y_val)
        self._checked[id(X_val)] = (key, X_val, y_val, prepared)  # holds X_val: id stays valid
        return prepared


def _check_fold(model, X_val, y_val):
    """``(X in the model's dtype, label indices)`` of a fold the fast path may score, or None.

    It may when X is finite and 2-d, as long as y, and y is 1-d with labels the model knows.
    """
    classes = model.classes_
    y_val = np.asarray(y_val)
    X = np.asarray(X_val, dtype=model.coefs_[0].dtype)
    if (
        y_val.ndim != 1
        or y_val.dtype.kind == "O"  # sklearn decides what mixed labels are
        or X.ndim != 2
        or not 0 < len(y_val) == X.shape[0]
        or X.shape[1] != model.n_features_in_
        or not np.isfinite(X).all()
    ):
        return None  # sklearn's scorer gives its usual error, or handles it
    idx = np.searchsorted(classes, y_val)
    if idx.max() >= len(classes) or not np.array_equal(classes[idx], y_val):
        return None  # a label the model never saw
    return X, idx


def _neg_log_loss(logits, idx, n_classes):
    """``-log_loss(y, predict_proba(X))``; None if a class is missing or a probability is NaN.

    Probabilities are clipped to [eps, 1 - eps] (their dtype's eps), as
    `sklearn.metrics.log_loss` does; with two classes the scorer hands it only the second
    column and it rebuilds the first as 1 - p, which differs in the last float32 bits, so we
    do the same. A fold without some class needs its ``labels``.
    """
    if np.bincount(idx, minlength=n_classes).min() == 0:
        return None
    proba = softmax(logits)  # what predict_proba returns
    if not np.isfinite(proba).all():
        return None  # sklearn's scorer raises its own error on NaN probabilities
    if n_classes == 2:  # the scorer passes predict_proba[:, 1]; log_loss takes 1 - p1
        p_true = np.where(idx == 1, proba[:, 1], 1 - proba[:, 1])
    else:
        p_true = proba[np.arange(len(idx)), idx]
    eps = np.finfo(proba.dtype).eps
    return float(np.mean(np.log(np.clip(p_true, eps, 1 - eps))))


def _f1_macro(pred, true, n_classes):
    """``f1_score(y, predict(X), average="macro")``.

    The mean, over the labels present in the fold's targets or predictions, of
    2 TP / (2 TP + FP + FN).
    """
    counts = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes)
    confusion = counts.reshape(n_classes, n_classes)  # rows: true class, columns: predicted
    tp = np.diag(confusion).astype(float)
    n_true, n_pred = confusion.sum(axis=1), confusion.sum(axis=0)
    present = (n_true + n_pred) > 0
    f1 = 2 * tp[present] / (n_true[present] + n_pred[present])
    return float(np.mean(f1))
