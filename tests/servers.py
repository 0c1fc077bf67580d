"""Real servers for the scale-out and fault tests: PostgreSQL, a Dask cluster, an MLflow server.

Loaded as a plugin by the test modules that need it (``pytest_plugins = ["tests.servers"]``),
so each session-scoped server is started once per pytest run, on free local ports, and
stopped at the end. Nothing here skips: a server that cannot start fails the test that needs
it, with the reason (missing binaries, the server's own log).

* `postgres`: a throwaway PostgreSQL cluster (``initdb`` into a temporary folder, run as the
  ``postgres`` OS user when we are root, since PostgreSQL refuses to run as root), listening on
  127.0.0.1 and its own Unix socket; a login role ``nnsweep`` WITH A PASSWORD (`PASSWORD`), so
  that the tests can check the password is masked everywhere. If PostgreSQL's binaries are
  missing, ``.ci/ensure-postgres`` installs them first (root only).
* `dask_cluster`: ``distributed.LocalCluster`` of 2 worker processes with one thread each.
* `mlflow_server`: ``mlflow server`` backed by a database of that PostgreSQL, artifacts served
  from a temporary folder, on 127.0.0.1.

`start_postgres` and `start_mlflow_server` are plain functions as well, used by
``benchmarks/bench_scaleout.py``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import studyfiles

REPO = Path(__file__).resolve().parents[1]
USER = "nnsweep"
PASSWORD = "s3cret-pw"  # must never appear in any output, MLflow param, tag or artifact
ENSURE_POSTGRES = REPO / ".ci" / "ensure-postgres"


class ServerError(RuntimeError):
    """A server could not be started; the message says why."""


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, n=30):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:]).replace(PASSWORD, "***")


# --------------------------------------------------------------------------- PostgreSQL
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
        last = f"pg_ctl start failed (exit {started.returncode}):\n{_tail(root / 'postgres.log')}"
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


# --------------------------------------------------------------------------- Dask
def blas_env():
    """One BLAS thread per process, as sweeps run."""
    return {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def local_cluster(**options):
    """A local Dask cluster as sweeps use one: 2 worker processes, 1 thread and 1 BLAS
    thread each, on 127.0.0.1, no dashboard (``options`` go to `LocalCluster`)."""
    from distributed import LocalCluster

    settings = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1")
    return LocalCluster(**settings, dashboard_address=None, env=blas_env(), **options)


@pytest.fixture(scope="session")
def dask_cluster():
    """A local Dask cluster: 2 worker processes, 1 thread each, on 127.0.0.1."""
    import logging

    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = local_cluster(silence_logs=logging.ERROR)
    client = Client(cluster)
    client.wait_for_workers(2, timeout=60)
    try:
        yield cluster
    finally:
        client.close(timeout=10)
        cluster.close(timeout=10)


def dask_worker_pids(address):
    """Process ids of the workers of the Dask cluster at ``address``."""
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        return set(client.run(os.getpid).values())


# --------------------------------------------------------------------------- MLflow server
@dataclass
class MlflowServer:
    """A running ``mlflow server``."""

    process: subprocess.Popen
    port: int
    root: Path
    backend_url: str
    host: str = "127.0.0.1"

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def url_with_password(self):
        """The tracking URI with user info: the server ignores it, nnsweep must mask it."""
        return f"http://{USER}:{PASSWORD}@{self.host}:{self.port}"

    @property
    def log_file(self):
        return self.root / "mlflow-server.log"

    def stop(self):
        """Stop the server and its workers (the whole process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
        shutil.rmtree(self.root, ignore_errors=True)


def mlflow_command():
    """The ``mlflow`` executable of this environment."""
    exe = Path(sys.executable).with_name("mlflow")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mlflow"]


def start_mlflow_server(backend_url, timeout=180, port=None):
    """Start ``mlflow server`` on a free port of 127.0.0.1 (or ``port``: a server restarted at
    the same address) with ``backend_url`` as its backend store (passed in the environment, so
    the password is not on any command line). Artifacts are proxied by the server
    (``mlflow-artifacts:/``) into a temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="nnsweep-mlflow-"))
    port = port or free_port()
    env = {
        **os.environ,
        **blas_env(),
        "MLFLOW_BACKEND_STORE_URI": backend_url,
        "MLFLOW_ARTIFACTS_DESTINATION": (root / "artifacts").as_uri(),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [
        *mlflow_command(),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--serve-artifacts",
    ]
    log = open(root / "mlflow-server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    server = MlflowServer(proc, port, root, backend_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = _tail(server.log_file)
            shutil.rmtree(root, ignore_errors=True)
            raise ServerError(f"mlflow server exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    tail = _tail(server.log_file)
    server.stop()
    raise ServerError(f"mlflow server did not answer /health within {timeout} s:\n{tail}")


@pytest.fixture(scope="session")
def mlflow_server(postgres):
    """An MLflow tracking server whose backend store is a PostgreSQL database."""
    backend = postgres.url(postgres.create_database("mlflow"))
    try:
        server = start_mlflow_server(backend)
    except ServerError as exc:
        pytest.fail(f"cannot start the MLflow server: {exc}", pytrace=False)
    yield server
    server.stop()


# --------------------------------------------------------------------------- running nnsweep
def nnsweep_cmd(*args):
    """The command line of ``nnsweep ARGS`` in this interpreter."""
    return [sys.executable, "-m", "nnsweep", *map(str, args)]


def subprocess_env(**extra):
    """Environment for nnsweep subprocesses: this one, one BLAS thread, the repo importable."""
    env = {**os.environ, **blas_env(), "NNSWEEP_STACK_DUMPS": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return env


def run_nnsweep(*args, cwd, timeout=240, env=None):
    """Run ``nnsweep ARGS`` to the end; returns the CompletedProcess (text output)."""
    return subprocess.run(
        nnsweep_cmd(*args),
        cwd=cwd,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_nnsweep(*args, cwd, env=None, log_prefix="nnsweep"):
    """Start ``nnsweep ARGS`` in its own process group; output goes to files in ``cwd``.

    Returns ``(process, read_output)``; ``read_output()`` gives ``(stdout, stderr)``.
    """
    cwd = Path(cwd)
    out, err = cwd / f"{log_prefix}.out", cwd / f"{log_prefix}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            nnsweep_cmd(*args),
            cwd=cwd,
            env=env or subprocess_env(),
            stdout=fo,
            stderr=fe,
            start_new_session=True,
        )

    def read_output():
        return out.read_text(errors="replace"), err.read_text(errors="replace")

    return proc, read_output


def wait_exit(proc, timeout, read_output=None, what="nnsweep"):
    """The exit code of ``proc``; past ``timeout`` s, kill its group and fail, showing its
    output (a hung sweep fails the test in bounded time instead of stalling the suite)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, signal.SIGUSR1)  # each process prints its threads' stacks
        time.sleep(2.0)
        kill_group(proc)
        proc.wait(timeout=30)
        out, err = read_output() if read_output else ("", "")
        pytest.fail(
            f"{what} did not exit within {timeout} s (hung; killed)\n"
            f"--- stdout\n{out[-2000:]}\n--- stderr\n{err[-20000:]}".replace(PASSWORD, "***"),
            pytrace=False,
        )
    if read_output:
        note_overdue_stop(read_output()[1], what)
    return code


def note_overdue_stop(stderr, what="nnsweep"):
    """Warn (in the test report, with the stacks) when a stop only ended by its deadline.

    The command then still exited, and the study is resumable (what the tests check); the
    stacks it printed say what held up the graceful stop.
    """
    from nnsweep.stopping import OVERDUE

    if OVERDUE in stderr:
        warnings.warn(
            f"{what}: the graceful stop missed its deadline\n{stderr[-20000:]}", stacklevel=2
        )


def kill_group(proc, sig=signal.SIGKILL):
    """Signal a process started with `start_nnsweep` and all of its children."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# --------------------------------------------------------------------------- studies and checks
def write_study(
    folder,
    name,
    *,
    storage,
    tracking_uri=None,
    n_trials=4,
    n_jobs=2,
    subset=240,
    max_epochs=4,
    batch_size=32,
    hidden=(16, 48),
    n_splits=2,
    heartbeat_interval=None,
    tracking=None,
    extra="",
):
    """Write a small digits study file into ``folder`` (tests/studyfiles.py); returns its path.

    Tracking is on when ``tracking_uri`` is given (or ``tracking=True``: the URI then comes
    from the command line or the environment). The defaults give trials of a fraction of a
    second; more samples, epochs and hidden units and a smaller batch make them longer.
    """
    changes = {
        "data": {"subset": subset},
        "estimator": {
            "max_epochs": max_epochs,
            "batch_size": batch_size,
            "n_iter_no_change": 1000,
        },
        "search_space": {
            "learning_rate": {"high": 0.2},
            "n_hidden": {"low": hidden[0], "high": hidden[1]},
        },
        "cv": {"n_splits": n_splits},
        "budget": {"n_trials": n_trials},
        "workers": {"n_jobs": n_jobs},
        "storage": {"heartbeat_interval": heartbeat_interval},
        "tracking": {
            "enabled": bool(tracking_uri if tracking is None else tracking),
            "uri": tracking_uri or "",
        },
    }
    return studyfiles.write_study(folder, name, changes, storage=storage, extra=extra)


def load_optuna_study(name, url):
    """The Optuna study ``name`` in storage ``url`` (journal file or RDB URL), no heartbeat."""
    import optuna

    if "://" in url:
        storage = optuna.storages.RDBStorage(url)
    else:
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(url))
        )
    return optuna.load_study(study_name=name, storage=storage)


_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def mlflow_runs(tracking_uri, experiment):
    """``(parents, children)`` of an MLflow experiment: lists of runs (all, deleted too)."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs([exp.experiment_id], "", ViewType.ALL, max_results=5000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def check_trials_match_runs(study, tracking_uri, experiment):
    """One parent run; exactly one child run per Optuna trial, with its number, run id and an
    end status matching the trial's state. Returns ``{trial number: run}``."""
    from nnsweep.compat.optuna import trial_id
    from nnsweep.records import StudyAttr

    parents, children = mlflow_runs(tracking_uri, experiment)
    assert len(parents) == 1, f"expected one parent run, got {len(parents)}"
    parent = parents[0]
    numbers = [int(r.data.tags["optuna.trial_number"]) for r in children]
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name != "WAITING"]
    assert sorted(numbers) == [t.number for t in trials], (
        f"MLflow child runs for trials {sorted(numbers)}, Optuna has trials "
        f"{[t.number for t in trials]}"
    )
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for t in trials:
        run = by_number[t.number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        run_key = f"{StudyAttr.MLFLOW_RUN_PREFIX}{t.number}"
        assert study.user_attrs.get(run_key) == run.info.run_id, t.number
        assert run.data.tags["optuna.trial_id"] == str(trial_id(t))
        assert run.data.tags.get("nnsweep.synced") == t.state.name, t.number
        assert run.info.status == _RUN_STATUS[t.state.name], (
            f"trial {t.number} is {t.state.name}, its run {run.info.status}"
        )
        for key, value in t.params.items():
            assert run.data.params[key] == str(value), f"trial {t.number} param {key}"
    return by_number


def secrets_in_mlflow(tracking_uri, experiment, secret=PASSWORD):
    """Every place of the experiment's runs (params, tags, artifacts) holding ``secret``."""
    import tempfile as _tempfile

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    parents, children = mlflow_runs(tracking_uri, experiment)
    found = []
    for run in parents + children:
        rid = run.info.run_id
        for kind, mapping in (("param", run.data.params), ("tag", run.data.tags)):
            for key, value in mapping.items():
                if secret in key or secret in str(value):
                    found.append(f"run {rid} {kind} {key}")
        with _tempfile.TemporaryDirectory() as tmp:
            local = Path(client.download_artifacts(rid, "", tmp))
            for f in local.rglob("*"):
                if f.is_file() and secret.encode() in f.read_bytes():
                    found.append(f"run {rid} artifact {f.relative_to(local)}")
    return found


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Poll ``predicate()`` until it returns a true value (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
