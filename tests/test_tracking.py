import os
import pickle
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import optuna
import pytest
from joblib import Parallel, delayed
from mlflow import MlflowClient
from optuna.trial import TrialState
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from nnsweep import NeuralNetworkClassifier
from nnsweep.config import DEFAULT_TRACKING_URI, load_study
from nnsweep.datasets import Dataset
from nnsweep.tracking import MLflowTracker, TrackingError
from tests.studyfiles import write_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

# The tiny study of tests/studyfiles.py, with the sections these tests drive by hand left
# to their defaults, and a tracking URI whose password must never show.
TRACKING_STUDY = {
    "description": "tracking test",
    "data": {"subset": 200},
    "estimator": {"max_epochs": 3, "activation": None, "batch_size": None},
    "search_space": {
        "learning_rate": {"low": 0.01, "high": 0.5},
        "n_hidden": {"low": 8, "high": 32, "step": 8},
    },
    "budget": None,
    "sampler": None,
    "workers": None,
    "pruner": {"name": "median"},
    "tracking": {"enabled": None, "uri": "http://someone:hunter2@example.invalid:5000"},
}


def make_spec(folder: Path, name="tiny"):
    return load_study(write_study(folder, name, TRACKING_STUDY))


def digits_dataset(n=200):
    X, y = load_digits(return_X_y=True)
    X = (X[:n] / 16).astype(np.float32)
    return Dataset("digits", X, y[:n], source="sklearn.datasets.load_digits")


def journal_study(path: Path, name="tiny"):
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )


def run_trial(study, tracker, outcome, value=0.5, epochs=4, folds=3, started=True):
    """ask, (trial_started), record what the objective records, tell, callback."""
    trial = study.ask()
    lr = trial.suggest_float("learning_rate", 0.01, 0.5, log=True)
    n_hidden = trial.suggest_int("n_hidden", 8, 32, step=8)
    if started:
        tracker.trial_started(study, trial)
    curve = [value - 0.1 * (epochs - e) / epochs for e in range(1, epochs + 1)]
    attrs = {
        "estimator_params": {"learning_rate": lr, "n_hidden": n_hidden, "max_epochs": 3},
        "curve_val_mean": curve,
        "curve_loss_mean": [2.0 / e for e in range(1, epochs + 1)],
        "curve_val_folds": [curve] * folds,
        "fold_scores": [value] * folds,
        "cv_mean": value,
        "cv_std": 0.0,
        "n_epochs": epochs,
        "fit_time": 0.25,
        "stop_reason": {"complete": "completed", "pruned": "pruned", "fail": "diverged"}[outcome],
    }
    if outcome == "fail":
        attrs["error"] = "training diverged: loss became nan in epoch 2 (http://u:pw@h)"
    for key, val in attrs.items():
        trial.set_user_attr(key, val)
    if outcome == "complete":
        frozen = study.tell(trial, value)
    else:
        state = TrialState.PRUNED if outcome == "pruned" else TrialState.FAIL
        frozen = study.tell(trial, state=state)
    tracker(study, frozen)
    return frozen


def child_runs(client, tracker):
    return client.search_runs(
        [tracker.experiment_id], f"tags.`mlflow.parentRunId` = '{tracker.parent_run_id}'"
    )


def by_trial(runs):
    return {int(r.data.tags["optuna.trial_number"]): r for r in runs}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One study logged by hand: COMPLETE, PRUNED, FAIL (diverged), COMPLETE (best, logged
    twice), and a FAIL whose trial_started never ran."""
    folder = tmp_path_factory.mktemp("tracking")
    spec = make_spec(folder)
    uri = f"sqlite:///{folder}/mlflow.db"
    tracker = MLflowTracker(spec, digits_dataset(), tracking_uri=uri)
    tracker.check_reachable()
    study = journal_study(folder / "optuna" / "tiny.log")
    parent = tracker.start(study)
    frozen = [
        run_trial(study, tracker, "complete", 0.8),
        run_trial(study, tracker, "pruned", 0.3, epochs=2),
        run_trial(study, tracker, "fail", 0.1, epochs=2),
        run_trial(study, tracker, "complete", 0.9),
        run_trial(study, tracker, "fail", 0.0, epochs=1, started=False),
    ]
    tracker(study, frozen[3])  # a second callback for the same trial: no duplicate
    return SimpleNamespace(
        folder=folder,
        spec=spec,
        uri=uri,
        tracker=tracker,
        study=study,
        parent=parent,
        frozen=frozen,
        client=MlflowClient(tracking_uri=uri),
    )


def test_uri_precedence_explicit_then_study_file_then_environment(tmp_path, monkeypatch):
    spec = make_spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env-host:5000")
    assert MLflowTracker(spec, tracking_uri="http://cli:1").tracking_uri == "http://cli:1"
    assert MLflowTracker(spec).tracking_uri == spec.tracking.uri  # set in the study file
    default = load_study(tmp_path / "tiny.toml", overrides={"tracking.uri": DEFAULT_TRACKING_URI})
    assert MLflowTracker(default).tracking_uri == "http://env-host:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    tracker = MLflowTracker(default)
    db = tmp_path / "mlruns" / "mlflow.db"
    assert tracker.tracking_uri == f"sqlite:///{db}"  # absolute: workers may have another cwd
    assert tracker.artifact_location == (tmp_path / "mlruns" / "artifacts").as_uri()
    assert MLflowTracker(spec, tracking_uri="http://h:5000").artifact_location is None


def test_tracker_pickles_without_client_or_arrays(logged):
    tracker = logged.tracker
    assert tracker.client is not None
    blob = pickle.dumps(tracker)
    assert len(blob) < 20_000  # config only: no data set arrays, no client
    copy = pickle.loads(blob)
    assert copy._client is None and copy.parent_run_id == logged.parent
    assert copy.dataset_info["digest"] == digits_dataset().digest


def test_one_child_run_per_trial_under_one_parent(logged):
    client, tracker = logged.client, logged.tracker
    parents = client.search_runs(
        [tracker.experiment_id], "tags.`nnsweep.role` = 'study' AND tags.`nnsweep.study` = 'tiny'"
    )
    assert [r.info.run_id for r in parents] == [logged.parent]
    runs = child_runs(client, tracker)
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in runs) == [0, 1, 2, 3, 4]
    for frozen in logged.frozen[:4]:  # the run id on the trial, the trial number on the run
        trial = logged.study.trials[frozen.number]
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.tags["optuna.trial_number"] == str(frozen.number)
        assert run.info.run_name == f"trial-{frozen.number:04d}"
    # trial 4 never started its run: finished trials cannot take user attributes, its run
    # was created by the callback and is found by its tags
    assert "mlflow_run_id" not in logged.study.trials[4].user_attrs
    assert by_trial(runs)[4].info.run_name == "trial-0004"
    assert logged.study.user_attrs["mlflow_parent_run_id"] == logged.parent
    assert logged.study.user_attrs["mlflow_experiment_id"] == tracker.experiment_id


def test_trial_runs_have_status_params_metrics_and_tags(logged):
    runs = by_trial(child_runs(logged.client, logged.tracker))
    statuses = {n: r.info.status for n, r in runs.items()}
    assert statuses == {0: "FINISHED", 1: "KILLED", 2: "FAILED", 3: "FINISHED", 4: "FAILED"}
    reasons = {n: r.data.tags["nnsweep.stop_reason"] for n, r in runs.items()}
    assert reasons == {0: "completed", 1: "pruned", 2: "diverged", 3: "completed", 4: "diverged"}
    assert runs[1].data.tags["optuna.trial_state"] == "PRUNED"
    assert "loss became nan" in runs[2].data.tags["nnsweep.error"]
    assert "pw@" not in runs[2].data.tags["nnsweep.error"]  # URLs in errors are redacted
    best = runs[3].data
    assert best.params["max_epochs"] == "3" and float(best.params["learning_rate"]) > 0
    assert best.metrics["cv_mean"] == 0.9 and best.metrics["cv_std"] == 0.0
    assert best.metrics["fold_2_score"] == 0.9 and best.metrics["n_epochs"] == 4
    assert best.metrics["fit_time"] == 0.25
    tags = best.tags
    assert tags["optuna.study_name"] == "tiny" and tags["nnsweep.study"] == "tiny"
    assert tags["nnsweep.sampler"] == "tpe" and tags["nnsweep.pruner"] == "median"
    assert tags["nnsweep.data"] == "digits" and tags["nnsweep.data_digest"]


def test_epoch_curves_are_step_metrics_logged_once(logged):
    client = logged.client
    run_id = logged.study.trials[3].user_attrs["mlflow_run_id"]  # its callback ran twice
    history = client.get_metric_history(run_id, "val_mean")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert history[-1].value == pytest.approx(0.9)
    assert len(client.get_metric_history(run_id, "loss_mean")) == 4
    # per-fold curves stay on the Optuna trial (5/7 of the rows); the fold scores are here
    assert "val_fold_2" not in client.get_run(run_id).data.metrics
    assert client.get_run(run_id).data.metrics["fold_2_score"] == pytest.approx(0.9)
    assert len(client.get_metric_history(run_id, "cv_mean")) == 1


def test_dataset_is_an_input_of_each_trial_run(logged):
    for number in (0, 3):  # trial 3's callback ran twice: still one input
        run = logged.client.get_run(logged.study.trials[number].user_attrs["mlflow_run_id"])
        [dataset_input] = run.inputs.dataset_inputs
        assert dataset_input.dataset.name == "digits"
        assert dataset_input.dataset.digest == digits_dataset().digest
        assert '"shape": [-1, 64]' in dataset_input.dataset.schema.replace("\\", "")
        assert dataset_input.tags[0].value == "training"


def test_sqlite_store_is_in_wal_mode(logged):
    import sqlite3

    with sqlite3.connect(logged.folder / "mlflow.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    engine = logged.tracker.client._tracking_client.store.engine
    with engine.connect() as connection:  # commits do not wait for fsync
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_parent_run_has_study_file_params_and_best_so_far(logged):
    client, parent = logged.client, logged.parent
    run = client.get_run(parent)
    params = run.data.params
    assert params["sampler.name"] == "tpe" and params["pruner.name"] == "median"
    assert params["cv.n_splits"] == "3" and params["metric"] == "accuracy"
    assert params["data.name"] == "digits" and params["data.digest"] == digits_dataset().digest
    assert params["budget.n_trials"] == "20"
    artifacts = [a.path for a in client.list_artifacts(parent, "study")]
    assert artifacts == ["study/tiny.toml"]
    history = client.get_metric_history(parent, "best_cv_mean")
    assert [(m.step, m.value) for m in history] == [(0, 0.8), (3, 0.9)]
    # no unredacted URI anywhere in params or tags
    text = repr(run.data.params) + repr(run.data.tags)
    text += Path(client.download_artifacts(parent, "study/tiny.toml")).read_text()
    assert "hunter2" not in text and "someone:***@" in text


def test_start_again_reuses_the_parent_run(logged):
    tracker = MLflowTracker(logged.spec, digits_dataset(), tracking_uri=logged.uri)
    study = journal_study(logged.folder / "optuna" / "tiny.log")
    assert tracker.start(study) == logged.parent
    trial = study.ask()
    tracker.trial_started(study, trial)
    tracker.trial_started(study, trial)  # idempotent: the trial has its run id
    study.tell(trial, state=TrialState.FAIL)
    runs = child_runs(logged.client, tracker)
    assert [int(r.data.tags["optuna.trial_number"]) for r in runs].count(trial.number) == 1
    assert logged.client.get_run(logged.parent).info.status == "RUNNING"


def test_resume_logs_the_trials_a_stopped_sweep_left_unlogged(logged, tmp_path):
    spec = make_spec(tmp_path, name="stopped")
    tracker = MLflowTracker(spec, tracking_uri=logged.uri)
    study = journal_study(tmp_path / "stopped.log", name="stopped")
    tracker.start(study)
    run_trial(study, tracker, "complete", 0.6)  # logged normally
    cut = study.ask()  # Ctrl-C after Optuna was told, before the callback ended
    tracker.trial_started(study, cut)
    cut.set_user_attr("cv_mean", 0.7)
    study.tell(cut, 0.7)
    never = study.ask()  # killed before trial_started ended: no run, no run id
    study.tell(never, state=TrialState.PRUNED)
    runs = by_trial(child_runs(tracker.client, tracker))
    assert runs[1].info.status == "RUNNING" and 2 not in runs

    resumed = MLflowTracker(spec, tracking_uri=logged.uri)
    assert resumed.start(journal_study(tmp_path / "stopped.log", name="stopped")) == (
        tracker.parent_run_id
    )
    runs = by_trial(child_runs(tracker.client, tracker))
    assert {n: r.info.status for n, r in runs.items()} == {
        0: "FINISHED",
        1: "FINISHED",
        2: "KILLED",
    }
    assert runs[1].data.metrics["cv_mean"] == 0.7
    assert len(child_runs(tracker.client, tracker)) == 3


def test_catch_up_ends_the_runs_a_failed_callback_left_running(logged, tmp_path):
    """What ``nnsweep worker`` runs last: a finished trial's run still RUNNING is ended."""
    spec = make_spec(tmp_path, name="caught")
    tracker = MLflowTracker(spec, tracking_uri=logged.uri)
    study = journal_study(tmp_path / "caught.log", name="caught")
    tracker.start(study)
    trial = study.ask()
    tracker.trial_started(study, trial)
    trial.set_user_attr("cv_mean", 0.8)
    study.tell(trial, 0.8)  # its callback never ran (failed, say, with a warning)
    running = study.ask()  # still running: left alone
    tracker.trial_started(study, running)
    tracker.catch_up(study)
    runs = by_trial(child_runs(tracker.client, tracker))
    assert {n: r.info.status for n, r in runs.items()} == {0: "FINISHED", 1: "RUNNING"}
    assert runs[0].data.metrics["cv_mean"] == 0.8
    tracker.catch_up(study)  # idempotent
    assert len(child_runs(tracker.client, tracker)) == 2


def test_a_new_study_under_the_same_name_gets_its_own_parent(logged, tmp_path):
    tracker = MLflowTracker(make_spec(tmp_path, name="renewed"), tracking_uri=logged.uri)
    first = tracker.start(journal_study(tmp_path / "first.log"))
    assert tracker.start(journal_study(tmp_path / "first.log")) == first  # resumed
    fresh = journal_study(tmp_path / "fresh.log")  # the old journal was deleted, say
    assert tracker.start(fresh) != first


@pytest.mark.slow
def test_finish_registers_a_model_that_loads_and_predicts_the_same(logged, monkeypatch):
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16, y[:200]
    model = NeuralNetworkClassifier(n_hidden=8, max_epochs=3, random_state=0).fit(X, y)
    tracker, study = logged.tracker, logged.study
    best = study.best_trial
    result = SimpleNamespace(
        best_params=best.user_attrs["estimator_params"],
        best_value=best.value,
        best_trial_number=best.number,
        model=model,
        X_example=X[:5],
        test_score=0.75,
        test_metric="accuracy",
        n_complete=2,
        n_pruned=1,
        n_failed=2,
        wall_time=3.5,
    )
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    tracker.finish(study, result)
    assert os.environ.get("MLFLOW_TRACKING_URI") == previous  # global state restored
    client = logged.client
    run = client.get_run(logged.parent)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["best_cv_mean"] == 0.9 and run.data.metrics["test_score"] == 0.75
    assert run.data.metrics["n_failed"] == 2 and run.data.metrics["wall_time"] == 3.5
    assert run.data.params["best.n_hidden"] == str(result.best_params["n_hidden"])
    history = client.get_metric_history(logged.parent, "best_cv_mean")
    assert [(m.step, m.value) for m in history] == [(0, 0.8), (3, 0.9)]  # not logged twice
    version = client.get_model_version_by_alias("nnsweep-tiny", "best")
    assert str(version.version) == "1" and version.tags["nnsweep.study"] == "tiny"
    plots = {a.path for a in client.list_artifacts(logged.parent, "plots")}
    for name in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert f"plots/{name}.png" in plots
    assert "plots/learning_curves.png" in plots

    monkeypatch.setenv("MLFLOW_TRACKING_URI", logged.uri)
    loaded = mlflow.sklearn.load_model("models:/nnsweep-tiny@best")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    pyfunc = mlflow.pyfunc.load_model("models:/nnsweep-tiny@best")
    np.testing.assert_array_equal(pyfunc.predict(X), model.predict(X))

    # resumed later with a Pipeline as the best model: a new version takes the alias
    pipe = Pipeline([("scale", MinMaxScaler()), ("net", NeuralNetworkClassifier(n_hidden=8))])
    pipe.set_params(net__max_epochs=3).fit(X, y)
    tracker.finish(study, SimpleNamespace(**{**vars(result), "model": pipe, "test_score": None}))
    assert str(client.get_model_version_by_alias("nnsweep-tiny", "best").version) == "2"
    loaded = mlflow.sklearn.load_model("models:/nnsweep-tiny@best")
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_finish_with_one_complete_trial_skips_importances(logged, tmp_path):
    spec = make_spec(tmp_path, name="single")
    tracker = MLflowTracker(spec, tracking_uri=logged.uri)  # the same store, another experiment
    study = optuna.create_study(study_name="single", direction="maximize")
    tracker.start(study)
    frozen = run_trial(study, tracker, "complete", 0.7)
    result = SimpleNamespace(
        best_params=frozen.params,
        best_value=0.7,
        best_trial_number=0,
        model=None,
        X_example=None,
        test_score=None,
        test_metric="accuracy",
        n_complete=1,
        n_pruned=0,
        n_failed=0,
        wall_time=1.0,
    )
    import matplotlib

    style = dict(matplotlib.rcParams)
    tracker.finish(study, result)
    assert dict(matplotlib.rcParams) == style  # Optuna's plot style did not leak
    client = tracker.client
    plots = {a.path for a in client.list_artifacts(tracker.parent_run_id, "plots")}
    assert "plots/param_importances.png" not in plots
    assert "plots/optimization_history.png" in plots
    notes = Path(client.download_artifacts(tracker.parent_run_id, "plots/NOTES.txt")).read_text()
    assert "param_importances: skipped" in notes
    assert client.get_run(tracker.parent_run_id).info.status == "FINISHED"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_reachable_fails_fast_on_a_closed_port_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "false")
    spec = make_spec(tmp_path)
    uri = f"http://someone:hunter2@127.0.0.1:{free_port()}"
    tracker = MLflowTracker(spec, tracking_uri=uri)
    start = time.perf_counter()
    with pytest.raises(TrackingError, match="unreachable") as info:
        tracker.check_reachable()
    message = str(info.value)
    assert "hunter2" not in message and "someone:***@127.0.0.1" in message
    assert "hunter2" not in repr(tracker)
    assert tracker.client is not None  # and MLflow will not print "View run at <the URI>"
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    assert time.perf_counter() - start < 30  # no long retry loop


def test_check_reachable_refuses_in_memory_sqlite_and_file_stores(tmp_path, monkeypatch):
    spec = make_spec(tmp_path)
    with pytest.raises(TrackingError, match="in-memory"):
        MLflowTracker(spec, tracking_uri="sqlite:///:memory:").check_reachable()
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(TrackingError, match="legacy file store"):
        MLflowTracker(spec, tracking_uri=str(tmp_path / "mlruns")).check_reachable()


def test_check_reachable_refuses_a_sqlite_folder_it_cannot_create(tmp_path):
    (tmp_path / "a-file").write_text("")
    uri = f"sqlite:///{tmp_path}/a-file/mlruns/mlflow.db"
    with pytest.raises(TrackingError, match="not writable"):
        MLflowTracker(make_spec(tmp_path), tracking_uri=uri).check_reachable()


@pytest.mark.parametrize("status, message", [(401, "refused access"), (404, "HTTP 404")])
def test_check_reachable_tells_a_non_mlflow_or_locked_server(tmp_path, status, message):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        uri = f"http://me:hunter2@127.0.0.1:{server.server_address[1]}"
        with pytest.raises(TrackingError, match=message) as info:
            MLflowTracker(make_spec(tmp_path), tracking_uri=uri).check_reachable()
        assert "hunter2" not in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_copy_made_before_start_finds_the_parent_on_the_study(logged):
    early = MLflowTracker(logged.spec, tracking_uri=logged.uri)
    copy = pickle.loads(pickle.dumps(early))  # sent to a worker before start() ran
    assert copy.parent_run_id is None
    study = journal_study(logged.folder / "optuna" / "tiny.log")
    trial = study.ask()
    copy.trial_started(study, trial)
    run = logged.client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.data.tags["mlflow.parentRunId"] == logged.parent
    copy(study, study.tell(trial, state=TrialState.FAIL))
    assert logged.client.get_run(run.info.run_id).info.status == "FAILED"


def test_an_mlflow_failure_in_a_worker_warns_and_the_sweep_goes_on(logged, monkeypatch, caplog):
    tracker = pickle.loads(pickle.dumps(logged.tracker))
    study = journal_study(logged.folder / "optuna" / "tiny.log")

    def broken(*args, **kwargs):
        raise mlflow.exceptions.MlflowException("store on fire at http://me:hunter2@h")

    monkeypatch.setattr(tracker.client, "log_batch", broken)
    with caplog.at_level("WARNING", logger="nnsweep.tracking"):
        run_trial(study, tracker, "complete", 0.4)  # does not raise
    assert "could not log trial" in caplog.text and "store on fire" in caplog.text
    assert "hunter2" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="nnsweep.tracking"):
        for _ in range(3):
            run_trial(study, tracker, "pruned", 0.2)
    assert "logs no more trials" in caplog.text  # a dead store cannot stall every trial
    assert caplog.text.count("could not log trial") == 2  # the 1st above, then 2 more


def test_tracking_disabled_does_nothing(tmp_path):
    spec = load_study(make_spec(tmp_path).path, overrides={"tracking.enabled": "false"})
    tracker = MLflowTracker(spec, tracking_uri=f"sqlite:///{tmp_path}/never.db")
    study = optuna.create_study(direction="maximize")
    tracker.check_reachable()
    assert tracker.start(study) == ""
    run_trial(study, tracker, "complete", 0.5)
    assert not (tmp_path / "never.db").exists()


def _start_and_log_trials_in_a_worker(tracker, journal, n_trials):
    study = journal_study(Path(journal), name="together")
    tracker.check_reachable()  # a new store: MLflow creates its tables in one process only
    parent = tracker.start(study)  # both at once, as `nnsweep worker` does: one parent
    for i in range(n_trials):
        run_trial(study, tracker, "complete" if i % 4 else "pruned", 0.5 + i / 100, epochs=10)
    return os.getpid(), parent


@pytest.mark.slow
def test_two_processes_start_and_log_to_one_new_sqlite_store_concurrently(tmp_path):
    spec = make_spec(tmp_path, name="together")
    tracker = MLflowTracker(spec, digits_dataset(), tracking_uri=f"sqlite:///{tmp_path}/m.db")
    journal = tmp_path / "optuna" / "together.log"
    journal_study(journal, name="together")  # the Optuna study exists; the MLflow store not
    assert not (tmp_path / "m.db").exists()
    done = Parallel(n_jobs=2, backend="loky")(
        delayed(_start_and_log_trials_in_a_worker)(tracker, str(journal), 20) for _ in range(2)
    )
    assert len({pid for pid, _ in done}) == 2  # two processes really ran
    [parent] = {parent for _, parent in done}
    study = journal_study(journal, name="together")
    tracker.start(study)  # resumes: finds the same parent
    assert tracker.parent_run_id == parent
    parents = tracker.client.search_runs([tracker.experiment_id], "tags.`nnsweep.role` = 'study'")
    assert [r.info.run_id for r in parents] == [parent]
    assert len(study.trials) == 40
    runs = by_trial(child_runs(tracker.client, tracker))
    assert sorted(runs) == list(range(40))  # every trial exactly one run
    assert len(child_runs(tracker.client, tracker)) == 40
    assert all(r.info.status in ("FINISHED", "KILLED") for r in runs.values())
    assert all(
        {"cv_mean", "fold_2_score", "val_mean"} <= set(r.data.metrics) for r in runs.values()
    )
    for t in study.trials:
        assert runs[t.number].info.run_id == t.user_attrs["mlflow_run_id"]
