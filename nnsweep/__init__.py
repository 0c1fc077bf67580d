"""nnsweep: hyperparameter sweeps for a neural network written in NumPy.

The network and its scikit-learn estimator are importable from here; sweeps
(`nnsweep.sweep`), tracking (`nnsweep.tracking`) and data (`nnsweep.datasets`)
are imported from their modules so that ``import nnsweep`` stays light.
"""

from .estimator import EpochInfo, NeuralNetworkClassifier, TrainingDivergedError

__all__ = ["EpochInfo", "NeuralNetworkClassifier", "TrainingDivergedError"]
__version__ = "0.1.0"
