"""Locks that keep a study's budget exact and its recovery safe, on existing engines.

* `SweepLock`: held by the process that runs a sweep, for the whole sweep, so
  that two local sweeps of one study never run at once. Holding it is what makes
  it safe to fail trials left RUNNING by a dead worker
  (`nnsweep.sweep.recovery.recover_interrupted`).
  An ``fcntl`` lock on a file beside the study: the kernel releases it when the
  holder dies, however it dies.
* `StudyLock`: taken by a worker around "count the study's trials, then ask for a
  new one", so that W workers never start more trials than the budget. With a
  PostgreSQL study it is a PostgreSQL advisory lock, so workers on any machine
  (Dask workers, workers added by hand with ``nnsweep worker``) share it; on a
  Dask cluster with another storage, Dask's own ``distributed.Lock``; locally a
  file lock.

Left out on purpose: any lock of our own design over a network. With another
server database (MySQL) and workers added by hand, the budget may be overshot
by at most one trial per worker, as with Optuna's own ``MaxTrialsCallback``.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path

__all__ = ["StudyBusyError", "StudyLock", "SweepLock", "budget_lock_for"]


class StudyBusyError(RuntimeError):
    """Another sweep of the same study is running on this machine."""


def _lock_dir(spec):
    url = spec.storage.url
    folder = Path(url).parent if "://" not in url else Path("mlruns") / "optuna"
    return Path(os.path.abspath(folder.expanduser()))  # absolute: every lock path is


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
            holder = _read_holder(self._fd)
            os.close(self._fd)
            self._fd = None
            raise StudyBusyError(
                f"another sweep is running this study ({holder}; lock {self.path}): wait for "
                "it, stop it, or add workers to it with `nnsweep worker`"
            ) from None
        # who holds it, for the error above (the lock itself is the kernel's flock)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, _holder_line().encode())
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _holder_line():
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()} on {socket.gethostname()}, `{' '.join(sys.argv)}`, since {started}"


def _read_holder(fd):
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "a process that did not say which"


def budget_lock_for(spec):
    """The `StudyLock` that every worker of a study shares (see the module docstring)."""
    url = spec.storage.url
    if url.startswith(("postgresql", "postgres")):
        return StudyLock("postgres", f"nnsweep-budget-{spec.name}", url)
    if spec.workers.backend == "dask":
        return StudyLock("dask", f"nnsweep-budget-{spec.name}")
    if "://" in url and not url.startswith("sqlite"):
        return StudyLock("none")
    return StudyLock("file", str(_lock_dir(spec) / f"{spec.name}.budget.lock"))


class StudyLock:
    """A short lock around "count trials, ask a trial"; picklable, opened where it is used.

    Parameters
    ----------
    kind : {"file", "dask", "postgres", "none"}
    key : str
        The lock file's path, or the Dask or PostgreSQL lock's name.
    url : str, optional
        The PostgreSQL database (``kind="postgres"``).
    """

    def __init__(self, kind, key="", url=None):
        self.kind = kind
        self.key = key
        self.url = url
        self._held = None

    def __getstate__(self):
        return {"kind": self.kind, "key": self.key, "url": self.url, "_held": None}

    def __enter__(self):
        if self.kind == "file":
            Path(self.key).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.key, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held = fd
        elif self.kind == "dask":
            from distributed import Lock

            self._held = Lock(self.key)
            self._held.acquire()
        elif self.kind == "postgres":
            import sqlalchemy

            engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool)
            conn = engine.connect()
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": self.key})
            self._held = (engine, conn)
        return self

    def __exit__(self, *exc):
        if self.kind == "file":
            fcntl.flock(self._held, fcntl.LOCK_UN)
            os.close(self._held)
        elif self.kind == "dask":
            self._held.release()
        elif self.kind == "postgres":
            import sqlalchemy

            engine, conn = self._held
            conn.execute(
                sqlalchemy.text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": self.key}
            )
            conn.close()
            engine.dispose()
        self._held = None
