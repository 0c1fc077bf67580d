"""The command's stops: its signal handlers (`GracefulStop`) and its deadline (`arm_deadline`).

A terminal's Ctrl-C sends SIGINT to the whole process group: the command, its worker
processes and the MLflow writer. In the command, `GracefulStop` turns the first SIGINT,
SIGTERM or SIGHUP into a request (`GracefulStop.requested`, the check the command gives
`run_sweep`, which passes it on to its worker processes: `nnsweep.stopping`) and prints what
happens next; a second one raises `KeyboardInterrupt` (a hard stop: the study stays
resumable, its running trials are recovered by the next run). Once asked to stop, the command
has `STOP_DEADLINE` seconds (`arm_deadline`); past it, whatever holds it up, it stops at once
as after a second Ctrl-C, then exits for sure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

from ..stopping import SIGNALS
from .children import signal_children, stop_children

__all__ = [
    "EXIT_CODES",
    "OVERDUE",
    "GracefulStop",
    "arm_deadline",
    "interrupt_on_stop",
    "stop_signal",
]

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
#: Seconds the command may take to stop after the first stop signal (`arm_deadline`).
STOP_DEADLINE = 15.0
#: What a stop that missed its deadline prints (first words), for the tests to look for.
OVERDUE = "still not stopped"

_state = {"signal": None, "deadline": None, "overdue": False}


def stop_signal() -> int | None:
    """The first stop signal the command got (None: none)."""
    return _state["signal"]


def interrupt_on_stop() -> None:
    """In the command: every stop signal (SIGINT, SIGTERM, SIGHUP) raises `KeyboardInterrupt`.

    What Python does for SIGINT alone, for all three, with the signal kept for the exit
    status (`stop_signal`). Every command then stops the same way, ``nnsweep.cli.main``'s
    handler ending its children; ``run`` and ``worker`` put `GracefulStop` over it while
    the sweep runs. Only for the command (``python -m nnsweep``): it sets process-wide
    signal handlers.
    """
    for sig in SIGNALS:
        signal.signal(sig, _interrupt)


def _interrupt(signum, _frame):
    if _state["signal"] is None:
        _state["signal"] = signum
    raise KeyboardInterrupt


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
            signal_children(signal.SIGUSR1)  # the workers and the writer print theirs too
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
    The request reaches the worker processes by the sweep's stop file (`nnsweep.stopping`),
    and by the terminal itself, whose Ctrl-C and hang-up reach the whole process group. The
    first request signals no worker: a worker that has just ended its loop is sending its
    result to the command, and a SIGTERM then (an idle worker dies of it) would cut that
    message in half and leave the command waiting for the rest. Only a hard stop (the
    deadline, `stop_children`) ends them.
    """

    def __init__(self, log=None):
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._asked = threading.Event()
        self._previous = {}

    def requested(self) -> bool:
        """Whether a stop signal came: the check for `nnsweep.sweep.run_sweep`."""
        return self._asked.is_set()

    def __enter__(self):
        _state["signal"] = None
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, _frame):
        if self._asked.is_set():
            if not _state["overdue"]:
                self.log(f"\n{signal.Signals(signum).name} again: stopping at once")
            raise KeyboardInterrupt
        _state["signal"] = signum
        self._asked.set()
        _start_watchdog(self.log)
        self.log(
            f"\n{signal.Signals(signum).name}: stopping after the epochs in progress (the "
            "running trials are marked interrupted and retried when the study resumes); press "
            "Ctrl-C again to stop at once"
        )
