"""``nnsweep sync``: project a study into MLflow once, or follow it until Ctrl-C.

Runs anywhere that reaches both stores, on a finished, running, interrupted or crashed study,
or after the MLflow store was deleted. Once every trial has ended, the parent run gets the
study's end: the plots, the result and the model when the sweep wrote one (FINISHED), or
KILLED when the sweep was stopped before its end. While trials run, the parent is left as
it is: the sweep's own writer ends it.
"""

from __future__ import annotations

import queue

import optuna

from ..study.records import StudyAttr
from .follow import follow as follow_study

TrialState = optuna.trial.TrialState


def sync_study(writer, study, follow: bool = False, end_parent: bool = True) -> dict:
    """Sync ``study`` into ``writer`` (a `StudyWriter`); return the writer's counts.

    ``follow``: keep following until Ctrl-C (SIGINT), then one last pass. ``end_parent``:
    once no trial runs, log the study's end on the parent run (False: trials only).
    """
    writer.connect(study, status=None)
    if follow:
        try:
            follow_study(writer, study, queue.Queue())
        except KeyboardInterrupt:
            pass
    writer.sync(study)
    running = any(t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False))
    if end_parent and not running:
        status = "FINISHED" if study.user_attrs.get(StudyAttr.RESULT) else "KILLED"
        writer.end(study, status)
    return writer.counts
