"""The locks of a study, so that its budget stays exact and its recovery safe.

All of a study's file locks are `nnsweep.study.flock.FileLock` files in one folder,
`StorageURL.lock_dir` (``<journal or SQLite file>.locks/``, wherever the command runs):

* `SweepLock` (``<name>.sweep``): held by the process that runs a sweep, for the whole
  sweep, so that two sweeps of one study on this machine never run at once. Holding it is
  what makes it safe to fail trials left RUNNING by a dead worker
  (`nnsweep.sweep.recovery.recover_interrupted`).
* `writer_lock` (``<name>.mlflow``): held by the study's one MLflow writer (the sweep's
  writer process, ``nnsweep sync``, or the end-of-run sync of ``nnsweep worker``), so that
  one run per trial is all MLflow ever gets. For a server storage (PostgreSQL) the lock is
  this machine's: the writer runs on the machine of the sweep it belongs to, and a
  ``nnsweep sync`` of a study whose sweep runs elsewhere must run there too.
* `StudyLock`: taken by a worker around "count the study's trials, then ask for a new one",
  so that W workers never start more trials than the budget. With a PostgreSQL study it is a
  PostgreSQL advisory lock, so workers on any machine (Dask workers, workers added by hand
  with ``nnsweep worker``) share it; on a Dask cluster with another storage, Dask's own
  ``distributed.Lock``; locally the file ``<name>.budget``.

Left out on purpose: any lock of our own design over a network. With another server
database (MySQL) and workers added by hand, the budget may be overshot by at most one trial
per worker, as with Optuna's own ``MaxTrialsCallback``.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from .flock import FileLock
from .url import StorageURL

__all__ = ["StudyBusyError", "StudyLock", "SweepLock", "budget_lock_for", "writer_lock"]


class StudyBusyError(RuntimeError):
    """Another process holds a lock of the study that it needs for itself."""


def _lock_file(spec, what):
    return StorageURL(spec.storage.url).lock_dir / f"{spec.name}.{what}"


def holder_line() -> str:
    """Who this process is, for a lock's file: pid, host, command line and start time."""
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()} on {socket.gethostname()}, `{' '.join(sys.argv)}`, since {started}"


def take_exclusive(lock: FileLock, busy: str, wait=None) -> FileLock:
    """Take ``lock`` and note this process as its holder; if it is held, raise or wait.

    ``wait``: None to raise at once; else a callable, called with the sentence ``busy`` when
    the lock is held, after which this waits for the lock.

    Raises
    ------
    StudyBusyError
        ``busy`` (a sentence saying what holds it and what to do), with the holder and the
        lock's file (``{holder}``, ``{path}``).
    """
    if not lock.acquire(blocking=False):
        holder = lock.holder() or "a process that did not say which"
        message = busy.format(holder=holder, path=lock.path)
        if wait is None:
            raise StudyBusyError(message)
        wait(message)
        lock.acquire()
    lock.note_holder(holder_line())
    return lock


class SweepLock:
    """Exclusive, process-lifetime lock on a study (see the module docstring)."""

    def __init__(self, path):
        self.lock = FileLock(path)

    @property
    def path(self):
        """The lock's file."""
        return self.lock.path

    @classmethod
    def for_study(cls, spec):
        """The sweep lock of a study: ``<lock_dir>/<name>.sweep``."""
        return cls(_lock_file(spec, "sweep"))

    def __enter__(self):
        take_exclusive(
            self.lock,
            "another sweep is running this study ({holder}; lock {path}): wait for "
            "it, stop it, or add workers to it with `nnsweep worker`",
        )
        return self

    def __exit__(self, *exc):
        self.lock.release()


def writer_lock(spec) -> FileLock:
    """The lock of the study's one MLflow writer: ``<lock_dir>/<name>.mlflow``.

    A file lock for every storage, PostgreSQL's too (its lock folder is on this machine):
    the study's writer runs on the machine of its sweep (see the module docstring).
    """
    return FileLock(_lock_file(spec, "mlflow"))


def budget_lock_for(spec):
    """The `StudyLock` that every worker of a study shares (see the module docstring)."""
    url = StorageURL(spec.storage.url)
    if url.kind == "postgresql":
        return StudyLock("postgres", f"nnsweep-budget-{spec.name}", spec.storage.url)
    if spec.workers.backend == "dask":
        return StudyLock("dask", f"nnsweep-budget-{spec.name}")
    if url.is_server:
        return StudyLock("none")
    return StudyLock("file", str(_lock_file(spec, "budget")))


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
            self._held = FileLock(self.key)
            self._held.acquire()
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
        if self.kind in ("file", "dask"):
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
