"""scikit-learn's own conformance suite, in full, on the release pip installed."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from nnsweep import NeuralNetworkClassifier


@parametrize_with_checks([NeuralNetworkClassifier(random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
