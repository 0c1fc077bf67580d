r"""
The learning problem: images as vectors
=======================================

A data set of labelled images is a sample :math:`(x_i, y_i)`, :math:`i = 1..n`, drawn from an
unknown distribution :math:`\mathcal{D}`. Each image is a vector: 64 pixels for the 8x8
digits that ship with scikit-learn, 784 for MNIST's 28x28. Here we look at both, as
:func:`nnsweep.datasets.load_dataset` returns them: float32 pixels in [0, 1], integer labels.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from nnsweep.datasets import DatasetError, load_dataset

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

digits = load_dataset("digits")
X, y = digits.X_train, digits.y_train
print(f"{digits.name}: X {X.shape} {X.dtype}, y {y.shape} {y.dtype}, classes {digits.classes}")
print(f"pixel range [{X.min()}, {X.max()}], from {digits.source}")

# %%
# Twenty digits, drawn from their 64-vectors
# ------------------------------------------
# The network never sees an image, only the vector :math:`x \in [0, 1]^{64}`: the order of
# the pixels carries no meaning for it (shuffle the columns of ``X`` the same way for every
# sample and it learns just as well).

fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
for ax, x, label in zip(axes.flat, X[:20], y[:20], strict=True):
    ax.imshow(x.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(str(label))
    ax.axis("off")
fig.suptitle("digits: the first 20 samples (8x8 = 64 features each)")
fig.tight_layout()

# %%
# One digit as the vector the network reads, and the class balance
# ------------------------------------------------------------------
# The empirical distribution of the labels is close to uniform, so accuracy is a fair
# first metric, and a classifier that always answers the most common class scores about 0.1.

fig, (ax_vec, ax_count) = plt.subplots(1, 2, figsize=(10, 3), width_ratios=[2, 1])
ax_vec.bar(np.arange(64), X[0], color="tab:blue")
ax_vec.set(xlabel="feature index j", ylabel="$x_j$", title=f"$x_0$, a '{y[0]}', as a vector")
counts = np.bincount(y)
ax_count.bar(digits.classes, counts, color="tab:gray")
ax_count.set(xlabel="class k", ylabel="samples", title=f"labels (n = {len(y)})")
ax_count.set_xticks(digits.classes)
fig.tight_layout()

# %%
# The mean image of each class
# ----------------------------
# The class means are what the simplest linear classifier would compare a digit against.
# Softmax regression (:ref:`the next section <tutorial-single-neuron>`) learns templates of
# the same size, but chosen to discriminate rather than to average.

fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for k, ax in enumerate(axes):
    ax.imshow(X[y == k].mean(axis=0).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"mean {k}")
    ax.axis("off")
fig.tight_layout()

# %%
# MNIST, when its files are here
# ------------------------------
# MNIST is the write-up's real subject: 60,000 training and 10,000 test images of 28x28 =
# 784 pixels. nnsweep never downloads it; it reads the IDX files from ``$NNSWEEP_DATA_DIR``.

data_dir = os.environ.get("NNSWEEP_DATA_DIR")
try:
    if not data_dir:
        raise DatasetError("NNSWEEP_DATA_DIR is not set")
    mnist = load_dataset("mnist", data_dir=data_dir)
except DatasetError as exc:
    mnist = None
    print(
        f"Note: MNIST skipped ({str(exc).split('. ')[0]}); the digits above tell the same story."
    )

if mnist is not None:
    print(f"mnist: X_train {mnist.X_train.shape}, X_test {mnist.X_test.shape}")
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
    for ax, x, label in zip(axes.flat, mnist.X_train[:20], mnist.y_train[:20], strict=True):
        ax.imshow(x.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(str(label))
        ax.axis("off")
    fig.suptitle("MNIST: the first 20 training images (28x28 = 784 features each)")
    fig.tight_layout()

plt.show()
