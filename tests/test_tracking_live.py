"""The MLflow writer during real sweeps, on the command line (each in its own process group):

* a 2-worker sweep: one child run per trial with its content, and no worker process ever
  imports mlflow (an import hook in the workers would make it fail, and says it ran);
* live: while a long trial trains, its run exists and has step metrics;
* a real ``mlflow server`` killed mid-sweep and restarted on the same port: the sweep goes on,
  the writer says it is behind, catches up, and every trial has exactly one run;
* the command killed with SIGKILL mid-sweep, then run again: one run per trial, one parent;
* ``nnsweep sync`` after workers added by hand (which never touch MLflow);
* the sweep's writer while another writer holds the study's writer lock: it says who, and
  takes over once the lock is free.
"""

import signal
import textwrap
import time

import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from nnsweep.config import load_study
from nnsweep.study.locks import writer_lock
from nnsweep.study.records import Attr
from nnsweep.sweep import count_budget
from tests.support.mlflow_server import start_mlflow_server
from tests.support.processes import (
    kill_group,
    run_nnsweep,
    start_nnsweep,
    subprocess_env,
    wait_exit,
    wait_for,
)
from tests.support.readback import (
    check_trials_match_runs,
    load_optuna_study,
    mlflow_runs,
    trial_run,
    trials_now,
)
from tests.support.studyfiles import NO_REFIT, write_cli_study, write_local_study

pytest_plugins = ["tests.support.postgres"]
pytestmark = pytest.mark.slow

# Installed in every process of the sweep through PYTHONPATH: in a loky worker, importing
# mlflow raises (so the trial fails and the test sees it), and the worker leaves a file
# saying the hook was there, so the check cannot pass by the hook not running.
SITECUSTOMIZE = textwrap.dedent(
    """
    import os, sys
    if "--process-name" in sys.argv:  # a loky worker: python -m ...popen_loky_posix
        open(os.path.join(os.environ["NNSWEEP_HOOK_DIR"], f"worker-{os.getpid()}"), "w").close()

        class _NoMlflow:
            def find_spec(self, name, path=None, target=None):
                if name == "mlflow" or name.startswith("mlflow."):
                    open(os.path.join(os.environ["NNSWEEP_HOOK_DIR"], "IMPORTED"), "w").close()
                    raise ImportError("a worker process imported mlflow")
                return None

        sys.meta_path.insert(0, _NoMlflow())
    """
)


def _client(tracking):
    return MlflowClient(tracking)


def test_two_worker_sweep_logs_each_trial_once_and_workers_never_import_mlflow(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    study_file, storage, tracking = write_local_study(tmp_path, "two", n_trials=6, n_jobs=2)
    env = subprocess_env(NNSWEEP_HOOK_DIR=str(hook))
    env["PYTHONPATH"] = f"{hook}:{env['PYTHONPATH']}"
    done = run_nnsweep("run", study_file, "--no-progress", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    workers = list(hook.glob("worker-*"))
    assert len(workers) >= 2, "the import hook did not run in the worker processes"
    assert not (hook / "IMPORTED").exists(), "a worker process imported mlflow"
    # not a checkout of nnsweep: the hint names the command that works there
    assert "MLflow runs: `nnsweep ui`, then http://127.0.0.1:5000/#/experiments/" in done.stdout

    study = load_optuna_study("two", storage)
    assert all(t.state != TrialState.FAIL for t in study.trials), [
        t.user_attrs.get(Attr.ERROR) for t in study.trials
    ]
    runs = check_trials_match_runs(study, tracking, "two")
    client = _client(tracking)
    for t in study.trials:
        run = runs[t.number]
        assert run.data.params["max_epochs"] == "4" and "learning_rate" in run.data.params
        assert {"cv_mean", "cv_std", "fold_0_score", "fit_time", "n_epochs"} <= set(
            run.data.metrics
        )
        assert run.data.metrics["cv_mean"] == pytest.approx(t.user_attrs[Attr.CV_MEAN])
        history = client.get_metric_history(run.info.run_id, "val_mean")
        assert [m.step for m in history] == list(range(1, t.user_attrs[Attr.N_EPOCHS] + 1))
        assert run.data.tags["nnsweep.stop_reason"] == t.user_attrs[Attr.STOP_REASON]
        assert run.inputs.dataset_inputs, "no dataset input"
    parents, _ = mlflow_runs(tracking, "two")
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert "best_cv_mean" in parent.data.metrics and "n_complete" in parent.data.metrics


def test_a_running_trial_is_live_in_mlflow(tmp_path):
    study_file, storage, tracking = write_local_study(
        tmp_path,
        "live",
        n_trials=1,
        n_jobs=1,
        subset=1000,
        batch_size=4,
        max_epochs=400,  # a trial of about 10 s here
        hidden=(128, 128),
        extra=NO_REFIT,
    )
    proc, output = start_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    seen = {}
    try:

        def live_run():
            try:
                study = load_optuna_study("live", storage)
                (trial,) = study.get_trials(deepcopy=False)
            except Exception:
                return False
            if trial.state != TrialState.RUNNING:
                raise AssertionError(f"trial ended ({trial.state.name}) before MLflow showed it")
            run = trial_run(tracking, "live", 0)
            if run is None:
                return False
            steps = _client(tracking).get_metric_history(run.info.run_id, "val_mean")
            if run.info.status == "RUNNING" and len(steps) >= 2:
                seen.update(steps=len(steps), epochs=len(trial.intermediate_values))
                return True
            return False

        wait_for(live_run, timeout=120, interval=0.2, what="the running trial's live metrics")
        rc = wait_exit(proc, 240, output, "the sweep")
    finally:
        kill_group(proc)
    out, err = output()
    assert rc == 0, out[-2000:] + err[-3000:]
    study = load_optuna_study("live", storage)
    assert study.trials[0].state == TrialState.COMPLETE
    assert seen["steps"] < study.trials[0].user_attrs[Attr.N_EPOCHS]  # seen before the end
    check_trials_match_runs(study, tracking, "live")


def test_a_tracking_server_killed_mid_sweep_loses_nothing(tmp_path, postgres):
    backend = postgres.url(postgres.create_database("mlflowkill"))
    server = start_mlflow_server(backend)
    port = server.port
    storage = str(tmp_path / "optuna" / "away.log")
    n_trials = 8
    study_file = write_cli_study(
        tmp_path,
        "away",
        storage=storage,
        tracking_uri=server.url,
        n_trials=n_trials,
        n_jobs=2,
        subset=600,
        batch_size=8,
        max_epochs=12,
        extra=NO_REFIT,
    )
    proc, output = start_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    try:
        wait_for(lambda: _finished(storage, "away") >= 2, timeout=150, what="two finished trials")
        server.stop()  # mid-sweep: the writer cannot reach it
        wait_for(
            lambda: _finished(storage, "away") >= 4, timeout=150, what="trials while it is away"
        )
        server = start_mlflow_server(backend, port=port)  # back, same address
        rc = wait_exit(proc, 240, output, "the sweep")
    finally:
        kill_group(proc)
        server.stop()
    out, err = output()
    assert rc == 0, out[-2000:] + err[-3000:]
    assert "trial(s) behind" in err, err[-3000:]
    server = start_mlflow_server(backend, port=port)
    try:
        if "caught up" not in err:  # the server came back after the sweep's end: as documented
            # said by the writer (it gave up) or by the command (it ended a writer still trying)
            assert "run `nnsweep sync" in err, err[-3000:]
            synced = run_nnsweep("sync", study_file, "--tracking-uri", server.url, cwd=tmp_path)
            assert synced.returncode == 0, synced.stdout[-2000:] + synced.stderr[-3000:]
        study = load_optuna_study("away", storage)
        assert count_budget(study) == n_trials
        check_trials_match_runs(study, server.url, "away")
    finally:
        server.stop()


def _finished(storage, name):
    return sum(t.state.is_finished() for t in trials_now(storage, name))


def test_sigkill_of_the_command_then_a_rerun_keeps_one_run_per_trial(tmp_path):
    study_file, storage, tracking = write_local_study(
        tmp_path,
        "killed",
        n_trials=6,
        n_jobs=2,
        subset=600,
        batch_size=8,
        max_epochs=10,
        extra=NO_REFIT,
    )
    proc, output = start_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    try:
        wait_for(lambda: _finished(storage, "killed") >= 2, timeout=150, what="two trials")
        kill_group(proc, signal.SIGKILL)  # the command, its workers and its writer at once
        proc.wait(timeout=30)
    finally:
        kill_group(proc)
    time.sleep(0.5)
    again = run_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    study = load_optuna_study("killed", storage)
    assert count_budget(study) == 6
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    check_trials_match_runs(study, tracking, "killed")


def test_sync_puts_the_trials_of_workers_added_by_hand_in_mlflow(tmp_path):
    study_file, storage, tracking = write_local_study(tmp_path, "byhand", n_trials=4, n_jobs=1)
    done = run_nnsweep("worker", study_file, "--no-tracking", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()  # trials in the study only
    synced = run_nnsweep("sync", study_file, cwd=tmp_path)
    assert synced.returncode == 0, synced.stdout[-2000:] + synced.stderr[-3000:]
    assert "runs created 4" in synced.stdout
    study = load_optuna_study("byhand", storage)
    check_trials_match_runs(study, tracking, "byhand")
    again = run_nnsweep("sync", study_file, cwd=tmp_path)
    assert "runs created 0, finished 0" in again.stdout


def test_the_sweeps_writer_says_who_holds_the_writer_lock_and_takes_over(tmp_path):
    """Another writer (here this test, as a ``nnsweep sync --follow`` would) holds the study's
    writer lock when the sweep starts: the sweep trains all the same, its writer says who
    holds the lock, and once it is free puts every trial in MLflow."""
    study_file, storage, tracking = write_local_study(tmp_path, "taken", n_trials=4, n_jobs=1)
    lock = writer_lock(load_study(study_file))
    assert lock.acquire(blocking=False)
    lock.note_holder("pid 4242 on elsewhere, `nnsweep sync taken.toml --follow`, since 12:00")
    proc, output = start_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    try:
        wait_for(lambda: _finished(storage, "taken") >= 1, timeout=150, what="a finished trial")
        wait_for(
            lambda: "another MLflow writer of this study is running (pid 4242" in output()[1],
            timeout=60,
            what="the writer saying who holds the lock",
        )
        assert trial_run(tracking, "taken", 0) is None  # nothing written meanwhile
        lock.release()
        rc = wait_exit(proc, 240, output, "the sweep")
    finally:
        lock.release()
        kill_group(proc)
    out, err = output()
    assert rc == 0, out[-2000:] + err[-3000:]
    check_trials_match_runs(load_optuna_study("taken", storage), tracking, "taken")
