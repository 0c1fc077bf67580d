r"""
Backpropagation, checked against finite differences
===================================================

:func:`nnsweep.nn.network.backward` computes the gradient of the objective with respect to every
weight and bias in one pass. Here we check it, number by number, against central
differences of the objective itself,

.. math:: \frac{\partial J}{\partial \theta_j} \approx
          \frac{J(\theta + \epsilon e_j) - J(\theta - \epsilon e_j)}{2 \epsilon},

in float64 on a small batch, with both penalties on and a fixed dropout mask, the case where
an indexing mistake would hide best.
"""

import matplotlib.pyplot as plt
import numpy as np

from nnsweep.datasets import load_dataset
from nnsweep.nn.functions import cross_entropy, dropout_mask, log_softmax
from nnsweep.nn.network import backward, forward, init_params, penalty

rng = np.random.default_rng(0)
digits = load_dataset("digits")
X = digits.X_train[:8].astype(np.float64)  # (n, d) = (8, 64)
y = digits.y_train[:8]
hidden_layer_sizes, activation, l1, l2 = (12,), "tanh", 1e-3, 1e-2
coefs, intercepts = init_params(64, hidden_layer_sizes, 10, activation, rng, dtype=np.float64)
masks = [dropout_mask((len(X), 12), 0.25, rng, dtype=np.float64)]  # the same mask every time


def objective(coefs, intercepts):
    """J = mean cross-entropy + l2/2 sum W^2 + l1 sum |W|, with the fixed dropout mask."""
    logits = forward(coefs, intercepts, X, activation, hidden_masks=masks).logits
    return cross_entropy(log_softmax(logits), y) + penalty(coefs, l1, l2)


acts = forward(coefs, intercepts, X, activation, hidden_masks=masks)
_, coef_grads, intercept_grads = backward(coefs, acts, y, activation, l1, l2, hidden_masks=masks)

params = coefs + intercepts
analytic = np.concatenate([g.ravel() for g in coef_grads + intercept_grads])
numeric = np.empty_like(analytic)
eps, i = 1e-6, 0
for p in params:
    for j in np.ndindex(p.shape):
        saved = p[j]
        p[j] = saved + eps
        j_plus = objective(coefs, intercepts)
        p[j] = saved - eps
        j_minus = objective(coefs, intercepts)
        p[j] = saved
        numeric[i] = (j_plus - j_minus) / (2 * eps)
        i += 1

relative = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)
print(f"{analytic.size} partial derivatives (W1, W2, b1, b2), eps = {eps}")
print(f"largest relative error  {relative.max():.2e}")
print(f"largest absolute error  {np.abs(analytic - numeric).max():.2e}")

# %%
# Every partial derivative, analytic against numeric
# --------------------------------------------------
# The points lie on the diagonal over several orders of magnitude; the histogram shows how far
# from it, as the relative error :math:`|g - \hat g| / (|g| + |\hat g|)`.

sizes = [p.size for p in params]
names = ["$W_1$", "$W_2$", "$b_1$", "$b_2$"]
fig, (ax_scatter, ax_hist) = plt.subplots(1, 2, figsize=(10, 4))
start = 0
for size, name in zip(sizes, names, strict=True):
    part = slice(start, start + size)
    ax_scatter.scatter(np.abs(numeric[part]), np.abs(analytic[part]), s=8, label=name)
    start += size
line = [1e-6, 1]
ax_scatter.plot(line, line, "k--", lw=0.8)
ax_scatter.set(
    xscale="log",
    yscale="log",
    xlim=line,
    ylim=line,
    xlabel="|central difference|",
    ylabel="|backward()|",
    title="gradient check: tanh, L1 + L2, dropout mask",
)
ax_scatter.legend()
ax_hist.hist(np.log10(np.maximum(relative, 1e-16)), bins=40, color="tab:gray")
ax_hist.set(
    xlabel="$\\log_{10}$ relative error",
    ylabel="partial derivatives",
    title=f"max {relative.max():.1e}",
)
fig.tight_layout()

plt.show()
