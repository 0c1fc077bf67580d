"""The optimiser's fused step: `optim.SGD`'s rule made with BLAS calls, to the same bits.

``np.matmul`` always writes a fresh product, so the textbook step evaluates a weight
gradient's product ``A.T @ (lr * B)`` into a new array and takes it from the velocity in
another pass. `FusedSGD` adds the product straight into the velocity with one BLAS gemm
(``C <- alpha * A.T @ B + beta * C``), and makes the passes over the weights with
``scal`` and ``axpy``, which OpenBLAS spreads over its threads where a NumPy ufunc runs
on one core (`nnsweep.nn._blas` makes the calls). With the symbols of `optim.SGD`,
``B' = lr * B`` (one pass over the batch-sized ``B``, into a buffer) and ``R' = lr * R``::

    classical   v <- mu * v                  scal
                v <- v - A.T @ B'            gemm (alpha -1, beta 1)
                v <- v - R'                  axpy (with a penalty only)
                W <- W + v                   axpy
    plain       W <- W - A.T @ B'            gemm, then W <- W - R' (axpy)
    Nesterov    lr g <- A.T @ B' + R'        gemm (beta 0) into a buffer, axpy
                v <- mu * v - lr g           scal, axpy
                W <- W + (mu * v - lr g)     a product into a buffer, axpy, axpy

An array gradient (``lr g = lr * g``) takes the last two lines of its rule. These are
`optim.SGD`'s operations in its order, each rounded as NumPy rounds it (`_blas` says why,
and checks it at import), so both give the same bits: an optimisation of the rule, not
another rule (``tests/test_optim.py`` trains the estimator both ways and compares).

A parameter takes this step when `_blas.usable` says so: NumPy's BLAS found and
self-tested (``_blas.AVAILABLE``, the one switch), the parameter of at least
``_blas.MIN_SIZE`` elements (below that a call through ctypes costs more than it saves: a
bias, a 10-class output layer), and every array dense, C-contiguous and of the
parameter's dtype (float32 or float64). Any other parameter takes `optim.SGD`'s own step.
The buffers are kept between steps, by role and parameter, and never pickled.
"""

import numpy as np

from . import _blas
from .optim import SGD

__all__ = ["FusedSGD"]


class FusedSGD(SGD):
    """`optim.SGD` with the fused step where it applies (see the module); the same interface.

    Parameters
    ----------
    params : list of ndarray
    learning_rate : float, default=0.01
    momentum : float, default=0.9
    nesterov : bool, default=False
        As `optim.SGD`'s.
    """

    def __init__(self, params, learning_rate=0.01, momentum=0.9, nesterov=False):
        super().__init__(params, learning_rate, momentum, nesterov)
        self._buffers = {}  # scratch arrays by role and parameter: not state

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_buffers"]  # scratch space is rebuilt on the next step, never pickled
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._buffers = {}

    def _update(self, i, W, g):
        """`optim.SGD`'s rule for ``W`` with the calls of the module docstring, if they apply."""
        v = self.velocities[i]
        arrays = [x for x in g if x is not None] if isinstance(g, tuple) else [g]
        if not _blas.usable(W, v, *arrays):
            return super()._update(i, W, g)
        lr, mu, nesterov = self.learning_rate, self.momentum, self.nesterov and self.momentum
        if isinstance(g, tuple):
            A, B, R = g
            lr_B = np.multiply(B, lr, out=self._buffer("lr_B", i, B))  # B' = lr B
            lr_R = None if R is None else np.multiply(R, lr, out=self._buffer("lr_R", i, W))
            if not nesterov:
                into = v if mu else W  # classical: v <- mu v - A.T @ B' - R'; plain: W
                if mu:
                    _blas.scal(mu, v)
                _blas.gemm(-1.0, A, lr_B, 1.0, into)
                if lr_R is not None:
                    _blas.axpy(-1.0, lr_R, into)
                if mu:
                    _blas.axpy(1.0, v, W)  # W <- W + v
                return
            lr_g = self._buffer("lr_g", i, W)
            _blas.gemm(1.0, A, lr_B, 0.0, lr_g)  # lr g = A.T @ B' + R'
            if lr_R is not None:
                _blas.axpy(1.0, lr_R, lr_g)
        else:
            lr_g = g * lr
        if not mu:
            W -= lr_g
            return
        _blas.scal(mu, v)
        _blas.axpy(-1.0, lr_g, v)  # v <- mu v - lr g
        if nesterov:
            look_ahead = np.multiply(v, mu, out=self._buffer("look_ahead", i, W))
            _blas.axpy(-1.0, lr_g, look_ahead)
            _blas.axpy(1.0, look_ahead, W)  # W <- W + mu v - lr g
        else:
            _blas.axpy(1.0, v, W)  # W <- W + v

    def _buffer(self, role, i, like):
        """A scratch array like ``like``, kept between steps (batches of one size share it)."""
        buf = self._buffers.get((role, i))
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self._buffers[role, i] = np.empty_like(like)
        return buf
