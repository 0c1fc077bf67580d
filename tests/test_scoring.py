"""FoldScorer gives scikit-learn's scores (accuracy, negative log-loss, macro F1) by NumPy, and
hands everything it does not cover to scikit-learn's scorer."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nnsweep import NeuralNetworkClassifier
from nnsweep.sweep.scoring import FAST_METRICS, FoldScorer


@pytest.fixture(scope="module")
def folds():
    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    return [(X[tr], y[tr], X[va], y[va]) for tr, va in StratifiedKFold(3).split(X, y)]


# models from barely trained (classes never predicted, probabilities near uniform or
# saturated) to well trained, softmax regression and one hidden layer, both dtypes
MODELS = [
    dict(hidden_layer_sizes=(), max_epochs=1, learning_rate=1e-4),
    dict(hidden_layer_sizes=(16,), max_epochs=1, learning_rate=1e-3),
    dict(hidden_layer_sizes=(32,), max_epochs=20, learning_rate=0.1, dropout_rate=0.2),
    dict(
        hidden_layer_sizes=(32,), max_epochs=30, learning_rate=2.0, momentum=0.0
    ),  # overconfident
    dict(hidden_layer_sizes=(8,), max_epochs=10, learning_rate=0.05, dtype="float64"),
    dict(hidden_layer_sizes=(16,), max_epochs=5, activation="tanh"),
]


@pytest.mark.parametrize("metric", FAST_METRICS)
@pytest.mark.parametrize("params", MODELS, ids=lambda p: "-".join(f"{v}" for v in p.values()))
def test_fast_path_equals_sklearn_scorer(folds, metric, params):
    reference = get_scorer(metric)
    scorer = FoldScorer(metric)
    for seed, (X_tr, y_tr, X_va, y_va) in enumerate(folds):
        model = NeuralNetworkClassifier(random_state=seed, n_iter_no_change=1000, **params)
        model.fit(X_tr, y_tr)
        expected = float(reference(model, X_va, y_va))
        assert scorer(model, X_va, y_va) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert scorer.n_fast == len(folds) and scorer.n_sklearn == 0


@pytest.mark.parametrize("metric", FAST_METRICS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_problems_equal_sklearn_scorer(metric, dtype):
    """Two classes: the log-loss scorer gets only the second probability column."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    scorer = FoldScorer(metric)
    for seed, (tr, va) in enumerate(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y)):
        for lr in (0.01, 1.0):  # modest, and saturated probabilities
            model = NeuralNetworkClassifier(
                hidden_layer_sizes=(16,),
                learning_rate=lr,
                max_epochs=30,
                dtype=dtype,
                random_state=seed,
            ).fit(X[tr], y[tr])
            expected = float(get_scorer(metric)(model, X[va], y[va]))
            assert scorer(model, X[va], y[va]) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert scorer.n_sklearn == 0


def test_f1_macro_counts_a_class_that_is_predicted_but_absent(folds):
    X_tr, y_tr, X_va, y_va = folds[0]
    model = NeuralNetworkClassifier(
        hidden_layer_sizes=(8,), max_epochs=1, learning_rate=1e-3, random_state=0
    )
    model.fit(X_tr, y_tr)
    keep = y_va != 3  # the fold lacks class 3, which the model may still predict
    expected = get_scorer("f1_macro")(model, X_va[keep], y_va[keep])
    assert FoldScorer("f1_macro")(model, X_va[keep], y_va[keep]) == pytest.approx(expected)


def test_string_labels(folds):
    X_tr, y_tr, X_va, y_va = folds[1]
    names = np.array("zero one two three four five six seven eight nine".split())
    model = NeuralNetworkClassifier(hidden_layer_sizes=(16,), max_epochs=5, random_state=0)
    model.fit(X_tr, names[y_tr])
    for metric in FAST_METRICS:
        scorer = FoldScorer(metric)
        expected = get_scorer(metric)(model, X_va, names[y_va])
        assert scorer(model, X_va, names[y_va]) == pytest.approx(expected, rel=1e-6)
        assert scorer.n_fast == 1


@pytest.mark.parametrize(
    "case",
    [
        "other metric",
        "pipeline",
        "sparse",
        "unseen label",
        "log-loss missing class",
        "column vector y",
        "y shorter than X",
        "nan in X",
        "object labels",
    ],
)
def test_what_the_fast_path_does_not_cover_goes_to_sklearn(folds, case):
    X_tr, y_tr, X_va, y_va = folds[2]
    metric = "balanced_accuracy" if case == "other metric" else "accuracy"
    model = NeuralNetworkClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    if case == "pipeline":
        model = make_pipeline(StandardScaler(), model)
    model.fit(X_tr, y_tr)
    if case == "sparse":
        X_va = sp.csr_matrix(X_va)
    if case == "unseen label":
        y_va = y_va.copy()
        y_va[0] = 42
        metric = "f1_macro"  # accuracy and f1 accept a label the model never predicts
    if case == "log-loss missing class":
        metric = "neg_log_loss"
        keep = y_va != 3
        X_va, y_va = X_va[keep], y_va[keep]
    if case == "column vector y":
        y_va = y_va[:, None]
    if case == "y shorter than X":
        y_va = y_va[:1]
    if case == "nan in X":
        X_va = X_va.copy()
        X_va[0, 0] = np.nan
    if case == "object labels":
        y_va = y_va.astype(object)
    scorer = FoldScorer(metric)
    reference = get_scorer(metric)
    try:
        expected = reference(model, X_va, y_va)
    except ValueError as exc:  # sklearn's own error, e.g. log-loss without a class
        with pytest.raises(ValueError, match=re.escape(str(exc)[:30])):
            scorer(model, X_va, y_va)
    else:
        assert scorer(model, X_va, y_va) == pytest.approx(expected)
    assert scorer.n_fast == 0 and scorer.n_sklearn == 1


def test_nan_probabilities_get_sklearns_error(folds):
    X_tr, y_tr, X_va, y_va = folds[0]
    model = NeuralNetworkClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(
        X_tr, y_tr
    )
    model.coefs_[1][:] = np.inf  # finite training, then logits inf - inf: NaN probabilities
    with pytest.raises(ValueError) as expected:
        get_scorer("neg_log_loss")(model, X_va, y_va)
    scorer = FoldScorer("neg_log_loss")
    with pytest.raises(ValueError, match=re.escape(str(expected.value)[:25])):
        scorer(model, X_va, y_va)
    assert scorer.n_sklearn == 1
