r"""
Weights under L1 and under L2
=============================

Both penalties pull weights towards zero, differently. The L2 gradient :math:`\lambda_2 w`
is proportional to the weight, so large weights shrink fast and small ones barely move. The
L1 gradient :math:`\lambda_1 \operatorname{sign}(w)` has the same size for every weight, so
weights the data does not defend are walked all the way to zero. Two penalties chosen to
give about the same accuracy, and what they do to :math:`W_1`.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from nnsweep import NeuralNetworkClassifier
from nnsweep.datasets import load_dataset

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

digits = load_dataset("digits")
X_train, X_test, y_train, y_test = train_test_split(
    digits.X_train, digits.y_train, test_size=0.25, random_state=0
)
EPOCHS = 25 if QUICK else 60
settings = {"no penalty": {}, "L2 = 3e-3": {"l2_penalty": 3e-3}, "L1 = 3e-4": {"l1_penalty": 3e-4}}
nets = {}
for name, params in settings.items():
    nets[name] = NeuralNetworkClassifier(
        hidden_layer_sizes=(128,),
        learning_rate=0.05,
        momentum=0.9,
        batch_size=32,
        max_epochs=EPOCHS,
        n_iter_no_change=EPOCHS,
        random_state=0,
        **params,
    ).fit(X_train, y_train)
    W1 = nets[name].coefs_[0]
    print(
        f"{name:<11} test accuracy {nets[name].score(X_test, y_test):.4f}  "
        f"|W1| < 1e-3: {np.mean(np.abs(W1) < 1e-3):5.1%}  ||W1|| = {np.linalg.norm(W1):.2f}"
    )

# %%
# Histograms of :math:`W_1`
# -------------------------
# On a log scale of :math:`|w|`. Under L1 most weights sit near zero. SGD with
# :math:`\operatorname{sign}(w)` does not land on zero exactly: such a weight hovers within
# about :math:`\eta \lambda_1` of it, stepping across and back. Some pixels of the 8x8
# digits are blank in every image; their weights get no gradient from the data, so any
# penalty decays them, and without one they keep their initial values.

bins = np.logspace(-8, 0.5, 60)
fig, ax = plt.subplots(figsize=(10, 3.5))
for name, net in nets.items():
    ax.hist(np.abs(net.coefs_[0]).ravel(), bins=bins, histtype="step", lw=1.5, label=name)
ax.set(
    xscale="log",
    xlabel="$|w|$ for the weights of $W_1$",
    ylabel="weights",
    title=f"128 relu units, {EPOCHS} epochs",
)
ax.legend()
fig.tight_layout()

# %%
# The hidden units' input weights
# -------------------------------
# The first 16 units of each network. L1 keeps a few strong pixels per unit; L2 keeps
# smooth, smaller patterns.

fig, axes = plt.subplots(len(nets), 16, figsize=(10, 2.2))
for row, (name, net) in zip(axes, nets.items(), strict=True):
    W1 = net.coefs_[0]
    for j, ax in enumerate(row):
        limit = np.abs(W1[:, j]).max()
        ax.imshow(W1[:, j].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
fig.tight_layout()

plt.show()
