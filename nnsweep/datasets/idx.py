"""MNIST and Fashion-MNIST from the standard IDX ``.gz`` files, parsed with ``gzip`` and NumPy.

`load_idx` finds the four files of a data set (`idx_dirs`: ``data_dir``, else
``NNSWEEP_DATA_DIR``, else ``../shared/data`` relative to the working directory and to the
repository root), reads both splits (`read_idx` checks each file's magic number, dimensions
and length) and scales the pixels to [0, 1]. Nothing is downloaded: a missing file is a
`DatasetError` naming every place that was looked in.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetError

__all__ = ["idx_dirs", "load_idx", "read_idx"]

_IDX_DATASETS = ("mnist", "fashion-mnist")
_IDX_FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC, _LABELS_MAGIC, _SIDE = 0x00000803, 0x00000801, 28
# Default data roots when neither data_dir nor NNSWEEP_DATA_DIR is given.
_REPO_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
_CWD_DATA = Path("..") / "shared" / "data"


def idx_dirs(name: str, data_dir) -> list[Path]:
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


def load_idx(name: str, data_dir) -> Dataset:
    """Find the four IDX files for ``name`` and read both splits."""
    names = [f for pair in _IDX_FILES.values() for f in pair]
    tried = idx_dirs(name, data_dir)
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
        images = read_idx(found / img_file, _IMAGES_MAGIC, (_SIDE, _SIDE))
        labels = read_idx(found / lbl_file, _LABELS_MAGIC, ())
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


def read_idx(path: Path, magic: int, item_dims: tuple[int, ...]) -> np.ndarray:
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
