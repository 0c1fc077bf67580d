"""The study's Optuna storage: a journal file on this machine, or a database server.

Shared by the sweep (which writes trials) and tracking (which reads them), so that neither
imports the other. Leaves out: anything about trials.
"""

from __future__ import annotations

import time
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning

from .journal import JournalLock, check_disk, remove_stale_link_lock, repair_tail
from .redact import redact_text, redact_url
from .url import StorageURL

__all__ = ["DEFAULT_HEARTBEAT", "StorageError", "check_storage", "load_study", "make_storage"]

DEFAULT_HEARTBEAT = 60  # seconds, for server databases


class StorageError(RuntimeError):
    """The study's storage cannot be opened; the message names it, password masked."""


def make_storage(url, heartbeat_interval=None):
    """An Optuna storage: a journal file (path ending ``.log``) or any RDB URL.

    The journal file is the embedded default: several processes on one machine
    append to it safely (file locks), with no "database is locked" failures.
    A server database (PostgreSQL, MySQL) gets heartbeats (every 60 s unless the
    study says otherwise), so a trial whose worker died is found stale by the
    next worker to ask (`recover_interrupted`), failed and retried.
    """
    kind = StorageURL(url)
    if kind.is_journal:
        path = kind.path
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path), lock_obj=JournalLock(path))
        return optuna.storages.JournalStorage(backend)
    if heartbeat_interval is None and kind.is_server:
        heartbeat_interval = DEFAULT_HEARTBEAT
    options = {}
    if heartbeat_interval:
        options = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": 2 * heartbeat_interval,
        }
    try:
        return _open_rdb(url, options)
    except Exception as exc:  # a bad URL, a server that does not answer, a wrong password
        reason = redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise StorageError(
            f"cannot open the Optuna storage {redact_url(url)}: {type(exc).__name__}: {reason}"
        ) from None


def _open_rdb(url, options, attempts=5):
    """`RDBStorage`, tried again when another process was creating the same new database.

    Optuna creates the tables and then inserts the schema's version row; processes that open
    a new database at once (``nnsweep worker`` started several times) race on both, and the
    losers get "UNIQUE constraint failed: alembic_version" or "table ... already exists".
    The schema is there when they try again.
    """
    for attempt in range(1, attempts):
        try:
            return _rdb_storage(url, options)
        except Exception as exc:
            if "alembic_version" not in str(exc) and "already exists" not in str(exc):
                raise
            time.sleep(0.1 * attempt)
    return _rdb_storage(url, options)


def _rdb_storage(url, options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return optuna.storages.RDBStorage(url, **options)


def load_study(spec):
    """The study of ``spec`` in its storage (`KeyError` if it does not exist there)."""
    storage = make_storage(spec.storage.url, spec.storage.heartbeat_interval)
    return optuna.load_study(study_name=spec.name, storage=storage)


def check_storage(spec) -> None:
    """Before any training: a journal's folder must be writable and have room.

    Raises `nnsweep.study.journal.DiskError` naming the folder. A database server is checked when
    the study is opened.
    """
    url = StorageURL(spec.storage.url)
    if url.is_journal:
        check_disk(url.path.parent, "the study's journal")


def repair_journal(spec) -> list[str]:
    """Under the study's sweep lock: remove a stale lock link, cut a torn last record.

    Returns what was done, as messages for the user (nothing for a database server).
    """
    url = StorageURL(spec.storage.url)
    if not url.is_journal:
        return []
    path = url.path
    said = [remove_stale_link_lock(path, holder_gone=True), repair_tail(path)]
    return [s for s in said if s]
