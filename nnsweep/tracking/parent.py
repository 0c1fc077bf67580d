"""The study's side of MLflow: its uid, its parent run, and the ids kept on the study.

A study's parent run is found again by (study name, role ``study``, the study's
``mlflow_study_uid``), so a study re-created under the same name gets a new one; it holds the
study's settings as params, the study file and the tags of `open_parent`. Its id and the
experiment's are kept on the study (``mlflow_parent``, ``mlflow_experiment``).

Leaves out: the trials' runs (`nnsweep.tracking.mapping`) and the study's end on the parent
(`nnsweep.tracking.writer`).
"""

from __future__ import annotations

import uuid

from ..study.records import StudyAttr
from ..study.redact import redact_text, redact_url
from . import payload as pl
from .artifacts import log_study_text
from .runs import log_params_once
from .util import quote, retry

__all__ = ["open_parent", "record_ids", "study_uid"]


def study_uid(study) -> str:
    """The study's ``mlflow_study_uid``, made (and kept on the study) the first time."""
    uid = study.user_attrs.get(StudyAttr.MLFLOW_UID) or ""
    if not uid:
        study.set_user_attr(StudyAttr.MLFLOW_UID, uuid.uuid4().hex)
        uid = study.user_attrs[StudyAttr.MLFLOW_UID]
    return uid


def open_parent(runs, study, info) -> tuple[str, bool]:
    """The study's parent run, found or created in ``runs`` (a `RunMap`): ``(id, found)``.

    Its params, study file and tags are logged on every call (what it already has is kept).
    """
    spec = runs.spec
    which = (
        f"tags.`{pl.STUDY_TAG}` = '{quote(spec.name)}' AND tags.`{pl.ROLE_TAG}` = "
        f"'study' AND tags.`{pl.UID_TAG}` = '{runs.uid}'"
    )
    tags = {
        **pl.context_tags(spec, runs.uid, info),
        pl.ROLE_TAG: "study",
        "optuna.direction": study.direction.name,
        "nnsweep.tracking_uri": redact_url(runs.uri),
        "nnsweep.study.storage": redact_url(spec.storage.url),
    }
    if spec.description:
        tags["mlflow.note.content"] = spec.description
    run_id, resumed = runs.parent(which, tags)
    log_params_once(runs.client, run_id, pl.spec_params(spec, info))
    text = study.user_attrs.get(StudyAttr.STUDY_FILE) or redact_text(spec.source_text)
    log_study_text(runs.client, spec, run_id, text)
    _, entities = pl.as_entities(tags=tags)
    retry(runs.client.log_batch, run_id, tags=entities)
    return run_id, resumed


def record_ids(study, parent_run_id: str, experiment_id: str) -> None:
    """The parent run's and the experiment's ids as study attributes (where they changed)."""
    for key, value in (
        (StudyAttr.MLFLOW_PARENT, parent_run_id),
        (StudyAttr.MLFLOW_EXPERIMENT, experiment_id),
    ):
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)
