"""An MLflow tracking server for the tests that need a real one.

`start_mlflow_server` runs ``mlflow server`` on a free port of 127.0.0.1 (or a given one: a
server restarted at the same address) in its own process group, backed by a database URL
passed in the environment (so no password is on a command line), artifacts served from a
temporary folder. Loaded as a plugin (``pytest_plugins = ["tests.support.mlflow_server"]``) for its
session fixture `mlflow_server`, backed by a database of the `postgres` fixture (which this
module loads too). ``benchmarks/bench_scaleout.py`` calls `start_mlflow_server` itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.credentials import PASSWORD, USER
from tests.support.processes import ServerError, blas_env, free_port, log_tail

pytest_plugins = ["tests.support.postgres"]  # the `mlflow_server` fixture's backend store


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
        # no GenAI job runner and its huey consumers, as `nnsweep ui` (nnsweep/cli/ui.py)
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
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
            tail = log_tail(server.log_file)
            shutil.rmtree(root, ignore_errors=True)
            raise ServerError(f"mlflow server exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    tail = log_tail(server.log_file)
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
