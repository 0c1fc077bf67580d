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
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from .. import phases, stopping
from ..study.records import Attr, count_states
from . import checks
from .factories import build_estimator, estimator_params

__all__ = ["SweepResult", "refit", "summarise_trials"]


@dataclass
class SweepResult:
    """What `run_sweep` returns and prints."""

    study_name: str
    best_params: dict = field(default_factory=dict)
    best_value: float | None = None
    best_std: float | None = None
    best_trial_number: int | None = None
    test_score: float | None = None
    test_metric: str = "accuracy"
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
        keys += ("test_score", "n_complete", "n_pruned", "n_failed", "n_interrupted")
        keys += ("wall_time", "refit_time", "warnings")
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


def summarise_trials(spec, study, result):
    """Put the study's trial counts, its best trial and its warnings on ``result``."""
    trials = study.get_trials(deepcopy=False)
    counts = count_states(trials)
    result.n_complete, result.n_pruned = counts["COMPLETE"], counts["PRUNED"]
    result.n_failed, result.n_interrupted = counts["FAIL"], counts["INTERRUPTED"]
    errors = [t.user_attrs[Attr.ERROR] for t in trials if t.user_attrs.get(Attr.ERROR)]
    result.first_error = errors[0] if errors else ""
    if result.n_complete:
        best = study.best_trial
        result.best_params = dict(best.user_attrs.get(Attr.ESTIMATOR_PARAMS, best.params))
        result.best_value = best.value
        result.best_std = best.user_attrs.get(Attr.CV_STD)
        result.best_trial_number = best.number
    result.warnings = checks.warnings(spec, study, result.best_params)


def refit(spec, result, X, y, X_test, y_test, output_dir):
    """Refit and test the best parameters, save the model and ``summary.json`` (or stop)."""
    phases.enter("refit")
    refit_started = time.time()
    _refit_and_test(spec, build_estimator(spec), result, X, y, X_test, y_test, output_dir)
    if stopping.should_stop():  # stopped mid-refit: no model, no result; a rerun refits
        result.interrupted = True
        return
    result.refit_time = time.time() - refit_started
    summary = json.dumps(result.summary(), indent=2, default=str)
    (Path(result.output_dir) / "summary.json").write_text(summary + "\n")


def _refit_and_test(spec, estimator, result, X, y, X_test, y_test, output_dir):
    """Refit the best parameters on all training data; score the test split once; save."""
    model = clone(estimator)
    tuned = {p.name for p in spec.search_space}
    best = estimator_params({k: v for k, v in result.best_params.items() if k in tuned})
    if isinstance(model, Pipeline):
        best = {f"{model.steps[-1][0]}__{k}": v for k, v in best.items()}
    model.set_params(**best)
    net = model.steps[-1][1] if isinstance(model, Pipeline) else model
    net.set_params(epoch_callback=_stop_requested)  # Ctrl-C during the refit: stop at an epoch
    with threadpool_limits(limits=joblib.cpu_count()):
        model.fit(X, y)
    net.set_params(epoch_callback=None)
    if stopping.should_stop():
        return
    with threadpool_limits(limits=joblib.cpu_count()):
        result.test_score = float(get_scorer(spec.metric)(model, X_test, y_test))
    result.model = model
    result.X_example = np.asarray(X[:5])
    out = Path(output_dir or Path("mlruns") / "studies" / spec.name)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    np.save(out / "X_example.npy", result.X_example)  # the MLflow model's input example
    result.output_dir = str(out)


def _stop_requested(_estimator, _info):
    """An ``epoch_callback`` that ends training when the sweep is asked to stop."""
    return stopping.should_stop()
