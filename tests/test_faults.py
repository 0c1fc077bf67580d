"""Faults a sweep must survive, each for real, on the command line in its own process group:

* a worker process killed with SIGKILL in the middle of a trial (journal file, and PostgreSQL
  with heartbeats): the sweep completes its budget, the dead trial is failed in Optuna and in
  MLflow, and is retried;
* Ctrl-C (SIGINT to the whole process group) and a restart: exactly the budget, one MLflow run
  per Optuna trial, one parent run;
* several processes writing the same embedded storage (journal file or SQLite, and the SQLite
  MLflow store) at once: no "database is locked", no lost trial;
* bad data (missing value, no such label column, one class, empty file): a clear error before
  the sweep starts.
"""

import os
import signal
import time

import psutil
import pytest
from optuna.trial import TrialState

from nnsweep.cli import main
from nnsweep.compat.optuna import study_storage, trial_id
from nnsweep.study.records import Attr, StopReason, is_interrupted
from nnsweep.sweep import count_budget
from tests.support.credentials import PASSWORD
from tests.support.processes import kill_group, start_nnsweep, wait_exit, wait_for
from tests.support.readback import check_trials_match_runs, load_optuna_study
from tests.support.studyfiles import NO_REFIT, SLOW, write_cli_study, write_local_study

pytest_plugins = ["tests.support.postgres", "tests.support.mlflow_server"]
pytestmark = pytest.mark.slow


def _storage_and_tracking(kind, tmp_path, request):
    """(storage URL, tracking URI, URI to read MLflow back) for a storage kind."""
    if kind == "journal":
        tracking = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
        return str(tmp_path / "optuna" / "study.log"), tracking, tracking
    postgres = request.getfixturevalue("postgres")
    server = request.getfixturevalue("mlflow_server")
    return postgres.url(postgres.create_database("faults")), server.url, server.url


def _trials(study):
    try:
        return study.get_trials(deepcopy=False)
    except Exception:  # the storage is being written: read again at the next poll
        return []


def _running_mid_trial(study, min_epochs=1):
    """A RUNNING trial that has trained ``min_epochs`` epochs (its MLflow run may not exist
    yet: the writer makes it from the study, before or after the kill)."""
    for t in _trials(study):
        if (
            t.state == TrialState.RUNNING
            and len(t.intermediate_values) >= min_epochs
            and "worker" in t.user_attrs
        ):
            return t
    return None


def _study_when_ready(name, url, timeout=120):
    def load():
        try:
            return load_optuna_study(name, url)
        except (KeyError, Exception):
            return None

    return wait_for(load, timeout, interval=0.3, what=f"study {name} to be created")


def _kill_worker_mid_trial(proc, study, timeout=150):
    """SIGKILL the worker process of a trial that is running, in the middle of it.

    The worker is stopped (SIGSTOP) first, and killed only if its trial is still running once
    it is stopped, so the kill lands mid-trial, never between two trials.
    Returns the killed trial's number.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before a worker could be killed"
        trial = _running_mid_trial(study)
        if trial is None:
            time.sleep(0.05)
            continue
        pid = int(trial.user_attrs[Attr.WORKER].rsplit(":", 1)[1])
        children = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        assert pid in children, f"trial {trial.number} runs in {pid}, not a worker of the sweep"
        os.kill(pid, signal.SIGSTOP)
        again = study_storage(study).get_trial(trial_id(trial))
        if again.state == TrialState.RUNNING:
            os.kill(pid, signal.SIGKILL)
            return trial.number
        os.kill(pid, signal.SIGCONT)  # it finished meanwhile: try the next one
    raise AssertionError("no trial was caught running")


@pytest.mark.parametrize("kind", ["journal", "postgres"])
def test_sigkill_of_a_worker_mid_trial(tmp_path, request, kind):
    storage, tracking, read_back = _storage_and_tracking(kind, tmp_path, request)
    n_trials = 3
    study_file = write_cli_study(
        tmp_path,
        f"sigkill-{kind}",
        storage=storage,
        tracking_uri=tracking,
        n_trials=n_trials,
        n_jobs=2,
        heartbeat_interval=1 if kind == "postgres" else None,
        extra=NO_REFIT,
        **SLOW,
    )
    proc, output = start_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    try:
        study = _study_when_ready(f"sigkill-{kind}", storage)
        killed = _kill_worker_mid_trial(proc, study)
        rc = wait_exit(proc, 180, output, "the sweep after the kill")
    finally:
        kill_group(proc)
    out, err = output()
    assert rc == 0, f"exit {rc}\n{out[-2000:]}\n{err[-4000:]}"
    assert PASSWORD not in out + err

    study = load_optuna_study(f"sigkill-{kind}", storage)
    trials = study.get_trials()
    dead = trials[killed]
    assert dead.state == TrialState.FAIL, f"killed trial {killed} is {dead.state.name}"
    assert is_interrupted(dead)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert count_budget(study) == n_trials
    assert len([t for t in trials if not is_interrupted(t)]) == n_trials
    retries = [t for t in trials if t.user_attrs.get(Attr.RETRY_OF) == killed]
    assert len(retries) == 1, f"{len(retries)} retries of trial {killed}"
    assert retries[0].state == TrialState.COMPLETE and retries[0].params == dead.params
    runs = check_trials_match_runs(study, read_back, f"sigkill-{kind}")
    assert runs[killed].info.status == "FAILED"
    # and both say why: the worker died ("interrupted"), not that the trial failed by itself
    assert dead.user_attrs.get(Attr.STOP_REASON) == StopReason.INTERRUPTED, dead.user_attrs
    assert runs[killed].data.tags.get("nnsweep.stop_reason") == "interrupted"


def test_ctrl_c_then_restart_reaches_exactly_the_budget(tmp_path):
    n_trials = 4
    study_file, storage, tracking = write_local_study(
        tmp_path,
        "ctrl-c",
        n_trials=n_trials,
        extra=NO_REFIT,
        **SLOW,
    )
    proc, output = start_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    try:
        study = _study_when_ready("ctrl-c", storage)
        wait_for(
            lambda: (
                any(t.state == TrialState.COMPLETE for t in _trials(study))
                and _running_mid_trial(study)
            ),
            timeout=150,
            interval=0.05,
            what="a complete trial and one running",
        )
        kill_group(proc, signal.SIGINT)  # Ctrl-C in a terminal signals the whole group
        rc = wait_exit(proc, 60, output, "the sweep after Ctrl-C")
    finally:
        kill_group(proc)
    out, err = output()
    assert rc == 130, f"exit {rc}\n{out[-2000:]}\n{err[-3000:]}"
    assert "run the same command again to resume" in out + err
    first = [  # the retries queued for the interrupted trials have not run
        t for t in load_optuna_study("ctrl-c", storage).get_trials() if t.state.name != "WAITING"
    ]
    assert not [t for t in first if t.state == TrialState.RUNNING], "trials left RUNNING"
    interrupted = [t.number for t in first if is_interrupted(t)]
    assert interrupted, "Ctrl-C mid-trial interrupted no trial"
    assert len(first) < n_trials + len(interrupted), "the first run was not cut short"

    proc, output = start_nnsweep(
        "run", study_file, "--no-progress", cwd=tmp_path, log_prefix="again"
    )
    try:
        rc = wait_exit(proc, 150, output, "the resumed sweep")
    finally:
        kill_group(proc)
    out, err = output()
    assert rc == 0, f"exit {rc}\n{out[-2000:]}\n{err[-3000:]}"
    study = load_optuna_study("ctrl-c", storage)
    trials = study.get_trials()
    assert count_budget(study) == n_trials
    assert len([t for t in trials if not is_interrupted(t)]) == n_trials
    for number in interrupted:  # retried once, unless stopped before it sampled anything
        retries = [t for t in trials if t.user_attrs.get(Attr.RETRY_OF) == number]
        assert len(retries) == (1 if trials[number].params else 0), f"trial {number}"
        assert all(r.params == trials[number].params for r in retries)
    check_trials_match_runs(study, tracking, "ctrl-c")


@pytest.mark.parametrize("storage_kind", ["journal", "sqlite"])
def test_concurrent_processes_on_embedded_storage(tmp_path, storage_kind):
    """Three ``nnsweep worker`` processes started at once on one embedded Optuna storage (made
    by them): no "database is locked", no lost trial, exactly the budget. Each syncs the study
    into one new SQLite MLflow store at its end, three writers at once: one MLflow run per
    trial under one parent run."""
    if storage_kind == "journal":
        storage = str(tmp_path / "optuna" / "shared.log")
    else:
        (tmp_path / "optuna").mkdir()
        storage = f"sqlite:///{tmp_path}/optuna/shared.db"
    tracking = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    n_trials = 12  # short trials: the processes write the stores as often as possible
    study_file = write_cli_study(
        tmp_path,
        "shared",
        storage=storage,
        tracking_uri=tracking,
        n_trials=n_trials,
        n_jobs=1,
        extra=NO_REFIT,
    )
    procs = [
        start_nnsweep("worker", study_file, cwd=tmp_path, log_prefix=f"worker{i}")
        for i in range(3)
    ]
    try:
        codes = [wait_exit(p, 180, read, f"worker {i}") for i, (p, read) in enumerate(procs)]
    finally:
        for p, _ in procs:
            kill_group(p)
    outputs = ["\n".join(read()) for _, read in procs]
    for code, text in zip(codes, outputs, strict=True):
        assert "database is locked" not in text.lower(), text[-3000:]
        assert code == 0, f"exit {code}\n{text[-3000:]}"
    study = load_optuna_study("shared", storage)
    trials = study.get_trials()
    assert len(trials) == n_trials and all(t.state == TrialState.COMPLETE for t in trials)
    check_trials_match_runs(study, tracking, "shared")


BAD_CSV = {
    "missing value": ("a,b,label\n1,2,0\n3,,1\n5,6,0\n7,8,1\n", "missing value"),
    "no such label column": ("a,b,target\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n", "label"),
    "one class": ("a,b,label\n1,2,0\n3,4,0\n5,6,0\n7,8,0\n", "class"),
    "empty file": ("", "empty"),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_bad_data_is_a_clear_error_before_the_sweep(tmp_path, monkeypatch, capsys, case):
    text, expected = BAD_CSV[case]
    (tmp_path / "data.csv").write_text(text)
    monkeypatch.chdir(tmp_path)
    study_file = write_cli_study(tmp_path, "bad-data", storage="optuna/bad-data.log", n_jobs=1)
    study_file.write_text(
        study_file.read_text().replace(
            'name = "digits"\nsubset = 240', 'name = "csv"\npath = "data.csv"'
        )
    )
    rc = main(["run", str(study_file), "--no-progress", "--no-tracking"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "data.csv" in err and expected in err.lower(), err
    assert not (tmp_path / "optuna").exists(), "the study was created before the data was checked"
