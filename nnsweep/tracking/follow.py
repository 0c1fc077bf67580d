"""Driving a `StudyWriter` over time: the sweep's writer process, and ``nnsweep sync``.

``nnsweep run`` starts the writer process with `start_writer` before it loads the data, so
that the writer's ``import mlflow`` and the store's opening overlap the command's own start;
the command then talks to it through a `WriterHandle` (pickled messages on the writer's
standard input):

* ``("spec", spec)``: the study's settings (first message). The writer opens the store with
  MLflow's own client (`nnsweep.tracking.store.open_store`) and answers on its reply pipe:
  None, or why the store cannot be used; the command waits for that answer
  (`WriterHandle.checked`) before anything trains;
* ``("start",)``: the study exists in its storage: take the study's writer lock, connect and
  follow it;
* ``("trials-done",)``: the workers are done: push the last trials, make the plots, load what
  the model needs, all while the command refits the best model;
* ``("finish",)``: the result is on the study: log it and the model, end the parent FINISHED;
* ``("interrupted",)``: the sweep was stopped: push what is there, end the parent KILLED.

End of input without ``finish`` or ``interrupted`` (the command died) is an interruption
too. The process ignores SIGINT, SIGTERM and SIGHUP: the command, which gets them, says when
to stop, and a dead command closes the pipe. Each end is bounded (``deadline``): what could
not be pushed by then is still in the study, and ``nnsweep sync`` pushes it later. Its last
reply is the experiment's id, for the command's link to the runs.

A helper process rather than a thread of the command: the writer's Python work (MLflow's
ORM, the plots, skops) then never takes the GIL from a worker running in the command
(``n_jobs = 1``) or from the refit, and its imports run on the core the command leaves idle
while it starts (benchmarks/results/logging.md).

`follow` is the loop itself, shared with ``nnsweep sync --follow`` (`sync_study`): sync, wait a
second or for a message, and on failure back off (1, 2, 4 ... 30 s), saying how many trials
it is behind. Another writer holding the study's writer lock is such a failure: the sweep's
writer says who holds it, and takes over once it has ended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time

import optuna

from ..study.records import StudyAttr
from .util import TrackingError, short

__all__ = ["WriterHandle", "follow", "start_writer", "sync_study"]

_log = logging.getLogger("nnsweep.tracking")
TrialState = optuna.trial.TrialState
POLL = 1.0  # seconds between passes while the sweep runs
MAX_BACKOFF = 30.0  # seconds between attempts while the store is away
END_DEADLINE = 30.0  # seconds the end of a sweep may wait for an unreachable store


def start_writer(spec) -> WriterHandle:
    """Start the writer process for ``spec``; it imports MLflow while the caller goes on."""
    reply_fd, writer_fd = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnsweep.tracking.follow", str(writer_fd)],
        stdin=subprocess.PIPE,
        pass_fds=(writer_fd,),
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    os.close(writer_fd)
    handle = WriterHandle(proc, os.fdopen(reply_fd, "rb"))
    handle.send("spec", spec)
    return handle


class WriterHandle:
    """The command's side of the writer process (see the module docstring)."""

    def __init__(self, proc, replies):
        self.proc, self.replies = proc, replies
        self._replies: dict = {}

    def _reply(self, kind):
        """The writer's reply ``kind`` (read up to it); None if the writer ended without it."""
        while kind not in self._replies:
            try:
                key, value = pickle.load(self.replies)
            except (EOFError, OSError, pickle.UnpicklingError):
                return None
            self._replies[key] = value
        return self._replies[kind]

    def checked(self) -> str | None:
        """Wait for the writer to open the tracking store: None if it could, else why not."""
        refusal = self._reply("checked")
        return (
            "the MLflow writer process ended before it opened the store"
            if refusal is None
            else refusal or None
        )

    @property
    def experiment_id(self) -> str | None:
        """The MLflow experiment of the study's runs, as the writer said when it ended."""
        return self._reply("experiment") if self.proc.poll() is not None else None

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


def follow(writer, study, messages, *, poll=POLL):
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
    """
    state = _Backoff(writer, study)
    while True:
        ok = state.attempt(lambda: _pass(writer, study))
        try:
            return messages.get(timeout=poll if ok else state.delay)
        except queue.Empty:
            continue


def _pass(writer, study):
    if writer.parent_run_id is None:
        writer.connect(study)
    writer.sync(study)


def sync_study(writer, study, keep_following=False, end_parent=True, wait=None) -> dict:
    """``nnsweep sync``: sync ``study`` into ``writer`` (a `StudyWriter`); return its counts.

    Runs anywhere that reaches both stores, on a finished, running, interrupted or crashed
    study, or after the MLflow store was deleted. ``keep_following``: keep following until
    Ctrl-C (SIGINT), then one last pass. ``end_parent``: once no trial runs, log the study's end on
    the parent run: the plots, the result and the model when the sweep wrote one (FINISHED),
    or KILLED when it was stopped before its end (False: trials only; while trials run, the
    sweep's own writer ends it). ``wait``: see `StudyWriter.connect` (None: a study whose
    writer lock is held is an error). The writer lock is released at the end.
    """
    try:
        writer.connect(study, status=None, wait=wait)
        if keep_following:
            with contextlib.suppress(KeyboardInterrupt):
                follow(writer, study, queue.Queue())
        writer.sync(study)
        running = any(t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False))
        if end_parent and not running:
            writer.end(study, "FINISHED" if study.user_attrs.get(StudyAttr.RESULT) else "KILLED")
        return writer.counts
    finally:
        writer.close()


class _Backoff:
    """Retry with backoff; say once per outage how far behind the writer is, and when caught up."""

    def __init__(self, writer, study):
        self.writer, self.study = writer, study
        self.failures, self.delay, self.behind_said = 0, 0.0, False

    def attempt(self, fn) -> bool:
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
    # MLflow warns that cloudpickle runs code when loaded: tracking.model_format documents it
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
    replies = os.fdopen(int(sys.argv[1]), "wb")
    from .store import absolute_uri, open_store
    from .writer import StudyWriter  # import mlflow: overlaps the command's own start

    # Only now read: unpickling the spec imports nnsweep.config, and two threads importing
    # the same modules at once can raise importlib's _DeadlockError.
    messages: queue.Queue = queue.Queue()
    threading.Thread(target=_read_messages, args=(sys.stdin.buffer, messages), daemon=True).start()

    first = messages.get()
    if first[0] != "spec":
        return 0
    client, refusal = None, None
    try:
        client = open_store(absolute_uri(first[1].tracking.uri))
    except TrackingError as exc:
        refusal = str(exc)  # the command says it; with --sync-later, the writer retries
    _reply(replies, "checked", refusal or "")
    writer = StudyWriter(first[1], client)
    message = messages.get()
    if message[0] != "start":
        return 0
    from ..study.storage import load_study

    study = load_study(writer.spec)
    code = _end(writer, study, follow(writer, study, messages), messages)
    _reply(replies, "experiment", writer.experiment_id)
    return code


def _reply(replies, *message) -> None:
    with contextlib.suppress(OSError):  # the command is gone: nobody to tell
        pickle.dump(message, replies)
        replies.flush()


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
