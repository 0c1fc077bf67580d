"""The journal file of a study on this machine: its lock, its repair, and its disk.

Optuna's journal backend appends one JSON line per change, under a lock. Its default lock is a
symbolic link created next to the journal: a process killed while holding it leaves the link
behind, and with a relative path the link's target resolves from the link's folder, so
Optuna's stale-lock check stats nothing and retries forever. Here instead:

* `JournalLock`: the journal's lock is a `FileLock` (an ``fcntl.flock``) on
  ``<journal>.locks/journal``; the kernel releases it when its holder dies, however it dies,
  so no lock can outlive its process;
* every path is made absolute (`absolute_journal`);
* `remove_stale_link_lock`: a symbolic-link lock left by an older nnsweep or by Optuna's own
  default is removed, with a warning, when its holder is known to be gone (a sweep holds the
  study's sweep lock) or it is older than `STALE_AFTER` seconds;
* `repair_tail`: a journal whose last record is torn (a power cut, a full disk) is cut back to
  its last whole record, with a warning, and the torn bytes are kept beside it. Optuna reads
  such a journal (it skips a torn last line), but the next append would be glued to the torn
  line and make the whole journal unreadable;
* `check_disk`: the journal's folder must be writable and have room, before any training.

Standard library only. ``NNSWEEP_TEST_JOURNAL_HOLD`` (seconds) makes every append hold the
lock that long: the tests use it to send Ctrl-C while a journal write holds its lock.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

from .flock import FileLock
from .url import StorageURL

__all__ = [
    "DiskError",
    "JournalLock",
    "absolute_journal",
    "check_disk",
    "is_disk_error",
    "probe_write",
    "remove_stale_link_lock",
    "repair_tail",
]

STALE_AFTER = 60.0  # seconds: a symlink lock older than this, with no sweep holding the study
MIN_FREE = 16 * 2**20  # bytes a study's folder must have free at start
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


class DiskError(OSError):
    """The study's disk is full, read-only or failing: the sweep stops; the study is kept."""


def is_disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) is a full, read-only or failing disk."""
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def absolute_journal(path: str | os.PathLike) -> Path:
    """The journal's path made absolute (against the current directory), user expanded."""
    return Path(os.path.abspath(Path(path).expanduser()))


class JournalLock(FileLock):
    """The journal's lock for Optuna's ``JournalFileBackend``: ``<journal>.locks/journal``.

    A `FileLock` whose `acquire` answers True (Optuna's lock protocol).
    ``NNSWEEP_TEST_JOURNAL_HOLD`` (seconds) makes it hold the lock that long after taking it.
    """

    def __init__(self, journal: str | os.PathLike):
        super().__init__(StorageURL(str(journal)).lock_dir / "journal")

    def acquire(self, blocking: bool = True) -> bool:
        """Wait for the lock; True when held."""
        held = super().acquire(blocking)
        hold = os.environ.get("NNSWEEP_TEST_JOURNAL_HOLD")
        if held and hold:
            time.sleep(float(hold))
        return held


def remove_stale_link_lock(journal: str | os.PathLike, holder_gone: bool) -> str | None:
    """Remove ``<journal>.lock`` (Optuna's symlink lock) if it is stale; say so, or None.

    ``holder_gone``: the caller holds the study's sweep lock, so no sweep of this machine can
    be writing with the old lock. Otherwise only a lock older than `STALE_AFTER` goes.
    """
    link = Path(str(absolute_journal(journal)) + ".lock")
    try:
        age = time.time() - link.lstat().st_mtime
    except FileNotFoundError:
        return None
    if not holder_gone and age < STALE_AFTER:
        return None
    try:
        link.unlink()
    except FileNotFoundError:
        return None
    return (
        f"warning: removed a stale journal lock {link} ({age:.0f} s old) left by a stopped process"
    )


def repair_tail(journal: str | os.PathLike) -> str | None:
    """Cut a torn last record off the journal; say what was cut, or None.

    The torn bytes are saved as ``<journal>.torn-<time>``. Call it only while no process
    appends to the journal (the caller holds the sweep lock).
    """
    path = absolute_journal(journal)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with open(path, "rb") as f:
        start = max(0, size - 2**20)
        f.seek(start)
        tail = f.read()
    keep = _last_good_end(tail)
    if keep == len(tail):
        return None
    cut = start + keep
    if keep == 0 and start > 0:  # no line end in the last MiB: not a torn record
        return None
    torn = tail[keep:]
    saved = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}")
    saved.write_bytes(torn)
    with open(path, "r+b") as f:
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return (
        f"warning: the journal {path} ended in a torn record ({len(torn)} bytes, saved as "
        f"{saved.name}): it was cut off; every trial before it is kept"
    )


def _last_good_end(tail: bytes) -> int:
    """Offset in ``tail`` after its last complete, valid JSON line."""
    end = len(tail)
    while end > 0:
        if tail[end - 1 : end] != b"\n":
            end = tail.rfind(b"\n", 0, end) + 1
            continue
        line_start = tail.rfind(b"\n", 0, end - 1) + 1
        try:
            json.loads(tail[line_start:end])
            return end
        except ValueError:
            end = line_start
    return 0


def probe_write(folder: Path) -> None:
    """Create ``folder`` if needed and write (then remove) a file in it; raises OSError."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".nnsweep-write-test-{os.getpid()}"
    probe.write_bytes(b"x")
    probe.unlink()


def check_disk(folder: str | os.PathLike, what: str) -> None:
    """Refuse, before any training, a folder that cannot be written or has no room.

    Raises
    ------
    DiskError
        Naming the folder, the cause and what to do.
    """
    folder = Path(folder)
    try:
        probe_write(folder)
    except OSError as exc:
        raise DiskError(
            exc.errno,
            f"{what}: cannot write in {folder} ({exc.strerror or exc}); fix its permissions, "
            "free space, or set storage.url elsewhere",
        ) from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE:
        raise DiskError(
            errno.ENOSPC,
            f"{what}: {folder} has {free / 2**20:.1f} MiB free (at least "
            f"{MIN_FREE / 2**20:.0f} MiB needed); free some space or set storage.url elsewhere",
        )
