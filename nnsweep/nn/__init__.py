"""The math core: a neural network from first principles, NumPy only.

* `functions`: activations and their derivatives, softmax, cross-entropy, dropout masks.
* `network`: the L-layer network's parameters, forward pass, loss and gradients.
* `optim`: SGD with momentum (the update rule on arrays), the learning-rate schedules, max-norm.
* `fused`: the same SGD step made with BLAS calls, to the same bits; the estimator trains with it.
* `training`: one epoch of shuffled mini-batches.
* `_blas`: the BLAS routines the fused step calls through ctypes, on NumPy's own BLAS.

Imports nothing but NumPy and the standard library (an import-linter contract checks it).
"""
