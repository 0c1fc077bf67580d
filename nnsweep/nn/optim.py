"""Stochastic gradient descent with momentum, learning-rate schedules, max-norm.

The optimiser sees only parameters and gradients (as scikit-learn's
``SGDOptimizer``): it knows nothing of layers or losses. It owns the step size:
gradients arrive as ``dJ/dW``, unscaled, and `SGD` multiplies by its
``learning_rate``, which the estimator sets every epoch. The learning-rate
schedule is a pure function of the epoch (as nanoGPT's ``get_lr``), so it can be
tested against its formula and plotted without training anything.

A weight gradient may arrive as a matrix product left unevaluated, ``A.T @ B``
(plus a penalty term), so that the step can fold the learning rate into the
batch-sized factor ``B`` and add the product straight into the velocity with one
BLAS ``gemm``, instead of writing it to a new array and subtracting that in
another pass (`SGD` gives the formulas; `nnsweep.nn._blas` makes the calls on
NumPy's own BLAS, with a NumPy fallback that gives the same bits).

Left out on purpose: adaptive methods (Adam and friends). The sweep tunes the
classic knobs: learning rate, momentum, decay.
"""

import math

import numpy as np

from . import _blas

__all__ = ["SCHEDULES", "SGD", "decayed_learning_rate", "max_norm_"]

SCHEDULES = ("constant", "step", "exponential", "inverse_time")


def decayed_learning_rate(learning_rate, epoch, schedule="constant", decay=0.0, decay_steps=10):
    """Learning rate for an epoch (counted from 0) under a decay schedule.

    With ``lr = learning_rate`` and ``d = decay`` in [0, 1):

    * ``constant``:     ``lr``
    * ``step``:         ``lr * (1 - d) ** floor(epoch / decay_steps)``
    * ``exponential``:  ``lr * (1 - d) ** epoch``
    * ``inverse_time``: ``lr / (1 + d * epoch)``

    ``d = 0`` turns any schedule off. None of them ever raises the rate.

    Parameters
    ----------
    learning_rate : float
    epoch : int
    schedule : {"constant", "step", "exponential", "inverse_time"}, default="constant"
    decay : float, default=0.0
    decay_steps : int, default=10
        Epochs per step of the ``step`` schedule.

    Returns
    -------
    float
    """
    if schedule == "constant":
        return learning_rate
    if schedule == "step":
        return learning_rate * (1.0 - decay) ** math.floor(epoch / decay_steps)
    if schedule == "exponential":
        return learning_rate * (1.0 - decay) ** epoch
    if schedule == "inverse_time":
        return learning_rate / (1.0 + decay * epoch)
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")


class SGD:
    """Mini-batch SGD with classical or Nesterov momentum; it owns the step size.

    With learning rate ``lr``, momentum ``mu``, velocity ``v`` (zero at the start)
    and gradient ``g = dJ/dW``::

        v <- mu * v - lr * g
        W <- W + v                      (classical)
        W <- W + mu * v - lr * g        (Nesterov, in Sutskever et al.'s form; v the new one)

    ``mu = 0`` is plain SGD, ``W <- W - lr * g``.

    A gradient is an array, or, for a weight matrix, a product left unevaluated: a
    triple ``(A, B, R)`` standing for ``g = A.T @ B + R`` (``R`` an array, or None for
    no term), as `network.backward` returns it with ``evaluate=False``. The step then
    folds the learning rate and the momentum into the product. With ``B' = lr * B``
    (a pass over the batch-sized ``B``, not over ``W``), the classical step is::

        v <- mu * v                     scal, one pass over v
        v <- v - A.T @ B'               one gemm adding the product into v
        v <- v - lr * R                 (only with a penalty)
        W <- W + v                      axpy, one pass over W

    and plain SGD is one gemm into ``W`` itself, ``W <- W - A.T @ B'``. NumPy cannot
    add a product into an existing array: these calls go to the BLAS that NumPy uses
    (`nnsweep.nn._blas`, threaded like ``np.matmul``) when it can, and are computed with
    NumPy otherwise (``v *= mu; v -= A.T @ B'; W += v``), the same operations in the
    same order and, on NumPy's OpenBLAS, the same bits.
    Nesterov needs ``lr * g`` on its own for the update of ``W``, so there the product
    is evaluated first (into a buffer kept between steps) and the update is the
    formula above. So is a product for a matrix smaller than ``_blas.MIN_SIZE``
    elements (a bias-sized or 10-class layer), where a BLAS call through ``ctypes``
    costs more than it saves.

    Parameters
    ----------
    params : list of ndarray
        The parameters it will update, in place; velocities are shaped like them.
    learning_rate : float, default=0.01
        ``lr``, the step size; the estimator sets it every epoch from its schedule
        (`decayed_learning_rate`).
    momentum : float, default=0.9
    nesterov : bool, default=False
    """

    #: Steps between two flushes of denormal velocities (see `step`).
    flush_every = 16

    def __init__(self, params, learning_rate=0.01, momentum=0.9, nesterov=False):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = [np.zeros_like(p) for p in params]
        self._steps = 0
        self._buffers = {}  # scratch arrays by role, parameter and shape: not state

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_buffers"]  # scratch space is rebuilt on the next step, never pickled
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.pop("_scratch", None)  # the scratch of an SGD pickled before 2026-12
        self._buffers = {}

    def step(self, params, grads):
        """Update ``params`` in place from their gradients ``dJ/dparam`` (see the class).

        Parameters
        ----------
        params : list of ndarray
        grads : list of ndarray or (A, B, R) triples
            ``grads[i]`` is ``dJ/dparams[i]``, an array or a product ``A.T @ B + R``;
            ``A`` may be a SciPy sparse matrix (then the product is evaluated with
            ``@``).

        Notes
        -----
        Every `flush_every` steps, velocities smaller than the smallest normal float
        are set to zero. Momentum keeps shrinking the velocity of a weight that gets
        (almost) no gradient, a dead relu unit's for instance, until it is denormal,
        and arithmetic on denormals is many times slower (`benchmarks/results/speed.md`
        has the measurement). Their effect on the weights is below rounding anyway.
        """
        self._steps += 1
        if self.momentum and self._steps % self.flush_every == 0:
            for v in self.velocities:
                np.multiply(v, np.abs(v) >= np.finfo(v.dtype).tiny, out=v)
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if not isinstance(g, tuple):
                self._apply(i, p, g * self.learning_rate)
            elif p.size < _blas.MIN_SIZE:  # too small to gain from BLAS: evaluate it
                A, B, R = g
                lr_g = _dense(A.T @ B)
                if R is not None:
                    lr_g += R
                lr_g *= self.learning_rate
                self._apply(i, p, lr_g)
            else:
                self._step_product(i, p, *g)

    def _step_product(self, i, p, A, B, R):
        """The step for ``g = A.T @ B + R``, with the product folded in (class docstring)."""
        lr, mu = self.learning_rate, self.momentum
        lr_B = np.multiply(B, lr, out=self._buffer("lr_B", i, B.shape, B.dtype))  # B' = lr B
        lr_R = None
        if R is not None:
            lr_R = np.multiply(R, lr, out=self._buffer("lr_R", i, p.shape, p.dtype))
        if self.nesterov and mu:  # Nesterov needs lr g = A.T @ B' + lr R itself
            lr_g = self._buffer("lr_g", i, p.shape, p.dtype)
            _product_into(lr_g, A, lr_B)
            if lr_R is not None:
                _add(lr_g, lr_R)
            self._apply(i, p, lr_g)
            return
        if not mu:
            _add_product(p, A, lr_B, -1.0)  # W <- W - A.T @ B'
            if lr_R is not None:
                _add(p, lr_R, -1.0)
            return
        v = self.velocities[i]
        _scale(v, mu)
        _add_product(v, A, lr_B, -1.0)  # v <- mu v - A.T @ B'
        if lr_R is not None:
            _add(v, lr_R, -1.0)
        _add(p, v)  # W <- W + v

    def _apply(self, i, p, lr_g):
        """``v <- mu v - lr g`` and the update of ``p``, from ``lr g`` itself."""
        mu = self.momentum
        if not mu:
            p -= lr_g
            return
        v = self.velocities[i]
        if p.size < _blas.MIN_SIZE:  # what the helpers below do for it, without the calls
            v *= mu
            v -= lr_g
            p += v if not self.nesterov else np.subtract(v * mu, lr_g, out=lr_g)
            return
        _scale(v, mu)
        _add(v, lr_g, -1.0)
        if self.nesterov:
            look_ahead = np.multiply(v, mu, out=self._buffer("look_ahead", i, p.shape, p.dtype))
            _add(look_ahead, lr_g, -1.0)
            _add(p, look_ahead)  # W <- W + mu v - lr g
        else:
            _add(p, v)  # W <- W + v

    def _buffer(self, role, i, shape, dtype):
        """A scratch array of ``shape`` kept between steps (batches of one size share it)."""
        key = (role, i)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[key] = np.empty(shape, dtype=dtype)
        return buf


def _add_product(C, A, B, sign):
    """``C <- C + sign * A.T @ B`` in place, ``sign`` being 1 or -1.

    One gemm on NumPy's BLAS when `nnsweep.nn._blas` can make the call, else NumPy;
    the same bits either way.
    """
    if not _blas.gemm(sign, A, B, 1.0, C):
        product = _dense(A.T @ B)
        if sign > 0:
            C += product
        else:
            C -= product


def _product_into(C, A, B):
    """``C <- A.T @ B``, into the existing array ``C``."""
    if not _blas.gemm(1.0, A, B, 0.0, C):
        C[...] = _dense(A.T @ B)


def _dense(M):
    """``M`` as an ndarray (a sparse ``A.T @ dense`` may come back as an np.matrix)."""
    return M if isinstance(M, np.ndarray) else np.asarray(M)


def _scale(x, alpha):
    """``x <- alpha * x``: scal on NumPy's BLAS (threaded) when it can, else NumPy; same bits."""
    if x.size < _blas.MIN_SIZE or not _blas.scal(alpha, x):
        x *= alpha


def _add(y, x, sign=1.0):
    """``y <- y + sign * x``, ``sign`` 1 or -1, in place.

    axpy on NumPy's BLAS (threaded) when it can, else NumPy; the same bits (one
    rounded sum per element) either way.
    """
    if y.size < _blas.MIN_SIZE or not _blas.axpy(sign, x, y):
        if sign > 0:
            y += x
        else:
            y -= x


def max_norm_(W, max_norm):
    """Rescale, in place, each column of ``W`` whose L2 norm exceeds ``max_norm``.

    A column of ``W1`` holds one hidden unit's incoming weights, so this is the
    max-norm constraint of Srivastava et al. (2014), the usual companion of
    dropout.

    Parameters
    ----------
    W : ndarray of shape (n_inputs, n_units)
    max_norm : float

    Returns
    -------
    W : ndarray
    """
    norms = np.sqrt(np.einsum("ij,ij->j", W, W))  # (n_units,)
    too_long = norms > max_norm
    if too_long.any():
        W[:, too_long] *= max_norm / norms[too_long]
    return W
