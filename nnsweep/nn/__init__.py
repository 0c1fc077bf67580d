"""The math core: a neural network from first principles, NumPy only.

* `functions`: activations and their derivatives, softmax, cross-entropy, dropout masks.
* `network`: the L-layer network's parameters, forward pass, loss and gradients.
* `optim`: SGD with momentum, the learning-rate schedules, max-norm.
* `training`: one epoch of shuffled mini-batches.
* `_blas`: the BLAS routines the optimiser's fused step calls through ctypes.

Imports nothing but NumPy and the standard library (an import-linter contract checks it).
"""
