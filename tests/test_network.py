"""Tests for nnsweep.nn.network: initialisation, forward pass, penalty and backpropagation,
at every depth from softmax regression (no hidden layer) to three hidden layers."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from nnsweep.nn.functions import cross_entropy, log_softmax
from nnsweep.nn.network import WeightGradient, backward, forward, init_params, penalty

ACTIVATION_NAMES = ["relu", "tanh", "sigmoid"]
PENALTIES = {"none": (0.0, 0.0), "l2": (0.0, 0.1), "l1": (0.05, 0.0), "l1+l2": (0.05, 0.1)}
N_SAMPLES, N_FEATURES, N_CLASSES = 5, 4, 3
# The hidden layers' widths at each depth: 0 is softmax regression; widths differ from layer
# to layer, so that a transposed weight or a mask on the wrong layer fails on its shape.
DEPTHS = {0: (), 1: (3,), 2: (4, 3), 3: (3, 5, 4)}
depths = pytest.mark.parametrize("depth", list(DEPTHS))

# A fixed inverted-dropout mask for rate 1/2 and 3 units: every sample drops at least one
# unit, every unit is dropped by some sample and kept by another.
HIDDEN_MASK = np.array(
    [[2.0, 0.0, 2.0], [0.0, 2.0, 2.0], [2.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 2.0]]
)


def _masks(sizes):
    """Fixed masks ``[M_1, ...]``, one per hidden layer, with `HIDDEN_MASK`'s properties:
    sample ``i`` drops unit ``j`` of hidden layer ``k`` (from 0) when ``(i + j + k) % 3 == 0``."""
    i, j = np.ogrid[:N_SAMPLES, : max(sizes, default=0)]
    return [np.where((i + j[:, :h] + k) % 3 == 0, 0.0, 2.0) for k, h in enumerate(sizes)]


# Finite differences: central, step H. For the float64 objective J ~ 1, the
# round-off error of (J(w + h) - J(w - h)) / 2h is ~ eps * J / h ~ 2e-16 / 1e-6
# = 2e-10 and the truncation error is ~ h**2 * J''' / 6 ~ 1e-13, so the
# numerical gradient is good to an absolute ~1e-9. Entries are checked with
# rtol=1e-6 plus atol=1e-8 (for entries that are themselves ~1e-8), and the
# whole gradient with the norm-wise relative error < 1e-6 (observed: ~1e-9).
H = 1e-6
RTOL, ATOL, NORM_RTOL = 1e-6, 1e-8, 1e-6


def _problem(sizes, activation, seed=1):
    """Five samples, four features, three classes, float64 weights and non-zero biases.

    Seed 1 keeps every weight and every relu pre-activation 1000 H from a kink at every
    depth, with the masks and without (`_assert_away_from_kinks`; seed 0 does not at depth 3).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y = np.array([0, 1, 2, 1, 0])
    coefs, intercepts = init_params(N_FEATURES, sizes, N_CLASSES, activation, rng, np.float64)
    intercepts = [rng.normal(scale=0.1, size=b.shape) for b in intercepts]  # zero is too easy
    return X, y, coefs, intercepts


def _objective(coefs, intercepts, X, y, activation, l1, l2, masks):
    acts = forward(coefs, intercepts, X, activation, masks)
    return cross_entropy(log_softmax(acts.logits), y) + penalty(coefs, l1, l2)


def _numerical_gradients(coefs, intercepts, X, y, activation, l1, l2, masks):
    """Central differences of `_objective` for every weight and bias."""
    grads = []
    for param in coefs + intercepts:
        grad = np.empty_like(param)
        for i in np.ndindex(param.shape):
            old = param[i]
            param[i] = old + H
            j_plus = _objective(coefs, intercepts, X, y, activation, l1, l2, masks)
            param[i] = old - H
            j_minus = _objective(coefs, intercepts, X, y, activation, l1, l2, masks)
            param[i] = old
            grad[i] = (j_plus - j_minus) / (2 * H)
        grads.append(grad)
    n_layers = len(coefs)
    return grads[:n_layers], grads[n_layers:]


def _assert_gradients_close(analytic, numerical):
    for a, n in zip(analytic, numerical, strict=True):
        assert a.shape == n.shape
        assert_allclose(a, n, rtol=RTOL, atol=ATOL)
    a = np.concatenate([g.ravel() for g in analytic])
    n = np.concatenate([g.ravel() for g in numerical])
    assert np.linalg.norm(a - n) / np.linalg.norm(a + n) < NORM_RTOL


def _assert_away_from_kinks(X, coefs, intercepts, activation, l1, masks):
    """Finite differences are only valid where relu and |W| are differentiable."""
    A = X
    for W, b, M in zip(coefs[:-1], intercepts[:-1], masks, strict=True):
        Z = A @ W + b  # every hidden layer's pre-activations: relu's kink at 0
        assert activation != "relu" or np.abs(Z).min() > 1000 * H
        A = np.maximum(Z, 0) * M
    if l1:
        assert min(np.abs(W).min() for W in coefs) > 1000 * H  # |W|'s kink at 0


# --- gradient check -----------------------------------------------------------------------


@pytest.mark.parametrize("dropout", [False, True], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("penalty_name", list(PENALTIES))
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@depths
def test_backward_matches_finite_differences(depth, activation, penalty_name, dropout):
    l1, l2 = PENALTIES[penalty_name]
    sizes = DEPTHS[depth]
    X, y, coefs, intercepts = _problem(sizes, activation)
    masks = _masks(sizes) if dropout else None
    _assert_away_from_kinks(X, coefs, intercepts, activation, l1, masks or [1.0] * depth)

    acts = forward(coefs, intercepts, X, activation, masks)
    loss, coef_grads, intercept_grads = backward(coefs, acts, y, activation, l1, l2, masks)
    num_coef_grads, num_intercept_grads = _numerical_gradients(
        coefs, intercepts, X, y, activation, l1, l2, masks
    )

    assert len(coef_grads) == len(intercept_grads) == depth + 1
    _assert_gradients_close(coef_grads, num_coef_grads)
    _assert_gradients_close(intercept_grads, num_intercept_grads)
    assert loss == pytest.approx(cross_entropy(log_softmax(acts.logits), y), rel=1e-15)


def test_the_masks_of_the_gradient_check_drop_and_keep_every_unit():
    for sizes in DEPTHS.values():
        for M in _masks(sizes):
            assert ((M == 0).any(axis=1)).all()  # every sample drops a unit
            assert ((M == 0).any(axis=0) & (M == 2).any(axis=0)).all()  # dropped and kept
    assert _masks(()) == []


@pytest.mark.parametrize("sizes", [(3,), (3, 4)], ids=["1 hidden", "2 hidden"])
def test_dropped_units_get_no_incoming_gradient_from_that_sample(sizes):
    # Sample 3 drops units 1 and 2 of the first hidden layer (and nothing above it): alone,
    # it sends gradient only into unit 0, and only unit 0's outgoing weights get gradient.
    X, y, coefs, intercepts = _problem(sizes, "tanh")
    masks = [HIDDEN_MASK[3:4]] + [np.ones((1, h)) for h in sizes[1:]]
    acts = forward(coefs, intercepts, X[3:4], "tanh", masks)
    _, coef_grads, intercept_grads = backward(coefs, acts, y[3:4], "tanh", hidden_masks=masks)
    assert_array_equal(coef_grads[0][:, 1:], 0.0)
    assert_array_equal(intercept_grads[0][1:], 0.0)
    assert_array_equal(coef_grads[1][1:, :], 0.0)
    assert np.all(coef_grads[0][:, 0] != 0.0)
    assert np.all(coef_grads[1][0, :] != 0.0)


@pytest.mark.parametrize("penalty_name", list(PENALTIES))
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@depths
def test_unevaluated_weight_gradients_are_the_same_products(depth, activation, penalty_name):
    # evaluate=False gives dJ/dW = A.T @ delta + penalty unevaluated; evaluated, it is
    # the gradient that the finite-difference checks above accept, bit for bit.
    sizes = DEPTHS[depth]
    X, y, coefs, intercepts = _problem(sizes, activation)
    l1, l2 = PENALTIES[penalty_name]
    masks = _masks(sizes)
    acts = forward(coefs, intercepts, X, activation, masks)
    loss, coef_grads, intercept_grads = backward(coefs, acts, y, activation, l1, l2, masks)
    loss_d, deferred, intercept_grads_d = backward(
        coefs, acts, y, activation, l1, l2, masks, evaluate=False
    )
    assert loss_d == loss
    assert acts.A[0] is X and len(acts.A) == depth + 1
    for g, d, W, A in zip(coef_grads, deferred, coefs, acts.A, strict=True):
        assert isinstance(d, WeightGradient) and isinstance(d, tuple)
        assert d.A is A and d.delta.shape == (N_SAMPLES, W.shape[1])
        assert (d.penalty is None) == (l1 == l2 == 0.0)
        assert_array_equal(d.evaluate(), g)
    for g, d in zip(intercept_grads, intercept_grads_d, strict=True):
        assert_array_equal(d, g)


@depths
def test_backward_leaves_its_inputs_unchanged(depth):
    sizes = DEPTHS[depth]
    X, y, coefs, intercepts = _problem(sizes, "relu")
    masks = _masks(sizes)
    acts = forward(coefs, intercepts, X, "relu", masks)
    before = [a.copy() for a in [*acts.A, *acts.H, acts.logits, *coefs, *masks]]
    backward(coefs, acts, y, "relu", 0.05, 0.1, masks)
    backward(coefs, acts, y, "relu", 0.05, 0.1, masks, evaluate=False)
    for a, b in zip([*acts.A, *acts.H, acts.logits, *coefs, *masks], before, strict=True):
        assert_array_equal(a, b)


@depths
def test_backward_keeps_float32(depth):
    sizes = DEPTHS[depth]
    X, y, coefs, intercepts = _problem(sizes, "relu")
    coefs = [W.astype(np.float32) for W in coefs]
    intercepts = [b.astype(np.float32) for b in intercepts]
    X32 = X.astype(np.float32)
    masks = [M.astype(np.float32) for M in _masks(sizes)]
    acts = forward(coefs, intercepts, X32, "relu", masks)
    assert acts.logits.dtype == np.float32
    assert all(a.dtype == np.float32 for a in acts.A + acts.H)
    _, coef_grads, intercept_grads = backward(coefs, acts, y, "relu", 0.05, 0.1, masks)
    assert all(g.dtype == np.float32 for g in coef_grads + intercept_grads)
    _, deferred, _ = backward(coefs, acts, y, "relu", 0.05, 0.1, masks, evaluate=False)
    for d in deferred:
        assert d.delta.dtype == d.penalty.dtype == d.evaluate().dtype == np.float32


# --- sparse input -------------------------------------------------------------------------


@pytest.mark.parametrize("sparse_format", [sp.csr_array, sp.csr_matrix])
@depths
def test_gradients_with_sparse_input_equal_dense(depth, sparse_format):
    sizes = DEPTHS[depth]
    X, y, coefs, intercepts = _problem(sizes, "tanh")
    X[np.abs(X) < 0.7] = 0.0  # make it actually sparse
    X_sparse = sparse_format(X)
    assert X_sparse.nnz < X.size
    l1, l2 = PENALTIES["l1+l2"]
    masks = _masks(sizes)

    acts_dense = forward(coefs, intercepts, X, "tanh", masks)
    acts_sparse = forward(coefs, intercepts, X_sparse, "tanh", masks)
    assert type(acts_sparse.logits) is np.ndarray
    assert all(type(a) is np.ndarray for a in acts_sparse.A[1:] + acts_sparse.H)
    assert_allclose(acts_sparse.logits, acts_dense.logits, rtol=1e-13)

    dense = backward(coefs, acts_dense, y, "tanh", l1, l2, masks)
    sparse = backward(coefs, acts_sparse, y, "tanh", l1, l2, masks)
    assert sparse[0] == pytest.approx(dense[0], rel=1e-13)
    for g_sparse, g_dense in zip(sparse[1] + sparse[2], dense[1] + dense[2], strict=True):
        assert type(g_sparse) is np.ndarray  # not np.matrix, not sparse
        assert g_sparse.shape == g_dense.shape
        assert_allclose(g_sparse, g_dense, rtol=1e-12, atol=1e-15)


# --- init_params --------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@depths
def test_init_params_shapes_and_zero_biases(depth, activation):
    sizes = DEPTHS[depth]
    coefs, intercepts = init_params(4, sizes, 5, activation, np.random.default_rng(0))
    widths = [4, *sizes, 5]
    assert [W.shape for W in coefs] == list(zip(widths[:-1], widths[1:], strict=True))
    assert [b.shape for b in intercepts] == [(h,) for h in widths[1:]]
    for b in intercepts:
        assert_array_equal(b, 0.0)


@depths
def test_init_params_dtype_is_float32_by_default(depth):
    coefs, intercepts = init_params(4, DEPTHS[depth], 2, "relu", np.random.default_rng(0))
    assert all(p.dtype == np.float32 for p in coefs + intercepts)


@depths
def test_init_params_honours_float64(depth):
    rng = np.random.default_rng(0)
    coefs, intercepts = init_params(4, DEPTHS[depth], 2, "tanh", rng, np.float64)
    assert all(p.dtype == np.float64 for p in coefs + intercepts)


@pytest.mark.parametrize("layer", [0, 1])
def test_init_params_he_normal_for_relu_hidden_layers(layer):
    sizes = (2000, 50)  # 100 000 draws in layer 1: sample std within ~0.3% of the truth
    coefs, _ = init_params(2000, sizes, 10, "relu", np.random.default_rng(0), np.float64)
    W, fan_in = coefs[layer], coefs[layer].shape[0]
    assert W.std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.02)
    assert abs(W.mean()) < 5 * np.sqrt(2.0 / fan_in) / np.sqrt(W.size)  # 5 standard errors
    # Normal, not uniform: some draws lie beyond 3 standard deviations.
    assert np.abs(W).max() > 3 * np.sqrt(2.0 / fan_in)


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_init_params_glorot_uniform_for_tanh_and_sigmoid(activation, layer):
    sizes = (2000, 50)
    coefs, _ = init_params(2000, sizes, 10, activation, np.random.default_rng(0), np.float64)
    W = coefs[layer]
    bound = np.sqrt(6.0 / sum(W.shape))
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.99 * bound  # fills the interval
    assert W.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.02)  # uniform's std


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("sizes", [(300,), (), (50, 300)])
def test_init_params_glorot_uniform_for_softmax_layer(activation, sizes):
    n_features, n_classes = 200, 10
    coefs, _ = init_params(
        n_features, sizes, n_classes, activation, np.random.default_rng(0), np.float64
    )
    W_out = coefs[-1]
    fan_in = sizes[-1] if sizes else n_features
    bound = np.sqrt(6.0 / (fan_in + n_classes))
    assert np.abs(W_out).max() <= bound
    assert np.abs(W_out).max() > 0.95 * bound
    assert W_out.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.05)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_init_params_same_seed_gives_identical_params(activation):
    a = init_params(6, (4, 5), 3, activation, np.random.default_rng(7))
    b = init_params(6, (4, 5), 3, activation, np.random.default_rng(7))
    c = init_params(6, (4, 5), 3, activation, np.random.default_rng(8))
    for p, q in zip(a[0] + a[1], b[0] + b[1], strict=True):
        assert_array_equal(p, q)
    assert not np.array_equal(a[0][0], c[0][0])


def test_init_params_draws_layer_by_layer_from_the_first():
    # The first layers' weights do not depend on what is stacked above them.
    a, _ = init_params(6, (4,), 3, "relu", np.random.default_rng(7))
    b, _ = init_params(6, (4, 5, 2), 3, "relu", np.random.default_rng(7))
    assert_array_equal(a[0], b[0])


# --- penalty and forward ------------------------------------------------------------------


def test_penalty_worked_example():
    W1 = np.array([[1.0, -2.0], [0.5, 0.0]])
    W2 = np.array([[-3.0], [1.0]])
    # sum W**2 = 1 + 4 + 0.25 + 0 + 9 + 1 = 15.25 ; sum |W| = 1 + 2 + 0.5 + 0 + 3 + 1 = 7.5
    assert penalty([W1, W2]) == 0.0
    assert penalty([W1, W2], l2=0.2) == pytest.approx(0.1 * 15.25)
    assert penalty([W1, W2], l1=0.3) == pytest.approx(0.3 * 7.5)
    assert penalty([W1, W2], l1=0.3, l2=0.2) == pytest.approx(0.3 * 7.5 + 0.1 * 15.25)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    l1=st.floats(0.0, 10.0),
    l2=st.floats(0.0, 10.0),
    sizes=st.lists(st.integers(1, 4), max_size=3),
)
def test_penalty_is_l2_half_squared_norm_plus_l1_norm_of_weights(seed, l1, l2, sizes):
    coefs, _ = init_params(3, sizes, 2, "tanh", np.random.default_rng(seed), np.float64)
    sq = sum(float(np.sum(W**2)) for W in coefs)
    ab = sum(float(np.sum(np.abs(W))) for W in coefs)
    value = penalty(coefs, l1=l1, l2=l2)
    assert value >= 0.0
    assert value == pytest.approx(0.5 * l2 * sq + l1 * ab, rel=1e-12, abs=1e-300)


def test_penalty_is_not_divided_by_the_number_of_samples():
    # Same weights, any batch: the penalty part of the gradient is l2 * W + l1 * sign(W).
    W = [np.array([[2.0, -1.0]]), np.array([[1.0], [-1.0]])]
    for n in (1, 10):
        y = np.zeros(n, dtype=int)
        acts_a = forward(W, [np.zeros(2), np.zeros(1)], np.ones((n, 1)), "tanh")
        _, g_plain, _ = backward(W, acts_a, y, "tanh")
        _, g_pen, _ = backward(W, acts_a, y, "tanh", l1=0.3, l2=0.2)
        for gp, g0, Wi in zip(g_pen, g_plain, W, strict=True):
            assert_allclose(gp - g0, 0.2 * Wi + 0.3 * np.sign(Wi), rtol=1e-12)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@depths
def test_forward_with_all_ones_masks_equals_no_masks(depth, activation):
    sizes = DEPTHS[depth]
    X, _, coefs, intercepts = _problem(sizes, activation)
    plain = forward(coefs, intercepts, X, activation)
    ones = forward(coefs, intercepts, X, activation, [np.ones((N_SAMPLES, h)) for h in sizes])
    for a, b in zip(
        [*plain.A, *plain.H, plain.logits], [*ones.A, *ones.H, ones.logits], strict=True
    ):
        assert_array_equal(a, b)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@depths
def test_forward_computes_the_stated_equations(depth, activation):
    sizes = DEPTHS[depth]
    X, _, coefs, intercepts = _problem(sizes, activation)
    masks = _masks(sizes)
    f = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    }[activation]
    A_expected, H_expected = [X], []
    for W, b, M in zip(coefs[:-1], intercepts[:-1], masks, strict=True):
        H_expected.append(f(A_expected[-1] @ W + b))  # H_l = f(A_{l-1} W_l + b_l)
        A_expected.append(H_expected[-1] * M)  # A_l = H_l * M_l
    logits_expected = A_expected[-1] @ coefs[-1] + intercepts[-1]
    acts = forward(coefs, intercepts, X, activation, masks)
    assert acts.A[0] is X
    assert len(acts.A) == depth + 1 and len(acts.H) == depth
    for got, expected in zip(acts.A[1:] + acts.H, A_expected[1:] + H_expected, strict=True):
        assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    assert_allclose(acts.logits, logits_expected, rtol=1e-13, atol=1e-15)


@depths
def test_forward_leaves_inputs_and_params_unchanged(depth):
    sizes = DEPTHS[depth]
    X, _, coefs, intercepts = _problem(sizes, "sigmoid")
    masks = _masks(sizes)
    snapshot = [a.copy() for a in [X, *coefs, *intercepts, *masks]]
    forward(coefs, intercepts, X, "sigmoid", masks)
    for a, b in zip([X, *coefs, *intercepts, *masks], snapshot, strict=True):
        assert_array_equal(a, b)
