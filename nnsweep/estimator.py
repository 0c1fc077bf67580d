"""`NeuralNetworkClassifier`: the NumPy network as a scikit-learn classifier.

This module is the glue between scikit-learn and the math: it validates
parameters and inputs, encodes labels, owns the one random generator, and runs
the epoch / mini-batch loop. The equations live in `network`, the update rule
and learning-rate schedules in `optim`. The learning rate goes one way: every
epoch the estimator computes it from its schedule (`optim.decayed_learning_rate`)
and sets it on the optimiser, which alone multiplies gradients by it; the network
returns gradients unscaled.

Training is written once, as a generator (`iter_epochs`) that yields after
every epoch with the model ready to predict; `fit` runs it to the end and
`partial_fit` runs one epoch of it. A sweep can therefore train the K models of
a cross-validation in lockstep and prune on their mean score, and anyone can
watch or stop training through ``epoch_callback``.

Left out on purpose: more than one hidden layer, regression, and solvers other
than SGD with momentum.
"""

import math
import sys
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from .functions import ACTIVATIONS, dropout_mask, log_softmax, softmax
from .network import backward, forward, init_params, penalty
from .optim import SCHEDULES, SGD, decayed_learning_rate, max_norm_

__all__ = ["EpochInfo", "NeuralNetworkClassifier", "TrainingDivergedError"]

_PREDICT_CHUNK = 8192  # rows per forward pass at prediction time: bounds memory


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss; the model's weights are unusable.

    Attributes
    ----------
    epoch : int
        Epoch (counted from 1) in which the loss stopped being finite.
    loss : float
        The offending batch loss (``inf`` or ``nan``).
    """

    def __init__(self, epoch, loss):
        self.epoch = epoch
        self.loss = loss
        super().__init__(
            f"training diverged: loss became {loss} in epoch {epoch}; "
            "lower learning_rate (or momentum), or raise l2_penalty"
        )


@dataclass(frozen=True)
class EpochInfo:
    """What `iter_epochs` yields and ``epoch_callback`` receives after each epoch.

    Attributes
    ----------
    epoch : int
        Epochs completed so far (1 after the first).
    loss : float
        Mean training loss over the epoch's mini-batches, penalties included.
    validation_score : float or None
        Accuracy on the held-out validation split (``early_stopping=True`` only).
    learning_rate : float
        The learning rate used in this epoch.
    """

    epoch: int
    loss: float
    validation_score: float | None
    learning_rate: float

    def __str__(self):
        val = "" if self.validation_score is None else f", validation {self.validation_score:.4f}"
        return f"epoch {self.epoch}: loss {self.loss:.5f}{val}, lr {self.learning_rate:.4g}"


class NeuralNetworkClassifier(ClassifierMixin, BaseEstimator):
    """Softmax classifier with one hidden layer, trained by SGD with momentum.

    Parameters
    ----------
    n_hidden : int, default=100
        Units in the hidden layer; 0 gives softmax (multinomial logistic) regression.
    activation : {"relu", "tanh", "sigmoid"}, default="relu"
        Hidden activation. Weights start with He initialisation for relu and
        Glorot for tanh and sigmoid.
    learning_rate : float, default=0.05
        Initial step size.
    momentum : float, default=0.9
        Momentum in [0, 1); 0 is plain mini-batch SGD.
    nesterov : bool, default=False
        Use Nesterov's momentum.
    learning_rate_schedule : {"constant", "step", "exponential", "inverse_time"}, \
            default="constant"
        How the learning rate decays with the epoch (see `optim.decayed_learning_rate`).
    learning_rate_decay : float, default=0.0
        Decay rate ``d`` in [0, 1) of the schedule: ``exponential`` multiplies the
        rate by ``1 - d`` every epoch, ``step`` every ``decay_steps`` epochs, and
        ``inverse_time`` divides the initial rate by ``1 + d * epoch``.
    decay_steps : int, default=10
        Epochs per step of the ``step`` schedule.
    l1_penalty : float, default=0.0
        L1 penalty ``l1 * sum(|W|)`` on the weights (not the biases).
    l2_penalty : float, default=0.0
        L2 penalty ``l2 / 2 * sum(W**2)`` on the weights: PyTorch's weight decay.
        Penalties are not divided by the number of samples.
    dropout_rate : float, default=0.0
        Probability of dropping each hidden unit while training (inverted dropout).
    input_dropout_rate : float, default=0.0
        Probability of dropping each input feature while training.
    max_norm : float or None, default=None
        If set, after each update every hidden unit's incoming weight vector is
        rescaled to an L2 norm of at most ``max_norm``.
    batch_size : int, default=128
        Mini-batch size (capped at the number of samples).
    max_epochs : int, default=50
        Passes over the training data in `fit`.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs, and
        restore the weights of the best epoch. Without it, training stops when
        the training loss has not improved by ``tol`` for that many epochs.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        Smallest change that counts as an improvement.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point type of the weights and of the arithmetic.
    warm_start : bool, default=False
        Continue from the current weights when `fit` is called again.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the one generator that draws the weights, the batches and the
        dropout masks. An int gives bit-identical weights on every run.
    verbose : int, default=0
        Print one line per epoch when > 0.
    epoch_callback : callable or None, default=None
        ``epoch_callback(estimator, info)`` is called after every epoch with an
        `EpochInfo`; returning True stops training. Use a module-level function
        or a picklable object so that the estimator clones and pickles.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coefs_ : list of ndarray
        ``[W1, W2]`` (``[W]`` when ``n_hidden=0``), shapes (n_features, n_hidden)
        and (n_hidden, n_classes).
    intercepts_ : list of ndarray
        ``[b1, b2]`` (``[b]`` when ``n_hidden=0``).
    loss_curve_ : list of float
        Training loss per epoch, penalties included.
    validation_scores_ : list of float or None
        Validation accuracy per epoch with ``early_stopping=True``, else None.
    best_validation_score_ : float or None
        Best validation accuracy (``early_stopping=True``), else None.
    best_loss_ : float or None
        Lowest training loss (``early_stopping=False``), else None.
    n_iter_ : int
        Epochs run.
    t_ : int
        Training samples seen.
    n_features_in_ : int
        Number of features seen in `fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from nnsweep import NeuralNetworkClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NeuralNetworkClassifier(n_hidden=64, random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    """

    _parameter_constraints = {
        "n_hidden": [Interval(Integral, 0, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterov": ["boolean"],
        "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
        "learning_rate_decay": [Interval(Real, 0, 1, closed="left")],
        "decay_steps": [Interval(Integral, 1, None, closed="left")],
        "l1_penalty": [Interval(Real, 0, None, closed="left")],
        "l2_penalty": [Interval(Real, 0, None, closed="left")],
        "dropout_rate": [Interval(Real, 0, 1, closed="left")],
        "input_dropout_rate": [Interval(Real, 0, 1, closed="left")],
        "max_norm": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"})],
        "warm_start": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
        "epoch_callback": [callable, None],
    }

    def __init__(
        self,
        n_hidden=100,
        activation="relu",
        *,
        learning_rate=0.05,
        momentum=0.9,
        nesterov=False,
        learning_rate_schedule="constant",
        learning_rate_decay=0.0,
        decay_steps=10,
        l1_penalty=0.0,
        l2_penalty=0.0,
        dropout_rate=0.0,
        input_dropout_rate=0.0,
        max_norm=None,
        batch_size=128,
        max_epochs=50,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        dtype="float32",
        warm_start=False,
        random_state=None,
        verbose=0,
        epoch_callback=None,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.learning_rate_schedule = learning_rate_schedule
        self.learning_rate_decay = learning_rate_decay
        self.decay_steps = decay_steps
        self.l1_penalty = l1_penalty
        self.l2_penalty = l2_penalty
        self.dropout_rate = dropout_rate
        self.input_dropout_rate = input_dropout_rate
        self.max_norm = max_norm
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.dtype = dtype
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.epoch_callback = epoch_callback

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on ``(X, y)`` for up to ``max_epochs`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse input is used as CSR and never densified whole.
        y : array-like of shape (n_samples,)
            Class labels of any type (ints, strings, ...).

        Returns
        -------
        self : NeuralNetworkClassifier
        """
        for _ in self._epochs(X, y, incremental=False):
            pass
        return self

    def iter_epochs(self, X, y):
        """Train like `fit`, yielding an `EpochInfo` after every epoch.

        Between two epochs the model is ready to predict, so a caller can score
        it on data of its own, stop by leaving the loop, or train several models
        in lockstep (the sweep does this for the folds of a cross-validation).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Yields
        ------
        EpochInfo
        """
        self._validate_params()
        yield from self._epochs(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Train for one epoch over ``(X, y)``, keeping weights and momentum.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever be seen; required on the first call.

        Returns
        -------
        self : NeuralNetworkClassifier
        """
        if _check_partial_fit_first_call(self, classes):
            self._reset_state()
        for _ in self._epochs(X, y, incremental=True):
            pass
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        return softmax(self._logits(X))

    def predict_log_proba(self, X):
        """Log of the class probabilities, computed stably from the logits."""
        return log_softmax(self._logits(X))

    def predict(self, X):
        """Most probable class for each sample."""
        logits = self._logits(X)  # checks that the model is fitted first
        return self.classes_[np.argmax(logits, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------ training
    def _reset_state(self):
        """Forget everything learned: the next epoch starts from fresh weights."""
        for name in ("coefs_", "intercepts_", "_optimizer", "_rng"):
            self.__dict__.pop(name, None)

    def _epochs(self, X, y, incremental):
        """Shared body of `fit`, `partial_fit` and `iter_epochs` (a generator)."""
        first_call = not hasattr(self, "coefs_")
        if not incremental and not self.warm_start:
            first_call = True
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=np.dtype(self.dtype), reset=first_call
        )
        check_classification_targets(y)
        if incremental:
            y_idx = self._encode_seen_labels(y)
        elif first_call:
            self.classes_ = unique_labels(y)
            y_idx = np.searchsorted(self.classes_, y)
        else:
            y_idx = self._encode_seen_labels(y, same_classes=True)
        if first_call or not hasattr(self, "coefs_"):
            self._initialize(X.shape[1])

        X_val = y_val = None
        if self.early_stopping and not incremental:
            X, X_val, y_idx, y_val = self._validation_split(X, y_idx)
        n_epochs = 1 if incremental else self.max_epochs
        best_params = None
        try:
            for _ in range(n_epochs):
                info = self._one_epoch(X, y_idx, X_val, y_val)
                stop = self._no_improvement_count >= self.n_iter_no_change and not incremental
                if X_val is not None and self._no_improvement_count == 0:
                    best_params = [p.copy() for p in self.coefs_ + self.intercepts_]
                if self.verbose:
                    print(info, file=sys.stdout)
                if self.epoch_callback is not None and self.epoch_callback(self, info):
                    stop = True
                yield info
                if stop:
                    break
        finally:
            if best_params is not None:  # early stopping: keep the best epoch's weights
                n_layers = len(self.coefs_)
                self.coefs_ = best_params[:n_layers]
                self.intercepts_ = best_params[n_layers:]
                self._optimizer = self._new_optimizer()

    def _encode_seen_labels(self, y, same_classes=False):
        """Map labels to indices in ``classes_``, refusing labels never declared."""
        new = np.setdiff1d(unique_labels(y), self.classes_)
        if same_classes and not np.array_equal(unique_labels(y), self.classes_):
            raise ValueError(
                f"warm_start=True needs the classes of the first fit, {self.classes_.tolist()}; "
                f"got {unique_labels(y).tolist()}"
            )
        if new.size:
            raise ValueError(
                f"labels {new.tolist()} are not in classes_ {self.classes_.tolist()} "
                "given to the first partial_fit"
            )
        return np.searchsorted(self.classes_, y)

    def _initialize(self, n_features):
        """Fresh weights, optimiser, curves and the one random generator."""
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            rs = rs.randint(np.iinfo(np.int32).max)
        self._rng = np.random.default_rng(rs)
        n_classes = len(self.classes_)
        self.coefs_, self.intercepts_ = init_params(
            n_features, self.n_hidden, n_classes, self.activation, self._rng, np.dtype(self.dtype)
        )
        self._optimizer = self._new_optimizer()
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        self.best_loss_ = None if self.early_stopping else np.inf
        self._no_improvement_count = 0
        self.n_iter_ = 0
        self.t_ = 0

    def _new_optimizer(self):
        """SGD over the current weights, with zero velocities (its rate is set every epoch)."""
        return SGD(
            self.coefs_ + self.intercepts_, self.learning_rate, self.momentum, self.nesterov
        )

    def _validation_split(self, X, y_idx):
        seed = int(self._rng.integers(np.iinfo(np.int32).max))
        stratify = y_idx if np.bincount(y_idx).min(initial=0) >= 2 else None
        try:
            return train_test_split(
                X, y_idx, test_size=self.validation_fraction, random_state=seed, stratify=stratify
            )
        except ValueError:  # too few samples per class for a stratified split
            return train_test_split(
                X, y_idx, test_size=self.validation_fraction, random_state=seed
            )

    def _one_epoch(self, X, y_idx, X_val, y_val):
        """One pass over shuffled mini-batches; returns the epoch's `EpochInfo`."""
        self._optimizer.learning_rate = lr = decayed_learning_rate(
            self.learning_rate,
            self.n_iter_,
            self.learning_rate_schedule,
            self.learning_rate_decay,
            self.decay_steps,
        )
        n = X.shape[0]
        batch_size = min(self.batch_size, n)
        dtype = np.dtype(self.dtype)
        dense = isinstance(X, np.ndarray)
        if dense:  # one buffer for every batch of the epoch
            batch_buffer = np.empty((batch_size, X.shape[1]), dtype=dtype)
        params = self.coefs_ + self.intercepts_
        l1, l2 = self.l1_penalty, self.l2_penalty
        order = self._rng.permutation(n)
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                if dense:
                    # (b, d); mode="clip" (idx is a permutation's slice, in range) lets take
                    # write into out directly, where mode="raise" copies through a buffer
                    Xb = np.take(X, idx, axis=0, out=batch_buffer[: idx.size], mode="clip")
                    if self.input_dropout_rate:
                        Xb *= dropout_mask(Xb.shape, self.input_dropout_rate, self._rng, dtype)
                else:
                    Xb = X[idx]  # CSR rows; input dropout acts on the stored entries only
                    if self.input_dropout_rate:
                        Xb.data *= dropout_mask(
                            Xb.data.shape, self.input_dropout_rate, self._rng, dtype
                        )
                mask = None
                if self.dropout_rate and self.n_hidden:
                    mask = dropout_mask(
                        (idx.size, self.n_hidden), self.dropout_rate, self._rng, dtype
                    )
                acts = forward(self.coefs_, self.intercepts_, Xb, self.activation, mask)
                loss, coef_grads, intercept_grads = backward(
                    self.coefs_, acts, y_idx[idx], self.activation, l1, l2, mask, evaluate=False
                )  # dJ/dW as products A.T @ delta, which the optimiser folds into its step
                if not math.isfinite(loss):
                    raise TrainingDivergedError(self.n_iter_ + 1, loss)
                self._optimizer.step(params, coef_grads + intercept_grads)
                if self.max_norm is not None and self.n_hidden:
                    max_norm_(self.coefs_[0], self.max_norm)
                total += loss * idx.size
            epoch_loss = total / n + penalty(self.coefs_, l1, l2)
        if not math.isfinite(epoch_loss) or not all(np.isfinite(W).all() for W in self.coefs_):
            raise TrainingDivergedError(self.n_iter_ + 1, epoch_loss)  # (last update overflowed)
        self.n_iter_ += 1
        self.t_ += n
        self.loss_curve_.append(epoch_loss)

        validation_score = None
        if X_val is not None:
            validation_score = float(
                np.mean(np.argmax(self._logits(X_val, checked=True), 1) == y_val)
            )
            self.validation_scores_.append(validation_score)
            improved = validation_score > self.best_validation_score_ + self.tol
            self.best_validation_score_ = max(self.best_validation_score_, validation_score)
        else:
            improved = epoch_loss < self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, epoch_loss)
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        return EpochInfo(self.n_iter_, epoch_loss, validation_score, lr)

    # ------------------------------------------------------------------ prediction
    def _logits(self, X, checked=False):
        """Logits of the network without dropout, in chunks of rows."""
        if not checked:
            check_is_fitted(self)
            X = validate_data(
                self, X, accept_sparse="csr", dtype=self.coefs_[0].dtype, reset=False
            )
        chunks = [
            forward(
                self.coefs_, self.intercepts_, X[i : i + _PREDICT_CHUNK], self.activation
            ).logits
            for i in range(0, X.shape[0], _PREDICT_CHUNK)
        ]
        return np.concatenate(chunks) if len(chunks) != 1 else chunks[0]
