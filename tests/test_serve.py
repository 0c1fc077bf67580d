"""The registered ensemble is a model MLflow serves: ``nnsweep run`` of a study with
``refit_seeds = 2`` and ``ensemble = true``, then ``mlflow models serve`` of
``models:/nnsweep-<study>@best``, asked over HTTP as a user would."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.ensemble import VotingClassifier

from nnsweep.datasets import load_dataset
from tests.support.processes import (
    free_port,
    kill_group,
    run_nnsweep,
    subprocess_env,
    wait_exit,
    wait_for,
)
from tests.support.studyfiles import write_local_study

pytestmark = pytest.mark.slow


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_the_registered_ensemble_round_trips_and_mlflow_serves_it(tmp_path, monkeypatch):
    extra = "\n[evaluation]\nrefit_seeds = 2\nensemble = true\n"
    study_file, _, tracking = write_local_study(tmp_path, "served", extra=extra)
    ran = run_nnsweep("run", study_file, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "mean of 2 seeds" in ran.stdout and "ensemble" in ran.stdout
    model = joblib.load(tmp_path / "mlruns" / "studies" / "served" / "model.joblib")
    assert isinstance(model, VotingClassifier) and len(model.estimators_) == 2

    import mlflow

    X = load_dataset("digits").X_train[:7]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    loaded = mlflow.sklearn.load_model("models:/nnsweep-served@best")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    info = mlflow.models.get_model_info("models:/nnsweep-served@best")
    assert info.signature is not None and info.signature.inputs.to_dict()[0]["type"] == "tensor"

    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow starts uvicorn from the PATH
    serve_env = {**subprocess_env(), "MLFLOW_TRACKING_URI": tracking}
    serve_env["PATH"] = os.pathsep.join((bin_dir, serve_env.get("PATH", "")))
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 (closed below)
    serve = subprocess.Popen(
        [
            str(Path(bin_dir) / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/nnsweep-served@best",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=serve_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/ping"), 120, 0.5, "the model server")
        body = json.dumps({"inputs": X.tolist()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
        np.testing.assert_array_equal(predictions, model.predict(X))
    finally:
        kill_group(serve)
        wait_exit(serve, 30, what="mlflow models serve")
        log.close()
