"""A throwaway PostgreSQL server for the tests that need a real one.

`start_postgres` runs ``initdb`` into a temporary folder of /tmp and starts the server on a
free port of 127.0.0.1 and its own Unix socket, as the ``postgres`` OS user when we are root
(PostgreSQL refuses to run as root), with a login role `USER` WITH A PASSWORD (`PASSWORD`), so
that the tests can check the password is masked everywhere. If PostgreSQL's binaries are
missing, ``.ci/ensure-postgres`` installs them first (root only). `Postgres.stop` stops it
for sure and deletes its folder; `reap_orphaned_postgres` stops the servers of test processes
that died before their teardown.

Loaded as a plugin by the test modules that need its fixtures
(``pytest_plugins = ["tests.support.postgres"]``): `postgres`, one server per pytest run, and
`pg_url`, a fresh database of it per test. Nothing here skips: a server that cannot start
fails the test that needs it, with the reason. ``benchmarks/bench_scaleout.py`` calls
`start_postgres` itself.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.credentials import PASSWORD, USER
from tests.support.processes import REPO, ServerError, free_port, log_tail

ENSURE_POSTGRES = REPO / ".ci" / "ensure-postgres"


def postgres_bin_dir(install=True):
    """The folder of ``pg_ctl``/``initdb``; installs PostgreSQL with .ci/ensure-postgres if
    missing (when ``install``). Raises ServerError if there is none."""

    def find():
        for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
            if os.access(f"{d}/pg_ctl", os.X_OK) and os.access(f"{d}/initdb", os.X_OK):
                return Path(d)
        found = shutil.which("pg_ctl")
        return Path(found).resolve().parent if found and shutil.which("initdb") else None

    found = find()
    if found is None and install:
        proc = subprocess.run(
            [str(ENSURE_POSTGRES)], capture_output=True, text=True, timeout=900, check=False
        )
        if proc.returncode != 0:
            raise ServerError(
                f"PostgreSQL is not installed and {ENSURE_POSTGRES} could not install it "
                f"(exit {proc.returncode}):\n{proc.stderr.strip()}"
            )
        found = find()
    if found is None:
        raise ServerError("PostgreSQL's pg_ctl/initdb not found (run .ci/ensure-postgres)")
    return found


@dataclass
class Postgres:
    """A running throwaway PostgreSQL server."""

    bin_dir: Path
    root: Path  # data folder, socket and log live here
    port: int
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    databases: list = field(default_factory=list)

    @property
    def data_dir(self):
        return self.root / "data"

    @property
    def log_file(self):
        return self.root / "postgres.log"

    def url(self, database, password=None, driver="postgresql+psycopg2"):
        """SQLAlchemy URL of ``database`` for the password-protected user.

        psycopg2 is named: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3.
        """
        pw = self.password if password is None else password
        return f"{driver}://{self.user}:{pw}@{self.host}:{self.port}/{database}"

    def admin_sql(self, sql, database="postgres"):
        """Run SQL as the superuser, over the Unix socket (trust authentication)."""
        import psycopg2

        conn = psycopg2.connect(
            host=str(self.root), port=self.port, user="postgres", dbname=database
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def postmaster_pid(self):
        """Process id of the server (from ``postmaster.pid``)."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def create_database(self, prefix="db"):
        """A new empty database owned by the nnsweep user; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.admin_sql(f'CREATE DATABASE "{name}" OWNER {self.user}')
        self.databases.append(name)
        return name

    def stop(self):
        """Stop the server (immediate shutdown) and delete its folder.

        If ``pg_ctl stop`` fails or times out (a loaded machine), the postmaster is signalled
        directly, and the folder is deleted only once it is gone: deleting it first left a
        server running with no folder from which anything could find and stop it.
        """
        try:
            pid = self.postmaster_pid()
        except (OSError, ValueError, IndexError):
            pid = None
        with contextlib.suppress(Exception):
            _as_postgres_user(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                timeout=60,
            )
        if pid is not None:
            for sig, wait in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
                if not _alive(pid):
                    break
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
                deadline = time.monotonic() + wait
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)


def _as_postgres_user(cmd, timeout=120):
    """Run a PostgreSQL server binary, as the postgres OS user when we are root."""
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        cmd = (
            [runuser, "-u", "postgres", "--", *cmd]
            if runuser
            else ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]
        )
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphaned_postgres(bin_dir):
    """Stop the servers of test processes that died before their teardown (a killed pytest).

    ``pg_ctl`` starts PostgreSQL as a daemon, so a test run that is killed leaves its server
    running; each server's folder names the process that started it (``owner``).
    """
    for owner in Path(tempfile.gettempdir()).glob("nnsweep-pg-*/owner"):
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            continue
        data = owner.parent / "data"
        if (data / "postmaster.pid").exists():
            _as_postgres_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], timeout=60
            )
        shutil.rmtree(owner.parent, ignore_errors=True)


def start_postgres(durable=False):
    """Start a PostgreSQL server on a free port; returns a `Postgres`. Raises ServerError.

    ``durable=False`` turns fsync and synchronous commit off (a throwaway test server: faster,
    same semantics for concurrent clients); the benchmark uses ``durable=True``.
    """
    bin_dir = postgres_bin_dir()
    if os.geteuid() == 0:
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerError(
                "running as root, but there is no 'postgres' OS user to run PostgreSQL as "
                "(PostgreSQL refuses to run as root); install the postgresql package"
            ) from None
    reap_orphaned_postgres(bin_dir)
    # /tmp directly, not pytest's tmp_path: its parents are 0700 root, closed to postgres
    root = Path(tempfile.mkdtemp(prefix="nnsweep-pg-"))
    (root / "owner").write_text(str(os.getpid()))  # who to outlive: see reap_orphaned_postgres
    if os.geteuid() == 0:
        os.chown(root, pw.pw_uid, pw.pw_gid)
    os.chmod(root, 0o700)
    pwfile = root / "pwfile"
    pwfile.write_text("postgres-superuser-unused\n")
    if os.geteuid() == 0:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    init = _as_postgres_user(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            f"--pwfile={pwfile}",
        ],
        timeout=180,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerError(f"initdb failed (exit {init.returncode}):\n{init.stderr.strip()}")
    pwfile.unlink()
    opts = f"-p {{port}} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    last = ""
    for _ in range(3):  # the free port may be taken between free_port() and the bind
        port = free_port()
        started = _as_postgres_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-l",
                str(root / "postgres.log"),
                "-o",
                opts.format(port=port),
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=120,
        )
        if started.returncode == 0:
            break
        tail = log_tail(root / "postgres.log")
        last = f"pg_ctl start failed (exit {started.returncode}):\n{tail}"
    else:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerError(last)
    pg = Postgres(bin_dir=bin_dir, root=root, port=port)
    try:
        pg.admin_sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
    except Exception as exc:
        pg.stop()
        raise ServerError(f"PostgreSQL started but creating role {USER} failed: {exc}") from None
    return pg


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the session (see the module docstring); fails, never skips."""
    try:
        pg = start_postgres()
    except ServerError as exc:
        pytest.fail(f"cannot start PostgreSQL for the scale-out tests: {exc}", pytrace=False)
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(postgres):
    """A fresh PostgreSQL database for one test: its URL (with the password)."""
    return postgres.url(postgres.create_database("optuna"))
