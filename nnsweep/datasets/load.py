"""`load_dataset`: a data set by name, or a ``.csv`` / ``.npz`` file, from the right loader.

The names a study file may give are declared once, in `nnsweep.config` (`DATASETS`);
``digits`` comes from scikit-learn (bundled, offline), ``mnist`` and ``fashion-mnist`` from
`nnsweep.datasets.idx`, ``csv`` and ``npz`` from `nnsweep.datasets.files`. Whatever the
source, a data set with fewer than two classes is refused here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config import DATASETS  # the names a study file may give (declared once, in config)
from .dataset import Dataset, DatasetError
from .files import load_csv, load_npz
from .idx import load_idx

__all__ = ["DATASETS", "load_dataset"]


def load_dataset(
    name: str = "digits",
    *,
    data_dir: str | os.PathLike | None = None,
    path: str | os.PathLike | None = None,
    label_column: str = "label",
) -> Dataset:
    """Load a dataset by name; never downloads anything.

    Parameters
    ----------
    name : str, default "digits"
        One of :data:`DATASETS`, or a path ending in ``.csv`` or ``.npz``.
    data_dir : path-like, optional
        For ``mnist`` and ``fashion-mnist``: a root holding ``mnist/`` and ``fashion-mnist/``,
        or the folder holding the four IDX ``.gz`` files itself. Defaults to the environment
        variable ``NNSWEEP_DATA_DIR``, then ``../shared/data`` relative to the working
        directory and to the repository root. Ignored by the other datasets.
    path : path-like, optional
        The file, required for ``csv`` and ``npz``.
    label_column : str, default "label"
        For ``csv``: the header name of the label column; every other column is a feature.

    Returns
    -------
    Dataset
        Features as float32 (pixels scaled to [0, 1]); labels as int64, or strings for a CSV
        whose labels are not all integers.

    Raises
    ------
    DatasetError
        Unknown name, missing or corrupt file, missing value, unknown label column, fewer than
        two classes.
    """
    key = str(name).lower()
    if key.endswith((".csv", ".npz")):
        if path is not None:
            raise DatasetError(f"name {name!r} is already a path; do not also pass path={path!r}")
        key, path = key[-3:], name
    if key not in DATASETS:
        raise DatasetError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)} "
            "(or a path ending in .csv or .npz)"
        )
    if key in ("csv", "npz"):
        if path is None:
            raise DatasetError(f"dataset {key!r} needs path= (the .{key} file to read)")
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{key} file not found: {path.absolute()}")
        data = load_csv(path, label_column) if key == "csv" else load_npz(path)
    elif path is not None:
        raise DatasetError(f"path= only applies to 'csv' and 'npz', not {key!r}")
    elif key == "digits":
        data = _load_digits()
    else:
        data = load_idx(key, data_dir)
    if len(data.classes) < 2:
        raise DatasetError(
            f"{data.source}: only one class ({data.classes[0].item()!r}) in the labels; "
            "classification needs at least two"
        )
    return data


def _load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits, pixels scaled from 0..16 to [0, 1]."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return Dataset("digits", X, y.astype(np.int64), source="sklearn.datasets.load_digits")
