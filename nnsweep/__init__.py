"""nnsweep: hyperparameter sweeps for a neural network written in NumPy.

The network and its scikit-learn estimator are importable from here; sweeps
(`nnsweep.sweep`), tracking (`nnsweep.tracking`) and data (`nnsweep.datasets`)
are imported from their modules so that ``import nnsweep`` stays light.
"""

__all__ = ["EpochInfo", "NeuralNetworkClassifier", "TrainingDivergedError"]
__version__ = "0.1.0"


def __getattr__(name):  # the estimator (NumPy, scikit-learn) on first use, not at import
    if name in __all__:
        from . import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'nnsweep' has no attribute {name!r}")


def __dir__():  # tab completion offers the lazy names too
    return sorted({*globals(), *__all__})
