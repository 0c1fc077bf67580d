"""Class labels of any type (ints, strings, ...) as indices into the sorted ``classes_``.

The network trains on indices ``0 .. n_classes - 1``; the estimator keeps ``classes_``
to map its predictions back. A later call (`partial_fit`, or `fit` with ``warm_start``)
must not bring labels the first one did not know.
"""

import numpy as np
from sklearn.utils.multiclass import unique_labels

__all__ = ["encode_labels", "learn_classes"]


def learn_classes(y):
    """The sorted distinct labels of ``y`` (``classes_``), and ``y`` as indices into them."""
    classes = unique_labels(y)
    return classes, np.searchsorted(classes, y)


def encode_labels(y, classes, same_classes=False):
    """``y`` as indices into ``classes``, refusing labels never declared.

    With ``same_classes`` (``warm_start=True``), ``y`` must have exactly ``classes``.
    """
    seen = unique_labels(y)
    new = np.setdiff1d(seen, classes)
    if same_classes and not np.array_equal(seen, classes):
        raise ValueError(
            f"warm_start=True needs the classes of the first fit, {classes.tolist()}; "
            f"got {seen.tolist()}"
        )
    if new.size:
        raise ValueError(
            f"labels {new.tolist()} are not in classes_ {classes.tolist()} "
            "given to the first partial_fit"
        )
    return np.searchsorted(classes, y)
