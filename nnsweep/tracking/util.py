"""Small helpers of the tracking package: its error, retries on a busy SQLite, formatting."""

from __future__ import annotations

import logging
import math
import os
import random
import time
from datetime import datetime
from typing import Any

from ..study.redact import redact_text

_log = logging.getLogger(__name__)

FAILED = object()  # what best_effort returns when its step failed
_UNIQUE_RETRIES = 3  # a collision is one other writer: it ends at once
_LOCK_RETRIES = 12  # SQLite "database is locked": attempts, backing off to 2 s (~15 s in all)


class TrackingError(RuntimeError):
    """MLflow tracking cannot proceed; the message says why and what to do, URLs redacted."""


def retry(fn, *args, **kwargs):
    """Call ``fn``; retry while another writer of the store is in the way.

    Two cases, both of two writers (two ``nnsweep sync`` at once, or a sync beside a sweep):
    SQLite says "database is locked" (the other one held it), or a unique key collides
    ("UNIQUE constraint failed": both inserted the same new row, a run's params or the
    experiment's data set, at the same moment). The transaction was rolled back; the next
    attempt finds the other writer's row and only checks it or links it.
    """
    delay, attempt, collisions = 0.05, 1, 0
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            collided = _has(exc, "unique constraint failed") and collisions < _UNIQUE_RETRIES
            if attempt == _LOCK_RETRIES or not (collided or _has(exc, "database is locked")):
                raise
            _log.debug("SQLite busy in %s (attempt %d): retrying", fn.__name__, attempt)
            attempt, collisions = attempt + 1, collisions + collided
            time.sleep(delay * (0.5 + random.random()))
            delay = min(2 * delay, 2.0)


def _has(exc: BaseException | None, text: str) -> bool:
    """Whether ``exc`` or one of its causes says ``text`` (lower case)."""
    for _ in range(5):
        if exc is None:
            return False
        if text in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def best_effort(what: str, fn, *args):
    """``fn(*args)``; if it fails, a logged warning and `FAILED` (TrackingError raises)."""
    try:
        return fn(*args)
    except TrackingError:
        raise
    except Exception as exc:
        _log.warning("MLflow: could not %s: %s", what, short(exc))
        return FAILED


def env_true(name: str) -> bool:
    """Whether environment variable ``name`` says yes (1, true, yes)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def param_value(value: Any) -> str:
    """A param value as MLflow stores it: text, secrets redacted, at most 6000 characters."""
    text = redact_text(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."  # MLflow's limit


def quote(text: str) -> str:
    """``text`` as a value inside single quotes of an MLflow search filter."""
    return str(text).replace("\\", "\\\\").replace("'", "\\'")


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite number."""
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def ms(when: datetime | None) -> int | None:
    """A datetime as milliseconds since the epoch (MLflow's timestamps)."""
    return None if when is None else int(when.timestamp() * 1000)


def now_ms() -> int:
    """Now, in milliseconds since the epoch."""
    return int(time.time() * 1000)


def short(exc: BaseException, limit: int = 300) -> str:
    """One line of an exception, URLs redacted, at most ``limit`` characters."""
    text = redact_text(" ".join(str(exc).split()) or type(exc).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."
