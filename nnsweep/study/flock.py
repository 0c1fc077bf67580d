"""The one file lock: an ``fcntl.flock`` on a file, which the kernel drops when its holder dies.

Every lock nnsweep takes on this machine is one of these: the journal's, the sweep's, the
budget's and the MLflow writer's. However its holder ends (a kill, a power cut of the process),
no lock outlives it, so there is never a stale lock to clean up. The holder may write a line
saying who it is, for the message of a process that finds the lock taken.

Standard library only; POSIX (``fcntl``).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["FileLock"]


class FileLock:
    """An exclusive ``flock`` on ``path`` (created with its folder if missing).

    Picklable: only the path travels, and each process opens the file itself. Usable as a
    context manager (waits for the lock) or through `acquire` / `release`.

    Parameters
    ----------
    path : str or path-like
        The lock file; made absolute against the current folder when the lock is made.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(os.path.abspath(Path(path).expanduser()))
        self._fd: int | None = None

    def __getstate__(self):
        return {"path": self.path, "_fd": None}

    def __repr__(self):
        return f"FileLock({str(self.path)!r})"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock: wait for it, or (``blocking=False``) give up at once if it is held.

        Returns True when held, False when another process holds it (``blocking=False``).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Release the lock (closing the file releases it); a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def note_holder(self, text: str) -> None:
        """Write who holds the lock into its file (the lock must be held)."""
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def holder(self) -> str:
        """What the holder wrote with `note_holder` ("" when nothing, or no file)."""
        try:
            return self.path.read_text(errors="replace").strip()
        except OSError:
            return ""

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
