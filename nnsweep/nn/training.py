"""One epoch of training: shuffled mini-batches through forward, backward and the optimiser.

`train_epoch` is the inner loop of `NeuralNetworkClassifier`: it draws the batch
order, gathers each batch into one reused buffer, draws the dropout masks (the inputs',
then one per hidden layer), runs `network.forward` and `network.backward`, hands the
unscaled gradients to the optimiser (which alone multiplies them by its learning rate, set
by the estimator every epoch) and applies the max-norm constraint to every hidden layer's
incoming weights. A weight gradient goes as the product ``A.T @ delta + penalty`` left
unevaluated, which the optimiser folds into its step (`fused.FusedSGD` with one BLAS gemm),
for a weight of at least ``_blas.MIN_SIZE`` elements, at any depth; a smaller one goes
evaluated, as folding it gains nothing. A non-finite loss raises
`TrainingDivergedError`. Also here: `EpochInfo`, what the estimator reports after
every epoch.

NumPy and the math core only; the estimator owns the parameters, the random
generator and the curves, and passes them in.
"""

import math
from dataclasses import dataclass, fields

import numpy as np

from ._blas import MIN_SIZE
from .functions import dropout_mask
from .network import backward, forward, penalty
from .optim import max_norm_

__all__ = ["BatchSettings", "EpochInfo", "TrainingDivergedError", "train_epoch"]


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


@dataclass(frozen=True)
class BatchSettings:
    """The estimator's parameters that `train_epoch` reads, under the same names."""

    activation: str
    batch_size: int
    l1_penalty: float
    l2_penalty: float
    dropout_rate: float
    input_dropout_rate: float
    max_norm: float | None
    dtype: str

    @classmethod
    def of(cls, estimator):
        """The settings read off an object with these attributes (the estimator)."""
        return cls(**{f.name: getattr(estimator, f.name) for f in fields(cls)})


def train_epoch(coefs, intercepts, optimizer, X, y_idx, rng, settings, epoch):
    """One pass over ``(X, y_idx)`` in shuffled mini-batches, updating the weights in place.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        The network's weights and biases (`network.init_params`), updated in place.
    optimizer : optim.SGD or fused.FusedSGD
        Over ``coefs + intercepts``, its learning rate already set for this epoch.
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        In the dtype of ``settings.dtype``.
    y_idx : ndarray of shape (n_samples,)
        Class indices.
    rng : numpy.random.Generator
        Draws the batch order, then, batch by batch, the input dropout mask and the hidden
        layers' masks, from the first layer to the last.
    settings : BatchSettings
    epoch : int
        This epoch, counted from 1 (for `TrainingDivergedError`).

    Returns
    -------
    loss : float
        Mean batch loss over the epoch plus the penalty of the weights after it.
    """
    n = X.shape[0]
    batch_size = min(settings.batch_size, n)
    dtype = np.dtype(settings.dtype)
    dense = isinstance(X, np.ndarray)
    if dense:  # one buffer for every batch of the epoch
        batch_buffer = np.empty((batch_size, X.shape[1]), dtype=dtype)
    params = coefs + intercepts
    activation, max_norm = settings.activation, settings.max_norm
    dropout_rate, input_dropout_rate = settings.dropout_rate, settings.input_dropout_rate
    l1, l2 = settings.l1_penalty, settings.l2_penalty
    order = rng.permutation(n)
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            if dense:
                # (b, d); mode="clip" (idx is a permutation's slice, in range) lets take
                # write into out directly, where mode="raise" copies through a buffer
                Xb = np.take(X, idx, axis=0, out=batch_buffer[: idx.size], mode="clip")
                if input_dropout_rate:
                    Xb *= dropout_mask(Xb.shape, input_dropout_rate, rng, dtype)
            else:
                Xb = X[idx]  # CSR rows; input dropout acts on the stored entries only
                if input_dropout_rate:
                    Xb.data *= dropout_mask(Xb.data.shape, input_dropout_rate, rng, dtype)
            masks = None  # M_1, ..., M_{L-1}: one per hidden layer, drawn from the first
            if dropout_rate:
                masks = [
                    dropout_mask((idx.size, W.shape[1]), dropout_rate, rng, dtype)
                    for W in coefs[:-1]
                ]
            acts = forward(coefs, intercepts, Xb, activation, masks)
            loss, coef_grads, intercept_grads = backward(
                coefs, acts, y_idx[idx], activation, l1, l2, masks, evaluate=False
            )  # dJ/dW as products A.T @ delta + penalty, for the optimiser to fold into its step
            coef_grads = [  # where that pays (see the module docstring)
                g if W.size >= MIN_SIZE else g.evaluate()
                for W, g in zip(coefs, coef_grads, strict=True)
            ]
            if not math.isfinite(loss):
                raise TrainingDivergedError(epoch, loss)
            optimizer.step(params, coef_grads + intercept_grads)
            if max_norm is not None:
                for W in coefs[:-1]:  # every hidden layer's incoming weights
                    max_norm_(W, max_norm)
            total += loss * idx.size
        epoch_loss = total / n + penalty(coefs, l1, l2)
    if not math.isfinite(epoch_loss) or not all(np.isfinite(W).all() for W in coefs):
        raise TrainingDivergedError(epoch, epoch_loss)  # (the last update overflowed)
    return epoch_loss
