"""The sweep that tests/test_stopping.py and benchmarks/bench_faults.py stop, and the moments
they wait for before stopping it.

`stop_study` writes it: `N_TRIALS` trials of about a second, 2 workers, the Optuna journal
under ``mlruns/optuna`` and MLflow on SQLite under ``mlruns``; `start_in_terminal` runs it in
a pseudo-terminal (tests/support/terminal.py). While it runs, `running_mid_trial` says a trial has
trained an epoch, `journal_lock_held` that a journal write holds its lock right now, and
`Phases` which phases the command has entered (the test hook `nnsweep.phases`), holding it at
one until the test says go. `STOPPING` is what the command prints once a stop signal is
handled.
"""

import os
from pathlib import Path

from optuna.trial import TrialState

from tests.support.processes import nnsweep_cmd, subprocess_env
from tests.support.readback import trials_now
from tests.support.studyfiles import NO_REFIT, SLOW, write_local_study
from tests.support.terminal import Terminal

N_TRIALS = 6
STOPPING = "stopping after the epochs in progress"  # the first stop signal's message


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


class Phases:
    """The phases the command enters (`nnsweep.phases`), read from the file it writes them to.

    ``pause_at``: the command waits at that phase until `go` (at most 120 s).
    """

    def __init__(self, folder, pause_at=None):
        self.path = Path(folder) / "phases.txt"
        self.pause_at = pause_at

    def env(self):
        """The command's environment: `subprocess_env` with the hook's variables."""
        pause = {"NNSWEEP_TEST_PAUSE_AT": self.pause_at} if self.pause_at else {}
        return subprocess_env(NNSWEEP_TEST_PHASE_FILE=str(self.path), **pause)

    def reached(self, phase):
        """Whether a process of the command has entered ``phase``."""
        return self.path.is_file() and phase in self.path.read_text().split()

    def go(self):
        """Let the command go on from the phase it waits at."""
        Path(f"{self.path}.go").touch()
