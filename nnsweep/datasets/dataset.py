"""`Dataset`, what every loader returns, and `DatasetError`, what every loader raises.

A frozen pair of float32 features and integer (or string) labels, with the official test split
where the source has one; read-only arrays and a content `Dataset.digest` for run tracking.

Leaves out: reading anything (`nnsweep.datasets.load`, `idx`, `files`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Dataset", "DatasetError"]

_ARRAYS = ("X_train", "y_train", "X_test", "y_test")


class DatasetError(ValueError):
    """A dataset is missing, corrupt or unusable; the message says what and where."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training data and, where the source has one, its official test split.

    Parameters
    ----------
    name : str
        Dataset name (``"mnist"``) or, for a user file, the file name.
    X_train : ndarray of shape (n_samples, n_features)
        Features, float32. Stored as a read-only view.
    y_train : ndarray of shape (n_samples,)
        Labels: int64, or strings for a CSV with non-integer labels.
    X_test, y_test : ndarray or None
        Official test split, or None when the source has none (``digits``, CSV).
    source : str
        Where the data was read from: a directory, a file, or ``"sklearn.datasets.load_digits"``.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = field(kw_only=True)

    def __post_init__(self):
        if (self.X_test is None) != (self.y_test is None):
            raise DatasetError(f"{self.name}: X_test and y_test must both be given or both None")
        width = self.X_train.shape[1:]
        for x, y in [(self.X_train, self.y_train), (self.X_test, self.y_test)]:
            if x is not None and (
                x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or x.shape[1:] != width
            ):
                raise DatasetError(
                    f"{self.name}: expected X of shape (n, n_features) and y of shape (n,), "
                    f"with the same n_features in both splits; got X {x.shape}, y {y.shape}"
                )
        for name in _ARRAYS:  # read-only views: the digest stays true, the caller's arrays
            if (arr := getattr(self, name)) is not None:  # stay writable
                view = arr.view()
                view.flags.writeable = False
                object.__setattr__(self, name, view)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return self.X_train.shape[1]

    @cached_property
    def classes(self) -> np.ndarray:
        """Sorted distinct labels of the training split."""
        return np.unique(self.y_train)

    @cached_property
    def digest(self) -> str:
        """First 16 hex digits of a SHA-256 over the arrays' shapes, dtypes and bytes.

        It depends on content only, not on ``name`` or ``source``, so the same data read from a
        CSV or an NPZ file has the same digest.
        """
        h = hashlib.sha256()
        for name in _ARRAYS:
            arr = getattr(self, name)
            if arr is None:
                h.update(f"{name}:None;".encode())
            else:
                h.update(f"{name}:{arr.shape}:{arr.dtype.str};".encode())
                h.update(np.ascontiguousarray(arr).data)
        return h.hexdigest()[:16]

    def describe(self) -> dict:
        """Name, source, digest, shapes and dtypes: JSON types only, no arrays.

        What the sweep stores on the Optuna study, so that the MLflow writer can log the data
        set as each run's input without loading it.
        """
        out = {
            "name": self.name,
            "source": str(self.source or self.name),
            "digest": self.digest,
            "n_train": len(self.X_train),
            "n_features": self.n_features,
            "features_shape": list(self.X_train.shape),
            "features_dtype": self.X_train.dtype.str,
            "targets_dtype": self.y_train.dtype.str,
        }
        if self.X_test is not None:
            out["n_test"] = len(self.X_test)
            out["test_features_shape"] = list(self.X_test.shape)
        return out

    def __repr__(self):
        test = None if self.X_test is None else self.X_test.shape
        return (
            f"Dataset(name={self.name!r}, X_train={self.X_train.shape}, X_test={test}, "
            f"source={self.source!r})"
        )
