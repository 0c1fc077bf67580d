"""Activation functions, their derivatives, softmax and cross-entropy.

Pure functions on NumPy arrays: the only dependency is numpy. The stability
tricks live here and nowhere else: softmax and cross-entropy both go through
``log_softmax``, which subtracts the row maximum before exponentiating
(log-sum-exp), so no logit is too large to exponentiate and no probability is
taken the log of.

Activations are applied in place (``ACTIVATIONS[name](Z)`` overwrites ``Z``)
because the training loop owns the buffer and does not need the
pre-activation afterwards. Each derivative is written in terms of the
activation's *output* ``A`` (relu: ``A > 0``, tanh: ``1 - A**2``, sigmoid:
``A * (1 - A)``), which is what backpropagation has at hand.

Left out on purpose: other losses (softmax + cross-entropy is the only output
layer), and anything that keeps state.
"""

import math

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "cross_entropy",
    "dropout_mask",
    "log_softmax",
    "softmax",
]


def relu(Z):
    """Rectified linear unit, ``max(Z, 0)``, computed in place.

    Parameters
    ----------
    Z : ndarray
        Pre-activations; overwritten.

    Returns
    -------
    A : ndarray
        ``Z`` itself, now holding the activations.
    """
    return np.maximum(Z, 0, out=Z)


def tanh(Z):
    """Hyperbolic tangent, computed in place (see `relu`)."""
    return np.tanh(Z, out=Z)


def sigmoid(Z):
    """Logistic sigmoid ``1 / (1 + exp(-Z))``, computed in place (see `relu`).

    Written as ``0.5 * (1 + tanh(Z / 2))``, which never overflows.
    """
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z += 1
    Z *= 0.5
    return Z


def relu_derivative(A, delta):
    """Multiply ``delta`` in place by relu'(Z), which is ``1`` where ``A > 0``."""
    return np.multiply(delta, A > 0, out=delta)  # not delta[A <= 0] = 0: see speed.md


def tanh_derivative(A, delta):
    """Multiply ``delta`` in place by tanh'(Z) ``= 1 - A**2``."""
    delta *= 1 - A * A
    return delta


def sigmoid_derivative(A, delta):
    """Multiply ``delta`` in place by sigmoid'(Z) ``= A * (1 - A)``."""
    delta *= A * (1 - A)
    return delta


ACTIVATIONS = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid}
DERIVATIVES = {"relu": relu_derivative, "tanh": tanh_derivative, "sigmoid": sigmoid_derivative}


def log_softmax(logits):
    r"""Row-wise log-softmax, stable for any finite logits.

    .. math:: \log p_{ik} = z_{ik} - m_i - \log \sum_j e^{z_{ij} - m_i},
              \quad m_i = \max_j z_{ij}

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    log_proba : ndarray of shape (n_samples, n_classes)
        A new array; ``logits`` is not modified.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)  # (n_samples, n_classes), max 0
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(logits):
    """Row-wise softmax: non-negative rows that sum to one.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
    """
    return np.exp(log_softmax(logits))


def cross_entropy(log_proba, y):
    r"""Mean cross-entropy of integer class labels under log-probabilities.

    .. math:: L = -\frac{1}{n} \sum_i \log p_{i, y_i}

    Parameters
    ----------
    log_proba : ndarray of shape (n_samples, n_classes)
        Output of `log_softmax`.
    y : ndarray of shape (n_samples,)
        Class indices in ``0 .. n_classes - 1``.

    Returns
    -------
    loss : float
    """
    return -float(log_proba[np.arange(y.shape[0]), y].mean())


def dropout_mask(shape, rate, rng, dtype=np.float32):
    r"""Inverted-dropout mask: ``0`` with probability ``rate``, else ``1 / (1 - rate)``.

    Multiplying activations by this mask during training keeps their expected
    value unchanged, so prediction uses the network as it is, with no rescaling.

    Each unit gets one random byte ``b``, uniform on ``0 .. 255``, from the bit
    generator's raw output (no conversion to floats). With ``256 * rate = t + f``,
    ``t`` an integer and ``0 <= f < 1``, a unit is dropped when ``b < t``, kept when
    ``b > t``, and on a tie ``b = t`` (probability 1/256) dropped when a uniform
    draw ``u`` in [0, 1) is below ``f``:

    .. math:: P(\text{drop}) = \frac{t}{256} + \frac{1}{256} P(u < f)
              = \frac{t + f}{256} = \text{rate}

    exactly, up to the 53 bits of ``u`` (a float32 uniform, the obvious way, has 24).

    Parameters
    ----------
    shape : tuple of int
    rate : float in [0, 1)
        Probability of dropping a unit.
    rng : numpy.random.Generator
        Advanced by ``ceil(size / 8)`` 64-bit raw draws, plus one uniform per tie.
    dtype : numpy dtype, default=np.float32

    Returns
    -------
    mask : ndarray of ``shape``
    """
    size = math.prod(shape)
    raw = rng.bit_generator.random_raw(-(-size // 8))  # 8 bytes per 64-bit draw
    b = raw.astype("<u8", copy=False).view(np.uint8)[:size].reshape(shape)  # (shape), 0..255
    t = int(256.0 * rate)  # 0 .. 255, as rate < 1
    f = 256.0 * rate - t
    keep = b > t  # kept for sure; b < t is dropped for sure
    if f:
        ties = np.flatnonzero(b == t)
        keep.flat[ties] = rng.random(ties.size) >= f
    else:  # rate a multiple of 1/256: a tie is kept
        keep |= b == t
    return np.multiply(keep, 1.0 / (1.0 - rate), dtype=dtype)
