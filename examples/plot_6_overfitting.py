r"""
Overfitting, and what L2 and dropout do about it
================================================

A network of 256 relu units trained on only 300 digits can drive its training loss to almost
zero. The loss on the other 1,497 digits, an estimate of the expected loss, stops falling
long before. The gap between the two curves is what regularisation is for.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from nnsweep import NeuralNetworkClassifier
from nnsweep.datasets import load_dataset

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

digits = load_dataset("digits")
X_train, X_val, y_train, y_val = train_test_split(
    digits.X_train, digits.y_train, train_size=300, random_state=0, stratify=digits.y_train
)
EPOCHS = 40 if QUICK else 150
settings = {
    "no penalty": {},
    "L2 = 1e-3": {"l2_penalty": 1e-3},
    "dropout 0.5": {"dropout_rate": 0.5},
    "dropout 0.5 + L2 = 1e-3": {"dropout_rate": 0.5, "l2_penalty": 1e-3},
}

# %%
# Training against validation curves
# ----------------------------------
# After every epoch (:meth:`~nnsweep.NeuralNetworkClassifier.iter_epochs` yields with the
# model ready to predict) we measure the cross-entropy on the training set, without dropout
# and without the penalty, and on the held-out set. Left, dashed: training; solid: held out.
# Right: the held-out loss alone, zoomed in, with a dot at its lowest point.

fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 4))
for (name, params), color in zip(settings.items(), plt.cm.tab10.colors, strict=False):
    net = NeuralNetworkClassifier(
        hidden_layer_sizes=(256,),
        learning_rate=0.05,
        momentum=0.9,
        batch_size=32,
        max_epochs=EPOCHS,
        n_iter_no_change=EPOCHS,
        random_state=0,
        **params,
    )
    train_loss, val_loss, val_acc = [], [], []
    for _ in net.iter_epochs(X_train, y_train):
        train_loss.append(log_loss(y_train, net.predict_proba(X_train), labels=net.classes_))
        val_loss.append(log_loss(y_val, net.predict_proba(X_val), labels=net.classes_))
        val_acc.append(net.score(X_val, y_val))
    epochs = np.arange(1, len(val_loss) + 1)
    ax_loss.plot(epochs, train_loss, ls="--", color=color)
    ax_loss.plot(epochs, val_loss, color=color, label=name)
    ax_val.plot(epochs, val_loss, color=color, label=name)
    best = int(np.argmin(val_loss))
    ax_val.plot(best + 1, val_loss[best], "o", color=color)
    print(
        f"{name:<24} train loss {train_loss[-1]:.4f}  held-out loss {val_loss[-1]:.4f} "
        f"(lowest {val_loss[best]:.4f} at epoch {best + 1})  held-out accuracy {val_acc[-1]:.4f}"
    )
ax_loss.set(
    xlabel="epoch",
    ylabel="cross-entropy",
    yscale="log",
    title="300 training digits: training (dashed) and held out (solid)",
)
ax_loss.legend(fontsize=8)
ax_val.set(
    xlabel="epoch",
    ylabel="held-out cross-entropy",
    ylim=(0.1, 0.4),
    title="held out, zoomed (dot: lowest)",
)
ax_val.legend(fontsize=8)
fig.tight_layout()

plt.show()
