"""How a sweep stops: a signal becomes a flag, and the flag is read at safe points.

A terminal's Ctrl-C sends SIGINT to the whole process group: the command, its worker
processes and the MLflow writer. An exception raised wherever a process happens to be can
land inside a journal write, between taking the journal's lock and releasing it. So nothing
here raises from a signal handler, except a second signal to the command (stop at once):

* In the command, `GracefulStop` turns the first SIGINT, SIGTERM or SIGHUP into a request
  (`requested`), passes it on to the worker processes by a marker file (`marker`, read
  with the flag by `should_stop`; no signal, see `GracefulStop`), and prints what happens
  next; a second one raises `KeyboardInterrupt` (a hard stop: the study stays
  resumable, its running trials are recovered by the next run).
* In a worker process, `worker_setup` makes the same three signals set the flag. Between
  tasks (`worker_process_init`, `worker_teardown`) a worker process ignores SIGINT and
  SIGHUP: a terminal's Ctrl-C then never raises inside loky's own queues. SIGTERM ends an
  idle worker (the command's `stop_children` at its end).
* The CV objective checks `should_stop` after every epoch and the worker loop before asking
  for a trial; `SweepStopped` ends the trial there, marked interrupted, and the worker
  returns. A worker whose command died (its parent process changed) stops the same way.
* The command, once asked to stop, has `STOP_DEADLINE` seconds (`arm_deadline`); past it,
  whatever holds it up, it stops at once as after a second Ctrl-C, then exits for sure.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time

__all__ = [
    "EXIT_CODES",
    "arm_deadline",
    "enable_stack_dumps",
    "GracefulStop",
    "SweepStopped",
    "requested",
    "should_stop",
    "worker_process_init",
    "worker_setup",
]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}

#: Seconds the command may take to stop after the first stop signal (`arm_deadline`).
STOP_DEADLINE = 15.0
#: What a stop that missed its deadline prints (first words), for the tests to look for.
OVERDUE = "still not stopped"

_flag = threading.Event()
_state = {"parent": None, "signal": None, "deadline": None, "overdue": False}


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


def enable_stack_dumps() -> None:
    """With ``NNSWEEP_STACK_DUMPS`` set, SIGUSR1 prints every thread's stack to stderr.

    For diagnosing a process that hangs: the test suite sets it in the processes it starts,
    and sends SIGUSR1 to a sweep's process group before killing one that did not exit.
    """
    if os.environ.get("NNSWEEP_STACK_DUMPS"):
        import faulthandler

        faulthandler.register(signal.SIGUSR1, all_threads=True)


def _set_flag(signum, _frame):
    if _state["signal"] is None:
        _state["signal"] = signum
    _flag.set()


def worker_process_init() -> None:
    """A loky worker process's first step (its initializer): SIGINT and SIGHUP ignored.

    Until a task (`worker_setup`) makes them set the flag, and again after it
    (`worker_teardown`): a terminal's Ctrl-C reaches every process of the group, and in an
    idle worker it would raise inside loky's queues. A stop reaches a worker in a task by
    the command's marker file as well (`should_stop`); SIGTERM (at the command's end,
    `stop_children`) ends an idle one.
    """
    enable_stack_dumps()
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def worker_setup(in_process: bool = False) -> None:
    """In a worker: clear the flag; in a worker process, let the stop signals set it.

    ``in_process``: the worker runs in the command itself, whose `GracefulStop` already
    handles the signals. A worker process also stops when its parent process goes away.
    """
    if in_process:
        return
    enable_stack_dumps()
    _flag.clear()
    _state["signal"] = None
    _state["parent"] = os.getppid()
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _set_flag)


def worker_teardown(in_process: bool = False) -> None:
    """After a worker's loop: SIGTERM ends the (idle) process; SIGINT and SIGHUP are ignored.

    As before its first task (`worker_process_init`).
    """
    if in_process or threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.SIG_IGN)


def arm_deadline(seconds: float | None = STOP_DEADLINE) -> None:
    """In the command: once asked to stop, exit within ``seconds``, whatever holds it up.

    The first stop signal starts a watchdog thread. If the command is still running
    ``seconds`` later, it says so (with every thread's stack when ``NNSWEEP_STACK_DUMPS`` is
    set), stops at once as a second Ctrl-C does, and 5 s later ends the process and its
    children outright. Nothing is lost either way: the study's journal and locks are built
    to survive a kill (the next run recovers its running trials). Only for the command
    (``python -m nnsweep``): a Python caller of `nnsweep.cli.main` is never exited.
    """
    _state["deadline"] = seconds


def _start_watchdog(log):
    seconds = _state["deadline"]
    if not seconds:
        return
    main = threading.main_thread().ident
    code = EXIT_CODES.get(_state["signal"], 130)

    def watch():
        time.sleep(seconds)
        _state["overdue"] = True
        log(f"\nnnsweep: {OVERDUE} {seconds:.0f} s after the stop signal: stopping at once")
        if os.environ.get("NNSWEEP_STACK_DUMPS"):
            import faulthandler

            faulthandler.dump_traceback(all_threads=True)
            _signal_children(signal.SIGUSR1)  # the workers and the writer print theirs too
            time.sleep(1.0)
        with contextlib.suppress(Exception):
            signal.pthread_kill(main, signal.SIGINT)  # as a second Ctrl-C: KeyboardInterrupt
        time.sleep(5.0)
        log("nnsweep: exiting now; run the same command again to resume the study")
        with contextlib.suppress(Exception):
            stop_children(grace=1.0)
        os._exit(code)

    threading.Thread(target=watch, name="nnsweep-stop-deadline", daemon=True).start()


class GracefulStop:
    """In the command: the first stop signal asks the sweep to stop; a second stops it now.

    Parameters
    ----------
    log : callable
        Prints what happens (to standard error by default).

    Notes
    -----
    The request reaches the local worker processes by the marker file (`marker`), which
    every worker reads at its safe points (`should_stop`), and by the terminal itself, whose
    Ctrl-C and hang-up reach the whole process group. The first request signals no worker:
    a worker that has just ended its loop is sending its result to the command, and a SIGTERM
    then (an idle worker dies of it) would cut that message in half and leave the command
    waiting for the rest. Only a hard stop (the deadline, `stop_children`) ends them.
    """

    def __init__(self, log=None):
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
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
            if not _state["overdue"]:
                self.log(f"\n{signal.Signals(signum).name} again: stopping at once")
            raise KeyboardInterrupt
        _set_flag(signum, _frame)
        _start_watchdog(self.log)
        with contextlib.suppress(OSError):
            open(marker(os.getpid()), "w").close()  # noqa: SIM115 (how the workers learn of it)
        name = signal.Signals(signum).name
        self.log(
            f"\n{name}: stopping after the epochs in progress (the running trials are marked "
            "interrupted and retried when the study resumes); press Ctrl-C again to stop "
            "at once"
        )


def child_pids():
    """Pids of this process's children (and theirs)."""
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def _own_children(keep=frozenset()):
    """Children of this process (and theirs), but not ``keep`` nor loky's resource tracker.

    The tracker ends when this process does and cleans up after it: it is never signalled.
    """
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    own = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if child.pid not in keep and "resource_tracker" not in " ".join(child.cmdline()):
                own.append(child)
    return own


def _signal_children(sig):
    """Send ``sig`` to this process's children, except loky's resource tracker."""
    import psutil

    for child in _own_children():
        with contextlib.suppress(psutil.Error):
            child.send_signal(sig)


def stop_children(grace=3.0, keep=frozenset()):
    """End every process this command started that is still alive: none outlives it.

    The worker processes end by themselves (loky shuts them down at exit); this is the
    guarantee when a hard stop or an error cut that short. ``keep``: children that were there
    before the command started (`main` called from Python, e.g. by a test with servers).
    """
    import psutil

    children = []
    for child in _own_children(keep):
        with contextlib.suppress(psutil.Error):
            child.terminate()
            children.append(child)
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
