"""The Optuna names nnsweep uses that Optuna does not make public.

Each function below wraps one private name, with the public API where Optuna has one:

* `heartbeat_thread`: ``optuna.storages._heartbeat.get_heartbeat_thread``, the thread that
  ``study.optimize`` runs beside each trial to keep its heartbeat fresh. An ask-and-tell loop
  has no public way to start it.
* `is_heartbeat_enabled`: public API only (the storage's ``get_heartbeat_interval``), in place
  of ``optuna.storages._heartbeat.is_heartbeat_enabled``.
* `trial_id`: ``Trial._trial_id`` / ``FrozenTrial._trial_id``, the storage's key of a trial
  (the public ``number`` counts within a study). The public road,
  ``storage.get_trial_id_from_study_id_trial_number``, costs a storage query per call.
* `study_storage`, `study_id`: ``Study._storage`` and ``Study._study_id``; a study does not
  expose the storage it was opened on.
* `grid_point`: the ``grid_id`` system attribute Optuna's `GridSampler` puts on a trial, the
  index of its grid point (no public accessor).
* `stale_trial_ids`: ``RDBStorage._get_stale_trial_ids``. The public
  ``optuna.storages.fail_stale_trials`` fails those trials at once, leaving no way to record
  on them why they ended (``stop_reason``: interrupted) before they are finished.

``optuna.storages.RetryHeartbeatStaleTrialCallback`` (``RetryFailedTrialCallback`` before
Optuna 5) is the public retry of a stale trial; nnsweep queues its own retries instead
(`nnsweep.sweep.recovery`), since a trial stopped by a signal is retried too.

Leaves out: any public Optuna name (import those from Optuna directly).
"""

from __future__ import annotations

from optuna.storages._heartbeat import get_heartbeat_thread

__all__ = [
    "get_heartbeat_thread",
    "grid_point",
    "heartbeat_thread",
    "is_heartbeat_enabled",
    "stale_trial_ids",
    "study_id",
    "study_storage",
    "trial_id",
]


def trial_id(trial) -> int:
    """The storage's id of a `Trial` or `FrozenTrial` (not its ``number``)."""
    return trial._trial_id


def study_storage(study):
    """The storage ``study`` was opened on."""
    return study._storage


def study_id(study) -> int:
    """The storage's id of ``study``."""
    return study._study_id


def is_heartbeat_enabled(storage) -> bool:
    """True for a storage with heartbeats (an RDB storage given ``heartbeat_interval``)."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return callable(interval) and interval() is not None


def heartbeat_thread(trial, storage):
    """A context manager that keeps ``trial``'s heartbeat fresh (a no-op without heartbeats)."""
    return get_heartbeat_thread(trial_id(trial), storage)


def grid_point(trial) -> int | None:
    """The index of the grid point a `GridSampler` gave ``trial`` (None: none yet)."""
    return trial.system_attrs.get("grid_id")


def stale_trial_ids(study) -> list[int]:
    """Ids of the study's RUNNING trials whose heartbeat is stale (heartbeats enabled)."""
    return list(study_storage(study)._get_stale_trial_ids(study_id(study)))
