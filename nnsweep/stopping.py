"""How a sweep stops: a signal becomes a flag, and the flag is read at safe points.

A terminal's Ctrl-C sends SIGINT to the whole process group: the command, its worker
processes and the MLflow writer. An exception raised wherever a process happens to be can
land inside a journal write, between taking the journal's lock and releasing it. So nothing
here raises from a signal handler, except a second signal to the command (stop at once):

* In the command, `GracefulStop` turns the first SIGINT, SIGTERM or SIGHUP into a request
  (`requested`), passes it on to the worker processes (SIGTERM to each child), and prints
  what happens next; a second one raises `KeyboardInterrupt` (a hard stop: the study stays
  resumable, its running trials are recovered by the next run).
* In a worker process, `worker_setup` makes the same three signals set the flag.
* The CV objective checks `should_stop` after every epoch and the worker loop before asking
  for a trial; `SweepStopped` ends the trial there, marked interrupted, and the worker
  returns. A worker whose command died (its parent process changed) stops the same way.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading

__all__ = [
    "EXIT_CODES",
    "GracefulStop",
    "SweepStopped",
    "requested",
    "should_stop",
    "worker_setup",
]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}

_flag = threading.Event()
_state = {"parent": None, "signal": None}


class SweepStopped(Exception):  # noqa: N818 (a stop, not an error)
    """Raised at a safe point of a worker when the sweep was asked to stop."""


def requested() -> bool:
    """Whether this process was asked to stop."""
    return _flag.is_set()


def stop_signal() -> int | None:
    """The first stop signal this process got (None: none)."""
    return _state["signal"]


def marker(pid: int) -> str:
    """The file by which command ``pid`` says "stop" to its workers, signalled or not.

    A worker process that the stop signal reached before it could set its handlers (it was
    still starting) would otherwise never learn of the stop.
    """
    return os.path.join(tempfile.gettempdir(), f"nnsweep-stop-{pid}")


def should_stop() -> bool:
    """True when this process was asked to stop, or its parent (the command) asked or died."""
    parent = _state["parent"]
    if _flag.is_set():
        return True
    if parent is None:
        return False
    return os.getppid() != parent or os.path.exists(marker(parent))


def _set_flag(signum, _frame):
    if _state["signal"] is None:
        _state["signal"] = signum
    _flag.set()


def worker_setup(in_process: bool = False) -> None:
    """In a worker: clear the flag; in a worker process, let the stop signals set it.

    ``in_process``: the worker runs in the command itself, whose `GracefulStop` already
    handles the signals. A worker process also stops when its parent process goes away.
    """
    if in_process:
        return
    _flag.clear()
    _state["signal"] = None
    _state["parent"] = os.getppid()
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _set_flag)


def worker_teardown(in_process: bool = False) -> None:
    """After a worker's loop: the stop signals act as by default again.

    So an idle worker process that is sent SIGTERM ends.
    """
    if in_process or threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)


class GracefulStop:
    """In the command: the first stop signal asks the sweep to stop; a second stops it now.

    Parameters
    ----------
    log : callable
        Prints what happens (to standard error by default).
    children : callable, optional
        ``children()`` gives the pids to pass the request on to (the local worker processes).
    """

    def __init__(self, log=None, children=None):
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.children = children
        self._previous = {}

    def __enter__(self):
        _flag.clear()
        _state["signal"] = None
        with contextlib.suppress(OSError):  # left by an earlier process of this pid, killed
            os.unlink(marker(os.getpid()))
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        with contextlib.suppress(OSError):
            os.unlink(marker(os.getpid()))

    def _handle(self, signum, _frame):
        if _flag.is_set():
            self.log(f"\n{signal.Signals(signum).name} again: stopping at once")
            raise KeyboardInterrupt
        _set_flag(signum, _frame)
        with contextlib.suppress(OSError):
            open(marker(os.getpid()), "w").close()  # noqa: SIM115 (for workers still starting)
        name = signal.Signals(signum).name
        self.log(
            f"\n{name}: stopping after the epochs in progress (the running trials are marked "
            "interrupted and retried when the study resumes); press Ctrl-C again to stop "
            "at once"
        )
        for pid in self.children() if self.children else ():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)


def child_pids():
    """Pids of this process's children (and theirs)."""
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def stop_children(grace=3.0, keep=frozenset()):
    """End every process this command started that is still alive: none outlives it.

    The worker processes end by themselves (loky shuts them down at exit); this is the
    guarantee when a hard stop or an error cut that short. ``keep``: children that were there
    before the command started (`main` called from Python, e.g. by a test with servers).
    """
    import psutil

    try:
        children = [p for p in psutil.Process().children(recursive=True) if p.pid not in keep]
    except psutil.Error:
        return
    mine = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" in " ".join(child.cmdline()):
                continue  # loky's: it ends when this process does, and cleans up after it
            child.terminate()
            mine.append(child)
    children = mine
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
