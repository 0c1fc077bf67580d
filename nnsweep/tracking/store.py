"""Where runs live: the tracking URI made absolute, the SQLite file, and opening the store.

`open_store` is the one check that runs can be logged at a URI, made with MLflow's own client,
so that everything MLflow reads to reach a store applies as it does for MLflow itself (the
URL's user info, ``MLFLOW_TRACKING_USERNAME`` / ``PASSWORD`` / ``TOKEN``,
``~/.mlflow/credentials``, ``MLFLOW_TRACKING_SERVER_CERT_PATH``,
``MLFLOW_TRACKING_INSECURE_TLS``). ``import mlflow`` is slow (benchmarks/results/logging.md):
``nnsweep run`` opens the store in its writer process, while the command loads its data.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import uuid
from pathlib import Path
from urllib.parse import unquote

from ..config import DEFAULT_TRACKING_URI
from ..study.redact import redact_url
from .util import TrackingError, short


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative SQLite path made absolute against the current folder.

    The URI itself is chosen once, by `nnsweep.config.load_study` (overrides, the study file,
    ``MLFLOW_TRACKING_URI``, the default): this only pins a relative path down.
    """
    uri = uri.strip()
    path = sqlite_path(uri) if is_sqlite(uri) else None
    if path is not None and not path.is_absolute():
        scheme, rest = uri.split("://", 1)
        query = rest.partition("?")[2]
        absolute = os.path.normpath(Path.cwd() / path.expanduser())
        uri = f"{scheme}:///{absolute}" + (f"?{query}" if query else "")
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
        return (path.parent / "artifacts").as_uri() if path and path.is_absolute() else None
    if scheme_of(uri).split("+")[0] in ("postgresql", "mysql", "mssql"):
        return (Path.cwd() / "mlruns" / "artifacts").as_uri()
    return None


_FIX = "set tracking.uri"


def open_store(uri: str):
    """An `mlflow.MlflowClient` for ``uri`` that has answered one search of experiments.

    A missing SQLite store is made first (`create_sqlite_store`), its artifacts to go beside
    it. MLflow's HTTP client retries a dead server for minutes (7 retries, backoff factor 2):
    the writer backs off itself and says how far behind it is, so each call here gives up
    sooner (unless the environment says otherwise). MLflow's "View run ... at <URI>" lines
    are silenced (the URI may hold a password).

    Raises
    ------
    TrackingError
        Naming the redacted URI, the cause and the fix.
    """
    if is_sqlite(uri) and sqlite_path(uri) is None:
        raise TrackingError(
            f"MLflow tracking URI {redact_url(uri)} is an in-memory SQLite database, which "
            f"the writer process cannot share; use a file, e.g. {DEFAULT_TRACKING_URI}"
        )
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from mlflow import MlflowClient

    try:
        if is_sqlite(uri):
            create_sqlite_store(sqlite_path(uri))
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise TrackingError(_refusal(uri, exc)) from None
    return client


def _refusal(uri: str, exc: Exception) -> str:
    """What an MLflow client's failure to open ``uri`` means, and what to do."""
    shown = redact_url(uri)
    status = re.search(r"error code (\d+) != 200", str(exc))  # MLflow's words for an answer
    if status and status[1] in ("401", "403"):
        return (
            f"MLflow tracking server at {shown} refused access (HTTP {status[1]}); set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN, "
            "or ~/.mlflow/credentials)"
        )
    if status:
        return (
            f"MLflow tracking server at {shown} answered HTTP {status[1]} to a search of "
            "experiments: is it an MLflow server? Check tracking.uri"
        )
    if scheme_of(uri) in ("", "file"):  # MLflow refuses it unless MLFLOW_ALLOW_FILE_STORE
        return (
            f"MLflow tracking URI {shown} is the legacy file store, which MLflow 3 refuses; "
            f"set tracking.uri to a database such as {DEFAULT_TRACKING_URI}"
        )
    if isinstance(exc, OSError):  # making the store (its artifacts go beside it)
        return (
            f"MLflow SQLite store {shown}: folder {sqlite_path(uri).parent} is not writable "
            f"({exc.strerror or short(exc)}); fix its permissions or set tracking.uri"
        )
    if is_sqlite(uri):
        return f"MLflow tracking store at {shown} is unusable: {short(exc)}; fix it or {_FIX}"
    what = "server" if scheme_of(uri) in ("http", "https") else "store"
    return f"MLflow tracking {what} at {shown} is unreachable: {short(exc)}; start it or {_FIX}"


def create_sqlite_store(path: Path) -> None:
    """Make the SQLite store ``path`` if missing: a copy of an empty store, whole or not at all.

    MLflow builds a store's schema in some thirty migration steps, seconds of CPU, and not in
    one transaction: a writer killed among them would leave a store that no later run can
    open. So the schema is built once per MLflow version (`empty_store`), and a new store is
    a copy of it, put in place with a hard link: never half made, and never over a store that
    another study's writer made meanwhile. The copy holds no experiment: MLflow makes its
    Default experiment when it first opens it, as after its own migrations.
    """
    if not path.exists():
        empty = empty_store(path.parent)
        _put_in_place(path, lambda building: building.write_bytes(empty.read_bytes()))


def empty_store(fallback: Path) -> Path:
    """The empty store of this MLflow version, made the first time.

    In the user's cache (``$XDG_CACHE_HOME/nnsweep``, default ``~/.cache/nnsweep``), or in
    ``fallback`` where that cannot be written.
    """
    import mlflow
    from mlflow import MlflowClient

    def build(building: Path) -> None:
        # a new name each time: MLflow keeps one store object per URI, tables and all
        MlflowClient(tracking_uri=f"sqlite:///{building}").search_experiments(max_results=1)
        with contextlib.closing(sqlite3.connect(building)) as db, db:
            db.execute("DELETE FROM experiments")  # Default: each store makes its own

    name = f".mlflow-{mlflow.__version__}-empty.db"
    path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnsweep" / name
    try:
        if not path.exists():
            _put_in_place(path, build)
    except OSError:  # a home folder that cannot be written
        path = fallback / name
        if not path.exists():
            _put_in_place(path, build)
    return path


def _put_in_place(path: Path, make) -> None:
    """``make(temporary file beside path)``, then link it as ``path`` unless one is there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        make(building)
        with contextlib.suppress(FileExistsError):  # made meanwhile by another writer
            os.link(building, path)
    finally:
        building.unlink(missing_ok=True)
