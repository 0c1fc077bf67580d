r"""
Learning-rate schedules
=======================

:func:`nnsweep.nn.optim.decayed_learning_rate` is a pure function of the epoch, so a schedule
can be drawn without training anything. Then one network is trained under each.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from nnsweep import NeuralNetworkClassifier
from nnsweep.datasets import load_dataset
from nnsweep.nn.optim import SCHEDULES, decayed_learning_rate

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

EPOCHS = 20 if QUICK else 60
lr, decay, decay_steps = 0.3, 0.05, 10

# %%
# The four schedules
# ------------------
# With :math:`\eta_0 = 0.3`, :math:`d = 0.05` and steps of 10 epochs. ``d = 0`` turns any of
# them into ``constant``.

epochs = np.arange(EPOCHS)
fig, ax_rate = plt.subplots(figsize=(6, 4))
for schedule in SCHEDULES:
    rates = [decayed_learning_rate(lr, e, schedule, decay, decay_steps) for e in epochs]
    ax_rate.plot(epochs, rates, label=schedule, drawstyle="steps-post")
    print(f"{schedule:<13} epoch 0: {rates[0]:.4f}  epoch {EPOCHS - 1}: {rates[-1]:.4f}")
ax_rate.set(
    xlabel="epoch (from 0)",
    ylabel="learning rate",
    title=f"$\\eta_0$ = {lr}, d = {decay}, decay_steps = {decay_steps}",
)
ax_rate.legend()
fig.tight_layout()

# %%
# Training under each schedule
# ----------------------------
# 128 relu units, :math:`\eta_0 = 0.3`, momentum 0.9, batches of 32, on three quarters of the
# digits; the held-out quarter gives the second panel. A decaying rate takes large steps
# early and small ones late, when a constant rate would keep bouncing at the noise level of a
# batch gradient. On data this easy every schedule drives the training loss towards zero, and
# the differences show on the held-out loss. Which schedule wins depends on the problem and
# the epoch budget: it is one more hyperparameter for the sweep
# (``learning_rate_decay`` in ``studies/digits.toml``, with an off switch).


digits = load_dataset("digits")
X_train, X_test, y_train, y_test = train_test_split(
    digits.X_train, digits.y_train, test_size=0.25, random_state=0
)
fig_curves, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 4))
for schedule in SCHEDULES:
    net = NeuralNetworkClassifier(
        hidden_layer_sizes=(128,),
        learning_rate=lr,
        momentum=0.9,
        learning_rate_schedule=schedule,
        learning_rate_decay=decay,
        decay_steps=decay_steps,
        batch_size=32,
        max_epochs=EPOCHS,
        tol=0,
        random_state=0,
    )
    held_out = [
        log_loss(y_test, net.predict_proba(X_test), labels=net.classes_)
        for _ in net.iter_epochs(X_train, y_train)
    ]
    ax_loss.plot(np.arange(1, net.n_iter_ + 1), net.loss_curve_, label=schedule)
    ax_val.plot(np.arange(1, net.n_iter_ + 1), held_out, label=schedule)
    print(
        f"{schedule:<13} training loss {net.loss_curve_[-1]:.1e}, held-out loss "
        f"{held_out[-1]:.3f}, held-out accuracy {net.score(X_test, y_test):.4f}"
    )
ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="training")
ax_val.set(
    xlabel="epoch", ylabel="cross-entropy on held-out digits", title="held out", ylim=(0, 0.6)
)
ax_loss.legend()
ax_val.legend()
fig_curves.tight_layout()

plt.show()
