"""The refits over seeds (nnsweep.sweep.refit): in parallel processes of one BLAS thread,
reproducible, tested once each and as a soft vote, with the answer's uncertainty in
``summary.json``."""

import json
import os

import joblib
import numpy as np
import optuna
import pytest
from sklearn.ensemble import VotingClassifier
from threadpoolctl import threadpool_info

from nnsweep import NeuralNetworkClassifier
from nnsweep.cli.report import answer_lines
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.study.records import Attr
from nnsweep.study.storage import load_study as stored_study
from nnsweep.sweep import run_sweep, split_data
from nnsweep.sweep.factories import network
from nnsweep.sweep.refit import SweepResult, fit_seeds, n_weights, summarise_trials


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
    template = RecordingNet(hidden_layer_sizes=(16,), max_epochs=5, random_state=0)
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
    assert summary["test_trials"] == [summary["best_trial_number"]] * 3
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


def _trial(number_of_units, folds):
    from optuna.distributions import IntDistribution

    return optuna.trial.create_trial(
        value=float(np.mean(folds)),
        params={"layer_1_units": number_of_units},
        distributions={"layer_1_units": IntDistribution(16, 64, step=16)},
        user_attrs={
            Attr.FOLD_SCORES: folds,
            Attr.ESTIMATOR_PARAMS: {"hidden_layer_sizes": [number_of_units], "learning_rate": 0.1},
        },
    )


@pytest.mark.parametrize("rule", ["best", "simplest"])
def test_choose_simplest_refits_the_smallest_tie_and_says_what_it_gave_up(make_study, rule):
    spec = load_study(make_study(extra=f'[evaluation]\nchoose = "{rule}"\n'))
    study = optuna.create_study(direction="maximize")
    for units, folds in [
        (64, [0.95, 0.96, 0.94]),  # 0: the best
        (16, [0.95, 0.95, 0.94]),  # 1: within noise, the fewest weights
        (32, [0.95, 0.96, 0.935]),  # 2: within noise, more weights
        (16, [0.70, 0.71, 0.69]),  # 3: as small, but far below: not a tie
    ]:
        study.add_trial(_trial(units, folds))
    result = SweepResult(study_name=spec.name)
    summarise_trials(spec, study, result, shape=(300, 64, 10))
    assert [t["trial"] for t in result.within_noise] == [0, 2, 1]
    assert result.best_trial_number == 0
    if rule == "best":
        assert result.chosen["trial"] == 0 and result.chosen["params"]["hidden_layer_sizes"] == [
            64
        ]
        return
    assert result.chosen["trial"] == 1 and result.chosen["params"]["hidden_layer_sizes"] == [16]
    assert result.chosen["n_weights"] == 64 * 16 + 16 * 10
    assert n_weights({"hidden_layer_sizes": (32, 16)}, 64, 10) == 64 * 32 + 32 * 16 + 16 * 10
    assert n_weights({"hidden_layer_sizes": 16}, 64, 10) == 64 * 16 + 16 * 10  # an int: one
    assert n_weights({}, 64, 10) == 64 * 100 + 100 * 10  # the estimator's default, (100,)
    assert result.chosen["best_n_weights"] == 64 * 64 + 64 * 10
    assert result.chosen["cv_given_up"] == pytest.approx(0.95 - np.mean([0.95, 0.95, 0.94]))
    lines = answer_lines(result.summary(), "accuracy")
    assert any("refit: trial #1, the fewest weights within noise of the best" in x for x in lines)


def test_members_within_noise_refit_the_ties_once_each_then_the_chosen_again(make_study):
    extra = '[evaluation]\nrefit_seeds = 4\nmembers = "within_noise"\n'
    spec = load_study(make_study(extra=extra))
    study = optuna.create_study(direction="maximize")
    for units, folds in [
        (64, [0.95, 0.96, 0.94]),  # 0: the best
        (16, [0.95, 0.95, 0.94]),  # 1: within noise
        (32, [0.95, 0.96, 0.935]),  # 2: within noise
        (16, [0.70, 0.71, 0.69]),  # 3: not a tie
    ]:
        study.add_trial(_trial(units, folds))
    result = SweepResult(study_name=spec.name)
    summarise_trials(spec, study, result, shape=(300, 64, 10))
    # the three ties by CV, then the chosen (best) trial again: its next seed fills in
    assert [n for n, _ in result.members] == [0, 2, 1, 0]
    assert [p["hidden_layer_sizes"] for _, p in result.members] == [[64], [32], [16], [64]]


def test_a_sweep_with_members_within_noise_votes_the_tied_trials(make_study, digits, tmp_path):
    extra = '[evaluation]\nrefit_seeds = 3\nensemble = true\nmembers = "within_noise"\n'
    spec = load_study(make_study(n_trials=6, n_jobs=2, subset=400, max_epochs=8, extra=extra))
    run_sweep(spec, digits, progress=False, output_dir=tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    ties = [t["trial"] for t in summary["within_noise"]]
    trials, seeds = summary["test_trials"], summary["test_seeds"]
    assert trials[0] == summary["best_trial_number"] and len(trials) == 3
    assert trials[: min(3, len(ties))] == ties[:3]  # the ties by CV, one each
    assert seeds == [trials[:i].count(t) for i, t in enumerate(trials)]  # a repeat: next seed
    model = joblib.load(tmp_path / "out" / "model.joblib")
    assert isinstance(model, VotingClassifier) and len(model.estimators_) == 3
    stored = {t.number: t for t in stored_study(spec).get_trials()}
    for (_, member), trial, seed in zip(model.estimators, trials, seeds, strict=True):
        params = stored[trial].user_attrs[Attr.ESTIMATOR_PARAMS]
        net = network(member.estimator).get_params()
        assert {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()} == {
            k: net[k] for k in params
        } | {"random_state": params["random_state"]}
        assert net["random_state"] == seed
    lines = answer_lines(summary, "accuracy")
    expected = "seeds" if len(set(trials)) == 1 else "trials within noise"
    assert any("mean of 3 " in x and expected in x for x in lines)
