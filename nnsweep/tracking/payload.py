"""What a run holds: tag names, a study's tags and params, and a trial's params, metrics and tags.

Functions of the Optuna trial and the study's settings only (no client, no I/O), so the logged
content is easy to test, and the same study always gives the same rows: a metric's timestamp
comes from the trial (its start plus the epoch's time, or its end), never from the clock, so a
second projection of the same trial writes rows MLflow already has, and it keeps one of each.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import optuna
from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag

from ..study.records import Attr, StopReason, curves
from ..study.redact import redact_text, redact_url
from .util import finite, ms, param_value

TrialState = optuna.trial.TrialState

# Tags: children are found by (parent run, trial number), the parent by (study, role, uid).
PARENT_TAG, ROLE_TAG, STUDY_TAG = "mlflow.parentRunId", "nnsweep.role", "nnsweep.study"
UID_TAG, TRIAL_TAG, TRIAL_ID_TAG = "nnsweep.study_uid", "optuna.trial_number", "optuna.trial_id"
SYNCED_TAG = "nnsweep.synced"  # the trial state whose final content the run holds
END_STATUS = {  # trial state -> (run status, default stop reason)
    TrialState.COMPLETE: ("FINISHED", StopReason.COMPLETED),
    TrialState.PRUNED: ("KILLED", StopReason.PRUNED),
    TrialState.FAIL: ("FAILED", StopReason.FAILED),
}
_MAX_ERROR = 2000  # characters of a trial's error kept in its nnsweep.error tag


def context_tags(spec, uid: str, dataset_info) -> dict[str, str]:
    """Tags of each of the study's runs: the study's name and uid, sampler, pruner, data set."""
    info = dataset_info or {}
    return {
        STUDY_TAG: spec.name,
        UID_TAG: uid,
        "optuna.study_name": spec.name,
        "nnsweep.sampler": spec.sampler.name,
        "nnsweep.pruner": spec.pruner.name,
        "nnsweep.data": info.get("name", spec.data.name),
        "nnsweep.data_digest": info.get("digest", ""),
    }


def spec_params(spec, dataset_info) -> dict[str, Any]:
    """The study's settings as parent-run params: sections, data, fixed estimator, space."""
    info = dataset_info or {}
    params: dict[str, Any] = {"metric": spec.metric}
    for section in ("sampler", "pruner", "cv", "budget", "data"):
        for key, value in vars(getattr(spec, section)).items():
            if value is not None:
                params[f"{section}.{key}"] = value
    for key in ("name", "digest", "n_train", "n_test", "n_features"):
        if key in info:
            params[f"data.{key}"] = info[key]
    params.update({f"estimator.{k}": v for k, v in spec.estimator})
    for p in spec.search_space:
        if p.type == "categorical":
            params[f"space.{p.name}"] = f"categorical {list(p.choices)}"
        else:
            params[f"space.{p.name}"] = f"{p.type} [{p.low}, {p.high}]" + "".join(
                f" {k}={v}" for k, v in (("log", p.log), ("step", p.step), ("off", p.off)) if v
            )
    params["storage.url"] = redact_url(spec.storage.url)
    return params


def dataset_input(info: dict | None) -> list[DatasetInput]:
    """The data set as an MLflow dataset input, from `nnsweep.datasets.Dataset.describe`.

    The schema (dtypes and widths) is MLflow's own, computed from one row of zeros of the
    data's dtypes and width: the writer never loads the data.
    """
    if not info:
        return []
    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource

    source = redact_url(str(info.get("source") or info["name"]))
    local = source.startswith("/")
    profile = {
        "features_shape": info.get("features_shape"),
        "targets_shape": [info.get("n_train")],
    }
    if info.get("test_features_shape"):
        profile["test_features_shape"] = info["test_features_shape"]
    try:
        row = np.zeros((1, int(info["n_features"])), dtype=info.get("features_dtype", "<f4"))
        target = np.zeros(1, dtype=info.get("targets_dtype", "<i8"))
        sample = mlflow.data.from_numpy(
            row, targets=target, source=CodeDatasetSource({}), digest=info["digest"]
        )
        schema = sample.to_dict()["schema"]
    except Exception:  # the schema is optional (e.g. a dtype MLflow does not map)
        schema = ""
    dataset = MlflowDataset(
        name=info["name"],
        digest=info["digest"],
        source_type="local" if local else "code",
        source=json.dumps({"uri": source} if local else {"tags": {"source": source}}),
        schema=schema,
        profile=json.dumps(profile),
    )
    return [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])]


def trial_params(ft) -> dict[str, str]:
    """Every estimator parameter of the trial (sampled over fixed), as MLflow param text."""
    raw = {**ft.params, **(ft.user_attrs.get(Attr.ESTIMATOR_PARAMS) or {})}
    return {str(k): param_value(v) for k, v in raw.items()}


def end_ms(ft) -> int | None:
    """When the trial ended (ms), or None while it runs."""
    return ms(ft.datetime_complete)


def curves_known(ft) -> int:
    """How many epochs of the trial's curves are in its user attributes."""
    return len(curves(ft.user_attrs)[Attr.CURVE_VAL_MEAN])


def curve_metrics(ft, after: int = 0) -> list[Metric]:
    """Step metrics ``val_mean`` and ``loss_mean`` for the epochs after ``after``.

    Step = epoch (1-based); the timestamp is the trial's start plus the epoch's time
    (``curve_time``), so the MLflow UI's time axis is the trial's own.
    """
    known = curves(ft.user_attrs)
    start = ms(ft.datetime_start) or 0
    times = known[Attr.CURVE_TIME]
    metrics = []
    for key, attr in (("val_mean", Attr.CURVE_VAL_MEAN), ("loss_mean", Attr.CURVE_LOSS_MEAN)):
        values = known[attr]
        for epoch in range(after + 1, len(values) + 1):
            value = values[epoch - 1]
            if not finite(value):
                continue
            offset = times[epoch - 1] if epoch <= len(times) and finite(times[epoch - 1]) else 0
            stamp = start + int(round(1000 * offset)) if offset else start + epoch
            metrics.append(Metric(key, float(value), stamp, epoch))
    return metrics


def final_metrics(ft) -> list[Metric]:
    """Scalar metrics of a finished trial: CV mean and std, fold scores, fit time, epochs."""
    attrs, end = ft.user_attrs, end_ms(ft) or ms(ft.datetime_start) or 0
    metrics: list[Metric] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, int | float | np.number) and not isinstance(value, bool):
            if finite(value):
                metrics.append(Metric(key, float(value), end, 0))

    cv_mean = attrs.get(Attr.CV_MEAN, ft.value)
    if cv_mean is None and ft.intermediate_values:  # the last reported CV mean
        cv_mean = ft.intermediate_values[max(ft.intermediate_values)]
    add("cv_mean", cv_mean)
    folds = list(attrs.get(Attr.FOLD_SCORES) or [])  # None: a fold without a score
    scored = [s for s in folds if finite(s)]
    add("cv_std", attrs.get(Attr.CV_STD, float(np.std(scored)) if scored else None))
    for i, score in enumerate(folds):
        add(f"fold_{i}_score", score)
    add("fit_time", attrs.get(Attr.FIT_TIME, ft.duration and ft.duration.total_seconds()))
    add("n_epochs", attrs.get(Attr.N_EPOCHS, curves_known(ft) or None))
    return metrics


def final_tags(ft) -> dict[str, str]:
    """Tags of a finished trial: its state, why it stopped, its error (secrets masked)."""
    attrs = ft.user_attrs
    reason = END_STATUS.get(ft.state, (None, ""))[1]
    error = redact_text(str(attrs.get(Attr.ERROR) or ""))
    if len(error) > _MAX_ERROR:
        error = error[: _MAX_ERROR - 3] + "..."
    tags = {
        "optuna.trial_state": ft.state.name,
        "nnsweep.stop_reason": str(attrs.get(Attr.STOP_REASON) or reason),
        "nnsweep.error": error,
    }
    if attrs.get(Attr.RETRY_OF) is not None:
        tags["nnsweep.retry_of"] = str(attrs[Attr.RETRY_OF])
    if attrs.get(Attr.WARM_START):  # added from an earlier study: "<study>#<number>"
        tags["nnsweep.warm_start"] = str(attrs[Attr.WARM_START])
    return {k: v for k, v in tags.items() if v}


def as_entities(params=None, tags=None) -> tuple[list[Param], list[RunTag]]:
    """``{name: text}`` dicts as MLflow entities."""
    return (
        [Param(k, param_value(v)) for k, v in (params or {}).items()],
        [RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )
