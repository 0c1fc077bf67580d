"""Stop a sweep every way, several times each, and count what it cost.

Each fault is tried ``--repeats`` times on a fresh copy of a small digits study (6 trials of
about a second, 2 workers, MLflow on a SQLite store), through a real pseudo-terminal
(tests/support/terminal.py): Ctrl-C typed during the trials, at start-up, during the refit, while a
journal write holds its lock (seen in /proc/locks), twice; SIGTERM to the command alone;
SIGHUP to the group; SIGKILL of the command; SIGKILL of one worker. After each stop the same
command is run again. Per fault: seconds from the stop to the command's exit, its exit code,
processes left behind, whether the rerun resumed to exactly the budget, trials lost (a trial
that had finished before the stop and is not finished afterwards) and duplicated MLflow runs
(active or deleted runs beyond one per trial).
"""

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import common

from nnsweep.study.records import is_interrupted
from tests.support.processes import run_nnsweep, subprocess_env
from tests.support.readback import mlflow_runs, trials_now
from tests.support.stops import (
    N_TRIALS,
    journal_lock_held,
    running_mid_trial,
    start_in_terminal,
    stop_study,
)
from tests.support.studyfiles import NO_REFIT

ABOUT = (
    f"A digits study of {N_TRIALS} trials of about 1 s (1000 samples, batch 4, 20 epochs, "
    "2-fold CV), 2 workers, MLflow on SQLite, in a pseudo-terminal; after each stop the same "
    "command runs again. 'seconds to exit': from the stop to the command's exit (SIGKILL of "
    "one worker: the sweep goes on, so this is the whole remaining sweep). 'left': processes "
    "of the sweep alive 2 s after it exited. 'lost': trials finished before the stop and not "
    "finished after the rerun. 'dup. runs': MLflow runs beyond one per trial (deleted ones "
    "counted). 'no run': trials without an MLflow run after the rerun."
)


def kill_a_worker(term, storage, name):
    for t in trials_now(storage, name):
        if t.state.name == "RUNNING" and "worker" in t.user_attrs:
            pid = int(t.user_attrs["worker"].rsplit(":", 1)[1])
            if pid != term.proc.pid:
                os.kill(pid, signal.SIGKILL)
                return True
    return False


FAULTS = {
    # name: (when, how); when = a predicate on (term, storage, name), how = the stop
    "Ctrl-C during the trials": ("mid-trial", lambda t, s, n: t.ctrl_c()),
    "Ctrl-C at start-up (1 s in)": ("start", lambda t, s, n: t.ctrl_c()),
    "Ctrl-C while a journal write holds its lock": ("in-lock", lambda t, s, n: t.ctrl_c()),
    "Ctrl-C during the refit": ("refit", lambda t, s, n: t.ctrl_c()),
    "Ctrl-C twice (0.2 s apart)": (
        "mid-trial",
        lambda t, s, n: (t.ctrl_c(), time.sleep(0.2), t.ctrl_c()),
    ),
    "SIGTERM to the command alone": (
        "mid-trial",
        lambda t, s, n: t.signal_command(signal.SIGTERM),
    ),
    "SIGHUP to the process group": ("mid-trial", lambda t, s, n: t.signal_group(signal.SIGHUP)),
    "SIGKILL of the command": ("mid-trial", lambda t, s, n: t.signal_command(signal.SIGKILL)),
    "SIGKILL of one worker": ("mid-trial", kill_a_worker),
}


def try_fault(folder, fault):
    when, how = FAULTS[fault]
    name = "f"
    study_file, storage, tracking = stop_study(
        folder, name, extra="" if when == "refit" else NO_REFIT
    )
    env = subprocess_env(NNSWEEP_TEST_JOURNAL_HOLD="0.05") if when == "in-lock" else None
    term = start_in_terminal(folder, study_file, env)
    try:
        if when == "start":
            time.sleep(1.0)
        elif when == "refit":
            term.wait_until(
                lambda: sum(t.state.is_finished() for t in trials_now(storage, name)) >= N_TRIALS,
                240,
            )
            time.sleep(0.3)
        else:
            term.wait_until(lambda: running_mid_trial(storage, name), 150)
            if when == "in-lock":
                term.wait_until(lambda: journal_lock_held(storage), 30)
        finished_before = {t.number for t in trials_now(storage, name) if t.state.is_finished()}
        stopped = time.monotonic()
        how(term, storage, name)
        code, _ = term.wait(120)
        took = time.monotonic() - stopped
        left = len(term.survivors())
    finally:
        term.close()
    again = run_nnsweep("run", study_file, "--no-progress", cwd=folder, timeout=300)
    after = trials_now(storage, name)
    done = [t for t in after if not is_interrupted(t) and t.state.name != "WAITING"]
    resumed = again.returncode == 0 and len(done) == N_TRIALS
    states = {t.number: t.state for t in after}
    lost = sum(1 for n in finished_before if not states.get(n) or not states[n].is_finished())
    try:
        _, children = mlflow_runs(tracking, name)
        numbers = [r.data.tags.get("optuna.trial_number") for r in children]
        duplicated = len(numbers) - len(set(numbers))
        missing = len({str(t.number) for t in after if t.state.name != "WAITING"} - set(numbers))
    except AssertionError:
        duplicated, missing = 0, len(after)
    return dict(
        code=code,
        took=took,
        left=left,
        resumed=resumed,
        lost=lost,
        dup=duplicated,
        missing=missing,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one try of each fault")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    env = common.environment()
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for fault in FAULTS:
            results = data[fault] = []
            for i in range(repeats):
                folder = Path(tmp) / f"{len(rows)}-{i}"
                folder.mkdir()
                results.append(try_fault(folder, fault))
                print(fault, results[-1], file=sys.stderr, flush=True)
            codes = sorted({str(r["code"]) for r in results})
            took = [r["took"] for r in results]
            rows.append(
                [
                    fault,
                    str(len(results)),
                    "/".join(codes),
                    f"{statistics.median(took):.1f} (max {max(took):.1f})",
                    str(sum(r["left"] for r in results)),
                    f"{sum(r['resumed'] for r in results)}/{len(results)}",
                    str(sum(r["lost"] for r in results)),
                    str(sum(r["dup"] for r in results)),
                    str(sum(r["missing"] for r in results)),
                ]
            )
    columns = ["fault", "tries", "exit code", "seconds to exit", "left", "resumed", "lost"]
    common.write_results(
        "faults",
        "Faults: stop a sweep every way, then run it again",
        env,
        [common.table("", [*columns, "dup. runs", "no run"], rows)],
        data=data,
        about=ABOUT,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
