"""Tests for nnsweep.nn.functions: activations, derivatives, softmax, cross-entropy, dropout."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from scipy.special import softmax as scipy_softmax
from sklearn.metrics import log_loss

from nnsweep.nn.functions import (
    ACTIVATIONS,
    DERIVATIVES,
    cross_entropy,
    dropout_mask,
    log_softmax,
    softmax,
)

# Logits up to +-1e4: exp(1e4) overflows float64 (max ~ exp(709)), so only a
# stable (max-subtracting) softmax survives these.
BIG = 1e4
logit_matrices = arrays(
    np.float64,
    array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
    elements=st.floats(-BIG, BIG, allow_nan=False, allow_infinity=False),
)
FAST = settings(max_examples=60, deadline=None)
# Overflow, 0 * inf and log(0) are errors; underflow of exp(-huge) to 0 is expected.
NO_OVERFLOW = {"over": "raise", "invalid": "raise", "divide": "raise", "under": "ignore"}


def _draw_labels(data, Z):
    """Class indices for the rows of ``Z``."""
    return data.draw(arrays(np.int64, Z.shape[0], elements=st.integers(0, Z.shape[1] - 1)))


# --- softmax / log_softmax ----------------------------------------------------------------


@FAST
@given(logit_matrices)
def test_softmax_rows_sum_to_one(Z):
    with np.errstate(**NO_OVERFLOW):
        P = softmax(Z)
    assert P.shape == Z.shape
    assert np.all(np.isfinite(P)) and np.all(P >= 0) and np.all(P <= 1)
    assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@FAST
@given(logit_matrices, st.data())
def test_softmax_is_invariant_to_adding_a_constant_per_row(Z, data):
    c = data.draw(arrays(np.float64, (Z.shape[0], 1), elements=st.floats(-BIG, BIG)))
    with np.errstate(**NO_OVERFLOW):
        P, P_shifted = softmax(Z), softmax(Z + c)
    # Z + c rounds each logit by at most ulp(2e4) ~ 4e-12, so the logit
    # differences, and hence the probabilities, move by a relative ~1e-11.
    assert_allclose(P_shifted, P, rtol=1e-9, atol=1e-300)


@FAST
@given(logit_matrices)
def test_log_softmax_is_log_of_softmax_and_leaves_logits_alone(Z):
    Z_before = Z.copy()
    log_P = log_softmax(Z)
    assert_array_equal(Z, Z_before)
    assert log_P is not Z
    assert np.all(log_P <= 0)
    assert_allclose(np.exp(log_P), softmax(Z), rtol=1e-12, atol=1e-300)


@FAST
@given(logit_matrices)
def test_softmax_matches_scipy(Z):
    assert_allclose(softmax(Z), scipy_softmax(Z, axis=1), rtol=1e-12, atol=1e-300)


def test_softmax_of_huge_logits_is_one_hot():
    Z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1.0, -1e4]])
    P = softmax(Z)
    assert_allclose(P[0], [1.0, 0.0, 0.0], atol=1e-300)
    e = np.exp(1.0)
    assert_allclose(P[1], [1 / (e + 2), e / (e + 2), 1 / (e + 2)], rtol=1e-14)


def test_softmax_keeps_float32():
    Z = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    assert softmax(Z).dtype == np.float32
    assert log_softmax(Z).dtype == np.float32


# --- cross-entropy ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_cross_entropy_matches_sklearn_log_loss(seed):
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=3.0, size=(20, 4))
    y = rng.integers(0, 4, size=20)
    expected = log_loss(y, scipy_softmax(Z, axis=1), labels=np.arange(4))
    assert cross_entropy(log_softmax(Z), y) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_worked_example():
    # Two samples, logits [0, 0] and [ln 3, 0]: p(y=0) = 1/2 and 3/4.
    Z = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    y = np.array([0, 0])
    expected = -(np.log(0.5) + np.log(0.75)) / 2
    assert cross_entropy(log_softmax(Z), y) == pytest.approx(expected, rel=1e-14)


@FAST
@given(logit_matrices, st.data())
def test_cross_entropy_is_non_negative_and_finite(Z, data):
    y = _draw_labels(data, Z)
    loss = cross_entropy(log_softmax(Z), y)
    assert isinstance(loss, float)
    assert np.isfinite(loss) and loss >= 0.0


def test_cross_entropy_of_confident_correct_prediction_is_zero():
    Z = np.array([[1e4, 0.0, 0.0]])
    assert cross_entropy(log_softmax(Z), np.array([0])) == 0.0
    # ... and confidently wrong is large and finite, not inf.
    assert cross_entropy(log_softmax(Z), np.array([1])) == pytest.approx(1e4)


# --- activations and their derivatives ----------------------------------------------------

FORMULAS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": expit,  # 1 / (1 + exp(-z)), computed stably by SciPy
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_its_formula_in_place(name):
    z = np.linspace(-6.0, 6.0, 49)
    Z = z.copy()
    A = ACTIVATIONS[name](Z)
    assert A is Z  # in place
    # The sigmoid is computed as 0.5 * (1 + tanh(z / 2)): absolute error ~1e-16.
    assert_allclose(A, FORMULAS[name](z), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_finite_at_extreme_inputs(dtype):
    Z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0], dtype=dtype)
    with np.errstate(**NO_OVERFLOW):  # a naive 1 / (1 + exp(1000)) overflows
        A = ACTIVATIONS["sigmoid"](Z)
    assert A.dtype == dtype
    assert np.all(np.isfinite(A))
    assert A[0] == 0.0 and A[2] == 0.5 and A[-1] == 1.0
    assert np.all(np.diff(A) >= 0)


@pytest.mark.parametrize("name", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_finite_at_extreme_inputs(name, dtype):
    Z = np.array([-1e30, -1000.0, 1000.0, 1e30], dtype=dtype)
    with np.errstate(**NO_OVERFLOW):
        A = ACTIVATIONS[name](Z)
    assert A.dtype == dtype and np.all(np.isfinite(A))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    # Stay clear of relu's kink at 0 by more than the step h.
    z = np.concatenate([np.linspace(-4.0, -0.05, 20), np.linspace(0.05, 4.0, 20)])
    h = 1e-6
    f = ACTIVATIONS[name]
    numerical = (f(z + h) - f(z - h)) / (2 * h)
    analytic = DERIVATIVES[name](f(z.copy()), np.ones_like(z))
    # Central differences: truncation ~h**2, round-off ~1e-16 / h = 1e-10.
    assert_allclose(analytic, numerical, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_multiplies_delta_in_place(name):
    rng = np.random.default_rng(0)
    A = ACTIVATIONS[name](rng.normal(size=(4, 3)))
    delta = rng.normal(size=(4, 3))
    slope = DERIVATIVES[name](A, np.ones_like(delta))
    expected = delta * slope
    out = DERIVATIVES[name](A, delta)
    assert out is delta
    assert_allclose(out, expected, rtol=1e-15, atol=0)


def test_relu_derivative_is_zero_where_unit_is_off():
    A = ACTIVATIONS["relu"](np.array([-2.0, -0.0, 0.0, 1e-300, 3.0]))
    assert_array_equal(DERIVATIVES["relu"](A, np.full(5, 7.0)), [0, 0, 0, 7, 7])


# --- dropout mask -------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_values_are_zero_or_inverse_keep_rate(rate, dtype):
    mask = dropout_mask((200, 50), rate, np.random.default_rng(0), dtype)
    assert mask.shape == (200, 50) and mask.dtype == dtype
    kept = dtype(1.0 / (1.0 - rate))
    assert set(np.unique(mask).tolist()) == {0.0, float(kept)}


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_mask_keeps_one_minus_rate_on_average(rate):
    n = 100_000
    mask = dropout_mask((n,), rate, np.random.default_rng(42))
    keep = np.mean(mask != 0)
    sigma = np.sqrt(rate * (1 - rate) / n)  # binomial standard error
    assert abs(keep - (1 - rate)) < 5 * sigma
    # Inverted dropout: the mask has mean one, so E[mask * a] = a.
    assert abs(mask.mean(dtype=np.float64) - 1.0) < 5 * sigma / (1 - rate)


def test_dropout_mask_with_zero_rate_keeps_everything_unscaled():
    mask = dropout_mask((3, 4), 0.0, np.random.default_rng(0))
    assert_array_equal(mask, np.ones((3, 4), dtype=np.float32))


def test_dropout_mask_default_dtype_is_float32():
    assert dropout_mask((2, 2), 0.5, np.random.default_rng(0)).dtype == np.float32


def test_dropout_mask_same_seed_gives_same_mask():
    a = dropout_mask((30, 7), 0.3, np.random.default_rng(123))
    b = dropout_mask((30, 7), 0.3, np.random.default_rng(123))
    c = dropout_mask((30, 7), 0.3, np.random.default_rng(124))
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_mask_advances_the_generator():
    rng = np.random.default_rng(5)
    first = dropout_mask((30, 7), 0.5, rng)
    second = dropout_mask((30, 7), 0.5, rng)
    assert not np.array_equal(first, second)


def test_dropout_mask_follows_its_byte_rule():
    # By construction: the mask drops exactly the units whose byte is below t = floor(256 rate),
    # keeps those above, and settles ties by a second draw (module docstring of dropout_mask).
    rate, shape = 0.3, (400, 300)  # 256 * 0.3 = 76.8: t = 76, ties dropped w.p. 0.8
    mask = dropout_mask(shape, rate, np.random.default_rng(9))
    raw = np.random.default_rng(9).bit_generator.random_raw(-(-mask.size // 8))
    b = raw.astype("<u8").view(np.uint8)[: mask.size].reshape(shape)
    assert np.all(mask[b < 76] == 0) and np.all(mask[b > 76] != 0)
    ties = mask[b == 76]
    assert ties.size > 300  # ~ 120000 / 256 = 469
    assert 0.7 < np.mean(ties == 0) < 0.9


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.0009, 0.9991])
def test_dropout_mask_rate_is_exact_not_rounded_to_bytes(rate):
    # 10 million units: a standard error of <= 1.6e-4. Without the tie draw, rate 0.3 would
    # come out as 76/256 = 0.296875 (21 standard errors off) and 0.0009 as 0.
    n = 10_000_000
    mask = dropout_mask((n,), rate, np.random.default_rng(2026))
    dropped = np.count_nonzero(mask == 0) / n
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
