"""Where runs live: the tracking URI made absolute, the SQLite file, reachability, the client.

`check_reachable` imports no MLflow (``import mlflow`` is slow: benchmarks/results/logging.md), so
``nnsweep run`` refuses an unreachable store before any training without paying for it on
its critical path; the writer process imports MLflow while the command loads its data.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import sqlite3
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..config import DEFAULT_TRACKING_URI
from ..study.journal import probe_write
from ..study.redact import redact_url
from .util import TrackingError, env_true, short

_PROBE_TIMEOUT = 5.0  # seconds for check_reachable's request, unless MLFLOW_HTTP_REQUEST_TIMEOUT


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative SQLite path (or a bare path) made absolute against the cwd.

    The URI itself is chosen once, by `nnsweep.config.load_study` (overrides, the study file,
    ``MLFLOW_TRACKING_URI``, the default): this only pins a relative path down.
    """
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


def scheme_of(uri: str) -> str:
    """The URI's scheme, lower case ("" for a bare path)."""
    return uri.split("://", 1)[0].lower() if "://" in uri else ""


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts (None: the store's or server's default)."""
    if is_sqlite(uri):
        path = sqlite_path(uri)
        return (
            (path.parent / "artifacts").as_uri()
            if path is not None and path.is_absolute()
            else None
        )
    if scheme_of(uri).split("+")[0] in ("postgresql", "mysql", "mssql"):
        return (Path.cwd() / "mlruns" / "artifacts").as_uri()
    return None


def check_reachable(uri: str) -> None:
    """Fail fast, before any training, if runs cannot be logged at ``uri``.

    ``http(s)``: one request to the server's REST API, no retries, timeout
    ``MLFLOW_HTTP_REQUEST_TIMEOUT`` if set, else 5 s. SQLite: the database's folder and the
    artifact folder must be creatable and writable, and an existing file must be a database.
    Another database: one connection. The legacy file store is refused, as MLflow 3 does.

    Raises
    ------
    TrackingError
        Naming the redacted URI, the cause and the fix.
    """
    shown, scheme = redact_url(uri), scheme_of(uri)
    if scheme in ("http", "https"):
        return probe_http(uri)
    if is_sqlite(uri):
        path = sqlite_path(uri)
        if path is None:
            raise TrackingError(
                f"MLflow tracking URI {shown} is an in-memory SQLite database, which the "
                f"writer process cannot share; use a file, e.g. {DEFAULT_TRACKING_URI}"
            )
        check_writable(path.parent, f"MLflow SQLite store {shown}")
        check_writable(Path(unquote(urlsplit(artifact_location(uri)).path)), "MLflow artifacts")
        if path.exists():
            try:
                # read-write: a writer killed mid-transaction leaves a hot journal, which
                # only a connection that may write can roll back
                with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
                    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as exc:
                raise TrackingError(
                    f"MLflow tracking store at {shown} is unusable: {short(exc)}; fix it or "
                    "set tracking.uri"
                ) from None
        return None
    if scheme in ("", "file"):
        if env_true("MLFLOW_ALLOW_FILE_STORE"):
            return None
        raise TrackingError(
            f"MLflow tracking URI {shown} is the legacy file store, which MLflow 3 refuses; "
            f"set tracking.uri to a database such as {DEFAULT_TRACKING_URI}"
        )
    if scheme.split("+")[0] in ("postgresql", "postgres", "mysql", "mssql"):
        return _probe_database(uri)
    return None  # databricks and other plugins: MLflow itself will say


def _probe_database(uri: str) -> None:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        raise TrackingError(
            f"MLflow tracking store at {redact_url(uri)} is unreachable: {short(exc)}; start "
            "it or set tracking.uri"
        ) from None


def check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and check that a file can be written in it."""
    try:
        probe_write(folder)
    except OSError as exc:
        raise TrackingError(
            f"{what}: folder {folder} is not writable ({exc.strerror or exc}); "
            "fix its permissions or set tracking.uri"
        ) from None


def probe_http(uri: str) -> None:
    """One request to an MLflow server's REST API; TrackingError naming the cause and fix."""
    shown = redact_url(uri)
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or _PROBE_TIMEOUT)
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    url = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}/api/2.0/mlflow/experiments/search"
    request = urllib.request.Request(
        url,
        data=json.dumps({"max_results": 1}).encode(),
        headers={"Content-Type": "application/json", **_auth_headers(parts)},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except Exception as exc:
        raise TrackingError(
            f"MLflow tracking server at {shown} is unreachable: {short(exc)}; "
            "start it or set tracking.uri"
        ) from None
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


def _auth_headers(parts) -> dict[str, str]:
    """MLflow's own credentials: a token, a user and password (env or URL); else none."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or unquote(parts.username or "")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or unquote(parts.password or "")
    if not user:
        return {}
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {basic}"}


@contextlib.contextmanager
def creation_lock(uri: str):
    """Hold ``<database>.lock`` of a SQLite store while the store is first opened (else nothing).

    Two writers that open a new store at once (two ``nnsweep sync``) would run MLflow's schema
    migrations together and fail ("duplicate column"). The kernel drops the lock if its holder
    dies.
    """
    path = sqlite_path(uri) if is_sqlite(uri) else None
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def make_client(uri: str):
    """An `mlflow.MlflowClient` for ``uri``, set up for one long-lived writer.

    MLflow's HTTP client retries a dead server for minutes (7 retries, backoff factor 2); the
    writer does its own backoff and says how far behind it is, so each call gives up sooner.
    MLflow's "View run ... at <URI>" lines are silenced (the URI may hold a password).
    """
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from mlflow import MlflowClient

    with creation_lock(uri):  # a new SQLite store: its tables are made here, one at a time
        _create_sqlite_store(uri, MlflowClient)
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    return client


def _create_sqlite_store(uri: str, client_class) -> None:
    """Make a missing SQLite store in a file of its own, then move it into place.

    MLflow builds a new store's schema in some thirty migration steps, not in one
    transaction: a writer killed among them (a stop that could not wait) would leave a store
    that no later run can open ("table _alembic_tmp_experiments already exists"). Built
    beside it and renamed when complete, the store is either whole or absent.
    """
    path = sqlite_path(uri) if is_sqlite(uri) else None
    if path is None or path.exists():
        return
    for old in path.parent.glob(f"{path.name}.building-*"):  # a killed writer's half store
        old.unlink(missing_ok=True)
    # a new name each time: MLflow keeps one store object per URI, tables and all
    building = path.with_name(f"{path.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    temp = client_class(tracking_uri=f"sqlite:///{building}")
    temp.search_experiments(max_results=1)  # runs the migrations
    os.replace(building, path)
