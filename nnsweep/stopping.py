"""How a sweep stops: a check read at safe points, never an exception raised from a signal.

An exception raised wherever a process happens to be can land inside a journal write, between
taking the journal's lock and releasing it. So a stop is a question that the sweep's safe
points ask (`should_stop`): the CV objective after every epoch, the worker loop before asking
for a trial, the refit after every epoch. `SweepStopped` then ends the trial there, marked
interrupted, and the worker returns.

Who answers the question:

* In the caller's thread, the check `run_sweep` was given (`checking`): the caller decides how
  a stop arrives (``nnsweep run``: its signal handlers, `nnsweep.cli.signals`; a notebook: a
  callback, another thread). Nothing here installs a handler in the caller's process.
* In a worker process (the library starts those), `in_worker`: the worker's own flag, which
  SIGINT, SIGTERM and SIGHUP set (a terminal's Ctrl-C reaches the whole process group); the
  stop file that `relayed` creates in the caller's process once its check turns true (a worker
  still starting when a signal came would otherwise never learn of the stop); and the death of
  its parent process. Between tasks (`worker_process_init`) a worker process ignores SIGINT
  and SIGHUP, so that a Ctrl-C never raises inside loky's own queues; SIGTERM ends an idle one.

Standard library only.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import tempfile
import threading
import uuid

from . import phases

__all__ = [
    "SIGNALS",
    "SweepStopped",
    "checking",
    "enable_stack_dumps",
    "in_worker",
    "new_stop_file",
    "relayed",
    "requested",
    "should_stop",
    "worker_process_init",
]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_flag = threading.Event()  # a worker process's own: set by its stop signals
_check = contextvars.ContextVar("nnsweep_should_stop", default=lambda: False)


class SweepStopped(Exception):  # noqa: N818 (a stop, not an error)
    """Raised at a safe point of a worker when the sweep was asked to stop."""


def should_stop() -> bool:
    """Whether the sweep running here was asked to stop: what every safe point asks."""
    return bool(_check.get()())


requested = should_stop  # the name the MLflow writer's handle asks it by (tracking.follow)


@contextlib.contextmanager
def checking(check=None):
    """Within: `should_stop` in this thread asks ``check()`` (None: never stop)."""
    token = _check.set(check or (lambda: False))
    try:
        yield
    finally:
        _check.reset(token)


def new_stop_file() -> str:
    """A path, unique to one sweep, by which `relayed` tells its worker processes to stop."""
    return os.path.join(tempfile.gettempdir(), f"nnsweep-stop-{os.getpid()}-{uuid.uuid4().hex}")


@contextlib.contextmanager
def relayed(stop_file, interval=0.05):
    """While the worker processes run: once this thread's check is true, create ``stop_file``.

    A thread asks the check every ``interval`` seconds (so the caller's check may be called
    from another thread than its own). The file is removed at the end.
    """
    check, done = _check.get(), threading.Event()

    def relay():
        while not done.wait(interval):
            if check():
                open(stop_file, "w").close()  # noqa: SIM115 (how the workers learn of it)
                return

    thread = threading.Thread(target=relay, name="nnsweep-stop-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        with contextlib.suppress(OSError):
            os.unlink(stop_file)


def enable_stack_dumps() -> None:
    """With ``NNSWEEP_STACK_DUMPS`` set, SIGUSR1 prints every thread's stack to stderr.

    For diagnosing a process that hangs: the test suite sets it in the processes it starts,
    and sends SIGUSR1 to a sweep's process group before killing one that did not exit.
    """
    if os.environ.get("NNSWEEP_STACK_DUMPS"):
        import faulthandler

        faulthandler.register(signal.SIGUSR1, all_threads=True)


def worker_process_init() -> None:
    """A loky worker process's first step (its initializer): SIGINT and SIGHUP ignored.

    Until a task (`in_worker`) makes them set the flag, and again after it: a terminal's
    Ctrl-C reaches every process of the group, and in an idle worker it would raise inside
    loky's queues. A stop reaches a worker in a task by the stop file as well; SIGTERM (at
    the command's end) ends an idle one.
    """
    enable_stack_dumps()
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    phases.enter("worker")


@contextlib.contextmanager
def in_worker(stop_file, in_process=False):
    """Around a worker's loop: in a worker process, the stop signals set its flag.

    `should_stop` is then true once the flag is set, ``stop_file`` exists, or the parent
    process (the command) has gone. After the loop, SIGTERM ends the (idle) process and SIGINT
    and SIGHUP are ignored, as before its first task. ``in_process``: the worker runs in the
    caller's thread, whose check (`checking`) already answers.
    """
    if in_process:
        yield
        return
    enable_stack_dumps()
    _flag.clear()
    parent = os.getppid()
    token = _check.set(
        lambda: _flag.is_set() or os.getppid() != parent or os.path.exists(stop_file)
    )
    main = threading.current_thread() is threading.main_thread()
    for sig in SIGNALS if main else ():
        signal.signal(sig, lambda _signum, _frame: _flag.set())
    try:
        yield
    finally:
        _check.reset(token)
        for sig in SIGNALS if main else ():
            signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.SIG_IGN)
