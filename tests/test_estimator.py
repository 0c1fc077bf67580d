"""NeuralNetworkClassifier as a scikit-learn user meets it: pipelines, grid search,
pickling, label types, bad input, reproducibility, sparse data, and the epoch hooks."""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nnsweep import EpochInfo, NeuralNetworkClassifier, TrainingDivergedError
from nnsweep.compat.sklearn import InvalidParameterError

# Every test twice: with the optimiser's fused BLAS path as found, and with it off (the
# `fast_path` fixture of conftest.py). The two paths train to the same bits: tests/test_optim.py.
pytestmark = pytest.mark.usefixtures("fast_path")


@pytest.fixture(scope="module")
def digits200():
    X, y = load_digits(return_X_y=True)
    return X[:200] / 16, y[:200]


@pytest.fixture(scope="module")
def moons():
    return make_moons(100, noise=0.1, random_state=0)


def small(**params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=20, batch_size=16, random_state=0)
    return NeuralNetworkClassifier(**{**defaults, **params})


def stop_after_three(estimator, info):
    """A module-level callback, so the estimator still clones and pickles."""
    return info.epoch >= 3


class RecordEpochs:
    def __init__(self):
        self.seen = []

    def __call__(self, estimator, info):
        self.seen.append(info)


# --------------------------------------------------------------------- it learns
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_fits_digits_subset_with_each_activation(digits200, activation):
    X, y = digits200
    clf = small(activation=activation, hidden_layer_sizes=(32,), learning_rate=0.1, max_epochs=40)
    clf.fit(X, y)
    assert clf.score(X, y) > 0.95
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_softmax_regression_has_one_layer_and_learns(digits200):
    X, y = digits200
    clf = small(hidden_layer_sizes=(), learning_rate=0.1).fit(X, y)
    assert len(clf.coefs_) == 1 and clf.coefs_[0].shape == (64, 10)
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize(
    "activation, sizes",
    [("relu", (32, 16)), ("relu", (32, 16, 16)), ("tanh", (32, 16)), ("tanh", (32, 16, 16)),
     ("sigmoid", (32, 16))],
)  # fmt: skip
def test_two_and_three_hidden_layers_learn_in_scikit_learns_layout(digits200, activation, sizes):
    # (Three sigmoid layers stay at chance for these 40 epochs: sigmoid' <= 1/4 per layer.)
    X, y = digits200
    clf = small(hidden_layer_sizes=sizes, activation=activation)
    clf.set_params(max_epochs=40, dropout_rate=0.1, max_norm=3.0).fit(X, y)
    widths = [64, *sizes, 10]
    assert [W.shape for W in clf.coefs_] == list(zip(widths[:-1], widths[1:], strict=True))
    assert [b.shape for b in clf.intercepts_] == [(h,) for h in widths[1:]]
    assert clf.score(X, y) > 0.95


@pytest.mark.parametrize("sizes", [16, [16], np.array([16])], ids=["int", "list", "array"])
def test_hidden_layer_sizes_is_read_as_scikit_learn_reads_it(digits200, sizes):
    X, y = digits200
    as_tuple = small(max_epochs=3).fit(X, y)
    other = small(hidden_layer_sizes=sizes, max_epochs=3).fit(X, y)
    for a, b in zip(as_tuple.coefs_, other.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert other.get_params()["hidden_layer_sizes"] is sizes  # kept as given, for clone


def test_attributes_after_fit(digits200):
    X, y = digits200
    clf = small(max_epochs=7, n_iter_no_change=100).fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == 7
    assert clf.t_ == 7 * len(y)
    assert clf.n_features_in_ == 64
    assert [W.shape for W in clf.coefs_] == [(64, 16), (16, 10)]
    assert all(W.dtype == np.float32 for W in clf.coefs_ + clf.intercepts_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X))


def test_float64_option(digits200):
    X, y = digits200
    clf = small(dtype="float64").fit(X, y)
    assert all(W.dtype == np.float64 for W in clf.coefs_)
    assert clf.predict_proba(X).dtype == np.float64


# --------------------------------------------------------------------- sklearn tools
def test_pipeline_in_grid_search_with_two_jobs(digits200):
    X, y = digits200
    pipe = make_pipeline(StandardScaler(), small(max_epochs=10))
    grid = {
        "neuralnetworkclassifier__learning_rate": [0.01, 0.1],
        "neuralnetworkclassifier__l2_penalty": [0.0, 1e-3],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_score_ > 0.8
    assert search.score(X, y) > 0.9


def test_two_hidden_layers_in_a_pipeline_in_grid_search(digits200):
    X, y = digits200
    pipe = make_pipeline(StandardScaler(), small(hidden_layer_sizes=(32, 16), max_epochs=10))
    grid = {
        "neuralnetworkclassifier__hidden_layer_sizes": [(32, 16), (16, 16)],
        "neuralnetworkclassifier__dropout_rate": [0.0, 0.1],
    }
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_score_ > 0.8
    best = search.best_estimator_[-1]
    sizes = search.best_params_["neuralnetworkclassifier__hidden_layer_sizes"]
    assert [W.shape[1] for W in best.coefs_] == [*sizes, 10]
    assert search.score(X, y) > 0.9


def test_cross_val_score_is_reproducible(moons):
    X, y = moons
    a = cross_val_score(small(), X, y, cv=3)
    b = cross_val_score(small(), X, y, cv=3)
    np.testing.assert_array_equal(a, b)
    assert a.mean() > 0.8


def test_pickle_round_trip_predicts_identically(digits200):
    X, y = digits200
    clf = small(epoch_callback=stop_after_three).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.n_iter_ == 3


# --------------------------------------------------------------------- reproducible
def _fit_weights(X, y, **params):
    return small(dropout_rate=0.2, input_dropout_rate=0.1, **params).fit(X, y).coefs_


@pytest.mark.parametrize("sizes", [(16,), (16, 8)], ids=["1 hidden", "2 hidden"])
def test_same_seed_gives_bit_identical_weights_in_process_and_joblib_worker(digits200, sizes):
    X, y = digits200
    here = _fit_weights(X, y, hidden_layer_sizes=sizes)
    again = _fit_weights(X, y, hidden_layer_sizes=sizes)
    (worker,) = joblib.Parallel(n_jobs=2)(
        joblib.delayed(_fit_weights)(X, y, hidden_layer_sizes=sizes) for _ in range(1)
    )
    for a, b, c in zip(here, again, worker, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    other = _fit_weights(X, y, hidden_layer_sizes=sizes, random_state=1)
    assert not np.array_equal(here[0], other[0])


# --------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog"]),
        np.array([-3, 7]),
        np.array([10, 20, 30]),
        np.array([True, False]),
        np.array(["a", "b", "c"], dtype=object),
    ],
    ids=["strings", "two-noncontiguous-ints", "three-noncontiguous-ints", "bools", "objects"],
)
def test_any_label_type(moons, labels):
    X, y01 = moons
    y = labels[(y01 + np.arange(len(y01))) % len(labels)] if len(labels) > 2 else labels[y01]
    clf = small().fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    assert set(clf.predict(X)) <= set(labels.tolist())
    assert clf.predict_proba(X).shape == (len(X), len(labels))


def test_feature_names_in(moons):
    pd = pytest.importorskip("pandas")
    X, y = moons
    df = pd.DataFrame(X, columns=["a", "b"])
    clf = small().fit(df, y)
    assert clf.feature_names_in_.tolist() == ["a", "b"]


# --------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "param, value",
    [
        ("hidden_layer_sizes", -1),
        ("hidden_layer_sizes", (16, 0)),
        ("hidden_layer_sizes", (16.5,)),
        ("hidden_layer_sizes", "16"),
        ("activation", "softplus"),
        ("learning_rate", 0),
        ("momentum", 1.0),
        ("learning_rate_schedule", "cosine"),
        ("learning_rate_decay", 1.5),
        ("dropout_rate", 1.0),
        ("batch_size", 0),
        ("max_norm", -2.0),
        ("dtype", "float16"),
        ("epoch_callback", "not callable"),
    ],
)
def test_bad_parameter_raises_invalid_parameter_error_naming_it(moons, param, value):
    X, y = moons
    with pytest.raises(InvalidParameterError, match=param):
        small(**{param: value}).fit(X, y)


@pytest.mark.parametrize(
    "bad, message",
    [(np.nan, "NaN"), (np.inf, "infinity")],
)
def test_non_finite_input_is_refused(moons, bad, message):
    X, y = moons
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match=message):
        small().fit(X, y)
    clf = small().fit(*moons)
    with pytest.raises(ValueError, match=message):
        clf.predict(X)


def test_wrong_feature_count_at_predict(moons):
    X, y = moons
    clf = small().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(np.hstack([X, X]))


def test_one_dimensional_X_is_refused(moons):
    X, y = moons
    with pytest.raises(ValueError, match="2D"):
        small().fit(X[:, 0], y)


# --------------------------------------------------------------------- sparse
@pytest.mark.parametrize("sizes", [(), (16,), (16, 8)], ids=["0 hidden", "1 hidden", "2 hidden"])
def test_sparse_csr_trains_like_dense(digits200, sizes):
    X, y = digits200
    dense = small(hidden_layer_sizes=sizes, dtype="float64").fit(X, y)
    sparse = small(hidden_layer_sizes=sizes, dtype="float64").fit(sp.csr_matrix(X), y)
    for a, b in zip(dense.coefs_, sparse.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), rtol=1e-8, atol=1e-12
    )


def test_sparse_with_input_dropout_learns(digits200):
    X, y = digits200
    clf = small(input_dropout_rate=0.2, learning_rate=0.1, max_epochs=30).fit(sp.csr_matrix(X), y)
    assert clf.score(sp.csr_matrix(X), y) > 0.9


# --------------------------------------------------------------------- regularisation
def test_more_l2_gives_smaller_weights(digits200):
    X, y = digits200
    norms = [
        sum(np.linalg.norm(W) for W in small(l2_penalty=l2).fit(X, y).coefs_)
        for l2 in (0.0, 1e-2, 1e-1)
    ]
    assert norms[0] > norms[1] > norms[2]


def test_l1_drives_weights_toward_zero(digits200):
    X, y = digits200
    plain = small().fit(X, y).coefs_[0]
    lasso = small(l1_penalty=1e-2).fit(X, y).coefs_[0]
    assert np.abs(lasso).sum() < 0.5 * np.abs(plain).sum()


@pytest.mark.parametrize("sizes", [(16,), (16, 8)], ids=["1 hidden", "2 hidden"])
def test_max_norm_bounds_every_hidden_unit(digits200, sizes):
    X, y = digits200
    clf = small(hidden_layer_sizes=sizes, max_norm=0.5, learning_rate=0.2).fit(X, y)
    for W in clf.coefs_[:-1]:  # every hidden layer's incoming weights, not the output's
        assert np.linalg.norm(W, axis=0).max() <= 0.5 + 1e-5
    unbounded = small(hidden_layer_sizes=sizes, learning_rate=0.2).fit(X, y)
    assert max(np.linalg.norm(W, axis=0).max() for W in unbounded.coefs_[:-1]) > 0.5


# --------------------------------------------------------------------- stopping
def test_divergence_raises_specific_error(digits200):
    X, y = digits200
    with pytest.raises(TrainingDivergedError, match="diverged") as info:
        small(learning_rate=1e20).fit(X, y)  # weights overflow float32 in the first epoch
    assert info.value.epoch >= 1
    assert not np.isfinite(info.value.loss)


class SnapshotWeights:
    def __init__(self):
        self.weights = []

    def __call__(self, estimator, info):
        self.weights.append([W.copy() for W in estimator.coefs_])


def test_early_stopping_restores_best_weights(digits200):
    X, y = digits200
    snapshots = SnapshotWeights()
    clf = small(early_stopping=True, n_iter_no_change=3, max_epochs=200, learning_rate=0.3)
    clf.set_params(epoch_callback=snapshots).fit(X, y)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == clf.n_iter_ == len(snapshots.weights)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best_epoch = int(np.argmax(clf.validation_scores_))  # first epoch reaching the best
    assert best_epoch < clf.n_iter_ - 1, "want a run whose last epoch is not its best"
    for kept, best in zip(clf.coefs_, snapshots.weights[best_epoch], strict=True):
        np.testing.assert_array_equal(kept, best)


def test_training_loss_plateau_stops_without_early_stopping(digits200):
    X, y = digits200
    clf = small(max_epochs=500, n_iter_no_change=2, tol=10.0).fit(X, y)
    assert clf.n_iter_ == 3  # no epoch improves by tol = 10, so it stops after 1 + 2


def test_epoch_callback_sees_every_epoch_and_can_stop(digits200):
    X, y = digits200
    recorder = RecordEpochs()
    small(max_epochs=5, n_iter_no_change=100, epoch_callback=recorder).fit(X, y)
    assert [i.epoch for i in recorder.seen] == [1, 2, 3, 4, 5]
    assert all(isinstance(i, EpochInfo) and np.isfinite(i.loss) for i in recorder.seen)
    clf = small(epoch_callback=stop_after_three).fit(X, y)
    assert clf.n_iter_ == 3
    assert clone(clf).epoch_callback is stop_after_three


def test_iter_epochs_yields_predict_ready_model(digits200):
    X, y = digits200
    clf = small(max_epochs=4, n_iter_no_change=100)
    scores = []
    for info in clf.iter_epochs(X, y):
        scores.append(clf.score(X, y))
        assert info.epoch == clf.n_iter_
    assert len(scores) == 4 and scores[-1] > scores[0]


# --------------------------------------------------------------------- incremental
def test_partial_fit_needs_classes_then_learns(digits200):
    X, y = digits200
    clf = small()
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf = small()
    for _ in range(15):
        clf.partial_fit(X, y, classes=np.arange(10))
    assert clf.n_iter_ == 15 and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, np.full(len(y), 42))


def test_warm_start_continues_from_current_weights(digits200):
    X, y = digits200
    clf = small(max_epochs=5, n_iter_no_change=100, warm_start=True).fit(X, y)
    before = [W.copy() for W in clf.coefs_]
    clf.fit(X, y)
    assert clf.n_iter_ == 10
    cold = small(max_epochs=5, n_iter_no_change=100).fit(X, y)
    np.testing.assert_array_equal(cold.coefs_[0], before[0])
    assert not np.array_equal(clf.coefs_[0], before[0])


def test_momentum_zero_is_plain_sgd(digits200):
    X, y = digits200
    clf = small(momentum=0.0, learning_rate=0.5, max_epochs=3, n_iter_no_change=100).fit(X, y)
    assert clf.score(X, y) > 0.5
    assert all(not np.any(v) for v in clf._optimizer.velocities)
