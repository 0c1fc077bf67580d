"""Stochastic gradient descent with momentum, learning-rate schedules, max-norm.

The optimiser sees only parameters and gradients (as scikit-learn's
``SGDOptimizer``): it knows nothing of layers or losses. It owns the step size:
gradients arrive as ``dJ/dW``, unscaled, and `SGD` multiplies by its
``learning_rate``, which the estimator sets every epoch. The learning-rate
schedule is a pure function of the epoch (as nanoGPT's ``get_lr``), so it can be
tested against its formula and plotted without training anything.

`SGD` is the update rule written on NumPy arrays. `nnsweep.nn.fused` makes the same
operations, in the same order, with BLAS calls that add a weight gradient's product
straight into the velocity; it gives the same bits, and the estimator trains with it.

Left out on purpose: adaptive methods (Adam and friends). The sweep tunes the
classic knobs: learning rate, momentum, decay.
"""

import functools
import math

import numpy as np

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

    Symbols, for one parameter (``n`` samples in the batch)::

        W       a weight matrix (fan_in, fan_out) or a bias (fan_out,), updated in place
        v       (like W)  its velocity, zero at the start
        g       (like W)  dJ/dW, penalties included (`network.backward`)
        lr, mu  the learning rate and the momentum

    The rule::

        v <- mu * v - lr * g
        W <- W + v                      (classical)
        W <- W + mu * v - lr * g        (Nesterov, in Sutskever et al.'s form; v the new one)

    ``mu = 0`` is plain SGD, ``W <- W - lr * g``.

    A gradient is an array, or, for a weight matrix, a product left unevaluated, as
    `network.backward` returns it with ``evaluate=False``: a triple ``(A, B, R)``
    standing for ``g = A.T @ B + R``, with ``A`` (n, fan_in) the layer's input, ``B``
    (n, fan_out) the error at its output and ``R`` (like W) the penalty's gradient
    ``l2 * W + l1 * sign(W)``, or None. Then ``lr * g`` is ``A.T @ (lr * B) + lr * R``:
    the learning rate scales the batch-sized ``B``, and the two terms are taken from
    ``v`` (or ``W``) one after the other, ``v <- mu * v - A.T @ (lr * B) - lr * R``.
    Nesterov, which needs ``lr * g`` twice, adds the two terms first. This is the order
    of `fused.FusedSGD`'s BLAS calls, so the two give the same bits.

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

    def step(self, params, grads):
        """Update ``params`` in place from their gradients ``dJ/dparam`` (see the class).

        Parameters
        ----------
        params : list of ndarray
        grads : list of ndarray or (A, B, R) triples
            ``grads[i]`` is ``dJ/dparams[i]``, an array or a product ``A.T @ B + R``;
            ``A`` may be a SciPy sparse matrix.

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
        for i, (W, g) in enumerate(zip(params, grads, strict=True)):
            self._update(i, W, g)

    def _update(self, i, W, g):
        """The rule for one parameter ``W`` (``params[i]``) and its gradient ``g``."""
        lr, mu, v = self.learning_rate, self.momentum, self.velocities[i]
        if isinstance(g, tuple):  # lr g = A.T @ (lr B) + lr R, as a list of its terms
            A, B, R = g
            lr_g = [np.asarray(A.T @ (lr * B))] + ([] if R is None else [lr * R])
        else:
            lr_g = [lr * g]
        if mu and self.nesterov:
            lr_g = functools.reduce(np.add, lr_g)
            v *= mu
            v -= lr_g  # v <- mu v - lr g
            W += mu * v - lr_g  # W <- W + mu v - lr g
        elif mu:
            v *= mu
            for term in lr_g:
                v -= term  # v <- mu v - lr g
            W += v  # W <- W + v
        else:
            for term in lr_g:
                W -= term  # W <- W - lr g


def max_norm_(W, max_norm):
    """Rescale, in place, each column of ``W`` whose L2 norm exceeds ``max_norm``.

    A column of a hidden layer's ``W_l`` holds one unit's incoming weights, so this is
    the max-norm constraint of Srivastava et al. (2014), the usual companion of
    dropout; the training loop applies it to every hidden layer.

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
