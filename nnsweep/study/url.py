"""The one storage-URL type: what a study's ``storage.url`` names, and where its locks live.

A study lives in a journal file on this machine (a path ending in ``.log``), a SQLite file
(``sqlite:///path``), or a database server (``postgresql://...``, ``mysql://...``). Every
question the code asks of the URL is answered here, once, rather than by ``"://" in url``.

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from .redact import redact_url

__all__ = ["StorageURL"]


@dataclass(frozen=True)
class StorageURL:
    """A study's storage URL.

    Parameters
    ----------
    url : str
        A journal file path (``.log``) or an SQLAlchemy URL.

    Examples
    --------
    >>> StorageURL("mlruns/optuna/digits.log").kind
    'journal'
    >>> StorageURL("sqlite:///studies.db").kind
    'sqlite'
    >>> StorageURL("postgresql+psycopg2://u:p@db/optuna").kind
    'postgresql'
    """

    url: str

    @property
    def scheme(self) -> str:
        """The dialect, lower case, without its driver ("" for a journal file)."""
        head, sep, _ = self.url.partition("://")
        return head.split("+")[0].lower() if sep else ""

    @property
    def kind(self) -> str:
        """``"journal"``, ``"sqlite"``, ``"postgresql"`` (``postgres`` too), or the scheme."""
        scheme = self.scheme
        if not scheme:
            return "journal"
        return "postgresql" if scheme == "postgres" else scheme

    @property
    def is_journal(self) -> bool:
        """A journal file on this machine."""
        return self.kind == "journal"

    @property
    def is_server(self) -> bool:
        """A database server (not a file on this machine): heartbeats, shared locks."""
        return self.kind not in ("journal", "sqlite")

    @property
    def path(self) -> Path | None:
        """The journal or SQLite file, absolute; None for a server or in-memory SQLite."""
        if self.is_journal:
            return Path(os.path.abspath(Path(self.url).expanduser()))
        if self.kind == "sqlite":
            name = unquote(self.url.partition("://")[2].partition("?")[0])[1:]
            if name in ("", ":memory:"):
                return None
            return Path(os.path.abspath(Path(name).expanduser()))
        return None

    @property
    def lock_dir(self) -> Path:
        """The folder of the study's locks on this machine.

        Beside the file (``<file>.locks/``) for a journal or SQLite study, wherever the command
        runs; for a server, one folder per URL in the machine's temporary folder, so that two
        commands on one study always take the same locks.
        """
        path = self.path
        if path is not None:
            return path.with_name(path.name + ".locks")
        digest = hashlib.sha256(self.redacted.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"nnsweep-locks-{os.getuid()}" / digest

    @property
    def redacted(self) -> str:
        """The URL with any password masked, for messages."""
        return redact_url(self.url)

    def __str__(self):
        return self.redacted
