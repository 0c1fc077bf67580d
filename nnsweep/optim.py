"""Stochastic gradient descent with momentum, learning-rate schedules, max-norm.

The optimiser sees only parameters and gradients (as scikit-learn's
``SGDOptimizer``): it knows nothing of layers or losses. The learning-rate
schedule is a pure function of the epoch (as nanoGPT's ``get_lr``), so it can be
tested against its formula and plotted without training anything.

Left out on purpose: adaptive methods (Adam and friends). The sweep tunes the
classic knobs: learning rate, momentum, decay.
"""

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
    """Mini-batch SGD with classical or Nesterov momentum.

    With velocity ``v`` (zero at the start), momentum ``mu`` and a gradient
    already multiplied by the learning rate, ``g = lr * dJ/dW``::

        v <- mu * v - g
        W <- W + v                  (classical)
        W <- W + mu * v - g         (Nesterov, in Sutskever et al.'s form)

    ``mu = 0`` is plain SGD, ``W <- W - g``.

    Parameters
    ----------
    params : list of ndarray
        The parameters it will update, in place; velocities are shaped like them.
    momentum : float, default=0.9
    nesterov : bool, default=False
    """

    #: Steps between two flushes of denormal velocities (see `step`).
    flush_every = 16

    def __init__(self, params, momentum=0.9, nesterov=False):
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = [np.zeros_like(p) for p in params]
        self._scratch = [np.empty_like(p) for p in params] if nesterov and momentum else None
        self._steps = 0

    def step(self, params, scaled_grads):
        """Update ``params`` in place from gradients already scaled by the learning rate.

        Every `flush_every` steps, velocities smaller than the smallest normal float
        are set to zero. Momentum keeps shrinking the velocity of a weight that gets
        (almost) no gradient, a dead relu unit's for instance, until it is denormal,
        and arithmetic on denormals is many times slower: measured on MNIST, 5-12 %
        of W1's velocities went denormal within 4 epochs and the momentum step
        became 3-6x slower. Their effect on the weights is below rounding anyway.
        """
        self._steps += 1
        if self.momentum and self._steps % self.flush_every == 0:
            for v in self.velocities:
                np.multiply(v, np.abs(v) >= np.finfo(v.dtype).tiny, out=v)
        mu = self.momentum
        for i, (p, g) in enumerate(zip(params, scaled_grads, strict=True)):
            if not mu:
                p -= g
                continue
            v = self.velocities[i]
            v *= mu
            v -= g
            if self._scratch is None:
                p += v
            else:
                look_ahead = np.multiply(v, mu, out=self._scratch[i])
                look_ahead -= g
                p += look_ahead


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
