"""The processes the tests start: ``nnsweep`` commands, and what starting a server needs.

Each ``nnsweep`` command runs in this interpreter with one BLAS thread (`subprocess_env`), either
to its end (`run_nnsweep`) or in its own process group (`start_nnsweep`), so that `kill_group`
stops it with all its workers and `wait_exit` fails a hung one in bounded time, with every
process's stacks. The servers of tests/support/postgres.py and tests/support/mlflow_server.py get a
free port (`free_port`) and show the tail of their log (`log_tail`) when they cannot start
(`ServerError`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from tests.support.credentials import masked

REPO = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """A server could not be started; the message says why."""


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path, n=30):
    """The last ``n`` lines of a server's log, the password masked."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return masked("\n".join(lines[-n:]))


def blas_env():
    """One BLAS thread per process, as sweeps run."""
    return {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


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
            masked(
                f"{what} did not exit within {timeout} s (hung; killed)\n"
                f"--- stdout\n{out[-2000:]}\n--- stderr\n{err[-20000:]}"
            ),
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
    from nnsweep.cli.signals import OVERDUE

    if OVERDUE in stderr:
        warnings.warn(
            f"{what}: the graceful stop missed its deadline\n{stderr[-20000:]}", stacklevel=2
        )


def kill_group(proc, sig=signal.SIGKILL):
    """Signal a process started with `start_nnsweep` and all of its children."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Poll ``predicate()`` until it returns a true value (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
