"""The study's runs in MLflow: its experiment, its parent run, and one run per trial.

A study has one MLflow writer at a time (`nnsweep.study.locks.writer_lock`, taken by
`nnsweep.tracking.writer.StudyWriter.connect`), so each run is found by its tags, or created:

* the experiment by its name (``tracking.experiment``, default the study's), created with its
  artifacts beside a SQLite store (`nnsweep.tracking.store.artifact_location`);
* the parent run by (study name, role ``study``, the study's ``mlflow_study_uid``): a study
  deleted and re-created under the same name has a new uid, so it gets a parent run and trial
  runs of its own instead of the old study's, whose trial numbers it would repeat;
* a trial's run by (parent run, trial number), all of them in one search when the writer
  connects (`trial_runs`); a run whose final content landed has the tag ``nnsweep.synced`` (the
  trial state) and a status other than RUNNING, and is not written again.

Leaves out: what the runs hold (`nnsweep.tracking.payload`, written by
`nnsweep.tracking.writer`) and the parent's content (`nnsweep.tracking.artifacts`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mlflow.entities import ViewType
from mlflow.utils import get_results_from_paginated_fn

from ..compat.optuna import trial_id
from ..study.records import StudyAttr
from ..study.redact import redact_text, redact_url
from . import payload as pl
from .artifacts import log_params_once, log_study_text
from .store import artifact_location
from .util import TrackingError, ms, quote

__all__ = ["TrialRun", "active_experiment", "create_trial_run", "open_parent", "trial_runs"]

PAGE = 1000  # runs per search page


@dataclass
class TrialRun:
    """What the writer knows of one trial's run."""

    run_id: str
    epochs: int = 0  # curve epochs pushed (0 after a restart: pushed again, kept once)
    params: int = 0  # params pushed
    final: bool = False  # the trial's final content is in MLflow


def active_experiment(client, name: str, uri: str) -> str:
    """The id of the active experiment ``name``, created (artifacts beside the store) if new."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name, artifact_location(uri))
    if exp.lifecycle_stage != "active":
        raise TrackingError(
            f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted; restore it "
            f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or set "
            "tracking.experiment to another name"
        )
    return exp.experiment_id


def study_uid(study) -> str:
    """The study's ``mlflow_study_uid``, made (and kept on the study) the first time."""
    if not study.user_attrs.get(StudyAttr.MLFLOW_UID):
        study.set_user_attr(StudyAttr.MLFLOW_UID, uuid.uuid4().hex)
    return study.user_attrs[StudyAttr.MLFLOW_UID]


def search_all(client, experiment_id: str, filter_string: str) -> list:
    """Every active run of the experiment matching ``filter_string``, oldest first."""
    return get_results_from_paginated_fn(
        lambda n, token: client.search_runs(
            [experiment_id],
            filter_string,
            ViewType.ACTIVE_ONLY,
            max_results=n,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        ),
        PAGE,
    )


def parent_filter(name: str, uid: str) -> str:
    """The MLflow search filter of study ``name``'s parent run (``mlflow_study_uid`` ``uid``)."""
    return (
        f"tags.`{pl.STUDY_TAG}` = '{quote(name)}' AND tags.`{pl.ROLE_TAG}` = 'study' AND "
        f"tags.`{pl.UID_TAG}` = '{quote(uid)}'"
    )


def open_parent(writer, study) -> str:
    """The id of the study's parent run in ``writer``'s experiment, found or created.

    Its params, study file and tags are logged on every call (what it already has is kept).
    """
    spec, client, info = writer.spec, writer.client, writer.dataset_info
    which = parent_filter(spec.name, writer.uid)
    tags = {
        **pl.context_tags(spec, writer.uid, info),
        pl.ROLE_TAG: "study",
        "optuna.direction": study.direction.name,
        "nnsweep.tracking_uri": redact_url(writer.uri),
        "nnsweep.study.storage": redact_url(spec.storage.url),
    }
    if spec.description:
        tags["mlflow.note.content"] = spec.description
    found = search_all(client, writer.experiment_id, which)
    run_id = (
        found[0].info.run_id
        if found
        else client.create_run(writer.experiment_id, tags=tags, run_name=spec.name).info.run_id
    )
    log_params_once(client, run_id, pl.spec_params(spec, info))
    text = study.user_attrs.get(StudyAttr.STUDY_FILE) or redact_text(spec.source_text)
    log_study_text(client, spec, run_id, text)
    client.log_batch(run_id, tags=pl.as_entities(tags=tags)[1])
    return run_id


def trial_runs(client, experiment_id: str, parent_run_id: str) -> dict[int, TrialRun]:
    """The parent's trial runs by trial number (one search)."""
    runs: dict[int, TrialRun] = {}
    for run in search_all(client, experiment_id, f"tags.`{pl.PARENT_TAG}` = '{parent_run_id}'"):
        number = run.data.tags.get(pl.TRIAL_TAG)
        if number is not None and number.isdigit():
            final = pl.SYNCED_TAG in run.data.tags and run.info.status != "RUNNING"
            runs.setdefault(int(number), TrialRun(run.info.run_id, final=final))
    return runs


def create_trial_run(writer, t) -> TrialRun:
    """A new run for trial ``t`` under the parent run: started when the trial was, tagged."""
    tags = {
        **pl.context_tags(writer.spec, writer.uid, writer.dataset_info),
        pl.PARENT_TAG: writer.parent_run_id,
        pl.ROLE_TAG: "trial",
        pl.TRIAL_TAG: str(t.number),
        pl.TRIAL_ID_TAG: str(trial_id(t)),
    }
    run = writer.client.create_run(
        writer.experiment_id,
        start_time=ms(t.datetime_start),
        tags=tags,
        run_name=f"trial-{t.number:04d}",
    )
    return TrialRun(run.info.run_id)
