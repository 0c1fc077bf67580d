"""The one writer of a sweep: a helper process that follows the study and projects it live.

``nnsweep run`` starts it with `start_writer` before it loads the data, so that the writer's
``import mlflow`` and the store's set-up overlap the command's own start; the command then
talks to it through a `WriterHandle` (pickled messages on the writer's standard input):

* ``("spec", spec)``: the study's settings (first message);
* ``("start",)``: the study exists in its storage: connect and follow it;
* ``("trials-done",)``: the workers are done: push the last trials, make the plots, load what
  the model needs, all while the command refits the best model;
* ``("finish",)``: the result is on the study: log it and the model, end the parent FINISHED;
* ``("interrupted",)``: the sweep was stopped: push what is there, end the parent KILLED.

End of input without ``finish`` or ``interrupted`` (the command died) is an interruption
too. The process ignores SIGINT, SIGTERM and SIGHUP: the command, which gets them, says when
to stop, and a dead command closes the pipe. Each end is bounded (``deadline``): what could
not be pushed by then is still in the study, and ``nnsweep sync`` pushes it later.

A helper process rather than a thread of the command: the writer's Python work (MLflow's
ORM, the plots, skops) then never takes the GIL from a worker running in the command
(``n_jobs = 1``) or from the refit, and its imports run on the core the command leaves idle
while it starts (benchmarks/results/logging.md).

`follow` is the loop itself, shared with ``nnsweep sync --follow``: sync, wait a second or for
a message, and on failure back off (1, 2, 4 ... 30 s), saying how many trials it is behind.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time

__all__ = ["WriterHandle", "follow", "start_writer"]

_log = logging.getLogger("nnsweep.tracking")
POLL = 1.0  # seconds between passes while the sweep runs
MAX_BACKOFF = 30.0  # seconds between attempts while the store is away
END_DEADLINE = 30.0  # seconds the end of a sweep may wait for an unreachable store


def start_writer(spec) -> WriterHandle:
    """Start the writer process for ``spec``; it imports MLflow while the caller goes on."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnsweep.tracking.follow"],
        stdin=subprocess.PIPE,
        env=env,
    )
    handle = WriterHandle(proc)
    handle.send("spec", spec)
    return handle


class WriterHandle:
    """The command's side of the writer process (see the module docstring)."""

    def __init__(self, proc):
        self.proc = proc

    def send(self, *message) -> None:
        """Send one message; a writer that is gone is not an error (the study has it all)."""
        try:
            pickle.dump(message, self.proc.stdin)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def start(self, study) -> None:  # noqa: ARG002 (the writer opens the study itself)
        """The study exists: the writer connects and follows it."""
        self.send("start")

    def trials_done(self) -> None:
        """The workers are done; the refit begins."""
        self.send("trials-done")

    def finish(self, timeout: float = END_DEADLINE + 60) -> int | None:
        """The result is on the study: wait for the writer to log it and exit."""
        self.send("finish")
        return self.close(timeout)

    def interrupted(self, timeout: float = 8.0) -> int | None:
        """The sweep was stopped: the writer pushes what is there and exits."""
        self.send("interrupted")
        return self.close(timeout)

    def close(self, timeout: float) -> int | None:
        """Close the pipe and wait up to ``timeout`` s; then kill it. Returns its exit code."""
        from .. import stopping

        try:
            self.proc.stdin.close()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if stopping.requested():  # a stop while the writer ends: give it a few seconds
                deadline = min(deadline, time.monotonic() + 5.0)
            if time.monotonic() > deadline:
                self.kill()
                return None
            time.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        """Stop the writer at once (a second Ctrl-C): what it did not push, sync pushes later."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def follow(writer, study, messages, *, poll=POLL, on_message=None, idle_end=None):
    """Sync ``study`` into ``writer`` until a message says to end; returns that message.

    Parameters
    ----------
    writer : StudyWriter
        Not yet connected: `follow` connects it (retrying like any pass).
    study : optuna.Study
    messages : queue.Queue
        Control messages (tuples); ``("eof",)`` when the sender is gone.
    poll : float
        Seconds between passes while nothing fails.
    on_message : callable, optional
        ``on_message(message)`` for messages that do not end the loop; return True to end.
    idle_end : callable, optional
        ``idle_end()`` after each successful pass; True ends the loop (``("idle",)``).
    """
    state = _Backoff(writer, study)
    while True:
        ok = state.attempt(lambda: _pass(writer, study))
        if ok and idle_end is not None and idle_end():
            return ("idle",)
        try:
            message = messages.get(timeout=poll if ok else state.delay)
        except queue.Empty:
            continue
        if on_message is None or on_message(message):
            return message


def _pass(writer, study):
    if writer.parent_run_id is None:
        writer.connect(study)
    writer.sync(study)


class _Backoff:
    """Retry with backoff; say once per outage how far behind the writer is, and when caught up."""

    def __init__(self, writer, study):
        self.writer, self.study = writer, study
        self.failures, self.delay, self.behind_said = 0, 0.0, False

    def attempt(self, fn) -> bool:
        from .util import TrackingError, short

        try:
            fn()
        except TrackingError:
            raise
        except Exception as exc:
            self.failures += 1
            self.delay = min(MAX_BACKOFF, 2.0 ** (self.failures - 1))
            behind = self._behind()
            _log.warning(
                "MLflow: cannot write to the tracking store (%s); %s trial(s) behind, retrying "
                "in %.0f s (the sweep goes on; every trial is kept in the Optuna study)",
                short(exc, 160),
                behind,
                self.delay,
            )
            self.behind_said = True
            return False
        if self.behind_said:
            _log.warning("MLflow: the tracking store is back; caught up")
        self.failures, self.delay, self.behind_said = 0, 0.0, False
        return True

    def _behind(self):
        try:
            return self.writer.pending(self.study)
        except Exception:
            return "?"

    def until(self, fn, deadline: float) -> bool:
        """Attempt ``fn`` until it succeeds or ``deadline`` (time.monotonic) passes."""
        while True:
            if self.attempt(fn):
                return True
            if time.monotonic() + self.delay > deadline:
                return False
            time.sleep(self.delay)


def _read_messages(stream, out: queue.Queue) -> None:
    while True:
        try:
            out.put(pickle.load(stream))
        except (EOFError, OSError, pickle.UnpicklingError):
            out.put(("eof",))
            return


def main() -> int:
    """The writer process: see the module docstring. Exit 0 when MLflow holds the whole study."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    from ..stopping import enable_stack_dumps

    enable_stack_dumps()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating tables"
    # MLflow warns that cloudpickle runs code when loaded: tracking.model_format documents it
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
    messages: queue.Queue = queue.Queue()
    threading.Thread(target=_read_messages, args=(sys.stdin.buffer, messages), daemon=True).start()
    from .writer import StudyWriter  # import mlflow: overlaps the command's own start

    first = messages.get()
    if first[0] != "spec":
        return 0
    spec = first[1]
    writer = StudyWriter(spec)
    message = messages.get()
    if message[0] != "start":
        return 0
    from ..study.storage import load_study

    study = load_study(spec)
    ended = follow(writer, study, messages)
    return _end(writer, study, ended, messages)


def _end(writer, study, message, messages) -> int:
    """The end phases: last trials and plots, then the result and model, or an interruption."""
    from .artifacts import prewarm

    state = _Backoff(writer, study)
    kind = message[0]
    if kind == "trials-done":
        deadline = time.monotonic() + END_DEADLINE
        state.until(lambda: (_pass(writer, study), writer.plots(study)), deadline)
        prewarm(writer.spec.tracking.model_format)  # while the command refits
        kind = messages.get()[0]
    status = "FINISHED" if kind == "finish" else "KILLED"
    deadline = time.monotonic() + END_DEADLINE
    done = state.until(
        # plots at the study's real end only: an interrupted sweep must exit within seconds
        lambda: (_pass(writer, study), writer.end(study, status, plots=False)),
        deadline,
    )
    behind = writer.pending(study) if done else state._behind()
    if not done or behind:
        _log.warning(
            "MLflow: %s trial(s) of study %r are not in the tracking store yet; run "
            "`nnsweep sync %s` when it is reachable",
            behind,
            writer.spec.name,
            writer.spec.path or "STUDY_FILE",
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
