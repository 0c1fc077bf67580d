"""The refits over seeds (nnsweep.sweep.refit): in parallel processes of one BLAS thread,
reproducible, tested once each and as a soft vote, with the answer's uncertainty in
``summary.json``."""

import json
import os

import joblib
import numpy as np
import pytest
from sklearn.ensemble import VotingClassifier
from threadpoolctl import threadpool_info

from nnsweep import NeuralNetworkClassifier
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.sweep import run_sweep, split_data
from nnsweep.sweep.refit import fit_seeds


class RecordingNet(NeuralNetworkClassifier):
    """The network, noting which process fit it and with how many BLAS threads."""

    def fit(self, X, y, **kwargs):
        self.pid_ = os.getpid()
        self.blas_threads_ = max(
            p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
        )
        return super().fit(X, y, **kwargs)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_refits_run_in_parallel_processes_of_one_blas_thread_and_repeat(digits, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # what the workers must not inherit
    X, y = digits.X_train[:400], digits.y_train[:400]
    template = RecordingNet(n_hidden=16, max_epochs=5, random_state=0)
    models = fit_seeds(template, [3, 4, 5], X, y)
    assert [m.random_state for m in models] == [3, 4, 5]
    assert {m.blas_threads_ for m in models} == {1}
    pids = {m.pid_ for m in models}
    assert os.getpid() not in pids and len(pids) == min(3, joblib.cpu_count())
    again = fit_seeds(template, [3, 4, 5], X, y)
    for a, b in zip(models, again, strict=True):  # the same seeds give the same weights
        for wa, wb in zip(a.coefs_, b.coefs_, strict=True):
            np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(models[0].coefs_[0], models[1].coefs_[0])


def test_a_sweep_refits_over_seeds_and_registers_their_soft_vote(make_study, digits, tmp_path):
    extra = "[evaluation]\nrefit_seeds = 3\nensemble = true\n"
    spec = load_study(make_study(n_trials=4, n_jobs=2, subset=400, max_epochs=8, extra=extra))
    result = run_sweep(spec, digits, progress=False, output_dir=tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["test_seeds"] == [0, 1, 2] and len(summary["test_scores"]) == 3
    assert summary["test_mean"] == pytest.approx(np.mean(summary["test_scores"]))
    assert summary["test_std"] == pytest.approx(np.std(summary["test_scores"]))
    assert summary["registered"] == "ensemble"
    assert summary["test_score"] == summary["ensemble_score"]
    _, _, X_test, y_test = split_data(spec, digits)
    interval = summary["test_interval"]
    assert interval["method"] == "wilson" and interval["n"] == len(y_test)
    assert interval["low"] < summary["ensemble_score"] < interval["high"]
    assert summary["within_noise"][0]["trial"] == summary["best_trial_number"]
    model = joblib.load(tmp_path / "out" / "model.joblib")
    assert isinstance(model, VotingClassifier) and model is not None
    proba = model.predict_proba(X_test)
    members = [e.predict_proba(X_test) for e in model.estimators_]
    np.testing.assert_allclose(proba, np.mean(members, axis=0))
    assert result.test_score == pytest.approx(np.mean(model.predict(X_test) == y_test))
