"""A user's own data: a ``.csv`` file with a header row, or an ``.npz`` file of arrays.

`load_csv`: one label column (by its header name), every other column a numeric feature;
labels stay strings unless they are all integers. `load_npz`: arrays ``X``, ``y`` and
optionally ``X_test`` with ``y_test``. A missing value, a cell that is not a number, a ragged
row or an unreadable file is a `DatasetError` naming the file, and the line and column where
there is one.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetError

__all__ = ["load_csv", "load_npz"]


def load_csv(path: Path, label_column: str) -> Dataset:
    """Read a CSV with a header row: one label column, every other column a numeric feature."""
    with path.open(newline="", encoding="utf-8-sig") as f:  # utf-8-sig: Excel writes a BOM
        rows = list(csv.reader(f))
    if not rows:
        raise DatasetError(f"{path}: empty file; expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise DatasetError(
            f"{path}: no label column {label_column!r}; columns found: "
            f"{header}. Pass label_column="
        )
    body = [(i, r) for i, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    if not body:
        raise DatasetError(f"{path}: header row but no data rows")
    if len(header) < 2:
        raise DatasetError(f"{path}: only the label column; expected at least one feature column")
    for line, row in body:
        if len(row) != len(header):
            raise DatasetError(f"{path}, line {line}: {len(row)} cells, header has {len(header)}")
    j = header.index(label_column)
    feats = [c for c in range(len(header)) if c != j]
    cells = np.array([r for _, r in body], dtype=str)
    labels, text = np.char.strip(cells[:, j]), np.char.strip(cells[:, feats])
    try:
        X = text.astype(np.float64)
    except ValueError:  # locate the first cell that is not a number, below
        X = np.array([[_float_or_nan(v) for v in row] for row in text])
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        value = str(text[r, c])
        what = "missing value" if value.lower() in ("", "nan", "na") else f"bad value {value!r}"
        raise DatasetError(
            f"{path}, line {body[r][0]}, column {header[feats[c]]!r}: {what}; "
            "all feature cells must be finite numbers"
        )
    empty = np.flatnonzero(labels == "")
    if len(empty):
        raise DatasetError(
            f"{path}, line {body[empty[0]][0]}, column {label_column!r}: missing label"
        )
    try:
        y = labels.astype(np.int64)
    except ValueError:
        y = labels  # string labels are fine
    return Dataset(path.name, X.astype(np.float32), y, source=str(path.absolute()))


def _float_or_nan(text: str) -> float:
    """``float(text)``, or NaN when ``text`` is not a number."""
    try:
        return float(text)
    except ValueError:
        return np.nan


def load_npz(path: Path) -> Dataset:
    """Read arrays ``X``, ``y`` and optionally ``X_test``, ``y_test`` from an ``.npz`` file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            missing = [k for k in ("X", "y") if k not in keys]
            if missing or (("X_test" in keys) != ("y_test" in keys)):
                raise DatasetError(
                    f"{path}: missing array(s) {missing or ['X_test/y_test pair']}; expected "
                    f"X, y and optionally X_test with y_test; found {keys}"
                )
            arrays = {k: npz[k] for k in ("X", "y", "X_test", "y_test") if k in keys}
    except DatasetError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, pickled object arrays, truncated data
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from exc
    for k, arr in arrays.items():
        if k.startswith("X"):
            if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
                raise DatasetError(
                    f"{path}: array {k!r} must hold finite numbers (dtype {arr.dtype})"
                )
            arrays[k] = arr.astype(np.float32)
        elif arr.dtype.kind in "biu" or (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            arrays[k] = arr.astype(np.int64)
        elif arr.dtype.kind != "U":
            raise DatasetError(
                f"{path}: labels {k!r} must be integers or strings, not {arr.dtype}"
            )
    X, y, X_test, y_test = (arrays.get(k) for k in ("X", "y", "X_test", "y_test"))
    return Dataset(path.name, X, y, X_test, y_test, source=str(path.absolute()))
