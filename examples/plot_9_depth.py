r"""
More than one hidden layer: 1, 2 and 3 layers side by side
==========================================================

The same recipe (relu, SGD with momentum 0.9, dropout, an exponential learning-rate decay)
trains networks of one, two and three hidden layers of equal width. The figure shows the
held-out accuracy after every epoch, the mean of several seeds, on the digits and, when
``$NNSWEEP_DATA_DIR`` holds it, on MNIST.
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

RECIPE = dict(
    learning_rate=0.05,
    momentum=0.9,
    learning_rate_schedule="exponential",
    learning_rate_decay=0.03,
    dropout_rate=0.2,
    n_iter_no_change=1000,  # every epoch, so that the curves have the same length
)


def curves(X_train, y_train, X_test, y_test, width, epochs, seeds, batch_size):
    """``{depth: held-out accuracy after each epoch, mean over seeds}``."""
    out = {}
    for depth in (1, 2, 3):
        runs = []
        for seed in seeds:
            net = NeuralNetworkClassifier(
                hidden_layer_sizes=(width,) * depth,
                max_epochs=epochs,
                batch_size=batch_size,
                random_state=seed,
                **RECIPE,
            )
            runs.append([net.score(X_test, y_test) for _ in net.iter_epochs(X_train, y_train)])
        out[depth] = np.mean(runs, axis=0)
        print(f"{depth} x {width}: held-out accuracy {out[depth][-1]:.4f} after {epochs} epochs")
    return out


def plot(ax, results, title):
    """One curve per depth on ``ax``."""
    for depth, acc in results.items():
        ax.plot(np.arange(1, len(acc) + 1), acc, label=f"{depth} hidden layer{'s' * (depth > 1)}")
    ax.set(xlabel="epoch", ylabel="held-out accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


# %%
# On the digits
# -------------
# 1,347 training images, 450 held out; 128 units a layer. All three depths land within the
# seeds' spread of each other: on 8x8 images, one layer already has the features it needs.

digits = load_dataset("digits")
X_train, X_test, y_train, y_test = train_test_split(
    digits.X_train, digits.y_train, test_size=0.25, random_state=0
)
epochs, seeds = (10, [0]) if QUICK else (40, [0, 1, 2])
on_digits = curves(X_train, y_train, X_test, y_test, 128, epochs, seeds, batch_size=32)
fig, ax = plt.subplots(figsize=(6, 3.2))
plot(ax, on_digits, f"digits, 128 relu units a layer, mean of {len(seeds)} seed(s)")
ax.set_ylim(0.9, 1.0)
fig.tight_layout()

# %%
# On MNIST
# --------
# 10,000 training images (the first ones) and the official 10,000 test images, 256 units a
# layer. Skipped, with a note, when the MNIST files are not in ``$NNSWEEP_DATA_DIR``.

data_dir = os.environ.get("NNSWEEP_DATA_DIR")
try:
    if not data_dir:
        raise DatasetError("NNSWEEP_DATA_DIR is not set")
    mnist = load_dataset("mnist", data_dir=data_dir)
except DatasetError as exc:
    mnist = None
    print(f"Note: MNIST skipped ({str(exc).split('. ')[0]}).")

if mnist is not None:
    n, epochs = (3000, 3) if QUICK else (10000, 20)
    on_mnist = curves(
        mnist.X_train[:n], mnist.y_train[:n], mnist.X_test, mnist.y_test, 256, epochs, [0], 64
    )
    fig, ax = plt.subplots(figsize=(6, 3.2))
    plot(ax, on_mnist, f"MNIST, {n:,} training images, 256 relu units a layer")
    fig.tight_layout()

plt.show()
