"""The end of a sweep: its result, and the best parameters refit on all the training data.

Leaves out: where the result is recorded (the study, MLflow: `nnsweep.sweep.runner`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from .. import phases, stopping
from ..estimator import NeuralNetworkClassifier
from ..study.records import Attr, count_states
from . import checks
from .factories import build_estimator, network
from .uncertainty import score_interval, within_noise

__all__ = ["SweepResult", "fit_models", "fit_seeds", "refit", "summarise_trials"]


@dataclass
class SweepResult:
    """What `run_sweep` returns and prints."""

    study_name: str
    best_params: dict = field(default_factory=dict)
    best_value: float | None = None
    best_std: float | None = None
    best_trial_number: int | None = None
    test_score: float | None = None  # the registered model's (the first seed's, or the ensemble's)
    test_metric: str = "accuracy"
    test_seeds: list = field(default_factory=list)  # the refits' random_state
    test_trials: list = field(default_factory=list)  # the trial each refit's parameters are from
    test_scores: list = field(default_factory=list)  # each single refit's test score
    test_mean: float | None = None  # over the single refits
    test_std: float | None = None
    test_interval: dict | None = None  # the registered model's, for the test set's sampling error
    ensemble_score: float | None = None  # the soft vote of the refits (2 seeds or more)
    registered: str = ""  # which model is saved and registered: "seed <s>" or "ensemble"
    within_noise: list = field(default_factory=list)  # {trial, value, p}: the folds' ties (best)
    chosen: dict = field(default_factory=dict)  # the refit's trial: rule, trial, value, params
    members: list = field(default_factory=list)  # (trial, params) of each refit, the chosen first
    converged: dict | None = None  # why the study ended early: improvement, noise, window
    model: object = None
    X_example: object = None
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    n_interrupted: int = 0  # stopped or left by a dead worker, and retried: not failed
    wall_time: float = 0.0
    refit_time: float | None = None
    output_dir: str = ""
    interrupted: bool = False
    tracking_code: int | None = None  # the MLflow writer's exit code (3: behind)
    first_error: str = ""  # the error of the first trial that failed, for the command's message
    mlflow_experiment_id: str | None = None  # where the writer put the runs (tracking on)
    warnings: list = field(default_factory=list)  # where to look: nnsweep.sweep.checks

    def summary(self) -> dict:
        """The result without the model: what ``summary.json`` holds (JSON types only)."""
        keys = ("study_name", "best_trial_number", "best_value", "best_std", "test_metric")
        keys += ("test_score", "test_seeds", "test_trials", "test_scores", "test_mean", "test_std")
        keys += ("test_interval", "ensemble_score", "registered", "within_noise", "chosen")
        keys += ("n_complete", "n_pruned", "n_failed", "n_interrupted")
        keys += ("wall_time", "refit_time", "converged", "warnings")
        out = {k: getattr(self, k) for k in keys}
        out["best_params"] = {k: _jsonable(v) for k, v in self.best_params.items()}
        return out

    def record(self) -> dict:
        """`summary` plus where the model is and when: the study's ``nnsweep_result``."""
        model = Path(self.output_dir) / "model.joblib" if self.output_dir else None
        path = str(model.resolve()) if model is not None and model.is_file() else None
        return {**self.summary(), "model_path": path, "finished_at": time.time()}


def _jsonable(value):
    return value.item() if isinstance(value, np.generic) else value


def summarise_trials(spec, study, result, shape=None):
    """Put the study's trial counts, best trial, ties, chosen trial and warnings on ``result``.

    The ties (`within_noise`) are the complete trials whose fold scores the corrected
    resampled t-test cannot tell from the best's (`nnsweep.sweep.uncertainty`). The chosen
    trial is the one the refit takes: the best, or with ``[evaluation] choose = "simplest"``
    the tie with the fewest weights (the one-standard-error rule's idea, with the folds' own
    test). Both need ``shape``: ``(n_samples, n_features, n_classes)`` of the data the folds
    split.
    """
    trials = study.get_trials(deepcopy=False)
    counts = count_states(trials)
    result.n_complete, result.n_pruned = counts["COMPLETE"], counts["PRUNED"]
    result.n_failed, result.n_interrupted = counts["FAIL"], counts["INTERRUPTED"]
    errors = [t.user_attrs[Attr.ERROR] for t in trials if t.user_attrs.get(Attr.ERROR)]
    result.first_error = errors[0] if errors else ""
    if result.n_complete:
        best = study.best_trial
        result.best_params = _estimator_params(best)
        result.best_value = best.value
        result.best_std = best.user_attrs.get(Attr.CV_STD)
        result.best_trial_number = best.number
        result.chosen = {"rule": "best", "trial": best.number, "value": best.value}
        if shape:
            result.within_noise = _ties(spec, trials, best, shape[0])
            if spec.evaluation.choose == "simplest":
                result.chosen = _simplest(trials, result.within_noise, *shape[1:])
        result.chosen["params"] = result.best_params
        if result.chosen["trial"] != best.number:
            chosen = next(t for t in trials if t.number == result.chosen["trial"])
            result.chosen["params"] = _estimator_params(chosen)
        result.members = _members(spec, trials, result)
    result.warnings = checks.warnings(spec, study, result.best_params)


def _members(spec, trials, result):
    """``(trial, params)`` of each of the R refits, the chosen trial first.

    ``members = "seeds"``: the chosen trial R times. ``"within_noise"``: the chosen trial, then
    the other ties by CV, one each, and the chosen trial again where fewer than R are tied.
    """
    n, chosen = spec.evaluation.refit_seeds, result.chosen["trial"]
    numbers = [chosen] * n
    if spec.evaluation.members == "within_noise":
        others = [t["trial"] for t in result.within_noise if t["trial"] != chosen]
        numbers = ([chosen, *others] + numbers)[:n]
    by_number = {t.number: t for t in trials}
    return [
        (m, result.chosen["params"] if m == chosen else _estimator_params(by_number[m]))
        for m in numbers
    ]


def _estimator_params(trial):
    """The estimator parameters a trial ran with (its own record, else Optuna's params)."""
    return dict(trial.user_attrs.get(Attr.ESTIMATOR_PARAMS, trial.params))


def _simplest(trials, ties, n_features, n_classes):
    """The tie with the fewest weights (the higher CV among equals), and what it gave up."""
    by_number = {t.number: t for t in trials}

    def weights(number):
        t = by_number[number]
        return n_weights(_estimator_params(t), n_features, n_classes)

    best = ties[0]
    pick = min(ties, key=lambda tie: (weights(tie["trial"]), -tie["value"]))
    return {
        "rule": "simplest",
        "trial": pick["trial"],
        "value": pick["value"],
        "n_weights": weights(pick["trial"]),
        "best_n_weights": weights(best["trial"]),
        "cv_given_up": best["value"] - pick["value"],
    }


def n_weights(params, n_features, n_classes):
    """The number of weights (biases left out) of the network that ``params`` describe."""
    hidden = params.get("hidden_layer_sizes", NeuralNetworkClassifier().hidden_layer_sizes)
    sizes = [n_features, *([hidden] if isinstance(hidden, int) else hidden), n_classes]
    return int(sum(a * b for a, b in zip(sizes, sizes[1:], strict=False)))


def _ties(spec, trials, best, n_samples):
    """``[{trial, value, p}]`` of the best trial and those within noise of it, best first."""
    n_test = n_samples // spec.cv.n_splits
    others = {
        t.number: t.user_attrs.get(Attr.FOLD_SCORES) or []
        for t in trials
        if t.state.name == "COMPLETE" and t.number != best.number
    }
    kept = within_noise(
        best.user_attrs.get(Attr.FOLD_SCORES) or [], others, n_samples - n_test, n_test
    )
    values = {t.number: t.value for t in trials}
    ties = [{"trial": best.number, "value": best.value, "p": 1.0}]
    ties += [{"trial": n, "value": values[n], "p": p} for n, p in kept.items()]
    return sorted(ties, key=lambda tie: -tie["value"])


def refit(spec, result, X, y, X_test, y_test, output_dir):
    """Refit the chosen parameters R times, test each and their soft vote once, save (or stop).

    ``[evaluation] refit_seeds = R`` refits the chosen trial with the estimator's
    ``random_state`` and the R - 1 after it; with ``members = "within_noise"`` the R refits are
    the trials within noise of the best instead, one each, and a trial refit again takes the
    next seed. They run as R processes of one BLAS thread (at most one per core); R = 1 refits
    in this process with every core's threads, as one model trains fastest. Stopped mid-refit,
    nothing is kept: no model, no result; a rerun refits.
    """
    phases.enter("refit")
    refit_started = time.time()
    estimator = build_estimator(spec)
    base = _base_seed(estimator)
    trials = [number for number, _ in result.members]
    seeds = [base + trials[:i].count(number) for i, number in enumerate(trials)]  # a repeat: next
    models = [
        _seeded(_with_best(spec, estimator, params), seed)
        for (_, params), seed in zip(result.members, seeds, strict=True)
    ]
    models = fit_models(models, X, y)
    if models is None or stopping.should_stop():
        result.interrupted = True
        return
    _test(spec, result, trials, seeds, models, X, y, X_test, y_test)
    out = Path(output_dir or Path("mlruns") / "studies" / spec.name)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(result.model, out / "model.joblib")
    result.X_example = np.asarray(X[:5])
    np.save(out / "X_example.npy", result.X_example)  # the MLflow model's input example
    result.output_dir = str(out)
    result.refit_time = time.time() - refit_started
    summary = json.dumps(result.summary(), indent=2, default=str)
    (out / "summary.json").write_text(summary + "\n")


def fit_seeds(template, seeds, X, y):
    """Clones of ``template``, one per seed (its ``random_state``), fit by `fit_models`."""
    return fit_models([_seeded(template, seed) for seed in seeds], X, y)


def fit_models(models, X, y):
    """``models`` (unfitted estimators) fit on ``(X, y)``.

    One model: in this process, with every core's BLAS threads. Several: in loky processes of
    one BLAS thread each, at most one per core, stopped as the sweep's workers are
    (`nnsweep.stopping`). Returns the fitted models in their order, or None when asked to
    stop.
    """
    from joblib.externals.loky.process_executor import BrokenProcessPool

    if len(models) == 1:
        with threadpool_limits(limits=joblib.cpu_count()):
            _fit_until_stopped(models[0], X, y)
        return None if stopping.should_stop() else models
    stop_file = stopping.new_stop_file()
    backend = {"initializer": stopping.worker_process_init, "inner_max_num_threads": 1}
    try:
        with stopping.relayed(stop_file), joblib.parallel_backend("loky", **backend):
            fitted = joblib.Parallel(n_jobs=min(len(models), joblib.cpu_count()))(
                joblib.delayed(_fit_member)(model, X, y, stop_file) for model in models
            )
    except BrokenProcessPool:
        if stopping.should_stop():
            return None  # a process still starting when the stop signal came: the stop itself
        raise
    return None if stopping.should_stop() or None in fitted else fitted


def _fit_member(model, X, y, stop_file):
    """In a worker process: fit one seed's model with one BLAS thread; None when stopped."""
    with stopping.in_worker(stop_file), threadpool_limits(limits=1):
        phases.enter("refit-seed")
        _fit_until_stopped(model, X, y)
        return None if stopping.should_stop() else model


def _fit_until_stopped(model, X, y):
    net = network(model)
    net.set_params(epoch_callback=_stop_requested)  # Ctrl-C during the refit: stop at an epoch
    model.fit(X, y)
    net.set_params(epoch_callback=None)


def _test(spec, result, trials, seeds, members, X, y, X_test, y_test):
    """Score each refit and their soft vote on the test split, once; the registered model."""
    scorer = get_scorer(spec.metric)
    with threadpool_limits(limits=joblib.cpu_count()):
        singles = [float(scorer(m, X_test, y_test)) for m in members]
        ensemble = None
        if len(members) > 1:
            votes = [
                (f"trial_{t}_seed_{s}", FrozenEstimator(m))
                for t, s, m in zip(trials, seeds, members, strict=True)
            ]
            ensemble = VotingClassifier(votes, voting="soft").fit(X, y)  # the labels' encoder
            result.ensemble_score = float(scorer(ensemble, X_test, y_test))
        chosen = ensemble if spec.evaluation.ensemble and ensemble is not None else members[0]
        proba = chosen.predict_proba(X_test)
    result.model = chosen
    result.registered = "ensemble" if chosen is ensemble else f"seed {seeds[0]}"
    result.test_trials, result.test_seeds, result.test_scores = list(trials), list(seeds), singles
    result.test_score = result.ensemble_score if chosen is ensemble else singles[0]
    result.test_mean, result.test_std = float(np.mean(singles)), float(np.std(singles))
    interval = score_interval(spec.metric, y_test, proba, chosen.classes_)
    result.test_interval = interval.as_dict()


def _with_best(spec, estimator, best_params):
    """``estimator`` (a clone) with the tuned parameters of ``best_params`` set.

    Those the trial did not draw are not in ``best_params``: the estimator's own stand. A list
    (a tuple, through the trial's JSON) is set as a tuple.
    """
    model = clone(estimator)
    tuned = {p.name for p in spec.search_space}
    best = {k: tuple(v) if isinstance(v, list) else v for k, v in best_params.items()}
    best = {k: v for k, v in best.items() if k in tuned}
    if isinstance(model, Pipeline):
        best = {f"{model.steps[-1][0]}__{k}": v for k, v in best.items()}
    return model.set_params(**best)


def _base_seed(model):
    """The first refit's seed: the estimator's ``random_state``, 0 if unset."""
    seed = network(model).random_state
    return seed if isinstance(seed, int) else 0


def _seeded(model, seed):
    model = clone(model)
    network(model).set_params(random_state=seed)
    return model


def _stop_requested(_estimator, _info):
    """An ``epoch_callback`` that ends training when the sweep is asked to stop."""
    return stopping.should_stop()
