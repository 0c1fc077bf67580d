"""A test hook: the command says which phase it enters, so that a test acts at that moment.

With ``NNSWEEP_TEST_PHASE_FILE=<path>`` in the environment, `enter` appends the phase's name
to that file, one a line: ``loading`` (the command loads the data; the MLflow writer has
started), ``worker`` (a worker process starts), ``refit`` (the best model's refit begins),
``refit-seed`` (a process starts one seed's refit, with 2 seeds or more).
With ``NNSWEEP_TEST_PAUSE_AT=<phase>`` as well, the process waits at that phase until the
file ``<path>.go`` exists (at most ``PAUSE_LIMIT`` seconds): a test can then stop the command
exactly there. Without them, `enter` does nothing (the environment is read once, at import).

Standard library only.
"""

from __future__ import annotations

import os
import time

__all__ = ["enter"]

PAUSE_LIMIT = 120.0
_FILE = os.environ.get("NNSWEEP_TEST_PHASE_FILE")


def enter(phase: str) -> None:
    """Say that this process enters ``phase`` (and wait there, when a test asked to)."""
    if _FILE is None:
        return
    with open(_FILE, "a") as f:
        f.write(f"{phase}\n")
    if os.environ.get("NNSWEEP_TEST_PAUSE_AT") == phase:
        deadline = time.monotonic() + PAUSE_LIMIT
        while not os.path.exists(f"{_FILE}.go") and time.monotonic() < deadline:
            time.sleep(0.02)
