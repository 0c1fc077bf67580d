"""A network with one hidden layer (or none), written out as its equations.

Symbols, with ``n`` samples in the batch, ``d`` features, ``h = n_hidden`` units
and ``k`` classes::

    X       (n, d)  inputs (after input dropout, when training with it)
    W1, b1  (d, h), (h,)   input -> hidden
    Z1      (n, h)  = X @ W1 + b1        pre-activation
    H       (n, h)  = f(Z1)              hidden activation (relu, tanh, sigmoid)
    A1      (n, h)  = H * mask           inverted dropout; A1 is H when not dropping
    W2, b2  (h, k), (k,)   hidden -> output
    logits  (n, k)  = A1 @ W2 + b2
    P       (n, k)  = softmax(logits)

With ``n_hidden = 0`` the hidden layer is gone and ``logits = X @ W + b``: softmax
(multinomial logistic) regression, the single layer of neurons the textbook
derivation starts from. Parameters are kept as two lists, as scikit-learn does:
``coefs = [W1, W2]`` and ``intercepts = [b1, b2]`` (one entry each without a
hidden layer).

Conventions, stated once:

* **Objective.** ``J = -mean_i log P[i, y_i] + l2/2 * sum(W**2) + l1 * sum(|W|)``
  over the weights ``W`` of every layer, never the biases. The penalties are
  *not* divided by the number of samples: ``l2_penalty`` is the weight decay of
  PyTorch's SGD, and the same value means the same thing at any batch size or
  data-set size. The L1 gradient uses ``sign(W)`` (zero at zero).
* **Dropout is inverted**: kept units are scaled by ``1 / (1 - rate)`` while
  training, so prediction uses the weights as they are.
* **Backpropagation.** For softmax with cross-entropy the output error is
  ``dlogits = (P - Y) / n`` (``Y`` one-hot): the derivative of the softmax and
  that of the log cancel. Then::

      dW2 = A1.T @ dlogits          db2 = sum_i dlogits
      dA1 = dlogits @ W2.T
      dZ1 = dA1 * mask * f'(Z1)     (f' from the activation's output H)
      dW1 = X.T @ dZ1               db1 = sum_i dZ1

  plus ``l2 * W + l1 * sign(W)`` on each weight gradient. ``dX`` is never
  computed: no parameter needs it. Each weight gradient is a product
  ``A.T @ delta`` of the layer's input and its output error; `backward` can
  return it unevaluated (a `WeightGradient`), so that the optimiser folds it
  into its update (`optim.SGD`; `fused.FusedSGD` with one BLAS gemm). The
  gradients are never scaled by a learning rate here: the step size is the
  optimiser's.

This module imports only numpy (and `functions`). It holds no state and no
training loop; `optim` updates parameters and `estimator` runs the epochs.
Inputs may be dense arrays or SciPy sparse matrices (only ``@`` and ``.T`` are
used on them), so sparse data trains without being densified.
"""

from collections import namedtuple

import numpy as np

from .functions import ACTIVATIONS, DERIVATIVES, cross_entropy, log_softmax

__all__ = ["Activations", "WeightGradient", "backward", "forward", "init_params", "penalty"]

#: What the forward pass keeps for the backward pass (see the module docstring).
Activations = namedtuple("Activations", ["X", "H", "A1", "logits"])


class WeightGradient(namedtuple("WeightGradient", ["A", "delta", "penalty"])):
    """A weight gradient left unevaluated: ``dJ/dW = A.T @ delta + penalty``.

    ``A`` (n, fan_in) is the layer's input (``X`` or ``A1``), ``delta`` (n, fan_out)
    the error at its pre-activation (``dZ1`` or ``dlogits``), ``penalty`` the array
    ``l2 * W + l1 * sign(W)``, or None without a penalty. It is a plain triple, which
    is all `optim.SGD.step` reads.
    """

    __slots__ = ()

    def evaluate(self):
        """The gradient as an array of the weight's shape."""
        grad = _as_dense(self.A.T @ self.delta)
        if self.penalty is not None:
            grad += self.penalty
        return grad


def init_params(n_features, n_hidden, n_classes, activation, rng, dtype=np.float32):
    """Draw initial weights; biases start at zero.

    He initialisation (normal, ``std = sqrt(2 / fan_in)``) for relu, Glorot
    (uniform on ``+-sqrt(6 / (fan_in + fan_out))``) for tanh, sigmoid and the
    softmax layer.

    Parameters
    ----------
    n_features, n_hidden, n_classes : int
        Layer sizes; ``n_hidden = 0`` gives softmax regression.
    activation : {"relu", "tanh", "sigmoid"}
    rng : numpy.random.Generator
    dtype : numpy dtype, default=np.float32

    Returns
    -------
    coefs, intercepts : list of ndarray
    """
    sizes = [n_features, n_hidden, n_classes] if n_hidden > 0 else [n_features, n_classes]
    coefs, intercepts = [], []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        is_hidden = i < len(sizes) - 2
        if is_hidden and activation == "relu":
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
        else:
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-bound, bound, size=(fan_in, fan_out))
        coefs.append(W.astype(dtype))
        intercepts.append(np.zeros(fan_out, dtype=dtype))
    return coefs, intercepts


def forward(coefs, intercepts, X, activation="relu", hidden_mask=None):
    """Compute the logits, keeping what backpropagation needs.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        As returned by `init_params`.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    activation : {"relu", "tanh", "sigmoid"}, default="relu"
    hidden_mask : ndarray of shape (n_samples, n_hidden), default=None
        Inverted-dropout mask for the hidden units (see `functions.dropout_mask`).

    Returns
    -------
    Activations
        ``(X, H, A1, logits)``; ``H`` and ``A1`` are None without a hidden layer.
    """
    if len(coefs) == 1:
        logits = X @ coefs[0]  # (n, k)
        logits += intercepts[0]
        return Activations(X, None, None, logits)
    W1, W2 = coefs
    b1, b2 = intercepts
    Z1 = X @ W1  # (n, h)
    Z1 += b1
    H = ACTIVATIONS[activation](Z1)  # (n, h), in place: Z1 is not needed again
    A1 = H if hidden_mask is None else H * hidden_mask  # (n, h)
    logits = A1 @ W2  # (n, k)
    logits += b2
    return Activations(X, H, A1, logits)


def penalty(coefs, l1=0.0, l2=0.0):
    """Return the penalty ``l2/2 * sum(W**2) + l1 * sum(|W|)`` over all weights."""
    total = 0.0
    for W in coefs:
        if l2:
            total += 0.5 * l2 * float(np.vdot(W, W))
        if l1:
            total += l1 * float(np.abs(W).sum())
    return total


def backward(coefs, acts, y, activation="relu", l1=0.0, l2=0.0, hidden_mask=None, evaluate=True):
    """Backpropagate the cross-entropy of a batch to every parameter.

    Parameters
    ----------
    coefs : list of ndarray
        Weights used in the forward pass.
    acts : Activations
        The forward pass of this batch.
    y : ndarray of int of shape (n_samples,)
        Class indices.
    activation : {"relu", "tanh", "sigmoid"}, default="relu"
    l1, l2 : float, default=0.0
        Penalty strengths (module docstring).
    hidden_mask : ndarray of shape (n_samples, n_hidden), default=None
        The dropout mask used in the forward pass.
    evaluate : bool, default=True
        False leaves each weight gradient as a `WeightGradient`, ``A.T @ delta +
        penalty`` unevaluated, for an optimiser that folds the product into its update.

    Returns
    -------
    loss : float
        Mean cross-entropy of the batch (penalties excluded: see `penalty`).
    coef_grads : list of ndarray or WeightGradient
        ``dJ/dW``, shaped like the weights.
    intercept_grads : list of ndarray
        ``dJ/db``.
    """
    n = y.shape[0]
    log_proba = log_softmax(acts.logits)  # (n, k)
    loss = cross_entropy(log_proba, y)
    dlogits = np.exp(log_proba, out=log_proba)  # P, (n, k)
    dlogits[np.arange(n), y] -= 1.0  # P - Y
    dlogits *= 1.0 / n
    if len(coefs) == 1:
        layers = [(acts.X, dlogits)]  # (input, delta) of each layer
        intercept_grads = [dlogits.sum(axis=0)]
    else:
        dZ1 = dlogits @ coefs[1].T  # dA1, (n, h)
        if hidden_mask is not None:
            dZ1 *= hidden_mask
        DERIVATIVES[activation](acts.H, dZ1)  # now dZ1, in place
        layers = [(acts.X, dZ1), (acts.A1, dlogits)]
        intercept_grads = [dZ1.sum(axis=0), dlogits.sum(axis=0)]
    coef_grads = []
    for W, (A, delta) in zip(coefs, layers, strict=True):
        reg = None
        if l2:
            reg = l2 * W
        if l1:
            reg = l1 * np.sign(W) if reg is None else np.add(reg, l1 * np.sign(W), out=reg)
        grad = WeightGradient(A, delta, reg)  # dJ/dW = A.T @ delta + l2 W + l1 sign(W)
        coef_grads.append(grad.evaluate() if evaluate else grad)
    return loss, coef_grads, intercept_grads


def _as_dense(M):
    """Return ``M`` as an ndarray (a sparse ``X.T @ dense`` may come back as a matrix)."""
    return M if isinstance(M, np.ndarray) else np.asarray(M)
