"""The objective of a trial: K-fold cross-validation with the folds trained in lockstep.

The K fold models are trained one epoch each in turn (`NeuralNetworkClassifier.iter_epochs`),
and after every epoch the mean validation score over the folds is reported to Optuna, so the
pruner compares trials on a cross-validated score at equal epochs. What a trial reports is a
`nnsweep.study.records.TrialRecord`, written as the trial's user attributes. Leaves out: asking and
telling Optuna (`nnsweep.sweep.worker`).
"""

from __future__ import annotations

import math
import time

import numpy as np
import optuna
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from ..estimator import TrainingDivergedError
from ..stopping import SweepStopped, should_stop
from ..study.journal import is_disk_error
from ..study.records import Attr, StopReason, TrialRecord, curve_chunk
from .factories import fixed_params, network, suggest_params
from .scoring import FoldScorer

__all__ = ["CrossValidationObjective"]


class CrossValidationObjective:
    """Score a trial by K-fold cross-validation, with the folds trained in lockstep.

    After every epoch each fold's model is scored on its held-out fold with the
    study's metric, and the mean over folds is reported to Optuna as the trial's
    intermediate value for that epoch; the pruner may stop the trial there. A
    fold whose training stops early (loss plateau) keeps its last score.

    What it records on the trial: a `nnsweep.study.records.TrialRecord` as user attributes (fold
    scores, their mean and std, epochs, fit time, why it stopped, the error, and the curves).

    Parameters
    ----------
    estimator : NeuralNetworkClassifier or Pipeline ending in one
        The model with its fixed parameters; it is cloned for every fold.
    X, y : array-like
        Training data only: the test split is never seen by the search.
    search_space : sequence of config.ParamSpec
    cv : cross-validation splitter
    scoring : str, default="accuracy"
        A scikit-learn scorer name (greater is better).
    live_interval : float or None, default=1.0
        While the trial trains, its curves (``curve_val_mean``, ``curve_loss_mean``,
        ``curve_time``) are written to the trial at most every ``live_interval`` seconds,
        for the MLflow writer to follow; None: only at the end.
    """

    def __init__(self, estimator, X, y, search_space, cv, scoring="accuracy", live_interval=1.0):
        self.estimator = estimator
        self.X = X
        self.y = y
        self.search_space = search_space
        self.cv = cv
        self.scoring = scoring
        self.live_interval = live_interval

    def _fold_data(self):
        """Per fold: the (pre-processed) training and validation data, computed once."""
        if getattr(self, "_folds", None) is None:
            steps = self.estimator.steps[:-1] if isinstance(self.estimator, Pipeline) else []
            folds = []
            for train, val in self.cv.split(self.X, self.y):
                X_tr, X_val = self.X[train], self.X[val]
                if steps:
                    pre = clone(Pipeline(steps)).fit(X_tr, self.y[train])
                    X_tr, X_val = pre.transform(X_tr), pre.transform(X_val)
                folds.append((X_tr, self.y[train], X_val, self.y[val]))
            self._folds = folds
        return self._folds

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_folds"] = None  # recomputed in each worker instead of pickled
        return state

    def __call__(self, trial):
        """Run the trial; return the mean CV score (raises TrialPruned when pruned)."""
        params = suggest_params(trial, self.search_space)
        net = network(self.estimator)
        fixed = fixed_params(self.estimator, self.search_space)  # the record: fixed + drawn
        trial.set_user_attr(Attr.ESTIMATOR_PARAMS, {**fixed, **params})
        folds = _LockstepFolds(net, params, self._fold_data(), FoldScorer(self.scoring))
        record = TrialRecord(
            estimator_params={**fixed, **params},
            stop_reason=StopReason.COMPLETED,
            curve_val_folds=folds.curves,
        )
        live = _LiveCurves(trial, record, self.live_interval)
        start = time.perf_counter()
        try:
            while (step := folds.epoch()) is not None:
                mean, loss = step
                record.curve_val_mean.append(mean)
                record.curve_loss_mean.append(loss)
                record.curve_time.append(time.perf_counter() - start)
                epoch = len(record.curve_val_mean)
                trial.report(mean, epoch)
                live.maybe_flush()
                if should_stop():  # a safe point: between epochs, no journal write under way
                    raise SweepStopped(f"stopped after epoch {epoch}")
                if trial.should_prune():
                    record.stop_reason = StopReason.PRUNED
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}: CV {mean:.4f}")
        except BaseException as exc:
            _note_why(record, exc)
            raise
        finally:
            folds.close()
            record.fold_scores = folds.scores
            record.cv_mean = float(np.mean(folds.scores))
            record.cv_std = float(np.std(folds.scores))
            record.n_epochs = len(record.curve_val_mean)
            record.fit_time = time.perf_counter() - start
            for key, value in record.to_attrs().items():
                trial.set_user_attr(key, value)
        return record.cv_mean


def _note_why(record, exc):
    """Put on ``record`` why the trial ended with ``exc`` (a pruned trial already says so)."""
    if isinstance(exc, TrainingDivergedError):
        record.stop_reason, record.error = StopReason.DIVERGED, str(exc)
    elif isinstance(exc, (KeyboardInterrupt, SweepStopped)):
        record.stop_reason = StopReason.INTERRUPTED
        record.error = f"{type(exc).__name__}: the sweep was stopped"
    elif isinstance(exc, optuna.TrialPruned) or is_disk_error(exc):
        pass  # a disk error is the disk's, not the trial's: the sweep stops, the trial is retried
    elif isinstance(exc, Exception):
        record.stop_reason, record.error = StopReason.FAILED, f"{type(exc).__name__}: {exc}"


class _LockstepFolds:
    """The K fold models of a trial, trained one epoch each in turn.

    `epoch` trains every fold still training by one epoch and scores it on its held-out
    fold; it returns ``(mean score over the folds, mean training loss)``, or None once every
    fold has stopped. A fold whose training stopped early keeps its last score.
    """

    def __init__(self, net, params, folds, scorer):
        self.folds, self.scorer = folds, scorer
        self.models = [clone(net).set_params(**params) for _ in folds]
        self.epochs = [
            m.iter_epochs(X_tr, y_tr)
            for m, (X_tr, y_tr, _, _) in zip(self.models, folds, strict=True)
        ]
        self.scores = [math.nan] * len(folds)
        self.curves = [[] for _ in folds]  # per fold: its validation score after each epoch
        self.active = list(range(len(folds)))

    def epoch(self):
        losses = []
        for i in list(self.active):
            info = next(self.epochs[i], None)
            if info is None:  # this fold stopped early: keep its last score
                self.active.remove(i)
                continue
            _, _, X_val, y_val = self.folds[i]
            self.scores[i] = self.scorer(self.models[i], X_val, y_val)
            self.curves[i].append(self.scores[i])
            losses.append(info.loss)
        if not losses:
            return None
        return float(np.mean(self.scores)), float(np.mean(losses))

    def close(self):
        for gen in self.epochs:
            gen.close()


class _LiveCurves:
    """Append a running trial's new epochs to its user attributes, at most every ``interval`` s.

    Each flush writes only the epochs since the last one, as one attribute (`curve_chunk`), so
    the storage grows linearly with the epochs. The MLflow writer follows the storage and turns
    them into step metrics while the trial trains; the validation mean is also in Optuna's
    intermediate values (``trial.report``). The whole curves are written once, at the end.
    """

    def __init__(self, trial, record, interval):
        self.trial, self.record, self.interval = trial, record, interval
        self.last, self.written = time.perf_counter(), 0

    def maybe_flush(self):
        if self.interval is None or time.perf_counter() - self.last < self.interval:
            return
        self.trial.set_user_attr(*curve_chunk(self.record, self.written))
        self.written = len(self.record.curve_val_mean)
        self.last = time.perf_counter()
