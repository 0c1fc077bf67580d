"""What a command reads before anything starts: the study file with its overrides, the data.

A bad study file or data set stops here, before any process, lock or training.
"""

from __future__ import annotations

from ..config import load_study, parse_overrides
from ..datasets import load_dataset
from ..estimator import NeuralNetworkClassifier

__all__ = ["load_data", "load_spec"]


def _overrides(args):
    overrides = parse_overrides(args.set or [])
    for key, value in (
        ("budget.n_trials", args.n_trials),
        ("budget.timeout", args.timeout),
        ("workers.n_jobs", args.n_jobs),
        ("storage.url", args.storage),
        ("tracking.uri", args.tracking_uri),
        ("workers.scheduler", getattr(args, "scheduler", None)),
    ):
        if value is not None:
            overrides[key] = str(value)
    if getattr(args, "scheduler", None):
        overrides["workers.backend"] = "dask"
    if getattr(args, "no_tracking", False):
        overrides["tracking.enabled"] = "false"
    return overrides


def load_spec(args):
    """Validate the study file with the command line's overrides applied."""
    from ..estimator import check_estimator_params

    params = NeuralNetworkClassifier().get_params().keys()
    return load_study(
        args.study,
        estimator_params=params,
        overrides=_overrides(args),
        estimator_check=check_estimator_params,
    )


def load_data(spec):
    """Load the study's data set (before anything starts: a bad file stops here)."""
    d = spec.data
    if d.name in ("csv", "npz"):
        return load_dataset(d.name, path=d.path, label_column=d.label_column)
    return load_dataset(d.name, data_dir=d.data_dir)
