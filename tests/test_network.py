"""Tests for nnsweep.nn.network: initialisation, forward pass, penalty and backpropagation."""

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
N_SAMPLES, N_FEATURES, N_HIDDEN, N_CLASSES = 5, 4, 3, 3

# A fixed inverted-dropout mask for rate 1/2: every sample drops at least one
# unit, every unit is dropped by some sample and kept by another.
HIDDEN_MASK = np.array(
    [[2.0, 0.0, 2.0], [0.0, 2.0, 2.0], [2.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 2.0]]
)

# Finite differences: central, step H. For the float64 objective J ~ 1, the
# round-off error of (J(w + h) - J(w - h)) / 2h is ~ eps * J / h ~ 2e-16 / 1e-6
# = 2e-10 and the truncation error is ~ h**2 * J''' / 6 ~ 1e-13, so the
# numerical gradient is good to an absolute ~1e-9. Entries are checked with
# rtol=1e-6 plus atol=1e-8 (for entries that are themselves ~1e-8), and the
# whole gradient with the norm-wise relative error < 1e-6 (observed: ~1e-9).
H = 1e-6
RTOL, ATOL, NORM_RTOL = 1e-6, 1e-8, 1e-6


def _problem(n_hidden, activation, seed=0):
    """Five samples, four features, three classes, float64 weights and non-zero biases."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y = np.array([0, 1, 2, 1, 0])
    coefs, intercepts = init_params(N_FEATURES, n_hidden, N_CLASSES, activation, rng, np.float64)
    intercepts = [rng.normal(scale=0.1, size=b.shape) for b in intercepts]  # zero is too easy
    return X, y, coefs, intercepts


def _objective(coefs, intercepts, X, y, activation, l1, l2, mask):
    acts = forward(coefs, intercepts, X, activation, mask)
    return cross_entropy(log_softmax(acts.logits), y) + penalty(coefs, l1, l2)


def _numerical_gradients(coefs, intercepts, X, y, activation, l1, l2, mask):
    """Central differences of `_objective` for every weight and bias."""
    grads = []
    for param in coefs + intercepts:
        grad = np.empty_like(param)
        for i in np.ndindex(param.shape):
            old = param[i]
            param[i] = old + H
            j_plus = _objective(coefs, intercepts, X, y, activation, l1, l2, mask)
            param[i] = old - H
            j_minus = _objective(coefs, intercepts, X, y, activation, l1, l2, mask)
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


def _assert_away_from_kinks(X, coefs, intercepts, l1):
    """Finite differences are only valid where relu and |W| are differentiable."""
    if len(coefs) == 2:
        Z1 = X @ coefs[0] + intercepts[0]
        assert np.abs(Z1).min() > 1000 * H  # relu's kink at 0
    if l1:
        assert min(np.abs(W).min() for W in coefs) > 1000 * H  # |W|'s kink at 0


# --- gradient check -----------------------------------------------------------------------


@pytest.mark.parametrize("dropout", [False, True], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("penalty_name", list(PENALTIES))
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_backward_matches_finite_differences(activation, penalty_name, dropout):
    l1, l2 = PENALTIES[penalty_name]
    X, y, coefs, intercepts = _problem(N_HIDDEN, activation)
    _assert_away_from_kinks(X, coefs, intercepts, l1)
    mask = HIDDEN_MASK if dropout else None

    acts = forward(coefs, intercepts, X, activation, mask)
    loss, coef_grads, intercept_grads = backward(coefs, acts, y, activation, l1, l2, mask)
    num_coef_grads, num_intercept_grads = _numerical_gradients(
        coefs, intercepts, X, y, activation, l1, l2, mask
    )

    _assert_gradients_close(coef_grads, num_coef_grads)
    _assert_gradients_close(intercept_grads, num_intercept_grads)
    assert loss == pytest.approx(cross_entropy(log_softmax(acts.logits), y), rel=1e-15)


@pytest.mark.parametrize("penalty_name", list(PENALTIES))
def test_backward_matches_finite_differences_without_hidden_layer(penalty_name):
    l1, l2 = PENALTIES[penalty_name]
    X, y, coefs, intercepts = _problem(0, "relu")
    assert len(coefs) == 1 and coefs[0].shape == (N_FEATURES, N_CLASSES)
    _assert_away_from_kinks(X, coefs, intercepts, l1)

    acts = forward(coefs, intercepts, X)
    _, coef_grads, intercept_grads = backward(coefs, acts, y, l1=l1, l2=l2)
    num_coef_grads, num_intercept_grads = _numerical_gradients(
        coefs, intercepts, X, y, "relu", l1, l2, None
    )

    _assert_gradients_close(coef_grads, num_coef_grads)
    _assert_gradients_close(intercept_grads, num_intercept_grads)


def test_dropped_units_get_no_incoming_gradient_from_that_sample():
    # Sample 3 drops units 1 and 2: alone, it sends gradient only into unit 0.
    X, y, coefs, intercepts = _problem(N_HIDDEN, "tanh")
    mask = HIDDEN_MASK[3:4]
    acts = forward(coefs, intercepts, X[3:4], "tanh", mask)
    _, coef_grads, intercept_grads = backward(coefs, acts, y[3:4], "tanh", hidden_mask=mask)
    assert_array_equal(coef_grads[0][:, 1:], 0.0)
    assert_array_equal(intercept_grads[0][1:], 0.0)
    assert_array_equal(coef_grads[1][1:, :], 0.0)
    assert np.all(coef_grads[0][:, 0] != 0.0)


@pytest.mark.parametrize("penalty_name", list(PENALTIES))
@pytest.mark.parametrize("n_hidden", [N_HIDDEN, 0])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_unevaluated_weight_gradients_are_the_same_products(activation, n_hidden, penalty_name):
    # evaluate=False gives dJ/dW = A.T @ delta + penalty unevaluated; evaluated, it is
    # the gradient that the finite-difference checks above accept, bit for bit.
    X, y, coefs, intercepts = _problem(n_hidden, activation)
    l1, l2 = PENALTIES[penalty_name]
    mask = HIDDEN_MASK if n_hidden else None
    acts = forward(coefs, intercepts, X, activation, mask)
    loss, coef_grads, intercept_grads = backward(coefs, acts, y, activation, l1, l2, mask)
    loss_d, deferred, intercept_grads_d = backward(
        coefs, acts, y, activation, l1, l2, mask, evaluate=False
    )
    assert loss_d == loss
    inputs = [X] if n_hidden == 0 else [X, acts.A1]
    for g, d, W, A in zip(coef_grads, deferred, coefs, inputs, strict=True):
        assert isinstance(d, WeightGradient) and isinstance(d, tuple)
        assert d.A is A and d.delta.shape == (N_SAMPLES, W.shape[1])
        assert (d.penalty is None) == (l1 == l2 == 0.0)
        assert_array_equal(d.evaluate(), g)
    for g, d in zip(intercept_grads, intercept_grads_d, strict=True):
        assert_array_equal(d, g)


@pytest.mark.parametrize("n_hidden", [N_HIDDEN, 0])
def test_backward_leaves_its_inputs_unchanged(n_hidden):
    X, y, coefs, intercepts = _problem(n_hidden, "relu")
    mask = HIDDEN_MASK if n_hidden else None
    acts = forward(coefs, intercepts, X, "relu", mask)
    before = [None if a is None else a.copy() for a in acts]
    coefs_before = [W.copy() for W in coefs]
    mask_before = None if mask is None else mask.copy()
    backward(coefs, acts, y, "relu", 0.05, 0.1, mask)
    backward(coefs, acts, y, "relu", 0.05, 0.1, mask, evaluate=False)
    for a, b in zip(acts, before, strict=True):
        if b is None:
            assert a is None
        else:
            assert_array_equal(a, b)
    for W, W0 in zip(coefs, coefs_before, strict=True):
        assert_array_equal(W, W0)
    if mask is not None:
        assert_array_equal(mask, mask_before)


@pytest.mark.parametrize("n_hidden", [N_HIDDEN, 0])
def test_backward_keeps_float32(n_hidden):
    X, y, coefs, intercepts = _problem(n_hidden, "relu")
    coefs = [W.astype(np.float32) for W in coefs]
    intercepts = [b.astype(np.float32) for b in intercepts]
    X32 = X.astype(np.float32)
    mask = HIDDEN_MASK.astype(np.float32) if n_hidden else None
    acts = forward(coefs, intercepts, X32, "relu", mask)
    assert acts.logits.dtype == np.float32
    _, coef_grads, intercept_grads = backward(coefs, acts, y, "relu", 0.05, 0.1, mask)
    assert all(g.dtype == np.float32 for g in coef_grads + intercept_grads)
    _, deferred, _ = backward(coefs, acts, y, "relu", 0.05, 0.1, mask, evaluate=False)
    for d in deferred:
        assert d.delta.dtype == d.penalty.dtype == d.evaluate().dtype == np.float32


# --- sparse input -------------------------------------------------------------------------


@pytest.mark.parametrize("sparse_format", [sp.csr_array, sp.csr_matrix])
@pytest.mark.parametrize("n_hidden", [N_HIDDEN, 0])
def test_gradients_with_sparse_input_equal_dense(sparse_format, n_hidden):
    X, y, coefs, intercepts = _problem(n_hidden, "tanh")
    X[np.abs(X) < 0.7] = 0.0  # make it actually sparse
    X_sparse = sparse_format(X)
    assert X_sparse.nnz < X.size
    l1, l2 = PENALTIES["l1+l2"]
    mask = HIDDEN_MASK if n_hidden else None

    acts_dense = forward(coefs, intercepts, X, "tanh", mask)
    acts_sparse = forward(coefs, intercepts, X_sparse, "tanh", mask)
    assert type(acts_sparse.logits) is np.ndarray
    assert_allclose(acts_sparse.logits, acts_dense.logits, rtol=1e-13)

    dense = backward(coefs, acts_dense, y, "tanh", l1, l2, mask)
    sparse = backward(coefs, acts_sparse, y, "tanh", l1, l2, mask)
    assert sparse[0] == pytest.approx(dense[0], rel=1e-13)
    for g_sparse, g_dense in zip(sparse[1] + sparse[2], dense[1] + dense[2], strict=True):
        assert type(g_sparse) is np.ndarray  # not np.matrix, not sparse
        assert g_sparse.shape == g_dense.shape
        assert_allclose(g_sparse, g_dense, rtol=1e-12, atol=1e-15)


# --- init_params --------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_init_params_shapes_and_zero_biases(activation):
    coefs, intercepts = init_params(4, 3, 5, activation, np.random.default_rng(0))
    assert [W.shape for W in coefs] == [(4, 3), (3, 5)]
    assert [b.shape for b in intercepts] == [(3,), (5,)]
    for b in intercepts:
        assert_array_equal(b, 0.0)


def test_init_params_without_hidden_layer_is_one_layer():
    coefs, intercepts = init_params(4, 0, 5, "relu", np.random.default_rng(0))
    assert [W.shape for W in coefs] == [(4, 5)]
    assert [b.shape for b in intercepts] == [(5,)]
    assert_array_equal(intercepts[0], 0.0)


@pytest.mark.parametrize("n_hidden", [3, 0])
def test_init_params_dtype_is_float32_by_default(n_hidden):
    coefs, intercepts = init_params(4, n_hidden, 2, "relu", np.random.default_rng(0))
    assert all(p.dtype == np.float32 for p in coefs + intercepts)


@pytest.mark.parametrize("n_hidden", [3, 0])
def test_init_params_honours_float64(n_hidden):
    coefs, intercepts = init_params(4, n_hidden, 2, "tanh", np.random.default_rng(0), np.float64)
    assert all(p.dtype == np.float64 for p in coefs + intercepts)


def test_init_params_he_normal_for_relu_hidden_layer():
    fan_in, fan_out = 2000, 50  # 100 000 draws: sample std within ~0.3% of the truth
    coefs, _ = init_params(fan_in, fan_out, 10, "relu", np.random.default_rng(0), np.float64)
    W1 = coefs[0]
    assert W1.std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.02)
    assert abs(W1.mean()) < 5 * np.sqrt(2.0 / fan_in) / np.sqrt(W1.size)  # 5 standard errors
    # Normal, not uniform: some draws lie beyond 3 standard deviations.
    assert np.abs(W1).max() > 3 * np.sqrt(2.0 / fan_in)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_init_params_glorot_uniform_for_tanh_and_sigmoid(activation):
    fan_in, fan_out = 2000, 50
    coefs, _ = init_params(fan_in, fan_out, 10, activation, np.random.default_rng(0), np.float64)
    W1 = coefs[0]
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(W1).max() <= bound
    assert np.abs(W1).max() > 0.99 * bound  # fills the interval
    assert W1.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.02)  # uniform's std


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("n_hidden", [300, 0])
def test_init_params_glorot_uniform_for_softmax_layer(activation, n_hidden):
    n_features, n_classes = 200, 10
    coefs, _ = init_params(
        n_features, n_hidden, n_classes, activation, np.random.default_rng(0), np.float64
    )
    W_out = coefs[-1]
    fan_in = n_hidden or n_features
    bound = np.sqrt(6.0 / (fan_in + n_classes))
    assert np.abs(W_out).max() <= bound
    assert np.abs(W_out).max() > 0.95 * bound
    assert W_out.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.05)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_init_params_same_seed_gives_identical_params(activation):
    a = init_params(6, 4, 3, activation, np.random.default_rng(7))
    b = init_params(6, 4, 3, activation, np.random.default_rng(7))
    c = init_params(6, 4, 3, activation, np.random.default_rng(8))
    for p, q in zip(a[0] + a[1], b[0] + b[1], strict=True):
        assert_array_equal(p, q)
    assert not np.array_equal(a[0][0], c[0][0])


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
    n_hidden=st.integers(0, 4),
)
def test_penalty_is_l2_half_squared_norm_plus_l1_norm_of_weights(seed, l1, l2, n_hidden):
    coefs, _ = init_params(3, n_hidden, 2, "tanh", np.random.default_rng(seed), np.float64)
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
def test_forward_with_all_ones_mask_equals_no_mask(activation):
    X, _, coefs, intercepts = _problem(N_HIDDEN, activation)
    plain = forward(coefs, intercepts, X, activation)
    ones = forward(coefs, intercepts, X, activation, np.ones((N_SAMPLES, N_HIDDEN)))
    for a, b in zip(plain, ones, strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_forward_computes_the_stated_equations(activation):
    X, _, coefs, intercepts = _problem(N_HIDDEN, activation)
    f = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    }
    H_expected = f[activation](X @ coefs[0] + intercepts[0])
    A1_expected = H_expected * HIDDEN_MASK
    logits_expected = A1_expected @ coefs[1] + intercepts[1]
    acts = forward(coefs, intercepts, X, activation, HIDDEN_MASK)
    assert acts.X is X
    assert_allclose(acts.H, H_expected, rtol=1e-13, atol=1e-15)
    assert_allclose(acts.A1, A1_expected, rtol=1e-13, atol=1e-15)
    assert_allclose(acts.logits, logits_expected, rtol=1e-13, atol=1e-15)


def test_forward_without_hidden_layer_is_affine():
    X, _, coefs, intercepts = _problem(0, "relu")
    acts = forward(coefs, intercepts, X)
    assert acts.H is None and acts.A1 is None
    assert_allclose(acts.logits, X @ coefs[0] + intercepts[0], rtol=1e-14)


def test_forward_leaves_inputs_and_params_unchanged():
    X, _, coefs, intercepts = _problem(N_HIDDEN, "sigmoid")
    snapshot = [a.copy() for a in [X, *coefs, *intercepts, HIDDEN_MASK]]
    forward(coefs, intercepts, X, "sigmoid", HIDDEN_MASK)
    for a, b in zip([X, *coefs, *intercepts, HIDDEN_MASK], snapshot, strict=True):
        assert_array_equal(a, b)
