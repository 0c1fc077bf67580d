"""Trials a dead worker or a stopped sweep left RUNNING: fail them, queue their retries.

A trial that did not end by itself (`nnsweep.study.records.is_interrupted`) does not count against
the budget; its parameters are queued again, once. Leaves out: when to call it (the runner,
before the workers start, and each worker when heartbeats are on).
"""

from __future__ import annotations

import os
import socket

import optuna
from optuna.trial import TrialState

from ..compat.optuna import is_heartbeat_enabled, stale_trial_ids, study_storage, trial_id
from ..study.records import Attr, StopReason, is_interrupted

__all__ = ["recover_interrupted", "retry_interrupted"]


def recover_interrupted(study):
    """Fail trials left RUNNING by a dead worker or a stopped sweep; queue their retries.

    Called while holding the study's `SweepLock`, so no other local sweep runs.
    With heartbeats (server databases) only trials whose heartbeat is stale are
    failed, so that workers on other machines are left alone; with a journal file
    every RUNNING trial is stale. Returns the number of trials failed.
    """
    storage = study_storage(study)
    if is_heartbeat_enabled(storage):
        stale_ids = stale_trial_ids(study)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        stale_ids += [
            trial_id(t) for t in running if _worker_is_dead(t) and trial_id(t) not in stale_ids
        ]
    else:
        stale_ids = [
            trial_id(t) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        ]
    failed = 0
    for stale in stale_ids:
        storage.set_trial_user_attr(stale, Attr.STOP_REASON, StopReason.INTERRUPTED.value)
        storage.set_trial_user_attr(stale, Attr.ERROR, "the worker stopped during the trial")
        try:
            storage.set_trial_state_values(stale, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished meanwhile
        failed += 1
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if is_interrupted(t):
            retry_interrupted(study, t)
    return failed


def _worker_is_dead(trial):
    """True when the trial's worker ran on this machine and its process is gone."""
    host, _, pid = str(trial.user_attrs.get(Attr.WORKER, "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def retry_interrupted(study, frozen):
    """Queue a fresh trial with the parameters of an interrupted one (once)."""
    if not frozen.params or any(
        t.user_attrs.get(Attr.RETRY_OF) == frozen.number for t in study.get_trials(deepcopy=False)
    ):
        return
    study.enqueue_trial(frozen.params, user_attrs={Attr.RETRY_OF: frozen.number})
