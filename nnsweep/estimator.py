"""`NeuralNetworkClassifier`: the NumPy network as a scikit-learn classifier.

This module is the estimator's face: its parameters, their validation, and its
public methods. Training is written once, as a generator (`iter_epochs`) that
yields after every epoch with the model ready to predict; `fit` runs it to the
end and `partial_fit` runs one epoch of it. A sweep can therefore train the K
models of a cross-validation in lockstep and prune on their mean score, and
anyone can watch or stop training through ``epoch_callback``. The generator is
`_fitting.epochs`; one epoch over mini-batches is `nn.training.train_epoch`; the
equations live in `nn.network`, the update rule and learning-rate schedules in `nn.optim`.

Left out on purpose: regression, and solvers other than SGD with momentum.
"""

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._fitting import epochs, reset_state
from .compat.sklearn import (
    Interval,
    StrOptions,
    _check_partial_fit_first_call,
    _fit_context,
    check_params,
)
from .nn.functions import ACTIVATIONS, log_softmax, softmax
from .nn.network import forward
from .nn.optim import SCHEDULES
from .nn.training import EpochInfo, TrainingDivergedError

__all__ = [
    "EpochInfo",
    "NeuralNetworkClassifier",
    "TrainingDivergedError",
    "check_estimator_params",
]

_PREDICT_CHUNK = 8192  # rows per forward pass at prediction time: bounds memory


class NeuralNetworkClassifier(ClassifierMixin, BaseEstimator):
    """Softmax classifier with hidden layers, trained by SGD with momentum.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Units in each hidden layer, from the input's side, as scikit-learn's
        ``MLPClassifier`` takes them (an int is one layer); ``()`` gives softmax
        (multinomial logistic) regression.
    activation : {"relu", "tanh", "sigmoid"}, default="relu"
        Activation of every hidden layer. Weights start with He initialisation for
        relu and Glorot for tanh and sigmoid.
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
        Probability of dropping each unit of every hidden layer while training
        (inverted dropout).
    input_dropout_rate : float, default=0.0
        Probability of dropping each input feature while training.
    max_norm : float or None, default=None
        If set, after each update the incoming weight vector of every unit of every
        hidden layer is rescaled to an L2 norm of at most ``max_norm``.
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
        The weights of each layer, from the input's side: ``coefs_[i]`` has shape
        (fan_in, fan_out), (n_features, hidden_layer_sizes[0]) first and
        (hidden_layer_sizes[-1], n_classes) last; one matrix, (n_features, n_classes),
        when ``hidden_layer_sizes=()``.
    intercepts_ : list of ndarray
        The biases of each layer, ``intercepts_[i]`` of shape (fan_out,).
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
    >>> clf = NeuralNetworkClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
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
        hidden_layer_sizes=(100,),
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
        self.hidden_layer_sizes = hidden_layer_sizes
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
        for _ in epochs(self, X, y, incremental=False):
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
        yield from epochs(self, X, y, incremental=False)

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
            reset_state(self)
        for _ in epochs(self, X, y, incremental=True):
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


def check_estimator_params(params: Mapping[str, Any]) -> None:
    """Check values for `NeuralNetworkClassifier` against its ``_parameter_constraints``.

    The validator the command line passes to `nnsweep.config.load_study`
    (``estimator_check``): the study file's fixed parameters and search-space bounds are
    checked as the estimator's ``fit`` would check them, before any trial starts.

    Parameters
    ----------
    params : mapping
        ``{parameter name: value}``; unknown names are not checked here (the caller checks
        names against ``get_params()``).

    Raises
    ------
    InvalidParameterError
        As `check_params`: the message says what the first bad value should be.

    Examples
    --------
    >>> check_estimator_params({"dropout_rate": 0.5})
    >>> check_estimator_params({"dropout_rate": 1.5})
    Traceback (most recent call last):
    ...
    nnsweep.compat.sklearn.InvalidParameterError: a float in the range [0.0, 1.0)
    """
    cls = NeuralNetworkClassifier
    check_params(cls._parameter_constraints, params, cls.__name__)
