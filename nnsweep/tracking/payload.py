"""What a run holds: tag names, the params of a study, and the params, metrics and tags of a trial.

Functions of their arguments only (no client, no I/O), so the logged content is easy to test.
"""

from __future__ import annotations

import json
import os
from typing import Any

import mlflow
import numpy as np
import optuna
from mlflow.entities import Metric, Param, RunTag

from ..redact import redact_text, redact_url
from .util import finite, ms, now_ms, param_value

TrialState = optuna.trial.TrialState

# Tags: children are found by (parent run, trial number), the parent by (study, role, uid).
PARENT_TAG, ROLE_TAG, STUDY_TAG = "mlflow.parentRunId", "nnsweep.role", "nnsweep.study"
UID_TAG, TRIAL_TAG = "nnsweep.study_uid", "optuna.trial_number"
# Optuna user attributes set by the tracker: on the trial, and on the study.
RUN_ATTR = "mlflow_run_id"
PARENT_ATTR, EXPERIMENT_ATTR, UID_ATTR = (
    "mlflow_parent_run_id",
    "mlflow_experiment_id",
    "mlflow_study_uid",
)
END_STATUS = {  # trial state -> (run status, default stop reason)
    TrialState.COMPLETE: ("FINISHED", "completed"),
    TrialState.PRUNED: ("KILLED", "pruned"),
    TrialState.FAIL: ("FAILED", "failed"),
}
_MAX_ERROR = 2000  # characters of a trial's error kept in its nnsweep.error tag


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


def dataset_info(dataset) -> dict | None:
    """Name, digest, sizes and the MLflow dataset entity's fields: no arrays are kept."""
    if dataset is None:
        return None
    from mlflow.data.code_dataset_source import CodeDatasetSource

    X, y, X_test = dataset.X_train, dataset.y_train, dataset.X_test
    digest = dataset.digest  # computed once here (cached); never per trial
    source = redact_url(str(dataset.source or dataset.name))
    local = os.path.isabs(source)
    profile = {"features_shape": list(X.shape), "targets_shape": list(y.shape)}
    if X_test is not None:
        profile["test_features_shape"] = list(X_test.shape)
    try:  # the schema (dtypes, widths) from the first row
        first = mlflow.data.from_numpy(
            np.asarray(X[:1]),
            targets=np.asarray(y[:1]),
            source=CodeDatasetSource({}),
            digest=digest,
        )
        schema = first.to_dict()["schema"]
    except Exception:  # the schema is optional
        schema = ""
    entity = {
        "name": dataset.name,
        "digest": digest,
        "source_type": "local" if local else "code",
        "source": json.dumps({"uri": source} if local else {"tags": {"source": source}}),
        "schema": schema,
        "profile": json.dumps(profile),
    }
    info = {"name": dataset.name, "digest": digest, "n_train": len(X), "n_features": X.shape[1]}
    if X_test is not None:
        info["n_test"] = len(X_test)
    return {**info, "entity": entity}


def trial_payload(ft) -> tuple[list[Param], list[Metric], list[RunTag], int]:
    """Params, metrics, tags and end time (ms) of a finished trial; a function of ``ft`` only."""
    attrs = ft.user_attrs
    end = ms(ft.datetime_complete) or ms(ft.datetime_start) or now_ms()
    raw = {**ft.params, **(attrs.get("estimator_params") or {})}
    params = [Param(str(k), param_value(v)) for k, v in raw.items()]
    metrics: list[Metric] = []

    def add(key: str, value: Any, step: int = 0) -> None:
        if isinstance(value, int | float | np.number) and not isinstance(value, bool):
            metrics.append(Metric(key, float(value), end, step))

    cv_mean = attrs.get("cv_mean", ft.value)
    if cv_mean is None and ft.intermediate_values:  # pruned: the last reported CV mean
        cv_mean = ft.intermediate_values[max(ft.intermediate_values)]
    add("cv_mean", cv_mean)
    folds = list(attrs.get("fold_scores") or [])  # None: a fold without a score
    scored = [s for s in folds if finite(s)]
    add("cv_std", attrs.get("cv_std", float(np.std(scored)) if scored else None))
    for i, score in enumerate(folds):
        add(f"fold_{i}_score", score)
    add("fit_time", attrs.get("fit_time", ft.duration and ft.duration.total_seconds()))
    curve = list(attrs.get("curve_val_mean") or [])
    add("n_epochs", attrs.get("n_epochs", len(curve) if curve else None))
    # The mean curves only: per-fold curves (curve_val_folds) stay on the Optuna trial.
    curves = {"val_mean": curve, "loss_mean": attrs.get("curve_loss_mean") or []}
    for key, values in curves.items():
        for epoch, value in enumerate(values, start=1):
            add(key, value, epoch)
    reason = END_STATUS.get(ft.state, (None, ""))[1]
    tags = {
        TRIAL_TAG: str(ft.number),
        "optuna.trial_state": ft.state.name,
        "nnsweep.stop_reason": str(attrs.get("stop_reason") or reason),
        "nnsweep.error": redact_text(str(attrs.get("error") or "")),
    }
    if len(tags["nnsweep.error"]) > _MAX_ERROR:
        tags["nnsweep.error"] = tags["nnsweep.error"][: _MAX_ERROR - 3] + "..."
    return params, metrics, [RunTag(k, v) for k, v in tags.items() if v], end


def best_trial_ms(study, number: int | None) -> int | None:
    """End time (ms) of trial ``number``: the timestamp its callback gave ``best_cv_mean``."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.number == number:
            return ms(t.datetime_complete)
    return None
