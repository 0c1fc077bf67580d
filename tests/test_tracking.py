"""The MLflow writer on studies built by hand: what a run holds, live curves, idempotence,
rebuilding a deleted store, one writer at a time, the end of a study, and opening the store.

The sweep itself (worker processes, the writer process, a tracking server killed mid-sweep,
SIGKILL of the command) is in tests/test_tracking_live.py.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from sklearn.datasets import load_digits

from nnsweep import NeuralNetworkClassifier
from nnsweep.compat.optuna import trial_id
from nnsweep.config import load_study
from nnsweep.datasets import Dataset
from nnsweep.study.locks import writer_lock
from nnsweep.study.records import Attr, StudyAttr, TrialRecord, curve_chunk, curves
from nnsweep.sweep import record_study
from nnsweep.tracking import TrackingError
from nnsweep.tracking.follow import sync_study
from nnsweep.tracking.store import absolute_uri, artifact_location, open_store
from nnsweep.tracking.writer import StudyWriter
from tests.support.processes import free_port, run_nnsweep
from tests.support.studyfiles import write_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
REPO = Path(__file__).resolve().parents[1]

TRACKING_STUDY = {
    "description": "tracking test",
    "data": {"subset": 200},
    "estimator": {"max_epochs": 3, "activation": None, "batch_size": None},
    "search_space": {
        "learning_rate": {"low": 0.01, "high": 0.5},
        "hidden_layer_sizes": {"low": 8, "high": 32, "step": 8},
    },
    "budget": None,
    "sampler": None,
    "workers": None,
    "pruner": {"name": "median"},
    "tracking": {"enabled": None},
}


def make_spec(folder: Path, name="tiny", uri=None):
    changes = dict(TRACKING_STUDY, name=name)
    changes["tracking"] = {"enabled": None, "uri": uri or f"sqlite:///{folder}/mlruns/mlflow.db"}
    changes["storage"] = {"url": str(folder / "optuna" / f"{name}.log")}
    return load_study(write_study(folder, name, changes))


def digits_dataset(n=200):
    X, y = load_digits(return_X_y=True)
    X = (X[:n] / 16).astype(np.float32)
    return Dataset("digits", X, y[:n], source="sklearn.datasets.load_digits")


def open_study(spec):
    Path(spec.storage.url).parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(spec.storage.url)
    )
    return optuna.create_study(
        study_name=spec.name,
        storage=storage,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )


def start_trial(study):
    trial = study.ask()
    lr = trial.suggest_float("learning_rate", 0.01, 0.5, log=True)
    units = trial.suggest_int("layer_1_units", 8, 32, step=8)
    trial.set_user_attr(
        Attr.ESTIMATOR_PARAMS, {"learning_rate": lr, "hidden_layer_sizes": (units,)}
    )
    return trial


def live_epochs(trial, values):
    """What the objective's live flush writes: the epochs of ``values`` not yet written, as one
    chunk, with their losses and times."""
    n = len(values)
    record = TrialRecord(
        curve_val_mean=list(values),
        curve_loss_mean=[2.0 / e for e in range(1, n + 1)],
        curve_time=[0.5 * e for e in range(1, n + 1)],
    )
    trial.set_user_attr(*curve_chunk(record, len(curves(trial.user_attrs)[Attr.CURVE_VAL_MEAN])))


def finish_trial(study, trial, outcome, value=0.5, epochs=4, folds=3):
    """Record what the objective records, then tell Optuna the outcome."""
    curve = [value - 0.1 * (epochs - e) / epochs for e in range(1, epochs + 1)]
    reason = {"complete": "completed", "pruned": "pruned", "fail": "diverged"}[outcome]
    record = TrialRecord(
        estimator_params=trial.user_attrs[Attr.ESTIMATOR_PARAMS],
        fold_scores=[value] * folds,
        cv_mean=value,
        cv_std=0.0,
        n_epochs=epochs,
        fit_time=0.25,
        stop_reason=reason,
        error="training diverged: loss became nan (http://u:pw@h)" if outcome == "fail" else "",
        curve_val_mean=curve,
        curve_loss_mean=[2.0 / e for e in range(1, epochs + 1)],
        curve_time=[0.5 * e for e in range(1, epochs + 1)],
        curve_val_folds=[curve] * folds,
    )
    for key, val in record.to_attrs().items():
        trial.set_user_attr(key, val)
    if outcome == "complete":
        return study.tell(trial, value)
    state = TrialState.PRUNED if outcome == "pruned" else TrialState.FAIL
    return study.tell(trial, state=state)


def build_study(folder, name="tiny"):
    """COMPLETE 0.8, PRUNED, FAIL (diverged), COMPLETE 0.9 (best), an interrupted trial (FAIL
    without a record, as the recovery leaves it) and one RUNNING with 2 live epochs."""
    spec = make_spec(folder, name)
    study = open_study(spec)
    record_study(study, spec, digits_dataset())
    for outcome, value, epochs in [("complete", 0.8, 4), ("pruned", 0.3, 2), ("fail", 0.1, 2)]:
        finish_trial(study, start_trial(study), outcome, value, epochs)
    finish_trial(study, start_trial(study), "complete", 0.9, 4)
    dead = start_trial(study)
    study.tell(dead, state=TrialState.FAIL)
    running = start_trial(study)
    live_epochs(running, [0.4, 0.5])
    return spec, study, running


def runs_of(client, writer):
    runs = client.search_runs(
        [writer.experiment_id], f"tags.`mlflow.parentRunId` = '{writer.parent_run_id}'"
    )
    return {int(r.data.tags["optuna.trial_number"]): r for r in runs}


def metric_rows(uri):
    """Every metric row of the SQLite store: (run, key, step, timestamp, value)."""
    path = uri.split(":///", 1)[1]
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT run_uuid, key, step, timestamp, value FROM metrics"))


def content(client, runs):
    """A trial's run as comparable data: params, metrics with their histories, tags, status."""
    out = {}
    for number, run in runs.items():
        histories = {
            key: [
                (m.step, m.timestamp, m.value)
                for m in client.get_metric_history(run.info.run_id, key)
            ]
            for key in run.data.metrics
        }
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        out[number] = (run.data.params, histories, tags, run.info.status, run.info.start_time)
    return out


def synced_writer(spec, study):
    """A new writer connected to ``study`` and synced once, and a client of its store."""
    writer = StudyWriter(spec)
    writer.connect(study)
    writer.sync(study)
    return writer, MlflowClient(writer.uri)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracking")
    spec, study, running = build_study(folder)
    writer, client = synced_writer(spec, study)
    return SimpleNamespace(
        folder=folder,
        spec=spec,
        study=study,
        running=running,
        writer=writer,
        uri=writer.uri,
        client=client,
    )


def test_one_child_run_per_started_trial_under_one_parent(synced):
    client, writer, study = synced.client, synced.writer, synced.study
    runs = runs_of(client, writer)
    assert sorted(runs) == [t.number for t in study.trials]
    statuses = {n: r.info.status for n, r in runs.items()}
    assert statuses == {0: "FINISHED", 1: "KILLED", 2: "FAILED", 3: "FINISHED", 4: "FAILED"} | {
        5: "RUNNING"
    }
    parents = client.search_runs([writer.experiment_id], "tags.`nnsweep.role` = 'study'")
    assert [p.info.run_id for p in parents] == [writer.parent_run_id]
    for t in study.trials:
        run = runs[t.number]
        assert run.info.run_name == f"trial-{t.number:04d}"
        assert run.data.tags["optuna.trial_id"] == str(trial_id(t))
        assert run.data.tags["nnsweep.study"] == "tiny"
        assert run.info.start_time == int(t.datetime_start.timestamp() * 1000)
        assert writer.trials[t.number].run_id == run.info.run_id
    assert not [k for k in study.user_attrs if k.startswith("mlflow_run")]  # found by tags


def test_trial_runs_hold_params_scores_curves_and_why_they_stopped(synced):
    runs, study = runs_of(synced.client, synced.writer), synced.study
    run, trial = runs[0], study.trials[0]
    assert run.data.params["learning_rate"] == str(trial.params["learning_rate"])
    assert run.data.params["layer_1_units"] == str(trial.params["layer_1_units"])
    assert run.data.params["hidden_layer_sizes"] == f"[{trial.params['layer_1_units']}]"
    m = run.data.metrics
    assert m["cv_mean"] == 0.8 and m["cv_std"] == 0.0 and m["n_epochs"] == 4
    assert [m[f"fold_{i}_score"] for i in range(3)] == [0.8] * 3 and m["fit_time"] == 0.25
    history = synced.client.get_metric_history(run.info.run_id, "val_mean")
    start = run.info.start_time
    assert [h.step for h in history] == [1, 2, 3, 4]
    assert [h.timestamp - start for h in history] == [500, 1000, 1500, 2000]  # curve_time
    assert len(synced.client.get_metric_history(run.info.run_id, "loss_mean")) == 4
    assert run.data.tags["nnsweep.stop_reason"] == "completed"
    assert runs[1].data.tags["nnsweep.stop_reason"] == "pruned"
    assert runs[2].data.tags["nnsweep.stop_reason"] == "diverged"
    assert "u:***@h" in runs[2].data.tags["nnsweep.error"]  # secrets masked
    assert runs[4].data.tags["nnsweep.stop_reason"] == "failed"
    for number in range(5):
        assert runs[number].data.tags["nnsweep.synced"] == study.trials[number].state.name


def test_a_running_trial_has_its_live_epochs_and_ends_when_the_trial_ends(tmp_path):
    spec, study, running = build_study(tmp_path, "live")
    writer, client = synced_writer(spec, study)
    run_id = runs_of(client, writer)[running.number].info.run_id
    assert [m.step for m in client.get_metric_history(run_id, "val_mean")] == [1, 2]
    assert client.get_run(run_id).info.status == "RUNNING"
    live_epochs(running, [0.4, 0.5, 0.6])
    writer.sync(study)
    assert [m.step for m in client.get_metric_history(run_id, "val_mean")] == [1, 2, 3]
    finish_trial(study, running, "complete", 0.95, epochs=5)
    writer.sync(study)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["cv_mean"] == 0.95
    steps = [m.step for m in client.get_metric_history(run_id, "val_mean")]
    assert steps == [1, 2, 3, 4, 5], "an epoch pushed live and again at the end is kept once"
    # the parent's best so far: a point at each new best, at step = trial number
    history = client.get_metric_history(writer.parent_run_id, "best_cv_mean")
    assert [(m.step, m.value) for m in history] == [(0, 0.8), (3, 0.9), (running.number, 0.95)]


def test_the_parent_run_has_the_study_its_file_and_the_dataset(synced):
    client, writer = synced.client, synced.writer
    parent = client.get_run(writer.parent_run_id)
    assert parent.info.status == "RUNNING"
    params = parent.data.params
    assert params["metric"] == "accuracy" and params["cv.n_splits"] == "3"
    assert params["space.learning_rate"].startswith("float [0.01, 0.5]")
    assert params["data.digest"] == digits_dataset().digest
    artifacts = [a.path for a in client.list_artifacts(writer.parent_run_id, "study")]
    assert artifacts == ["study/tiny.toml"]
    run = runs_of(client, writer)[0]
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.digest == digits_dataset().digest
    assert dataset.dataset.name == "digits" and "features_shape" in dataset.dataset.profile
    assert parent.data.tags["mlflow.note.content"] == "tracking test"


def test_sync_again_and_restarted_writers_change_nothing(synced):
    before_rows = metric_rows(synced.uri)
    before = content(synced.client, runs_of(synced.client, synced.writer))
    synced.writer.sync(synced.study)  # the same writer, nothing new
    synced.writer.close()  # its writer lock: the next writer takes it
    restarted = StudyWriter(synced.spec)  # a new process: knows only what MLflow and the study say
    restarted.connect(synced.study)
    restarted.sync(synced.study)
    restarted.close()
    assert restarted.parent_run_id == synced.writer.parent_run_id
    assert restarted.counts["created"] == 0 and restarted.counts["finished"] == 0
    assert metric_rows(synced.uri) == before_rows
    assert content(synced.client, runs_of(synced.client, restarted)) == before


def test_a_deleted_store_is_rebuilt_from_the_study(tmp_path):
    spec, study, _ = build_study(tmp_path, "rebuild")
    first, client = synced_writer(spec, study)
    before = content(client, runs_of(client, first))
    first.close()
    shutil.rmtree(tmp_path / "mlruns")  # the whole MLflow store and its artifacts
    rebuilt, client = synced_writer(spec, study)
    after = content(client, runs_of(client, rebuilt))
    assert after == before


def test_a_second_writer_says_who_holds_the_writer_lock(tmp_path):
    """``nnsweep sync`` on a study whose writer lock is held (here by this test, as the sweep's
    writer holds it) refuses and names the holder; ``nnsweep worker``'s end-of-run sync waits
    for it instead (`test_faults.test_concurrent_processes_on_embedded_storage` runs three)."""
    spec, study, _ = build_study(tmp_path, "busy")
    lock = writer_lock(spec)
    lock.acquire(blocking=False)
    lock.note_holder("pid 4242 on elsewhere, `nnsweep run busy.toml`, since 12:00:00")
    try:
        busy = run_nnsweep("sync", spec.path, cwd=tmp_path)
    finally:
        lock.release()
    assert busy.returncode == 2, busy.stdout + busy.stderr
    assert "another MLflow writer of this study is running (pid 4242 on elsewhere" in busy.stderr
    assert str(lock.path) in busy.stderr
    assert MlflowClient(absolute_uri(spec.tracking.uri)).get_experiment_by_name("busy") is None
    free = run_nnsweep("sync", spec.path, cwd=tmp_path)  # once it is free, the same command
    assert free.returncode == 0, free.stdout + free.stderr
    assert f"runs created {len(study.trials)}" in free.stdout


@pytest.mark.parametrize("model_format", ["cloudpickle", "skops"])
def test_the_end_registers_a_model_that_loads_and_predicts_the_same(
    tmp_path, monkeypatch, model_format
):
    spec, study, running = build_study(tmp_path, "ending")
    spec = load_study(spec.path, overrides={"tracking.model_format": model_format})
    finish_trial(study, running, "pruned", 0.2, epochs=2)
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16, y[:200]
    model = NeuralNetworkClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(
        X, y
    )
    out = tmp_path / "out"
    out.mkdir()
    import joblib

    joblib.dump(model, out / "model.joblib")
    np.save(out / "X_example.npy", X[:5])
    best = study.best_trial
    study.set_user_attr(
        StudyAttr.RESULT,
        {
            "best_params": best.user_attrs[Attr.ESTIMATOR_PARAMS],
            "best_value": best.value,
            "best_trial_number": best.number,
            "test_score": 0.75,
            "test_metric": "accuracy",
            "n_complete": 2,
            "n_pruned": 2,
            "n_failed": 2,
            "n_interrupted": 1,
            "wall_time": 3.5,
            "test_mean": 0.74,
            "test_std": 0.01,
            "test_interval": {"low": 0.70, "high": 0.79, "half_width": 0.045, "n": 450},
            "ensemble_score": 0.76,
            "registered": "seed 0",
            "test_trials": [best.number, best.number],
            "test_seeds": [0, 1],
            "within_noise": [{"trial": best.number, "value": best.value, "p": 1.0}],
            "chosen": {"rule": "best", "trial": best.number, "value": best.value},
            "converged": {"improvement": 0.001, "noise": 0.004, "window": 10, "n_complete": 2},
            "warnings": ["the best learning_rate (0.0201) is at the lower bound 0.02"],
            "model_path": str(out / "model.joblib"),
            "finished_at": time.time(),
        },
    )
    writer = StudyWriter(spec)
    import matplotlib

    style = dict(matplotlib.rcParams)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    counts = sync_study(writer, study)  # everything ended: the study's end is logged too
    assert os.environ.get("MLFLOW_TRACKING_URI") == previous  # global state restored
    assert dict(matplotlib.rcParams) == style  # Optuna's plot style did not leak
    assert counts["created"] == len(study.trials)
    client = MlflowClient(writer.uri)
    run = client.get_run(writer.parent_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["best_cv_mean"] == 0.9 and run.data.metrics["test_score"] == 0.75
    assert run.data.metrics["n_failed"] == 2 and run.data.metrics["wall_time"] == 3.5
    assert run.data.metrics["n_interrupted"] == 1 and run.data.tags["nnsweep.warnings"] == "1"
    metrics, tags = run.data.metrics, run.data.tags  # the answer's uncertainty (#20, #21)
    assert (metrics["test_mean"], metrics["test_std"], metrics["ensemble_score"]) == (
        0.74,
        0.01,
        0.76,
    )
    assert (metrics["test_ci_low"], metrics["test_ci_high"]) == (0.70, 0.79)
    assert metrics["n_within_noise"] == 1 and metrics["converged_noise"] == 0.004
    assert tags["nnsweep.registered"] == "seed 0"
    assert tags["nnsweep.refit_trial"] == f"{best.number} (best)"
    assert tags["nnsweep.refits"] == f"#{best.number} seed 0, #{best.number} seed 1"
    children = client.search_runs([writer.experiment_id], "tags.`optuna.trial_number` != ''")
    tagged = {
        int(r.data.tags["optuna.trial_number"]): r.data.tags.get("nnsweep.within_noise")
        for r in children
    }
    finished = [t.number for t in study.trials if t.state.is_finished()]
    assert {n: tagged[n] for n in finished} == {
        n: "true" if n == best.number else "false" for n in finished
    }
    assert "Warning: the best learning_rate (0.0201)" in run.data.tags["mlflow.note.content"]
    assert run.data.params["best.hidden_layer_sizes"] == f"[{best.params['layer_1_units']}]"
    plots = {a.path for a in client.list_artifacts(writer.parent_run_id, "plots")}
    for name in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert f"plots/{name}.png" in plots
    assert "plots/learning_curves.png" in plots
    version = client.get_model_version_by_alias("nnsweep-ending", "best")
    assert str(version.version) == "1" and version.tags["nnsweep.study"] == "ending"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", writer.uri)
    loaded = mlflow.sklearn.load_model("models:/nnsweep-ending@best")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    pyfunc = mlflow.pyfunc.load_model("models:/nnsweep-ending@best")
    np.testing.assert_array_equal(pyfunc.predict(X), model.predict(X))
    model_dir = Path(mlflow.artifacts.download_artifacts("models:/nnsweep-ending@best"))
    assert f"serialization_format: {model_format}" in (model_dir / "MLmodel").read_text()
    # synced again: the model is not registered twice
    sync_study(StudyWriter(spec), study)
    assert str(client.get_model_version_by_alias("nnsweep-ending", "best").version) == "1"


def test_a_deleted_experiment_is_a_clear_error(tmp_path):
    spec, study, _ = build_study(tmp_path, "gone")
    writer = StudyWriter(spec)
    writer.connect(study)
    writer.client.delete_experiment(writer.experiment_id)
    writer.close()
    with pytest.raises(TrackingError, match="is deleted; restore it"):
        StudyWriter(spec).connect(study)


def test_uri_is_made_absolute_and_artifacts_live_beside_a_sqlite_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "mlruns" / "mlflow.db"
    assert absolute_uri("sqlite:///mlruns/mlflow.db") == f"sqlite:///{db}"
    assert artifact_location(f"sqlite:///{db}") == (tmp_path / "mlruns" / "artifacts").as_uri()
    assert artifact_location("http://h:5000") is None
    assert absolute_uri("http://h:5000") == "http://h:5000"


def test_the_writer_side_imports_no_sweep():
    code = (
        "import sys, nnsweep.tracking.writer, nnsweep.tracking.follow; "
        "print('nnsweep.sweep' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_command_imports_no_mlflow_while_its_writer_opens_the_store(tmp_path):
    """``nnsweep run`` waits for its writer's answer before training; the command's own process
    never imports MLflow (``import mlflow`` takes seconds: the writer's process pays it)."""
    spec = make_spec(tmp_path, "answer")
    code = (
        "import sys; from nnsweep.config import load_study; "
        "from nnsweep.tracking.follow import start_writer; "
        f"w = start_writer(load_study({spec.path!r})); "
        "print(repr(w.checked()), 'mlflow' in sys.modules); w.close(30)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["None", "False"], out.stderr[-2000:]
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()  # the writer made the store


def test_open_store_fails_fast_on_a_closed_port_without_the_password():
    uri = f"http://someone:hunter2@127.0.0.1:{free_port()}"
    start = time.perf_counter()
    with pytest.raises(TrackingError, match="unreachable") as info:
        open_store(uri)
    message = str(info.value)
    assert "hunter2" not in message and "someone:***@127.0.0.1" in message
    assert time.perf_counter() - start < 30  # no long retry loop


def test_open_store_refuses_in_memory_sqlite_and_file_stores(tmp_path, monkeypatch):
    with pytest.raises(TrackingError, match="in-memory"):
        open_store("sqlite:///:memory:")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(TrackingError, match="legacy file store"):
        open_store(absolute_uri(str(tmp_path / "mlruns")))


def test_open_store_refuses_a_sqlite_folder_it_cannot_create_or_a_broken_file(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(TrackingError, match="not writable"):
        open_store(f"sqlite:///{tmp_path}/a-file/mlruns/mlflow.db")
    (tmp_path / "bad.db").write_text("this is not a database" * 100)
    with pytest.raises(TrackingError, match="unusable"):
        open_store(f"sqlite:///{tmp_path}/bad.db")


@pytest.mark.parametrize("status, message", [(401, "refused access"), (404, "HTTP 404")])
def test_open_store_tells_a_non_mlflow_or_locked_server(status, message):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen["auth"] = self.headers.get("Authorization")
            self.send_response(status)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        uri = f"http://me:hunter2@127.0.0.1:{server.server_address[1]}"
        with pytest.raises(TrackingError, match=message) as info:
            open_store(uri)
        assert "hunter2" not in str(info.value)
        assert seen["auth"].startswith("Basic ")  # the URL's credentials, as MLflow sends them
    finally:
        server.shutdown()
        server.server_close()


def test_make_ui_links_go_to_each_studys_runs_page(synced):
    from nnsweep.tracking.links import runs_pages

    pages = runs_pages(synced.uri, "http://127.0.0.1:5000/")
    expected = f"http://127.0.0.1:5000/#/experiments/{synced.writer.experiment_id}/runs"
    assert ("tiny", expected) in pages
    assert runs_pages(f"sqlite:///{synced.folder}/none.db", "http://x") == []


def test_a_new_sqlite_store_is_whole_or_absent(tmp_path, monkeypatch):
    """A new store is a copy of an empty one, linked into place when whole: a writer killed
    before that leaves no half-made store (here: dying just before the link)."""
    from nnsweep.tracking import store

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"

    def die(*_):
        raise KeyboardInterrupt("killed while the store is made")

    monkeypatch.setattr(store.os, "link", die)
    with pytest.raises(KeyboardInterrupt):
        open_store(uri)
    assert list((tmp_path / "mlruns").iterdir()) == []  # nor a temporary file
    monkeypatch.undo()
    client = open_store(uri)  # a later writer makes it, whole
    assert [e.name for e in client.search_experiments()] == ["Default"]


def test_without_a_writable_cache_the_empty_store_is_made_beside_the_store(tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    client = open_store(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert [p.name for p in (tmp_path / "mlruns").glob(".mlflow-*-empty.db")] != []


def test_a_copied_store_is_the_store_mlflows_migrations_make(tmp_path, monkeypatch):
    """The copy of the empty store, once MLflow opened it, has the tables, indexes, schema
    version and Default experiment that MLflow's own migrations give a new store in the same
    folder (up to the order of a table's constraints, which varies between MLflow's runs)."""
    monkeypatch.chdir(tmp_path)
    migrated, copied = tmp_path / "migrated.db", tmp_path / "copied.db"
    MlflowClient(f"sqlite:///{migrated}").search_experiments()  # MLflow's own path
    open_store(f"sqlite:///{copied}")

    def contents(path):
        with sqlite3.connect(path) as db:
            schema = {
                (kind, name, tuple(sorted(p.strip(" ,") for p in (sql or "").splitlines())))
                for kind, name, sql in db.execute("SELECT type, name, sql FROM sqlite_master")
            }
            version = db.execute("SELECT version_num FROM alembic_version").fetchall()
            rows = db.execute("SELECT experiment_id, name, artifact_location FROM experiments")
            return schema, version, rows.fetchall()

    assert contents(copied) == contents(migrated)


def _print_tracking_of(code, experiment="1"):
    """What the command prints about MLflow after a sweep whose writer ended with ``code``."""
    from types import SimpleNamespace

    from nnsweep.cli.commands import _print_tracking

    spec = SimpleNamespace(path="studies/x.toml", tracking=SimpleNamespace(uri="sqlite:///m.db"))
    _print_tracking(spec, SimpleNamespace(tracking_code=code, mlflow_experiment_id=experiment))


@pytest.mark.parametrize("code", [None, 1])
def test_a_writer_that_did_not_finish_is_told_with_the_sync_command(code, capsys):
    """The writer says itself when it gives up (exit 3); when the command had to end it (still
    retrying at its time limit) or it failed, the command says how to catch up."""
    _print_tracking_of(code)
    err = capsys.readouterr().err
    assert "run `nnsweep sync studies/x.toml`" in err
    assert ("time limit" in err) == (code is None)


def test_a_writer_that_finished_prints_where_the_runs_are(capsys):
    _print_tracking_of(0, experiment="7")
    out, err = capsys.readouterr()
    assert "#/experiments/7/runs" in out and "nnsweep sync" not in err
