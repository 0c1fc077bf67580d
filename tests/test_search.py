"""Sweeps: workers share one study, the budget is exact, pruning prunes, a diverging trial
is recorded and the study goes on, the objective is K-fold CV in lockstep."""

import json

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from sklearn.model_selection import StratifiedKFold, cross_val_score

from nnsweep import NeuralNetworkClassifier
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.study.records import Attr, StopReason, TrialRecord, curves
from nnsweep.sweep import (
    CrossValidationObjective,
    count_budget,
    make_storage,
    run_sweep,
    split_data,
    suggest_params,
)
from tests.support.studyfiles import write_study


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def study_of(spec):
    return optuna.load_study(study_name=spec.name, storage=make_storage(spec.storage.url))


def test_two_worker_sweep_runs_exactly_the_budget(make_study, digits, tmp_path):
    # trials long enough (~1 s) that the second process, which starts ~1 s later, gets some
    epochs = 40
    spec = load_study(make_study(n_trials=6, n_jobs=2, subset=500, max_epochs=epochs))
    result = run_sweep(spec, digits, progress=False, output_dir=tmp_path / "out")
    trials = study_of(spec).get_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    workers = {t.user_attrs[Attr.WORKER] for t in trials}
    assert len(workers) == 2, "both worker processes ran trials"
    for t in trials:
        record = TrialRecord.of(t)
        assert len(record.fold_scores) == 3
        assert record.cv_mean == pytest.approx(np.mean(record.fold_scores))
        assert record.cv_mean == pytest.approx(t.value)
        assert record.n_epochs == len(record.curve_val_mean) <= epochs  # loss plateau
        assert record.stop_reason is StopReason.COMPLETED
        assert record.estimator_params["learning_rate"] == t.params["learning_rate"]
        assert record.estimator_params["max_epochs"] == epochs
        # the layers table's draw is recorded as the estimator's hidden_layer_sizes (one
        # depth: only the width is a parameter)
        assert "n_layers" not in t.params
        assert record.estimator_params["hidden_layer_sizes"] == [t.params["layer_1_units"]]
        assert record.fit_time > 0
    assert result.n_complete == 6 and result.best_value == max(t.value for t in trials)
    assert 0.5 < result.test_score <= 1
    assert result.model.hidden_layer_sizes == tuple(result.best_params["hidden_layer_sizes"])
    assert (tmp_path / "out" / "model.joblib").exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["best_value"] == result.best_value and summary["n_complete"] == 6
    assert summary["test_score"] == result.test_score and summary["refit_time"] > 0
    assert summary["best_params"]["learning_rate"] == result.best_params["learning_rate"]


def test_grid_sweep_runs_each_point_once_and_stops(tmp_path, digits):
    # Optuna's GridSampler calls study.stop() when the grid is exhausted, which raises outside
    # study.optimize; the workers stop on their own once every point has a trial.
    changes = {
        "sampler": {"name": "grid", "n_startup_trials": None},
        "search_space": {
            "learning_rate": {
                "type": "categorical",
                "choices": [0.05, 0.2],
                "low": None,
                "high": None,
                "log": None,
            },
            "hidden_layer_sizes": {"low": 16, "high": 32},  # one depth: on the grid
        },
        "budget": {"n_trials": 10},  # more than the 4 points: the grid ends the sweep
        "estimator": {"max_epochs": 2},
        "evaluation": {"refit": False},
    }
    for n_jobs, name in ((1, "grid1"), (2, "grid2")):
        path = write_study(tmp_path, name, {**changes, "workers": {"n_jobs": n_jobs}})
        spec = load_study(path)
        result = run_sweep(spec, digits, progress=False)
        trials = study_of(spec).get_trials()
        points = sorted((t.params["learning_rate"], t.params["layer_1_units"]) for t in trials)
        assert points == [(0.05, 16), (0.05, 32), (0.2, 16), (0.2, 32)], n_jobs
        assert all(t.state == TrialState.COMPLETE for t in trials)
        assert result.n_complete == 4
        run_sweep(spec, digits, progress=False)  # run again: the grid is done, nothing added
        assert len(study_of(spec).get_trials()) == 4


def test_running_again_adds_no_trials_and_a_bigger_budget_resumes(make_study, digits):
    spec = load_study(make_study(n_trials=3, n_jobs=1), overrides={"evaluation.refit": "false"})
    run_sweep(spec, digits, progress=False)
    run_sweep(spec, digits, progress=False)
    assert len(study_of(spec).get_trials()) == 3
    bigger = load_study(spec.path, overrides={"budget.n_trials": "5", "evaluation.refit": "false"})
    run_sweep(bigger, digits, progress=False)
    assert len(study_of(spec).get_trials()) == 5


def test_interrupted_trials_are_failed_retried_and_do_not_count(make_study, digits):
    spec = load_study(make_study(n_trials=3, n_jobs=1), overrides={"evaluation.refit": "false"})
    run_sweep(spec, digits, progress=False)
    study = study_of(spec)
    # a worker that died mid-trial leaves a RUNNING trial behind
    ghost = study.ask()
    ghost.suggest_float("learning_rate", 0.02, 0.3, log=True)
    ghost.suggest_int("layer_1_units", 16, 64, step=16)
    bigger = load_study(spec.path, overrides={"budget.n_trials": "4", "evaluation.refit": "false"})
    run_sweep(bigger, digits, progress=False)
    trials = study_of(spec).get_trials()
    dead = trials[ghost.number]
    assert dead.state == TrialState.FAIL
    assert dead.user_attrs[Attr.STOP_REASON] == StopReason.INTERRUPTED
    retry = [t for t in trials if t.user_attrs.get(Attr.RETRY_OF) == ghost.number]
    assert len(retry) == 1 and retry[0].params == dead.params
    assert retry[0].state == TrialState.COMPLETE
    assert count_budget(study_of(spec)) == 4 and len(trials) == 5


def test_pruning_stops_a_hopeless_configuration(make_study, digits):
    path = make_study(
        n_trials=5,
        n_jobs=1,
        max_epochs=12,
        pruner="median",
        pruner_options={"n_startup_trials": 2, "n_warmup_steps": 2},
    )
    spec = load_study(path, overrides={"evaluation.refit": "false"})
    study = optuna.create_study(
        study_name=spec.name, storage=make_storage(spec.storage.url), direction="maximize"
    )
    for lr in (0.2, 0.1, 0.15):
        study.enqueue_trial({"learning_rate": lr, "layer_1_units": 64})
    study.enqueue_trial({"learning_rate": 0.02, "layer_1_units": 16})  # far too slow to compete
    run_sweep(spec, digits, progress=False)
    trials = study_of(spec).get_trials()
    hopeless = trials[3]
    assert hopeless.state == TrialState.PRUNED
    assert hopeless.user_attrs[Attr.STOP_REASON] == StopReason.PRUNED
    assert hopeless.user_attrs[Attr.N_EPOCHS] < 12
    assert len(hopeless.intermediate_values) == hopeless.user_attrs[Attr.N_EPOCHS]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")  # predicting with huge weights
def test_diverged_trial_fails_with_reason(digits):
    """An exploding learning rate: the trial fails with stop_reason 'diverged'; others go on."""
    X, y = digits.X_train[:150], digits.y_train[:150]
    spec_space = load_study_space()
    objective = CrossValidationObjective(
        NeuralNetworkClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0),
        X,
        y,
        spec_space,
        StratifiedKFold(3, shuffle=True, random_state=0),
    )
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"learning_rate": 1e20})
    study.enqueue_trial({"learning_rate": 0.1})
    from nnsweep.sweep.worker import _run_trial

    for _ in range(2):
        frozen, interrupted = _run_trial(study, study.ask(), objective)
        assert not interrupted
    diverged, fine = study.get_trials()
    assert diverged.state == TrialState.FAIL
    assert diverged.user_attrs[Attr.STOP_REASON] == StopReason.DIVERGED
    assert "diverged" in diverged.user_attrs[Attr.ERROR]
    assert fine.state == TrialState.COMPLETE


def load_study_space():
    from nnsweep.config import ParamSpec

    return (ParamSpec(name="learning_rate", type="float", low=1e-3, high=1e30, log=True),)


def test_objective_matches_cross_val_score_of_the_same_model(digits):
    """Lockstep training gives exactly what sklearn's cross_val_score gives per fold."""
    X, y = digits.X_train[:300], digits.y_train[:300]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    net = NeuralNetworkClassifier(
        hidden_layer_sizes=(16,), max_epochs=5, n_iter_no_change=100, random_state=0
    )
    space = load_study_space()
    objective = CrossValidationObjective(net, X, y, space, cv)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"learning_rate": 0.1})
    study.optimize(objective, n_trials=1)
    expected = cross_val_score(net.set_params(learning_rate=0.1), X, y, cv=cv)
    np.testing.assert_allclose(study.trials[0].user_attrs[Attr.FOLD_SCORES], expected)


def test_off_or_range_parameters(digits):
    from nnsweep.config import ParamSpec

    space = (ParamSpec(name="l2_penalty", type="float", low=1e-5, high=1e-1, log=True, off=0.0),)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        value = suggest_params(trial, space)["l2_penalty"]
        seen.add(value == 0.0)
        assert value == 0.0 or 1e-5 <= value <= 1e-1
        study.tell(trial, 0.0)
    assert seen == {True, False}


def test_split_data_uses_held_out_split_and_subset(make_study, digits):
    spec = load_study(make_study(subset=100))
    X, y, X_test, y_test = split_data(spec, digits)
    assert X.shape == (100, 64) and len(y) == 100
    assert len(y_test) == 450  # ceil(0.25 * 1797), as train_test_split rounds


def test_live_curves_grow_the_journal_linearly_with_the_epochs(digits, tmp_path):
    """A trial of a few thousand short epochs, its curves flushed after every epoch: the
    journal's bytes per trial grow linearly with its epochs (chunks are appended, never the
    whole curve again), and the chunks read back as the final curves."""
    X, y = digits.X_train[:40], digits.y_train[:40]
    space = load_study_space()
    sizes, epochs = {}, (1000, 3000)
    for n in epochs:
        journal = tmp_path / f"{n}.log"
        study = optuna.create_study(direction="maximize", storage=make_storage(str(journal)))
        net = NeuralNetworkClassifier(
            hidden_layer_sizes=(),
            max_epochs=n,
            n_iter_no_change=n,
            tol=0.0,
            batch_size=40,
            random_state=0,
        )
        objective = CrossValidationObjective(
            net, X, y, space, StratifiedKFold(2), live_interval=0.0
        )
        study.enqueue_trial({"learning_rate": 1e-3})
        study.optimize(objective, n_trials=1)
        attrs = study.trials[0].user_attrs
        assert attrs[Attr.N_EPOCHS] == n
        chunks = [k for k in attrs if k.startswith(Attr.CURVE_CHUNK)]
        assert len(chunks) == n  # one per epoch, then the whole curves once at the end
        joined = curves({k: attrs[k] for k in chunks})
        for key in (Attr.CURVE_VAL_MEAN, Attr.CURVE_LOSS_MEAN, Attr.CURVE_TIME):
            assert joined[key] == attrs[key]
        sizes[n] = journal.stat().st_size
    per_epoch = {n: sizes[n] / n for n in epochs}
    # Rewriting the whole curves each time would make the 3x longer trial ~9x bigger (~3x per
    # epoch); appending keeps the bytes per epoch the same, within the numbers' widths.
    assert per_epoch[3000] < 1.3 * per_epoch[1000], sizes


def test_worker_seeds_differ_across_workers_restarts_and_study_seeds():
    from nnsweep.sweep.worker import worker_seed

    seeds = [worker_seed(base, w, n) for base in (0, 1, 2) for w in (0, 1, 2) for n in (0, 7)]
    assert len(set(seeds)) == len(seeds)  # seed 0's worker 1 is not seed 1's worker 0
    assert worker_seed(0, 1, 7) == worker_seed(0, 1, 7)  # reproducible
    assert all(0 <= s < 2**32 for s in seeds)  # what Optuna's samplers take
