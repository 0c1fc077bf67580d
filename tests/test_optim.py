"""Tests for nnsweep.nn.optim, nnsweep.nn.fused and nnsweep.nn._blas: SGD with momentum (the
rule, and its fused BLAS path to the same bits), learning-rate schedules, max-norm.

The tests of the rule run on `FusedSGD`, the optimiser the estimator trains with, twice (the
`fast_path` fixture): with the fused path as found, and with it off, where every parameter
takes `SGD`'s own step.
"""

import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from nnsweep import NeuralNetworkClassifier
from nnsweep.nn import _blas
from nnsweep.nn.fused import FusedSGD
from nnsweep.nn.optim import SCHEDULES, SGD, decayed_learning_rate, max_norm_

# (The fixture that `both_paths` adds only sets a module switch, the same for every example.)
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
both_paths = pytest.mark.usefixtures("fast_path")  # the fused path as found, then off
finite = st.floats(-100.0, 100.0, allow_nan=False, allow_infinity=False)

# --- SGD with momentum --------------------------------------------------------------------

# The worked example for both momentum tests: W = [1, -2], learning rate 0.1,
# momentum 0.9, raw gradients dJ/dW = [2, -1] at step 1 and [1, 3] at step 2,
# which the optimiser receives and scales itself: lr * g1 = [0.2, -0.1] and
# lr * g2 = [0.1, 0.3].
LR, MU = 0.1, 0.9
W0 = [1.0, -2.0]
RAW_GRADS = [np.array([2.0, -1.0]), np.array([1.0, 3.0])]
# The example as one row, or repeated over enough rows for the fused path to take it.
ROWS = pytest.mark.parametrize("rows", [1, _blas.MIN_SIZE // 2], ids=["small", "large"])


@both_paths
@ROWS
def test_sgd_classical_momentum_two_steps_by_hand(rows):
    # v <- mu v - g ;  W <- W + v
    # step 1: v = 0.9 * [0, 0] - [0.2, -0.1]          = [-0.2, 0.1]
    #         W = [1, -2] + [-0.2, 0.1]               = [0.8, -1.9]
    # step 2: v = 0.9 * [-0.2, 0.1] - [0.1, 0.3]
    #           = [-0.18 - 0.1, 0.09 - 0.3]           = [-0.28, -0.21]
    #         W = [0.8, -1.9] + [-0.28, -0.21]        = [0.52, -2.11]
    W = np.tile(W0, (rows, 1))
    opt = FusedSGD([W], learning_rate=LR, momentum=MU)
    opt.step([W], [np.tile(RAW_GRADS[0], (rows, 1))])
    assert_allclose(W, [[0.8, -1.9]] * rows, rtol=1e-14)
    assert_allclose(opt.velocities[0], [[-0.2, 0.1]] * rows, rtol=1e-14)
    opt.step([W], [np.tile(RAW_GRADS[1], (rows, 1))])
    assert_allclose(W, [[0.52, -2.11]] * rows, rtol=1e-14)
    assert_allclose(opt.velocities[0], [[-0.28, -0.21]] * rows, rtol=1e-14)


@both_paths
@ROWS
def test_sgd_nesterov_momentum_two_steps_by_hand(rows):
    # v <- mu v - g ;  W <- W + mu v - g   (v the new velocity)
    # step 1: v = [-0.2, 0.1]
    #         W = [1, -2] + 0.9 * [-0.2, 0.1] - [0.2, -0.1]
    #           = [1 - 0.18 - 0.2, -2 + 0.09 + 0.1]            = [0.62, -1.81]
    # step 2: v = 0.9 * [-0.2, 0.1] - [0.1, 0.3]               = [-0.28, -0.21]
    #         W = [0.62, -1.81] + 0.9 * [-0.28, -0.21] - [0.1, 0.3]
    #           = [0.62 - 0.252 - 0.1, -1.81 - 0.189 - 0.3]    = [0.268, -2.299]
    # Cross-check with PyTorch's form (buf <- mu buf + d; W <- W - lr (d + mu buf)):
    # step 1: buf = [2, -1],  W = [1, -2] - 0.1 * [3.8, -1.9]  = [0.62, -1.81]
    # step 2: buf = [2.8, 2.1], W -= 0.1 * [3.52, 4.89]        = [0.268, -2.299]
    W = np.tile(W0, (rows, 1))
    opt = FusedSGD([W], learning_rate=LR, momentum=MU, nesterov=True)
    opt.step([W], [np.tile(RAW_GRADS[0], (rows, 1))])
    assert_allclose(W, [[0.62, -1.81]] * rows, rtol=1e-14)
    opt.step([W], [np.tile(RAW_GRADS[1], (rows, 1))])
    assert_allclose(W, [[0.268, -2.299]] * rows, rtol=1e-14)
    assert_allclose(opt.velocities[0], [[-0.28, -0.21]] * rows, rtol=1e-14)


@both_paths
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_updates_each_parameter_in_place_with_its_own_velocity(nesterov):
    W = np.array([[1.0, -2.0]])
    b = np.array([0.5])
    opt = FusedSGD([W, b], learning_rate=1.0, momentum=MU, nesterov=nesterov)
    ids = (id(W), id(b))
    for _ in range(3):
        opt.step([W, b], [np.array([[0.2, -0.1]]), np.array([0.3])])
    assert (id(W), id(b)) == ids
    # Constant g: after 3 steps the velocity is -(1 + mu + mu**2) g.
    assert_allclose(opt.velocities[0], -(1 + MU + MU**2) * np.array([[0.2, -0.1]]), rtol=1e-14)
    assert_allclose(opt.velocities[1], -(1 + MU + MU**2) * np.array([0.3]), rtol=1e-14)
    # And the single-parameter optimiser agrees with the two-parameter one.
    W_alone = np.array([[1.0, -2.0]])
    alone = FusedSGD([W_alone], learning_rate=1.0, momentum=MU, nesterov=nesterov)
    for _ in range(3):
        alone.step([W_alone], [np.array([[0.2, -0.1]])])
    assert_array_equal(W, W_alone)


@pytest.mark.parametrize("Optimizer", [SGD, FusedSGD])
def test_sgd_velocities_match_parameter_dtype_and_shape(Optimizer):
    params = [np.ones((3, 2), dtype=np.float32), np.ones(2, dtype=np.float32)]
    opt = Optimizer(params)
    for p, v in zip(params, opt.velocities, strict=True):
        assert v.shape == p.shape and v.dtype == np.float32
        assert_array_equal(v, 0.0)


@both_paths
@FAST
@given(
    w0=arrays(np.float64, 3, elements=finite),
    grads=st.lists(arrays(np.float64, 3, elements=finite), min_size=1, max_size=6),
    nesterov=st.booleans(),
)
def test_sgd_with_zero_momentum_is_plain_sgd(w0, grads, nesterov):
    W = w0.copy()
    opt = FusedSGD([W], learning_rate=1.0, momentum=0.0, nesterov=nesterov)
    expected = w0.copy()
    for g in grads:
        opt.step([W], [g])
        expected = expected - g  # W <- W - lr * dJ/dW, with lr = 1
        assert_array_equal(W, expected)


@both_paths
@FAST
@given(
    mu=st.floats(0.0, 0.99),
    grads=st.lists(arrays(np.float64, 2, elements=finite), min_size=1, max_size=6),
)
def test_sgd_classical_momentum_sums_discounted_gradients(mu, grads):
    # Unrolled: v_t = -sum_{s<=t} mu**(t-s) g_s and W_t = W_0 + sum_{s<=t} v_s.
    W = np.zeros(2)
    opt = FusedSGD([W], learning_rate=1.0, momentum=mu)
    v = np.zeros(2)
    expected = np.zeros(2)
    for g in grads:
        opt.step([W], [g])
        v = mu * v - g
        expected = expected + v
    assert_allclose(W, expected, rtol=1e-9, atol=1e-9)


# --- learning-rate schedules --------------------------------------------------------------

LR0, DECAY, STEPS = 0.1, 0.5, 10


@pytest.mark.parametrize(
    "schedule, epoch, expected",
    [
        ("constant", 0, 0.1),
        ("constant", 7, 0.1),
        ("constant", 1000, 0.1),
        # step: lr * (1 - d) ** floor(epoch / decay_steps)
        ("step", 0, 0.1),
        ("step", 9, 0.1),
        ("step", 10, 0.05),
        ("step", 19, 0.05),
        ("step", 20, 0.025),
        ("step", 25, 0.025),
        # exponential: lr * (1 - d) ** epoch
        ("exponential", 0, 0.1),
        ("exponential", 1, 0.05),
        ("exponential", 3, 0.0125),
        ("exponential", 10, 0.1 / 1024),
        # inverse_time: lr / (1 + d * epoch)
        ("inverse_time", 0, 0.1),
        ("inverse_time", 1, 0.1 / 1.5),
        ("inverse_time", 3, 0.04),
        ("inverse_time", 10, 0.1 / 6),
    ],
)
def test_decayed_learning_rate_matches_its_formula(schedule, epoch, expected):
    got = decayed_learning_rate(LR0, epoch, schedule, DECAY, STEPS)
    assert got == pytest.approx(expected, rel=1e-14)


def test_step_schedule_honours_decay_steps():
    assert decayed_learning_rate(1.0, 2, "step", 0.5, decay_steps=3) == 1.0
    assert decayed_learning_rate(1.0, 3, "step", 0.5, decay_steps=3) == 0.5
    assert decayed_learning_rate(1.0, 6, "step", 0.5, decay_steps=3) == 0.25
    assert decayed_learning_rate(1.0, 6, "step", 0.5, decay_steps=1) == 0.5**6


@FAST
@given(
    schedule=st.sampled_from(SCHEDULES),
    lr=st.floats(1e-6, 10.0),
    decay=st.floats(0.0, 1.0, exclude_max=True),
    decay_steps=st.integers(1, 50),
    epoch=st.integers(0, 2000),
)
def test_decayed_learning_rate_never_rises(schedule, lr, decay, decay_steps, epoch):
    now = decayed_learning_rate(lr, epoch, schedule, decay, decay_steps)
    later = decayed_learning_rate(lr, epoch + 1, schedule, decay, decay_steps)
    assert 0.0 <= later <= now <= lr
    assert decayed_learning_rate(lr, 0, schedule, decay, decay_steps) == lr


@FAST
@given(
    schedule=st.sampled_from(SCHEDULES),
    lr=st.floats(1e-6, 10.0),
    decay_steps=st.integers(1, 50),
    epoch=st.integers(0, 10_000),
)
def test_zero_decay_gives_a_constant_learning_rate(schedule, lr, decay_steps, epoch):
    assert decayed_learning_rate(lr, epoch, schedule, 0.0, decay_steps) == lr


@pytest.mark.parametrize("schedule", ["cosine", "Constant", "", None])
def test_unknown_schedule_raises_value_error(schedule):
    with pytest.raises(ValueError, match="unknown schedule"):
        decayed_learning_rate(0.1, 3, schedule, 0.5)


def test_schedules_lists_every_supported_schedule():
    assert set(SCHEDULES) == {"constant", "step", "exponential", "inverse_time"}
    for schedule in SCHEDULES:
        assert math.isfinite(decayed_learning_rate(0.1, 5, schedule, 0.3))


# --- max-norm -----------------------------------------------------------------------------


def test_max_norm_worked_example():
    # Column norms 5 and 0.5; with c = 1 the first becomes [0.6, 0.8], the second stays.
    W = np.array([[3.0, 0.3], [4.0, 0.4]])
    out = max_norm_(W, 1.0)
    assert out is W
    assert_allclose(W, [[0.6, 0.3], [0.8, 0.4]], rtol=1e-15)


weight_matrices = arrays(
    np.float64,
    array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False),
)


@FAST
@given(W=weight_matrices, c=st.floats(0.1, 10.0))
def test_max_norm_caps_columns_preserving_direction(W, c):
    W0 = W.copy()
    norms0 = np.linalg.norm(W0, axis=0)
    max_norm_(W, c)
    norms = np.linalg.norm(W, axis=0)
    # <= c up to the rounding of the rescaling itself (a few ulp).
    assert np.all(norms <= c * (1 + 1e-12))
    # Columns clearly within the ball are untouched, bit for bit; columns clearly
    # outside land on its surface. (Within 1e-12 of c, two ways of computing the
    # norm may disagree on which side a column is, so that band is not asserted.)
    within = norms0 < c * (1 - 1e-12)
    assert_array_equal(W[:, within], W0[:, within])
    outside = norms0 > c * (1 + 1e-12)
    assert_allclose(norms[outside], c, rtol=1e-12)
    # Every column keeps its direction: it is a multiple in (0, 1] of the old one.
    assert_allclose(
        W, W0 * np.minimum(1.0, c / np.maximum(norms0, 1e-300)), rtol=1e-12, atol=1e-300
    )


def test_max_norm_leaves_zero_columns_alone():
    W = np.array([[0.0, 3.0], [0.0, 4.0]])
    with np.errstate(all="raise"):
        max_norm_(W, 2.0)
    assert_array_equal(W[:, 0], 0.0)
    assert_allclose(W[:, 1], [1.2, 1.6], rtol=1e-15)


def test_max_norm_keeps_float32():
    rng = np.random.default_rng(0)
    W = (10 * rng.normal(size=(50, 8))).astype(np.float32)
    max_norm_(W, 1.5)
    assert W.dtype == np.float32
    assert np.all(np.linalg.norm(W.astype(np.float64), axis=0) <= 1.5 * (1 + 1e-6))


@both_paths
@ROWS
def test_denormal_velocities_are_flushed_to_zero(rows):
    """A weight with no gradient keeps a shrinking velocity; once denormal it is zeroed."""
    W = np.zeros((rows, 3), dtype=np.float32)
    opt = FusedSGD([W], learning_rate=1.0, momentum=0.5)
    opt.velocities[0][:] = [1e-39, 1e-30, -1e-40]  # denormal, normal, denormal (float32)
    for _ in range(SGD.flush_every):
        opt.step([W], [np.zeros((rows, 3), dtype=np.float32)])
    v = opt.velocities[0]
    assert np.all(v[:, 0] == 0) and np.all(v[:, 2] == 0)
    assert_allclose(v[:, 1], 1e-30 * 0.5**SGD.flush_every, rtol=1e-5)  # still normal: kept


# --- gradients given as products A.T @ B + R ----------------------------------------------


@both_paths
def test_the_optimiser_owns_the_learning_rate():
    # The same raw gradient moves W by lr * g, whatever lr the optimiser holds now.
    W = np.array([1.0, -2.0])
    opt = FusedSGD([W], learning_rate=0.1, momentum=0.0)
    opt.step([W], [np.array([2.0, -1.0])])
    assert_allclose(W, [0.8, -1.9], rtol=1e-15)
    opt.learning_rate = 0.01  # what the estimator does at every epoch
    opt.step([W], [np.array([2.0, -1.0])])
    assert_allclose(W, [0.78, -1.89], rtol=1e-15)


def _product_problem(dtype, seed=0, n=16, d=9, h=7):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, h)).astype(dtype)
    steps = [
        (
            rng.standard_normal((n, d)).astype(dtype),  # A: a layer's input
            rng.standard_normal((n, h)).astype(dtype),  # B: the error at its output
            (0.1 * rng.standard_normal((d, h))).astype(dtype),  # R: a penalty's gradient
        )
        for _ in range(5)
    ]
    return W, steps


MOMENTA = [(0.0, False), (0.9, False), (0.9, True)]
LARGE = {"d": 300, "h": 200}  # W of 60,000 elements: the fused path's, when it is on


@both_paths
@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("with_penalty", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mu, nesterov", MOMENTA)
def test_product_gradient_step_equals_the_evaluated_gradient_step(
    mu, nesterov, dtype, with_penalty, size
):
    # v <- mu v - A.T @ (lr B) - lr R is v <- mu v - lr (A.T @ B + R), up to rounding.
    W, steps = _product_problem(dtype, **(LARGE if size == "large" else {}))
    W_eval = W.copy()
    opt = FusedSGD([W], learning_rate=0.05, momentum=mu, nesterov=nesterov)
    ref = FusedSGD([W_eval], learning_rate=0.05, momentum=mu, nesterov=nesterov)
    for A, B, R in steps:
        R = R if with_penalty else None
        opt.step([W], [(A, B, R)])
        ref.step([W_eval], [A.T @ B + (0 if R is None else R)])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(W, W_eval, rtol=rtol, atol=rtol)
    assert_allclose(opt.velocities[0], ref.velocities[0], rtol=rtol, atol=rtol)
    assert W.dtype == dtype


# --- the fused path gives the textbook's bits ---------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("gradient", ["product", "product+penalty", "array"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mu, nesterov", MOMENTA)
def test_fused_step_gives_the_textbook_steps_bits(mu, nesterov, dtype, gradient, threads):
    # FusedSGD's BLAS calls are SGD's operations in SGD's order, each rounded as NumPy
    # rounds it, so the two give identical weights and velocities. (Without the BLAS
    # path FusedSGD is SGD, and the test holds trivially: the buffers say which ran.)
    from threadpoolctl import threadpool_limits

    W, steps = _product_problem(dtype, n=128, **LARGE)  # large enough to thread
    W_rule = W.copy()
    fused = FusedSGD([W], learning_rate=0.05, momentum=mu, nesterov=nesterov)
    rule = SGD([W_rule], learning_rate=0.05, momentum=mu, nesterov=nesterov)
    with threadpool_limits(threads):
        for A, B, R in steps:
            g = {"product": (A, B, None), "product+penalty": (A, B, R), "array": A.T @ B}
            fused.step([W], [g[gradient]])
            rule.step([W_rule], [g[gradient]])
    assert_array_equal(W, W_rule)
    assert_array_equal(fused.velocities[0], rule.velocities[0])
    assert bool(fused._buffers) == (_blas.AVAILABLE and (gradient != "array" or nesterov))


@pytest.fixture(scope="module")
def digits200():
    X, y = load_digits(return_X_y=True)
    return X[:200] / 16, y[:200]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"nesterov": True, "l1_penalty": 1e-3, "l2_penalty": 1e-3, "max_norm": 1.0},
        {"momentum": 0.0, "l2_penalty": 1e-3, "dtype": "float64"},
        {"hidden_layer_sizes": (), "nesterov": True},
        {"hidden_layer_sizes": (512, 512)},
        {
            "hidden_layer_sizes": (512, 512),
            "nesterov": True,
            "l1_penalty": 1e-3,
            "l2_penalty": 1e-3,
            "max_norm": 1.0,
        },
    ],  # fmt: skip
    ids=[
        "classical",
        "nesterov-penalties-maxnorm",
        "plain-sgd-float64",
        "softmax-regression",
        "2-layers-classical",
        "2-layers-nesterov-penalties-maxnorm",
    ],  # fmt: skip
)
def test_estimator_trains_to_the_same_bits_with_the_fast_path_on_and_off(
    digits200, monkeypatch, params
):
    # 512 hidden units: W_1 has 64 x 512 = _blas.MIN_SIZE weights, enough for the fused path,
    # and W_2 of two such layers 512 x 512 (softmax regression's 64 x 10 weights never are,
    # nor an output layer's 512 x 10). Off is the one switch: every BLAS call off at once.
    X, y = digits200
    params = {
        "hidden_layer_sizes": (512,), "max_epochs": 5, "batch_size": 16, "random_state": 0,
        **params,
    }  # fmt: skip
    params.update(dropout_rate=0.2, input_dropout_rate=0.1)
    gemm_outputs = set()  # the shapes of the weights whose gradient a gemm folded in
    gemm = _blas.gemm

    def recorded_gemm(alpha, A, B, beta, C):
        gemm_outputs.add(C.shape)
        return gemm(alpha, A, B, beta, C)

    with monkeypatch.context() as m:
        m.setattr(_blas, "gemm", recorded_gemm)
        fast = NeuralNetworkClassifier(**params).fit(X, y)
    large = {W.shape for W in fast.coefs_ if W.size >= _blas.MIN_SIZE}
    assert gemm_outputs == (large if _blas.AVAILABLE else set())  # the path ran, every layer
    monkeypatch.setattr(_blas, "AVAILABLE", False)
    slow = NeuralNetworkClassifier(**params).fit(X, y)
    for a, b in zip(fast.coefs_ + fast.intercepts_, slow.coefs_ + slow.intercepts_, strict=True):
        assert np.array_equal(a, b)


# --- the other habits of the step ---------------------------------------------------------


@both_paths
def test_product_with_sparse_input_equals_dense():
    W, steps = _product_problem(np.float64, **LARGE)
    W_sparse = W.copy()
    dense = FusedSGD([W], learning_rate=0.05, momentum=0.9)
    sparse = FusedSGD([W_sparse], learning_rate=0.05, momentum=0.9)
    for A, B, R in steps:
        A = np.where(np.abs(A) < 0.7, 0.0, A)
        dense.step([W], [(A, B, R)])
        sparse.step([W_sparse], [(sp.csr_matrix(A), B, R)])
    assert_allclose(W_sparse, W, rtol=1e-13, atol=1e-15)


@both_paths
@pytest.mark.parametrize("size", ["small", "large"])
def test_product_step_leaves_the_gradient_unchanged(size):
    W, steps = _product_problem(np.float32, **(LARGE if size == "large" else {}))
    A, B, R = steps[0]
    copies = [A.copy(), B.copy(), R.copy()]
    FusedSGD([W], learning_rate=0.05, momentum=0.9).step([W], [(A, B, R)])
    for x, x0 in zip((A, B, R), copies, strict=True):
        assert_array_equal(x, x0)


def test_pickled_optimiser_has_no_scratch_and_steps_on(fast_path):
    W, steps = _product_problem(np.float32, n=32, **LARGE)  # big enough for buffers
    opt = FusedSGD([W], learning_rate=0.05, momentum=0.9, nesterov=True)
    opt.step([W], [steps[0]])
    assert bool(opt._buffers) == fast_path  # scratch arrays were made, on the fused path
    back = pickle.loads(pickle.dumps(opt))
    assert back._buffers == {}
    W_back = W.copy()
    opt.step([W], [steps[1]])
    back.step([W_back], [steps[1]])
    assert_array_equal(W_back, W)


# --- nnsweep.nn._blas ------------------------------------------------------------------------


@pytest.mark.skipif(not _blas.AVAILABLE, reason="NumPy is not on a BLAS this path knows")
@pytest.mark.parametrize("shape", [(16, 256, 128), (128, 300, 200), (128, 784, 800)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_calls_match_numpy_bit_for_bit(dtype, shape):
    # The forms optim uses: gemm with alpha = +-1 and beta 0 or 1, scal, axpy with alpha 1.
    k, m, n = shape
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((k, m)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    for alpha, beta in [(-1.0, 1.0), (1.0, 1.0), (1.0, 0.0)]:
        expected = C.copy() if beta else np.zeros_like(C)
        expected += alpha * (A.T @ B)
        got = C.copy()
        assert _blas.gemm(alpha, A, B, beta, got)
        assert_array_equal(got, expected)
    got = C.copy()
    assert _blas.scal(0.9, got)
    assert_array_equal(got, C * dtype(0.9))
    x = rng.standard_normal((m, n)).astype(dtype)
    assert _blas.axpy(1.0, x, got)
    assert_array_equal(got, C * dtype(0.9) + x)
    assert _blas.axpy(-1.0, C, got)
    assert_array_equal(got, C * dtype(0.9) + x - C)
    small = np.ones(_blas.MIN_SIZE - 1, dtype=dtype)  # left to NumPy
    assert _blas.axpy(1.0, small, small.copy()) is False and _blas.scal(2.0, small) is False


@pytest.mark.parametrize(
    "case",
    ["transposed C", "mixed dtypes", "integers", "sparse A", "shape mismatch", "small"],
)
def test_blas_declines_what_it_cannot_do(case):
    k, m, n = 64, 256, 128  # an output of MIN_SIZE elements
    A, B = np.ones((k, m)), np.ones((k, n))
    C = np.zeros((m, n))
    if case == "transposed C":
        C = np.zeros((n, m)).T
    elif case == "mixed dtypes":
        B = B.astype(np.float32)
    elif case == "integers":
        A, B, C = A.astype(int), B.astype(int), C.astype(int)
    elif case == "sparse A":
        A = sp.csr_matrix(A)
    elif case == "shape mismatch":
        C = np.zeros((m, n + 1))
    else:
        A, B, C = A[:, :10], B[:, :10], C[:10, :10]
    before = C.copy()
    assert _blas.gemm(-1.0, A, B, 1.0, C) is False
    assert_array_equal(C, before)
    assert _blas.axpy(1.0, np.ones(m * n), np.ones(m * n, dtype=np.float32)) is False


def test_blas_calls_decline_when_the_switch_is_off(monkeypatch):
    # The one switch: with _blas.AVAILABLE off, every call declines and leaves its output alone.
    k, m, n = 64, 256, 128
    A, B, C = np.ones((k, m)), np.ones((k, n)), np.zeros((m, n))
    monkeypatch.setattr(_blas, "AVAILABLE", False)
    assert not _blas.usable(C, A, B)
    assert _blas.gemm(-1.0, A, B, 1.0, C) is False
    assert _blas.axpy(1.0, np.ones((m, n)), C) is False
    assert _blas.scal(2.0, C) is False
    assert_array_equal(C, 0.0)


@pytest.mark.parametrize(
    "openblas, mkl_layer, int64",
    [
        ("OpenBLAS 0.3.29 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64", "", False),
        ("OpenBLAS 0.3.29 USE64BITINT DYNAMIC_ARCH NO_AFFINITY Haswell", "", True),
        (None, "", False),  # conda-forge's libcblas, Accelerate: no OpenBLAS configuration
        (None, "ILP64", True),  # MKL's libmkl_rt told to take 64-bit integers
        (None, "lp64,gnu", False),
    ],
)
def test_plain_cblas_names_take_the_integer_width_numpy_was_built_with(
    monkeypatch, openblas, mkl_layer, int64
):
    blas = {"name": "blas"} if openblas is None else {"openblas configuration": openblas}
    monkeypatch.setattr(np.__config__, "CONFIG", {"Build Dependencies": {"blas": blas}})
    monkeypatch.setenv("MKL_INTERFACE_LAYER", mkl_layer)
    assert _blas._plain_names_take_int64() is int64


def test_blas_names_carry_their_integer_width():
    # The names NumPy's npy_cblas.h builds: a 64 in the suffix means 64-bit integers.
    for prefix, suffix, int64 in _blas._NAMINGS:
        assert int64 is None if suffix == "" and prefix == "" else int64 == ("64" in suffix)
    if _blas.AVAILABLE:
        assert _blas.FOUND.startswith(("scipy_cblas_", "cblas_"))
