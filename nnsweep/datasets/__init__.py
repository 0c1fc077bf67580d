"""Load the datasets a sweep trains on, as float32 features and integer (or string) labels.

What this package holds: :func:`load_dataset` for scikit-learn's bundled ``digits`` (the
default; works offline), ``mnist`` and ``fashion-mnist`` read from the standard IDX ``.gz``
files (parsed here with ``gzip`` and :func:`numpy.frombuffer`), and a user's own ``.csv``
or ``.npz`` file. Everything comes back as a frozen :class:`Dataset` with read-only arrays
and a content :attr:`Dataset.digest` for run tracking. Every missing or corrupt input raises
:class:`DatasetError`, which says what was expected and every place that was looked in.

What it leaves out on purpose: downloading (never; the data must already be on disk),
caching, pandas, train/validation splitting, shuffling and any preprocessing beyond scaling
pixels to [0, 1]. Those belong to the caller (the cross-validation code does its own splits).

Its modules: ``dataset`` (`Dataset`, `DatasetError`), ``load`` (`load_dataset`: the name to
its loader), ``idx`` (the IDX reader and where it looks), ``files`` (CSV and NPZ).
"""

from .dataset import Dataset, DatasetError
from .load import DATASETS, load_dataset

__all__ = ["DATASETS", "Dataset", "DatasetError", "load_dataset"]
