"""Where runs live: the tracking URI, the SQLite store's file, locks and clients, reachability."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import unquote

try:
    import fcntl
except ImportError:  # Windows: no lock between processes
    fcntl = None

from mlflow import MlflowClient

from ..config import DEFAULT_TRACKING_URI
from ..redact import redact_url
from .util import TrackingError, short

_log = logging.getLogger(__name__)
_PROBE_TIMEOUT = 5.0  # seconds for check_reachable's request, unless MLFLOW_HTTP_REQUEST_TIMEOUT
_CLIENTS: dict[tuple[int, str], MlflowClient] = {}
_CLIENTS_LOCK = threading.Lock()


def process_client(uri: str) -> MlflowClient:
    """One client per process and URI, shared by the tracker copies unpickled there.

    Also stops MLflow printing "View run ... at <tracking URI>" to stdout each time a run ends:
    two lines per trial from every worker, and the URI unredacted. An explicit
    ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=false`` is respected unless the URI has a secret.
    """
    if redact_url(uri) != uri:
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    else:
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    key = (os.getpid(), uri)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = MlflowClient(tracking_uri=uri)
            if is_sqlite(uri):
                commit_without_fsync(_CLIENTS[key])
        return _CLIENTS[key]


def commit_without_fsync(client: MlflowClient) -> None:
    """Give the client's SQLite connections ``synchronous=NORMAL`` when the file is in WAL mode.

    A commit then writes the WAL without waiting for the disk (an fsync happens at each
    checkpoint): it halved the wall time of logging a trial here. A power cut may lose the
    last commits but cannot corrupt the database; a crashed process loses nothing. Best effort:
    it reaches into the client for the SQLAlchemy engine and does nothing if that moved.
    """
    try:
        from sqlalchemy import event

        engine = client._tracking_client.store.engine
        if not event.contains(engine, "connect", _on_sqlite_connect):
            event.listen(engine, "connect", _on_sqlite_connect)
        engine.dispose()  # pooled connections predate the listener, or WAL mode
    except Exception as exc:
        _log.debug("SQLite connections keep synchronous=FULL: %s", exc)


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def resolve_uri(explicit: str | None, spec_uri: str | None) -> str:
    """Apply the precedence of the module docstring; make local paths absolute."""
    if explicit:
        uri = explicit
    elif spec_uri and spec_uri != DEFAULT_TRACKING_URI:
        uri = spec_uri
    else:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    uri = uri.strip()
    if is_sqlite(uri):
        path = sqlite_path(uri)
        if path is not None and not path.is_absolute():
            scheme, rest = uri.split("://", 1)
            query = rest.partition("?")[2]
            absolute = os.path.normpath(Path.cwd() / path.expanduser())
            uri = f"{scheme}:///{absolute}" + (f"?{query}" if query else "")
    elif "://" not in uri and uri not in ("databricks", "uc") and not uri.startswith("file:"):
        uri = Path(uri).expanduser().absolute().as_uri()  # a bare path: the legacy file store
    return uri


def is_sqlite(uri: str) -> bool:
    """Whether ``uri`` is a SQLAlchemy SQLite URL (``sqlite:///...``)."""
    return uri.lower().startswith("sqlite") and "://" in uri


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI; None for an in-memory database."""
    path = unquote(uri.split("://", 1)[1].partition("?")[0])[1:]  # after "sqlite:///"
    return None if path in ("", ":memory:") else Path(path)


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts (None: the store's or server's default)."""
    if is_sqlite(uri):
        path = sqlite_path(uri)
        return (
            (path.parent / "artifacts").as_uri()
            if path is not None and path.is_absolute()
            else None
        )
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
        return (Path.cwd() / "mlruns" / "artifacts").as_uri()
    return None


@contextlib.contextmanager
def store_lock(uri: str):
    """Hold an exclusive lock on ``<database>.lock`` for a SQLite store (else do nothing).

    Processes of one machine that open a new store at once would run MLflow's schema
    migrations together and fail ("duplicate column"); those that `start` one study at once
    would each create a parent run. The kernel drops the lock if its holder dies.
    """
    path = sqlite_path(uri) if is_sqlite(uri) else None
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def use_wal(path: Path | None) -> None:
    """Put a SQLite database in WAL mode, which persists in the file (best effort).

    Readers then no longer block a writer: two workers logging at once spent half as long
    waiting on each other as in the default rollback-journal mode (measured here).
    """
    if path is None or not path.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:  # e.g. a file system without shared memory
        _log.debug("SQLite %s keeps its journal mode: %s", path, exc)


def check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and check that a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".nnsweep-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrackingError(
            f"{what}: folder {folder} is not writable ({exc.strerror or exc}); "
            "fix its permissions or set tracking.uri"
        ) from None


def probe_http(uri: str) -> None:
    """One request to an MLflow server's REST API; TrackingError naming the cause and fix."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    shown = redact_url(uri)
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or _PROBE_TIMEOUT)
    try:
        response = http_request(
            get_default_host_creds(uri),
            "/api/2.0/mlflow/experiments/search",
            "POST",
            max_retries=0,
            timeout=timeout,
            raise_on_status=False,
            json={"max_results": 1},
        )
    except Exception as exc:
        raise TrackingError(
            f"MLflow tracking server at {shown} is unreachable: {short(exc)}; "
            "start it or set tracking.uri"
        ) from None
    status = response.status_code
    if status in (401, 403):
        raise TrackingError(
            f"MLflow tracking server at {shown} refused access (HTTP {status}); set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    if status != 200:
        raise TrackingError(
            f"MLflow tracking server at {shown} answered HTTP {status} to a search of "
            "experiments: is it an MLflow server? Check tracking.uri"
        )
