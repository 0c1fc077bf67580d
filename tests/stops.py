"""The sweep that tests/test_stopping.py and benchmarks/bench_faults.py stop, and the moments
they wait for before stopping it.

`stop_study` writes it: `N_TRIALS` trials of about a second, 2 workers, the Optuna journal
under ``mlruns/optuna`` and MLflow on SQLite under ``mlruns``; `start_in_terminal` runs it in
a pseudo-terminal (tests/terminal.py). While it runs, `running_mid_trial` says a trial has
trained an epoch, and `journal_lock_held` that a journal write holds its lock right now.
"""

import os

from optuna.trial import TrialState

from tests.processes import nnsweep_cmd, subprocess_env
from tests.readback import trials_now
from tests.studyfiles import NO_REFIT, SLOW, write_local_study
from tests.terminal import Terminal

N_TRIALS = 6


def stop_study(folder, name, extra=NO_REFIT, **options):
    """Write the study ``name`` into ``folder``; returns ``(path, storage, tracking URI)``.

    ``options`` go to `write_cli_study` over these defaults; ``extra=""`` keeps the refit.
    """
    options = {**SLOW, "n_trials": N_TRIALS, "n_jobs": 2, **options}
    return write_local_study(folder, name, under="mlruns/optuna", extra=extra, **options)


def start_in_terminal(folder, study_file, env=None):
    """``nnsweep run STUDY_FILE`` in ``folder``, in a `Terminal` of its own."""
    return Terminal(nnsweep_cmd("run", study_file), cwd=folder, env=env or subprocess_env())


def running_mid_trial(storage, name):
    """Whether a trial of the study is RUNNING and has reported at least one epoch."""
    return any(
        t.state == TrialState.RUNNING and len(t.intermediate_values) >= 1
        for t in trials_now(storage, name)
    )


def journal_lock_held(storage):
    """Whether some process holds the journal's flock right now (read from /proc/locks)."""
    try:
        inode = os.stat(storage + ".locks/journal").st_ino
    except FileNotFoundError:
        return False
    with open("/proc/locks") as f:
        return any(
            "FLOCK" in line and "WRITE" in line and line.split()[5].endswith(f":{inode}")
            for line in f
        )
