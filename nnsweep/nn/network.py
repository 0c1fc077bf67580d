"""A network of ``L`` layers (``L - 1`` hidden, or none), written out as its equations.

Symbols, with ``n`` samples in the batch, ``d`` features, ``h_l`` units in hidden layer
``l`` (``hidden_layer_sizes``), ``k`` classes and the layers ``l = 1 .. L``::

    A_0     (n, d)    = X, the inputs (after input dropout, when training with it)
    W_l, b_l          (h_{l-1}, h_l), (h_l,)   layer l; h_0 = d and h_L = k
    Z_l     (n, h_l)  = A_{l-1} @ W_l + b_l    pre-activation
    H_l     (n, h_l)  = f(Z_l)                 hidden activation (relu, tanh, sigmoid), l < L
    A_l     (n, h_l)  = H_l * M_l              inverted dropout; A_l is H_l when not dropping
    logits  (n, k)    = Z_L                    the last layer has no activation
    P       (n, k)    = softmax(logits)

With ``L = 1`` there is no hidden layer and ``logits = X @ W_1 + b_1``: softmax
(multinomial logistic) regression, the single layer of neurons the textbook derivation
starts from; ``L = 2`` is the network with one hidden layer. Parameters are kept as two
lists, as scikit-learn does: ``coefs = [W_1, ..., W_L]`` and ``intercepts = [b_1, ...,
b_L]``, so layer ``l`` is ``coefs[l - 1]``. In the code ``A = [A_0, ..., A_{L-1}]`` (each
layer's input, ``A[l - 1]``), ``H = [H_1, ..., H_{L-1}]`` and the masks ``[M_1, ...,
M_{L-1}]`` are lists too, each layer's loop step one line of the equations.

Conventions, stated once:

* **Objective.** ``J = -mean_i log P[i, y_i] + l2/2 * sum(W**2) + l1 * sum(|W|)``
  over the weights ``W`` of every layer, never the biases. The penalties are
  *not* divided by the number of samples: ``l2_penalty`` is the weight decay of
  PyTorch's SGD, and the same value means the same thing at any batch size or
  data-set size. The L1 gradient uses ``sign(W)`` (zero at zero).
* **Dropout is inverted**: kept units are scaled by ``1 / (1 - rate)`` while
  training, so prediction uses the weights as they are.
* **Backpropagation.** For softmax with cross-entropy the output error is
  ``delta_L = dJ/dlogits = (P - Y) / n`` (``Y`` one-hot): the derivative of the softmax
  and that of the log cancel. Then, from the last layer to the first::

      dW_l = A_{l-1}.T @ delta_l         db_l = sum_i delta_l
      delta_{l-1} = (delta_l @ W_l.T) * M_{l-1} * f'(Z_{l-1})     (l > 1; f' from H_{l-1})

  plus ``l2 * W_l + l1 * sign(W_l)`` on each weight gradient. ``dJ/dX`` is never
  computed: no parameter needs it. Each weight gradient is a product
  ``A.T @ delta`` of the layer's input and its output error; `backward` can
  return it unevaluated (a `WeightGradient`), so that the optimiser folds it
  into its update (`optim.SGD`; `fused.FusedSGD` with one BLAS gemm). The
  gradients are never scaled by a learning rate here: the step size is the
  optimiser's.

This module imports only numpy (and `functions`). It holds no state and no
training loop; `optim` updates parameters and `estimator` runs the epochs.
Inputs may be dense arrays or SciPy sparse matrices (only ``@`` and ``.T`` are
used on them, at the first layer), so sparse data trains without being densified.
"""

from collections import namedtuple

import numpy as np

from .functions import ACTIVATIONS, DERIVATIVES, cross_entropy, log_softmax

__all__ = ["Activations", "WeightGradient", "backward", "forward", "init_params", "penalty"]

#: What the forward pass keeps for the backward pass: the lists ``A = [A_0, ..., A_{L-1}]``
#: and ``H = [H_1, ..., H_{L-1}]``, and the logits (see the module docstring).
Activations = namedtuple("Activations", ["A", "H", "logits"])


class WeightGradient(namedtuple("WeightGradient", ["A", "delta", "penalty"])):
    """A weight gradient left unevaluated: ``dJ/dW_l = A_{l-1}.T @ delta_l + penalty``.

    ``A`` (n, fan_in) is the layer's input, ``delta`` (n, fan_out) the error at its
    pre-activation, ``penalty`` the array ``l2 * W + l1 * sign(W)``, or None without a
    penalty. It is a plain triple, which is all `optim.SGD.step` reads.
    """

    __slots__ = ()

    def evaluate(self):
        """The gradient as an array of the weight's shape."""
        grad = _as_dense(self.A.T @ self.delta)
        if self.penalty is not None:
            grad += self.penalty
        return grad


def init_params(n_features, hidden_layer_sizes, n_classes, activation, rng, dtype=np.float32):
    """Draw initial weights, layer by layer from the first; biases start at zero.

    He initialisation (normal, ``std = sqrt(2 / fan_in)``) for relu, Glorot
    (uniform on ``+-sqrt(6 / (fan_in + fan_out))``) for tanh, sigmoid and the
    softmax layer.

    Parameters
    ----------
    n_features, n_classes : int
    hidden_layer_sizes : sequence of int
        The hidden layers' widths ``h_1, ..., h_{L-1}``; empty gives softmax regression.
    activation : {"relu", "tanh", "sigmoid"}
    rng : numpy.random.Generator
    dtype : numpy dtype, default=np.float32

    Returns
    -------
    coefs, intercepts : list of ndarray
        ``[W_1, ..., W_L]`` and ``[b_1, ..., b_L]``.
    """
    sizes = [n_features, *hidden_layer_sizes, n_classes]
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


def forward(coefs, intercepts, X, activation="relu", hidden_masks=None):
    """Compute the logits, keeping what backpropagation needs.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        As returned by `init_params`.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    activation : {"relu", "tanh", "sigmoid"}, default="relu"
    hidden_masks : list of ndarray, default=None
        Inverted-dropout masks ``[M_1, ..., M_{L-1}]``, one of shape (n_samples, h_l) (or
        None) per hidden layer (see `functions.dropout_mask`); None drops nothing.

    Returns
    -------
    Activations
        ``(A, H, logits)``: ``A = [X, A_1, ..., A_{L-1}]``, ``H = [H_1, ..., H_{L-1}]``.
    """
    f = ACTIVATIONS[activation]
    masks = [None] * (len(coefs) - 1) if hidden_masks is None else hidden_masks
    A, H = [X], []
    for W, b, M in zip(coefs[:-1], intercepts[:-1], masks, strict=True):  # l = 1 .. L-1
        Z = A[-1] @ W  # Z_l = A_{l-1} @ W_l, (n, h_l)
        Z += b  # + b_l
        H.append(f(Z))  # H_l = f(Z_l), in place: Z_l is not needed again
        A.append(H[-1] if M is None else H[-1] * M)  # A_l = H_l * M_l, (n, h_l)
    logits = A[-1] @ coefs[-1]  # Z_L = A_{L-1} @ W_L, (n, k)
    logits += intercepts[-1]  # + b_L
    return Activations(A, H, logits)


def penalty(coefs, l1=0.0, l2=0.0):
    """Return the penalty ``l2/2 * sum(W**2) + l1 * sum(|W|)`` over all weights."""
    total = 0.0
    for W in coefs:
        if l2:
            total += 0.5 * l2 * float(np.vdot(W, W))
        if l1:
            total += l1 * float(np.abs(W).sum())
    return total


def backward(coefs, acts, y, activation="relu", l1=0.0, l2=0.0, hidden_masks=None, evaluate=True):
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
    hidden_masks : list of ndarray, default=None
        The dropout masks used in the forward pass.
    evaluate : bool, default=True
        False leaves each weight gradient as a `WeightGradient`, ``A.T @ delta +
        penalty`` unevaluated, for an optimiser that folds the product into its update.

    Returns
    -------
    loss : float
        Mean cross-entropy of the batch (penalties excluded: see `penalty`).
    coef_grads : list of ndarray or WeightGradient
        ``dJ/dW_l``, shaped like the weights.
    intercept_grads : list of ndarray
        ``dJ/db_l``.
    """
    n = y.shape[0]
    log_proba = log_softmax(acts.logits)  # (n, k)
    loss = cross_entropy(log_proba, y)
    delta = np.exp(log_proba, out=log_proba)  # P, (n, k)
    delta[np.arange(n), y] -= 1.0  # P - Y
    delta *= 1.0 / n  # delta_L
    deltas = [delta]  # [delta_L, ..., delta_1], filled from the last layer
    masks = [None] * (len(coefs) - 1) if hidden_masks is None else hidden_masks
    for W, H, M in reversed(list(zip(coefs[1:], acts.H, masks, strict=True))):  # l = L .. 2
        delta = delta @ W.T  # dJ/dA_{l-1} = delta_l @ W_l.T, (n, h_{l-1})
        if M is not None:
            delta *= M  # dJ/dH_{l-1}
        DERIVATIVES[activation](H, delta)  # delta_{l-1} = dJ/dZ_{l-1}, in place
        deltas.append(delta)
    deltas.reverse()  # [delta_1, ..., delta_L]
    coef_grads = []
    for W, A, delta in zip(coefs, acts.A, deltas, strict=True):
        reg = None
        if l2:
            reg = l2 * W
        if l1:
            reg = l1 * np.sign(W) if reg is None else np.add(reg, l1 * np.sign(W), out=reg)
        grad = WeightGradient(A, delta, reg)  # dJ/dW_l = A_{l-1}.T @ delta_l + l2 W + l1 sign(W)
        coef_grads.append(grad.evaluate() if evaluate else grad)
    return loss, coef_grads, [delta.sum(axis=0) for delta in deltas]


def _as_dense(M):
    """Return ``M`` as an ndarray (a sparse ``X.T @ dense`` may come back as a matrix)."""
    return M if isinstance(M, np.ndarray) else np.asarray(M)
