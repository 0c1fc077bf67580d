"""Small helpers of the tracking package: its error, and the formatting of what it logs."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..study.redact import redact_text


class TrackingError(RuntimeError):
    """MLflow tracking cannot proceed; the message says why and what to do, URLs redacted."""


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


def short(exc: BaseException, limit: int = 300) -> str:
    """One line of an exception, URLs redacted, at most ``limit`` characters."""
    text = redact_text(" ".join(str(exc).split()) or type(exc).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."
