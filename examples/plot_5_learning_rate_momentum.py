r"""
Gradient descent: learning rate, momentum, Nesterov
===================================================

The same network (64 relu units, batches of 32, same initial weights and batch order)
trained with different steps. The learning rate :math:`\eta` sets how far each update
goes; momentum :math:`\mu` lets the updates accumulate along directions that stay
consistent from batch to batch.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from nnsweep import NeuralNetworkClassifier, TrainingDivergedError
from nnsweep.datasets import load_dataset

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

digits = load_dataset("digits")
X, y = digits.X_train, digits.y_train
EPOCHS = 15 if QUICK else 40


def loss_curve(**params):
    """Training loss per epoch (penalties included); None if training diverged."""
    net = NeuralNetworkClassifier(
        hidden_layer_sizes=(64,),
        batch_size=32,
        max_epochs=EPOCHS,
        n_iter_no_change=EPOCHS,
        random_state=0,
        **params,
    )
    try:
        return net.fit(X, y).loss_curve_
    except TrainingDivergedError as exc:
        print(f"{params}: {exc}")
        return None


# %%
# Plain SGD across learning rates
# -------------------------------
# Too small and the loss creeps down. Larger steps go faster, up to a point: past it the
# network breaks. A loss stuck at :math:`\ln 10 \approx 2.30` is chance level (the relu units
# have died: no gradient flows back through them any more), and a loss that overflows makes
# nnsweep raise :class:`~nnsweep.TrainingDivergedError` instead of returning a model of NaNs.

fig, ax_lr = plt.subplots(figsize=(8, 4))
for lr in [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 30.0]:
    curve = loss_curve(learning_rate=lr, momentum=0.0)
    if curve is not None:
        ax_lr.plot(np.arange(1, len(curve) + 1), curve, label=f"$\\eta$ = {lr}")
        print(f"lr={lr:<6} momentum=0: final loss {curve[-1]:.4f}")
    else:
        ax_lr.plot([], [], label=f"$\\eta$ = {lr}: diverged")
ax_lr.set(xlabel="epoch", ylabel="training loss", yscale="log", title="momentum $\\mu$ = 0")
ax_lr.legend(fontsize=8, ncol=2)
fig.tight_layout()

# %%
# Momentum at a fixed learning rate
# ---------------------------------
# At :math:`\eta = 0.01`, momentum 0.9 moves about as fast as plain SGD at
# :math:`\eta = 0.1`: the velocity sums a geometric series, an effective step of
# :math:`\eta / (1 - \mu)`. Nesterov's variant looks ahead before it steps; here it tracks
# classical momentum closely.

fig, ax_mu = plt.subplots(figsize=(8, 4))
for mu, nesterov in [(0.0, False), (0.5, False), (0.9, False), (0.9, True), (0.99, False)]:
    curve = loss_curve(learning_rate=0.01, momentum=mu, nesterov=nesterov)
    label = f"$\\mu$ = {mu}" + (", Nesterov" if nesterov else "")
    if curve is not None:
        ax_mu.plot(np.arange(1, len(curve) + 1), curve, label=label, ls="--" if nesterov else "-")
        print(f"lr=0.01  momentum={mu} nesterov={nesterov}: final loss {curve[-1]:.4f}")
ax_mu.set(
    xlabel="epoch", ylabel="training loss", yscale="log", title="learning rate $\\eta$ = 0.01"
)
ax_mu.legend(fontsize=8)
fig.tight_layout()

plt.show()
