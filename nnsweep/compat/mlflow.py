"""The MLflow names nnsweep uses that MLflow does not make public.

* `explicit_tracking_uri`: ``mlflow.tracking._tracking_service.utils._tracking_uri``, the URI
  given to ``mlflow.set_tracking_uri`` (None when none was). The public
  ``mlflow.get_tracking_uri`` answers the default when none was set, so putting its answer
  back would set a URI where there was none.

Leaves out: any public MLflow name (import those from MLflow directly). Only
``nnsweep.tracking`` imports this module (the import contracts in ``pyproject.toml``).
"""

from __future__ import annotations

from mlflow.tracking._tracking_service import utils as _tracking_utils

__all__ = ["explicit_tracking_uri"]


def explicit_tracking_uri() -> str | None:
    """The tracking URI set in this process by ``mlflow.set_tracking_uri``, or None."""
    return getattr(_tracking_utils, "_tracking_uri", None)
