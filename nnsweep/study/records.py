"""What a trial reports: the one contract between the sweep and tracking.

The sweep's objective writes a trial's results to the Optuna storage as user attributes; the
MLflow writer (`nnsweep.tracking`), ``nnsweep show`` and the tests read them back. Both sides
name the attributes through this module, never by spelling the strings.

* `StopReason`: why a trial ended.
* `Attr`: the names of the user attributes a trial carries.
* `TrialRecord`: the attributes of one trial as a typed object (``TrialRecord.of(frozen)``).
* `curve_chunk`, `curves`: a running trial's curves, appended a chunk at a time.
* `is_interrupted`: a trial that did not end by itself (retried, not counted in the budget).
* `count_states`: how many trials are in each state.

Standard library only: the sweep and tracking both import it, and it imports neither.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Attr",
    "StopReason",
    "StudyAttr",
    "TrialRecord",
    "count_states",
    "curve_chunk",
    "is_added",
    "curves",
    "is_interrupted",
]


class StopReason(StrEnum):
    """Why a trial ended (the ``stop_reason`` attribute; a plain string in the storage)."""

    COMPLETED = "completed"  # every fold trained to the end
    PRUNED = "pruned"  # the pruner stopped it on the fold-mean curve
    DIVERGED = "diverged"  # a non-finite loss
    FAILED = "failed"  # any other error, with its message in ``error``
    INTERRUPTED = "interrupted"  # its worker died or the sweep was stopped: retried


class Attr:
    """Names of a trial's user attributes (set by the sweep's workers)."""

    ESTIMATOR_PARAMS = "estimator_params"  # the fixed estimator parameters and the drawn ones
    FOLD_SCORES = "fold_scores"  # last validation score of each fold (None: no epoch)
    CV_MEAN = "cv_mean"
    CV_STD = "cv_std"
    N_EPOCHS = "n_epochs"
    FIT_TIME = "fit_time"  # seconds
    STOP_REASON = "stop_reason"  # a StopReason value
    ERROR = "error"  # "Type: message" of a failed or diverged trial
    CURVE_VAL_MEAN = "curve_val_mean"  # per epoch: mean validation score over folds
    CURVE_LOSS_MEAN = "curve_loss_mean"  # per epoch: mean training loss over folds
    CURVE_TIME = "curve_time"  # per epoch: seconds since the trial started
    CURVE_VAL_FOLDS = "curve_val_folds"  # per fold, per epoch: validation score
    WARM_START = "warm_start"  # "<study>#<number>": added from an earlier study (not budget)
    CURVE_CHUNK = "curve_chunk:"  # + first epoch: a running trial's new epochs (`curves`)
    WORKER = "worker"  # "host:pid" of the worker process that ran it
    RETRY_OF = "retry_of"  # number of the interrupted trial this one retries


class StudyAttr:
    """Names of the study's user attributes (set by ``nnsweep run`` and the MLflow writer)."""

    CONFIG = "nnsweep_config"  # the study's settings that must not change on resume
    DATASET = "nnsweep_dataset"  # name, digest, sizes of the data set (no arrays)
    STUDY_FILE = "nnsweep_study_file"  # the study file's text, secrets masked
    RESULT = "nnsweep_result"  # the refit's summary (SweepResult.summary())
    CONVERGED = "nnsweep_converged"  # why the study ended early ([budget] stop = "converged")
    WARM_STARTED = "nnsweep_warm_started"  # the studies it was warm-started from, once each
    MLFLOW_UID = "mlflow_study_uid"  # tells a study from one re-created under its name


@dataclass
class TrialRecord:
    """A trial's results as the objective records them (see `Attr` for each field)."""

    estimator_params: dict[str, Any] = field(default_factory=dict)
    fold_scores: list[float | None] = field(default_factory=list)
    cv_mean: float | None = None
    cv_std: float | None = None
    n_epochs: int = 0
    fit_time: float | None = None
    stop_reason: StopReason | None = None
    error: str = ""
    curve_val_mean: list[float] = field(default_factory=list)
    curve_loss_mean: list[float] = field(default_factory=list)
    curve_time: list[float] = field(default_factory=list)
    curve_val_folds: list[list[float]] = field(default_factory=list)

    def to_attrs(self) -> dict[str, Any]:
        """The user attributes to set, JSON-safe (NaN becomes None; JSON has no NaN)."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "stop_reason":
                value = None if value is None else str(value)
            if name == "error" and not value:
                continue
            out[getattr(Attr, name.upper())] = _json_safe(value)
        return out

    @classmethod
    def of(cls, trial) -> TrialRecord:
        """The record of a (frozen) Optuna trial, from its user attributes."""
        attrs = trial.user_attrs
        reason = attrs.get(Attr.STOP_REASON)
        kwargs = {}
        for name in cls.__dataclass_fields__:
            key = getattr(Attr, name.upper())
            if key in attrs and attrs[key] is not None:
                kwargs[name] = attrs[key]
        kwargs["stop_reason"] = StopReason(reason) if reason in _REASONS else None
        return cls(**kwargs)


_REASONS = {r.value for r in StopReason}
#: Each curve: its key in a chunk, its attribute, its `TrialRecord` field.
_CURVES = (
    ("val", Attr.CURVE_VAL_MEAN, "curve_val_mean"),
    ("loss", Attr.CURVE_LOSS_MEAN, "curve_loss_mean"),
    ("time", Attr.CURVE_TIME, "curve_time"),
)


def curve_chunk(record: TrialRecord, first: int) -> tuple[str, dict[str, list]]:
    """The user attribute holding ``record``'s curves from epoch ``first`` (0-based) on.

    A running trial appends its new epochs as one attribute each time, so the storage grows
    with the epochs, not with their square: each attribute is a journal entry of its own, and
    a rewritten whole curve would be the whole curve again every time.
    """
    chunk = {short: _json_safe(getattr(record, name)[first:]) for short, _, name in _CURVES}
    return f"{Attr.CURVE_CHUNK}{first}", chunk


def curves(attrs: dict[str, Any]) -> dict[str, list]:
    """A trial's per-epoch curves, keyed by `Attr` name.

    The final ones, once the trial wrote them; or else its chunks (`curve_chunk`), joined in
    epoch order.
    """
    if Attr.CURVE_VAL_MEAN in attrs:
        return {attr: list(attrs.get(attr) or []) for _, attr, _ in _CURVES}
    chunks = sorted(
        (int(key[len(Attr.CURVE_CHUNK) :]), value)
        for key, value in attrs.items()
        if key.startswith(Attr.CURVE_CHUNK)
    )
    out: dict[str, list] = {attr: [] for _, attr, _ in _CURVES}
    for first, chunk in chunks:
        if first != len(out[Attr.CURVE_VAL_MEAN]):
            break  # a gap: a chunk not yet visible (never expected: chunks are written in order)
        for short, attr, _ in _CURVES:
            out[attr].extend(chunk[short])
    return out


def is_added(trial) -> bool:
    """True for a trial a warm start added from an earlier study: not this study's finding."""
    return Attr.WARM_START in trial.user_attrs


def is_interrupted(trial) -> bool:
    """True for a trial that did not end by itself: its worker died or the sweep was stopped.

    Every trial that ends by itself records a ``stop_reason``; one failed by a stale heartbeat
    or by the recovery of interrupted trials has none, or ``interrupted``.
    """
    reason = trial.user_attrs.get(Attr.STOP_REASON)
    return reason == StopReason.INTERRUPTED.value or (
        trial.state.name == "FAIL" and reason is None
    )


def count_states(trials) -> Counter:
    """How many of ``trials`` are in each state, by state name (``"COMPLETE"``, ``"FAIL"``...).

    A failed trial that was interrupted (`is_interrupted`: stopped, retried) counts as
    ``"INTERRUPTED"``, not as ``"FAIL"``: it did not fail.
    """
    return Counter(
        "INTERRUPTED" if t.state.name == "FAIL" and is_interrupted(t) else t.state.name
        for t in trials
    )


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
