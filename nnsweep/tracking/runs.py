"""MLflow calls of the writer that need no writer state: find, create, log once.

`StudyWriter` (`nnsweep.tracking.writer`) keeps the state (what was pushed; `RunMap` in
`nnsweep.tracking.mapping`: which run is which trial's); these are the single operations they
compose, each retried on a busy store.
"""

from __future__ import annotations

import logging

from mlflow.entities import Metric, ViewType
from mlflow.exceptions import MlflowException

from . import payload as pl
from .artifacts import log_model
from .store import artifact_location
from .util import TrackingError, param_value, retry, short

__all__ = ["PAGE", "active_experiment", "gone", "log_params_once", "log_result", "search_all"]

_log = logging.getLogger(__name__)
PAGE = 1000  # runs per search page; also MLflow's limit of metrics per log_batch


def active_experiment(client, name: str, uri: str) -> str:
    """The id of the active experiment ``name``, created (artifacts beside the store) if new."""
    exp = retry(client.get_experiment_by_name, name)
    if exp is None:
        try:
            return retry(client.create_experiment, name, artifact_location(uri))
        except MlflowException as exc:  # created meanwhile by another writer?
            exp = client.get_experiment_by_name(name)
            if exp is None:
                what = f"cannot create MLflow experiment {name!r}: {short(exc)}"
                raise TrackingError(what) from None
    if exp.lifecycle_stage != "active":
        raise TrackingError(
            f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted; restore it "
            f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or set "
            "tracking.experiment to another name"
        )
    return exp.experiment_id


def search_all(client, experiment_id: str, filter_string: str) -> list:
    """Every active run of the experiment matching ``filter_string`` (all pages)."""
    out, token = [], None
    while True:
        page = retry(
            client.search_runs,
            [experiment_id],
            filter_string,
            ViewType.ACTIVE_ONLY,
            max_results=PAGE,
            page_token=token,
        )
        out.extend(page)
        token = page.token
        if not token:
            return out


def log_result(client, uri, spec, run_id: str, result: dict) -> None:
    """The sweep's result on the parent run: best params, test score, counts, the model once."""
    best = dict(result.get("best_params") or {})
    log_params_once(client, run_id, {f"best.{k}": v for k, v in best.items()})
    payload = {
        "best_trial_number": result.get("best_trial_number"),
        "best_value": result.get("best_value"),
        "params": best,
    }
    client.log_dict(run_id, payload, "best_params.json")
    stamp = int(1000 * float(result.get("finished_at") or 0)) or None
    metrics = []
    for key in ("test_score", "n_complete", "n_pruned", "n_failed", "n_interrupted", "wall_time"):
        value = result.get(key)
        if isinstance(value, int | float) and stamp:
            metrics.append(Metric(key, float(value), stamp, 0))
    tags = {"nnsweep.best_trial": str(result.get("best_trial_number"))}
    if result.get("test_metric"):
        tags["nnsweep.test_metric"] = str(result["test_metric"])
    warnings = list(result.get("warnings") or [])
    tags["nnsweep.warnings"] = str(len(warnings))  # the UI filters on it: > 0 wants a look
    if warnings:  # a line each under the study's description, on the run's page
        note = spec.description + "\n\n" if spec.description else ""
        tags["mlflow.note.content"] = note + "\n".join(f"Warning: {w}" for w in warnings)
    _, tag_entities = pl.as_entities(tags=tags)
    retry(client.log_batch, run_id, metrics=metrics, tags=tag_entities)
    model_path = result.get("model_path")
    have = retry(client.get_run, run_id).data.tags
    if model_path and "nnsweep.model" not in have:
        log_model(client, uri, spec, run_id, result)


def log_params_once(client, run_id: str, params: dict) -> None:
    """Log the params the run lacks; warn about (and keep) ones whose value changed."""
    have = retry(client.get_run, run_id).data.params
    new = {k: v for k, v in params.items() if k not in have}
    changed = [
        f"{k}: {have[k]} -> {param_value(v)}"
        for k, v in params.items()
        if k in have and have[k] != param_value(v)
    ]
    if changed:
        _log.warning(
            "MLflow run %s keeps its first values of these params (params cannot change): %s",
            run_id,
            "; ".join(changed),
        )
    entities, _ = pl.as_entities(new)
    for i in range(0, len(entities), 100):  # MLflow's limit of params per batch
        retry(client.log_batch, run_id, params=entities[i : i + 100])


def gone(exc: MlflowException) -> bool:
    """Whether ``exc`` says the run does not exist or was deleted."""
    text = str(exc).lower()
    return (
        exc.error_code == "RESOURCE_DOES_NOT_EXIST"
        or "deleted" in text
        or ("must be in the 'active' state" in text)
    )
