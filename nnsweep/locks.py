"""Locks that keep a study's budget exact and its recovery safe, on existing engines.

* `SweepLock`: held by the process that runs a sweep, for the whole sweep, so
  that two local sweeps of one study never run at once. Holding it is what makes
  it safe to fail trials left RUNNING by a dead worker (`search.recover_interrupted`).
  An ``fcntl`` lock on a file beside the study: the kernel releases it when the
  holder dies, however it dies.
* `StudyLock`: taken by a worker around "count the study's trials, then ask for a
  new one", so that W workers never start more trials than the budget. Locally a
  file lock; on a Dask cluster, Dask's own ``distributed.Lock`` (held by the
  scheduler), since workers on other machines share no file system.

Left out on purpose: any lock of our own design over a network; when neither
engine applies (workers added by hand against a remote database), `StudyLock`
is a no-op and the budget may be overshot by at most one trial per worker.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["StudyBusyError", "StudyLock", "SweepLock"]


class StudyBusyError(RuntimeError):
    """Another sweep of the same study is running on this machine."""


def _lock_dir(spec):
    url = spec.storage.url
    return Path(url).parent if "://" not in url else Path("mlruns") / "optuna"


class SweepLock:
    """Exclusive, process-lifetime lock on a study (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None

    @classmethod
    def for_study(cls, spec):
        """The sweep lock of a study: ``<storage dir>/<name>.lock``."""
        return cls(_lock_dir(spec) / f"{spec.name}.lock")

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise StudyBusyError(
                f"another sweep is running this study (lock {self.path}); "
                "wait for it, or add workers to it with `nnsweep worker`"
            ) from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def budget_lock(self, backend):
        """The `StudyLock` that workers of this sweep share."""
        name = self.path.stem
        if backend == "dask":
            return StudyLock("dask", f"nnsweep-budget-{name}")
        return StudyLock("file", str(self.path.with_suffix(".budget.lock")))


class StudyLock:
    """A short lock around "count trials, ask a trial"; picklable, opened where it is used.

    Parameters
    ----------
    kind : {"file", "dask", "none"}
    key : str
        The lock file's path, or the Dask lock's name.
    """

    def __init__(self, kind, key=""):
        self.kind = kind
        self.key = key
        self._held = None

    def __getstate__(self):
        return {"kind": self.kind, "key": self.key, "_held": None}

    def __enter__(self):
        if self.kind == "file":
            fd = os.open(self.key, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held = fd
        elif self.kind == "dask":
            from distributed import Lock

            self._held = Lock(self.key)
            self._held.acquire()
        return self

    def __exit__(self, *exc):
        if self.kind == "file":
            fcntl.flock(self._held, fcntl.LOCK_UN)
            os.close(self._held)
        elif self.kind == "dask":
            self._held.release()
        self._held = None
