"""How `NeuralNetworkClassifier` trains: data checked, state set up, epochs run and stopped.

The estimator's private steps, written as functions of the estimator ``est`` (they read
its parameters and set its fitted attributes) so that `estimator` reads as the parameters
and the public methods. `epochs` is the one body of ``fit``, ``partial_fit`` and
``iter_epochs``: a generator yielding an `EpochInfo` after every epoch, with the model
ready to predict. One epoch over mini-batches is `training.train_epoch`; here is the rest:
the epoch's learning rate (set on the optimiser, which alone multiplies gradients by it),
the curves, the epochs without improvement, and early stopping's validation split and
best weights.
"""

import sys
from numbers import Integral

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._labels import encode_labels, learn_classes
from .compat.sklearn import InvalidParameterError
from .nn.fused import FusedSGD
from .nn.network import init_params
from .nn.optim import decayed_learning_rate
from .nn.training import BatchSettings, EpochInfo, train_epoch

__all__ = ["epochs", "reset_state"]


def reset_state(est):
    """Forget everything learned: the next epoch starts from fresh weights."""
    for name in ("coefs_", "intercepts_", "_optimizer", "_rng"):
        est.__dict__.pop(name, None)


def epochs(est, X, y, incremental):
    """Train ``est`` on ``(X, y)``, yielding an `EpochInfo` after every epoch.

    ``incremental`` (`partial_fit`): one epoch, from the weights it has (fresh ones
    after `reset_state`). Otherwise (`fit`, `iter_epochs`): up to ``max_epochs``, from
    fresh weights unless ``warm_start``, stopped after ``n_iter_no_change`` epochs
    without improvement or when ``epoch_callback`` returns True.
    """
    first_call = not hasattr(est, "coefs_") or not (incremental or est.warm_start)
    X, y_idx = _check_data(est, X, y, incremental, first_call)
    if first_call:
        _initialize(est, X.shape[1])
    X_val = y_val = None
    if est.early_stopping and not incremental:
        X, X_val, y_idx, y_val = _validation_split(X, y_idx, est.validation_fraction, est._rng)
    best_params = None
    try:
        for _ in range(1 if incremental else est.max_epochs):
            info = _one_epoch(est, X, y_idx, X_val, y_val)
            stop = est._no_improvement_count >= est.n_iter_no_change and not incremental
            if X_val is not None and est._no_improvement_count == 0:
                best_params = [p.copy() for p in est.coefs_ + est.intercepts_]
            if est.verbose:
                print(info, file=sys.stdout)
            if est.epoch_callback is not None and est.epoch_callback(est, info):
                stop = True
            yield info
            if stop:
                break
    finally:
        if best_params is not None:  # early stopping: keep the best epoch's weights
            n_layers = len(est.coefs_)
            est.coefs_ = best_params[:n_layers]
            est.intercepts_ = best_params[n_layers:]
            est._optimizer = _new_optimizer(est)


def _check_data(est, X, y, incremental, first_call):
    """``X`` as CSR or dense in ``est.dtype``, and ``y`` as indices into ``classes_``."""
    X, y = validate_data(
        est, X, y, accept_sparse="csr", dtype=np.dtype(est.dtype), reset=first_call
    )
    check_classification_targets(y)
    if first_call and not incremental:
        est.classes_, y_idx = learn_classes(y)
    else:  # partial_fit's declared classes, or those of warm_start's first fit
        y_idx = encode_labels(y, est.classes_, same_classes=not incremental)
    return X, y_idx


def _initialize(est, n_features):
    """Fresh weights, optimiser, curves and the one random generator."""
    rs = est.random_state
    if isinstance(rs, np.random.RandomState):
        rs = rs.randint(np.iinfo(np.int32).max)
    est._rng = np.random.default_rng(rs)
    n_classes = len(est.classes_)
    est.coefs_, est.intercepts_ = init_params(
        n_features, _hidden_layer_sizes(est), n_classes, est.activation, est._rng, est.dtype
    )
    est._optimizer = _new_optimizer(est)
    est.loss_curve_ = []
    est.validation_scores_ = [] if est.early_stopping else None
    est.best_validation_score_ = -np.inf if est.early_stopping else None
    est.best_loss_ = None if est.early_stopping else np.inf
    est._no_improvement_count = 0
    est.n_iter_ = 0
    est.t_ = 0


def _hidden_layer_sizes(est):
    """``est.hidden_layer_sizes`` as a tuple of widths, read as scikit-learn's MLP reads it.

    An int is one layer; an array-like, one layer per element, each an int >= 1 (what the
    parameter constraints cannot say of the elements).
    """
    sizes = est.hidden_layer_sizes
    sizes = tuple(sizes) if hasattr(sizes, "__iter__") else (sizes,)
    if not all(isinstance(h, Integral) and not isinstance(h, bool) and h >= 1 for h in sizes):
        raise InvalidParameterError(
            f"The 'hidden_layer_sizes' parameter of {type(est).__name__} must be an int >= 1 "
            f"or an array-like of ints >= 1. Got {est.hidden_layer_sizes!r} instead."
        )
    return tuple(int(h) for h in sizes)


def _new_optimizer(est):
    """SGD over the current weights, with zero velocities (its rate is set every epoch)."""
    return FusedSGD(est.coefs_ + est.intercepts_, est.learning_rate, est.momentum, est.nesterov)


def _validation_split(X, y_idx, validation_fraction, rng):
    """``X_train, X_val, y_train, y_val``, stratified when every class has two samples."""
    seed = int(rng.integers(np.iinfo(np.int32).max))
    stratify = y_idx if np.bincount(y_idx).min(initial=0) >= 2 else None
    try:
        return train_test_split(
            X, y_idx, test_size=validation_fraction, random_state=seed, stratify=stratify
        )
    except ValueError:  # too few samples per class for a stratified split
        return train_test_split(X, y_idx, test_size=validation_fraction, random_state=seed)


def _one_epoch(est, X, y_idx, X_val, y_val):
    """One pass over shuffled mini-batches, then the curves; returns its `EpochInfo`."""
    est._optimizer.learning_rate = lr = decayed_learning_rate(
        est.learning_rate,
        est.n_iter_,
        est.learning_rate_schedule,
        est.learning_rate_decay,
        est.decay_steps,
    )
    settings = BatchSettings.of(est)
    epoch_loss = train_epoch(
        est.coefs_, est.intercepts_, est._optimizer, X, y_idx, est._rng, settings, est.n_iter_ + 1
    )
    est.n_iter_ += 1
    est.t_ += X.shape[0]
    est.loss_curve_.append(epoch_loss)

    validation_score = None
    if X_val is not None:
        logits = est._logits(X_val, checked=True)
        validation_score = float(np.mean(np.argmax(logits, 1) == y_val))
        est.validation_scores_.append(validation_score)
        improved = validation_score > est.best_validation_score_ + est.tol
        est.best_validation_score_ = max(est.best_validation_score_, validation_score)
    else:
        improved = epoch_loss < est.best_loss_ - est.tol
        est.best_loss_ = min(est.best_loss_, epoch_loss)
    est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
    return EpochInfo(est.n_iter_, epoch_loss, validation_score, lr)
