"""Load the datasets a sweep trains on, as float32 features and integer (or string) labels.

What this module holds: :func:`load_dataset` for scikit-learn's bundled ``digits`` (the
default; works offline), ``mnist`` and ``fashion-mnist`` read from the standard IDX ``.gz``
files (parsed here with ``gzip`` and :func:`numpy.frombuffer`), and a user's own ``.csv``
or ``.npz`` file. Everything comes back as a frozen :class:`Dataset` with read-only arrays
and a content :attr:`Dataset.digest` for run tracking. Every missing or corrupt input raises
:class:`DatasetError`, which says what was expected and every place that was looked in.

What it leaves out on purpose: downloading (never; the data must already be on disk),
caching, pandas, train/validation splitting, shuffling and any preprocessing beyond scaling
pixels to [0, 1]. Those belong to the caller (the cross-validation code does its own splits).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .config import DATASETS  # the names a study file may give (declared once, in config)

__all__ = ["DATASETS", "Dataset", "DatasetError", "load_dataset"]

_IDX_DATASETS = ("mnist", "fashion-mnist")
_IDX_FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_ARRAYS = ("X_train", "y_train", "X_test", "y_test")
_IMAGES_MAGIC, _LABELS_MAGIC, _SIDE = 0x00000803, 0x00000801, 28
# Default data roots when neither data_dir nor NNSWEEP_DATA_DIR is given.
_REPO_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_CWD_DATA = Path("..") / "shared" / "data"


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
        data = _load_csv(path, label_column) if key == "csv" else _load_npz(path)
    elif path is not None:
        raise DatasetError(f"path= only applies to 'csv' and 'npz', not {key!r}")
    elif key == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32)
        data = Dataset("digits", X, y.astype(np.int64), source="sklearn.datasets.load_digits")
    else:
        data = _load_idx_dataset(key, data_dir)
    if len(data.classes) < 2:
        raise DatasetError(
            f"{data.source}: only one class ({data.classes[0].item()!r}) in the labels; "
            "classification needs at least two"
        )
    return data


def _idx_dirs(name: str, data_dir) -> list[Path]:
    """Directories to search for ``name``'s IDX files, in order, without duplicates."""
    if data_dir is not None:
        roots = [Path(data_dir)]
    elif os.environ.get("NNSWEEP_DATA_DIR"):
        roots = [Path(os.environ["NNSWEEP_DATA_DIR"])]
    else:
        roots = [_CWD_DATA, _REPO_DATA]
    dirs: list[Path] = []
    for root in roots:
        for d in (root / name, root):
            d = Path(os.path.normpath(d.absolute()))
            if d not in dirs:
                dirs.append(d)
    return dirs


def _load_idx_dataset(name: str, data_dir) -> Dataset:
    """Find the four IDX files for ``name`` and read both splits."""
    names = [f for pair in _IDX_FILES.values() for f in pair]
    tried = _idx_dirs(name, data_dir)
    found = next((d for d in tried if any((d / f).is_file() for f in names)), None)
    if found is None:
        raise DatasetError(
            f"{name}: IDX files not found. Expected {', '.join(names)} in one of: "
            + "; ".join(str(d) for d in tried)
            + ". Set NNSWEEP_DATA_DIR or pass data_dir (a root with mnist/ and fashion-mnist/, "
            "or the folder holding the files). Nothing is downloaded."
        )
    if found.name in _IDX_DATASETS and found.name != name:  # e.g. data_dir=.../mnist
        raise DatasetError(f"{name}: {found} is the {found.name!r} folder, not {name!r}")
    missing = [f for f in names if not (found / f).is_file()]
    if missing:
        raise DatasetError(f"{name}: {found} is missing {', '.join(missing)}")
    splits = {}
    for split, (img_file, lbl_file) in _IDX_FILES.items():
        images = _read_idx(found / img_file, _IMAGES_MAGIC, (_SIDE, _SIDE))
        labels = _read_idx(found / lbl_file, _LABELS_MAGIC, ())
        if len(images) != len(labels):
            raise DatasetError(
                f"{found / img_file} holds {len(images)} images but "
                f"{found / lbl_file} holds {len(labels)} labels"
            )
        if labels.size and labels.max() > 9:
            raise DatasetError(f"{found / lbl_file}: labels must be 0..9, found {labels.max()}")
        X = images.reshape(len(images), -1).astype(np.float32)
        X /= 255
        splits[split] = (X, labels.astype(np.int64))
    return Dataset(name, *splits["train"], *splits["test"], source=str(found))


def _read_idx(path: Path, magic: int, item_dims: tuple[int, ...]) -> np.ndarray:
    """Read one gzipped unsigned-byte IDX file, checking magic, dims and payload length."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: not a readable gzip file ({exc})") from exc
    ndim = 1 + len(item_dims)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(
            f"{path}: {len(raw)} bytes, too short for an IDX header ({header} bytes expected)"
        )
    (got_magic,) = struct.unpack(">I", raw[:4])
    if got_magic != magic:
        raise DatasetError(f"{path}: IDX magic number 0x{got_magic:08x}, expected 0x{magic:08x}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if dims[1:] != item_dims:
        want = str(("N", *item_dims)).replace("'", "")
        raise DatasetError(f"{path}: IDX dims {dims}, expected {want}")
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: payload is {len(raw) - header} bytes, dims {dims} need "
            f"{expected} (truncated or corrupt file)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _load_csv(path: Path, label_column: str) -> Dataset:
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


def _load_npz(path: Path) -> Dataset:
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
