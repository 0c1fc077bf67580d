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
from nnsweep.datasets import DatasetError, load_dataset
from nnsweep.nn.network import init_params

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
# ``hidden_layer_sizes=()`` is the softmax regression of the previous section. A layer
# narrower than the ten classes is a bottleneck that loses information; from a few dozen relu
# units on, the network matches softmax regression on the held-out digits, then beats it.

widths = [0, 4, 16, 64] if QUICK else [0, 2, 4, 8, 16, 32, 64, 128, 256]  # 0: no hidden layer
seeds = [0] if QUICK else [0, 1, 2]
test_accuracy = []
for width in widths:
    scores = [
        NeuralNetworkClassifier(
            hidden_layer_sizes=(width,) if width else (), max_epochs=EPOCHS, random_state=seed
        )
        .fit(X_train, y_train)
        .score(X_test, y_test)
        for seed in seeds
    ]
    test_accuracy.append(np.mean(scores))
    print(f"{width:>3} hidden units: test accuracy {np.mean(scores):.4f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(widths[1:], test_accuracy[1:], "o-", label="one hidden layer")
ax.axhline(
    test_accuracy[0], color="tab:gray", ls="--", label="softmax regression (no hidden layer)"
)
ax.set_xscale("log", base=2)
ax.set_xticks(widths[1:], [str(w) for w in widths[1:]])
ax.set(
    xlabel="hidden units",
    ylabel="held-out accuracy",
    title=f"relu, {EPOCHS} epochs, mean of {len(seeds)} seed(s)",
)
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()

# %%
# What training wrote into the 64 hidden units
# --------------------------------------------
# Each column of :math:`W_1` is a 64-pixel image. Right after initialisation it is noise
# (He initialisation, drawn by :func:`~nnsweep.nn.network.init_params` from
# ``default_rng(random_state)``, which we draw again here), and on 8x8 images much of that
# noise is still there after training. What the data added is the *change*
# :math:`W_1 - W_1^{(0)}`: strokes and blobs, pieces that several digits share. A unit whose
# change is exactly zero never fired on any training image: it was dead from the start
# (section 3's caveat about relu) and learned nothing.

net = NeuralNetworkClassifier(hidden_layer_sizes=(64,), max_epochs=EPOCHS, random_state=0)
net.fit(X_train, y_train)
W1, W2 = net.coefs_  # (64, 64), (64, 10)
(W1_init, _), _ = init_params(64, (64,), 10, "relu", np.random.default_rng(0))
barely_trained = NeuralNetworkClassifier(
    hidden_layer_sizes=(64,), learning_rate=1e-12, max_epochs=1, random_state=0
).fit(X_train, y_train)
assert np.allclose(barely_trained.coefs_[0], W1_init, atol=1e-6), "initial weights not matched"
change = W1 - W1_init
order = np.argsort(-np.linalg.norm(change, axis=0))
dead = int(np.sum(np.abs(change).max(axis=0) == 0))
print(
    f"||W1_init|| = {np.linalg.norm(W1_init):.2f}, ||W1|| = {np.linalg.norm(W1):.2f}, "
    f"||W1 - W1_init|| = {np.linalg.norm(change):.2f}; units that never fired: {dead}"
)

fig, axes = plt.subplots(4, 16, figsize=(10, 2.8))
for ax, j in zip(axes.flat, order, strict=True):
    limit = np.abs(change[:, j]).max() or 1.0
    ax.imshow(change[:, j].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.axis("off")
fig.suptitle("$W_1 - W_1^{(0)}$: what training added to each unit's input weights (red +, blue -)")
fig.tight_layout()

# %%
# How the output layer uses them
# ------------------------------
# Row :math:`j` of :math:`W_2` says how much unit :math:`j`'s activation counts for each
# class. Most units vote for a few classes and against others; a dead unit's row keeps its
# initial values, since its activation is always zero.

fig, ax = plt.subplots(figsize=(10, 2.6))
limit = np.abs(W2).max()
image = ax.imshow(W2[order].T, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
ax.set(xlabel="hidden unit (same order as above)", ylabel="class k", title="$W_2^\\top$")
ax.set_yticks(range(10))
fig.colorbar(image, ax=ax)
fig.tight_layout()

# %%
# On MNIST the features are easier to see
# ---------------------------------------
# 64 relu units trained on MNIST images, drawn as 28x28 images: stroke detectors, some still
# close to their random start. Skipped, with a note, when the MNIST files are not in
# ``$NNSWEEP_DATA_DIR``.

data_dir = os.environ.get("NNSWEEP_DATA_DIR")
try:
    if not data_dir:
        raise DatasetError("NNSWEEP_DATA_DIR is not set")
    mnist = load_dataset("mnist", data_dir=data_dir)
except DatasetError as exc:
    mnist = None
    print(f"Note: MNIST skipped ({str(exc).split('. ')[0]}).")

if mnist is not None:
    n = 5000 if QUICK else 10000
    on_mnist = NeuralNetworkClassifier(
        hidden_layer_sizes=(64,), l2_penalty=1e-3, max_epochs=5 if QUICK else 10, random_state=0
    ).fit(mnist.X_train[:n], mnist.y_train[:n])
    print(f"MNIST, {n} images: test accuracy {on_mnist.score(mnist.X_test, mnist.y_test):.4f}")
    W = on_mnist.coefs_[0]  # (784, 64)
    fig, axes = plt.subplots(4, 16, figsize=(10, 2.8))
    for ax, j in zip(axes.flat, np.argsort(-np.linalg.norm(W, axis=0)), strict=True):
        limit = np.abs(W[:, j]).max()
        ax.imshow(W[:, j].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.axis("off")
    fig.suptitle(f"columns of $W_1$ after training on {n} MNIST images")
    fig.tight_layout()

plt.show()

# sphinx_gallery_thumbnail_number = 2
