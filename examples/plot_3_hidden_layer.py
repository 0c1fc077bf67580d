r"""
One hidden layer: features the network learns
=============================================

A hidden layer of :math:`h` units computes :math:`a = f(W_1^\top x + b_1)` before the softmax
layer, so the ten classes are separated in a space of learned features instead of raw
pixels. Each column of :math:`W_1` is again a 64-pixel image: the pattern one hidden unit
responds to. This script trains networks of growing width and draws the features of one.
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
EPOCHS = 20 if QUICK else 60

# %%
# Width against accuracy
# ----------------------
# ``n_hidden=0`` is the softmax regression of the previous section. A layer narrower than the
# ten classes is a bottleneck that loses information; from a few dozen relu units on, the
# network matches softmax regression on the held-out digits, then beats it.

widths = [0, 4, 16, 64] if QUICK else [0, 2, 4, 8, 16, 32, 64, 128, 256]
seeds = [0] if QUICK else [0, 1, 2]
test_accuracy = []
for width in widths:
    scores = [
        NeuralNetworkClassifier(n_hidden=width, max_epochs=EPOCHS, random_state=seed)
        .fit(X_train, y_train)
        .score(X_test, y_test)
        for seed in seeds
    ]
    test_accuracy.append(np.mean(scores))
    print(f"n_hidden={width:>3}: test accuracy {np.mean(scores):.4f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(widths[1:], test_accuracy[1:], "o-", label="one hidden layer")
ax.axhline(test_accuracy[0], color="tab:gray", ls="--", label="softmax regression (n_hidden=0)")
ax.set_xscale("log", base=2)
ax.set_xticks(widths[1:], [str(w) for w in widths[1:]])
ax.set(
    xlabel="n_hidden",
    ylabel="held-out accuracy",
    title=f"relu, {EPOCHS} epochs, mean of {len(seeds)} seed(s)",
)
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()

# %%
# What 64 hidden units respond to
# -------------------------------
# The incoming weights of each unit, sorted by their norm. They start as noise (He
# initialisation) and become strokes and blobs: pieces that several digits share.

net = NeuralNetworkClassifier(n_hidden=64, max_epochs=EPOCHS, random_state=0).fit(X_train, y_train)
W1, W2 = net.coefs_  # (64, 64), (64, 10)
order = np.argsort(-np.linalg.norm(W1, axis=0))
fig, axes = plt.subplots(4, 16, figsize=(10, 2.8))
for ax, j in zip(axes.flat, order, strict=True):
    limit = np.abs(W1[:, j]).max()
    ax.imshow(W1[:, j].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.axis("off")
fig.suptitle("columns of $W_1$: the 64 hidden units' input weights (red +, blue -)")
fig.tight_layout()

# %%
# How the output layer uses them
# ------------------------------
# Row :math:`j` of :math:`W_2` says how much unit :math:`j`'s activation counts for each
# class. Most units vote for a few classes and against others.

fig, ax = plt.subplots(figsize=(10, 2.6))
limit = np.abs(W2).max()
image = ax.imshow(W2[order].T, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
ax.set(xlabel="hidden unit (same order as above)", ylabel="class k", title="$W_2^\\top$")
ax.set_yticks(range(10))
fig.colorbar(image, ax=ax)
fig.tight_layout()

plt.show()
