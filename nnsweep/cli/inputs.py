"""What a command reads before anything starts: the study file with its overrides, the data.

A bad study file or data set stops here, before any process, lock or training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import StudyFileError, load_study, parse_overrides
from ..datasets import load_dataset

__all__ = ["load_built_study", "load_data", "load_spec", "scale_warning"]


def _overrides(args):
    overrides = parse_overrides(getattr(args, "set", None) or [])
    for key, arg in (
        ("budget.n_trials", "n_trials"),
        ("budget.timeout", "timeout"),
        ("workers.n_jobs", "n_jobs"),
        ("storage.url", "storage"),
        ("tracking.uri", "tracking_uri"),
        ("workers.scheduler", "scheduler"),
    ):
        value = getattr(args, arg, None)  # a command without the option: not overridden
        if value is not None:
            overrides[key] = str(value)
    if getattr(args, "scheduler", None):
        overrides["workers.backend"] = "dask"
    if getattr(args, "no_tracking", False):
        overrides["tracking.enabled"] = "false"
    return overrides


def load_spec(args):
    """Validate the study file with the command line's overrides applied."""
    from ..estimator import NeuralNetworkClassifier, check_estimator_params

    return load_study(
        args.study,
        estimator_params=NeuralNetworkClassifier().get_params(),
        overrides=_overrides(args),
        estimator_check=check_estimator_params,
    )


def load_built_study(name):
    """``(spec, study)`` of a study that has run: a study file, or a name in ``studies/``.

    Raises `StudyFileError` when the file is missing or bad, or its study is not in its
    storage yet.
    """
    from optuna.exceptions import StorageInternalError

    from ..study.storage import load_study as open_study

    path = Path(name)
    if not path.suffix and not path.exists() and Path("studies", f"{name}.toml").is_file():
        path = Path("studies", f"{name}.toml")
    spec = load_spec(argparse.Namespace(study=str(path)))
    try:
        return spec, open_study(spec)
    except (KeyError, StorageInternalError):
        where = spec.storage.url or "mlruns/optuna"
        raise StudyFileError(
            str(path), None, f"no study {spec.name!r} in its storage {where}: run it first"
        ) from None


def load_data(spec):
    """Load the study's data set (before anything starts: a bad file stops here)."""
    d = spec.data
    if d.name in ("csv", "npz"):
        return load_dataset(d.name, path=d.path, label_column=d.label_column)
    return load_dataset(d.name, data_dir=d.data_dir)


def scale_warning(spec, dataset) -> str | None:
    """A warning for a CSV or NPZ study whose features' ranges differ too much, unscaled.

    Named data sets come scaled already (pixels in [0, 1]); a user's file may not. The
    threshold, `nnsweep.datasets.profile.SCALE_RATIO`, is where CV accuracy was measured to
    fall (benchmarks/bench_feature_scales.py).
    """
    from ..datasets.profile import SCALE_RATIO, scale_ratio

    if spec.data.name not in ("csv", "npz") or spec.data.preprocessing != "none":
        return None
    ratio = scale_ratio(dataset.X_train)
    if ratio <= SCALE_RATIO:
        return None
    return (
        f"warning: the features' ranges differ by {ratio:,.0f}x (over {SCALE_RATIO:g}x) and are "
        f'not scaled: set preprocessing = "standard" in [data] of {spec.path} (or --set '
        "data.preprocessing=standard); an unscaled network learns the small features poorly"
    )
