r"""
A single layer: softmax regression and its ten templates
========================================================

With ``hidden_layer_sizes=()`` :class:`~nnsweep.NeuralNetworkClassifier` has no hidden layer:
the logits are :math:`z = W^\top x + b` with :math:`W \in \mathbb{R}^{64 \times 10}`, and the
class probabilities are their softmax. Column :math:`k` of :math:`W` is a 64-pixel image, the
template that class :math:`k`'s score is the dot product with. This script trains it and
draws the ten templates.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from nnsweep import NeuralNetworkClassifier
from nnsweep.datasets import DatasetError, load_dataset

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

digits = load_dataset("digits")
X_train, X_test, y_train, y_test = train_test_split(
    digits.X_train, digits.y_train, test_size=0.25, random_state=0
)
softmax_regression = NeuralNetworkClassifier(
    hidden_layer_sizes=(),
    learning_rate=0.1,
    momentum=0.9,
    max_epochs=15 if QUICK else 60,
    random_state=0,
).fit(X_train, y_train)
(W,) = softmax_regression.coefs_  # (64, 10)
print(f"W: {W.shape}, epochs run: {softmax_regression.n_iter_}")
print(f"train accuracy {softmax_regression.score(X_train, y_train):.4f}")
print(f"test accuracy  {softmax_regression.score(X_test, y_test):.4f}")


def show_templates(W, side, title):
    """Draw each column of W as a side x side image, red for positive, blue for negative."""
    fig, axes = plt.subplots(1, W.shape[1], figsize=(10, 1.6))
    for k, ax in enumerate(axes):
        limit = np.abs(W[:, k]).max()
        ax.imshow(W[:, k].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"$w_{k}$")
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()


# %%
# The ten weight templates
# ------------------------
# Red pixels raise the class's logit, blue ones lower it. The templates are not class means:
# a '0' template punishes ink in the middle, where a '0' has none and most other digits do.

show_templates(W, 8, "softmax regression on digits: the columns of W (no hidden layer)")

# %%
# The loss curve
# --------------
# The objective is convex in :math:`(W, b)`: there is one minimum, and SGD with a small
# enough step walks down to it without getting stuck.

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(np.arange(1, softmax_regression.n_iter_ + 1), softmax_regression.loss_curve_)
ax.set(xlabel="epoch", ylabel="training cross-entropy", yscale="log", title="no hidden layer")
fig.tight_layout()

# %%
# On MNIST the templates are easier to read
# -----------------------------------------
# With 784 pixels the templates show the strokes. Skipped, with a note, when the MNIST files
# are not in ``$NNSWEEP_DATA_DIR``.

data_dir = os.environ.get("NNSWEEP_DATA_DIR")
try:
    if not data_dir:
        raise DatasetError("NNSWEEP_DATA_DIR is not set")
    mnist = load_dataset("mnist", data_dir=data_dir)
except DatasetError as exc:
    mnist = None
    print(f"Note: MNIST skipped ({str(exc).split('. ')[0]}).")

if mnist is not None:
    n = 5000 if QUICK else 20000
    on_mnist = NeuralNetworkClassifier(
        hidden_layer_sizes=(),
        learning_rate=0.05,
        l2_penalty=1e-3,
        max_epochs=5 if QUICK else 10,
        random_state=0,
    ).fit(mnist.X_train[:n], mnist.y_train[:n])
    accuracy = on_mnist.score(mnist.X_test, mnist.y_test)
    print(f"MNIST, {n} training images: test accuracy {accuracy:.4f}")
    show_templates(on_mnist.coefs_[0], 28, f"softmax regression on {n} MNIST images")

plt.show()

# sphinx_gallery_thumbnail_number = 1
