"""`StudyWriter`: project an Optuna study into MLflow, one pass at a time, idempotently.

The Optuna storage is the source of truth; MLflow is a view of it. Each `StudyWriter.sync`
pass reads the study's trials and pushes what MLflow lacks: a run for each trial that started,
the params once known, the curves' new epochs, and, once the trial ended, its scores, tags,
data set input and final status. A pass that fails (the store went away) changes nothing in
the study; the next pass picks up where MLflow is.

Reconciliation, so that any number of passes, restarts and writers give one run per trial, is
`nnsweep.tracking.mapping`'s (which run is which trial's) and `nnsweep.tracking.parent`'s (the
study's parent run); metric rows carry the trial's own timestamps, so a row pushed twice is the
same row, which MLflow's SQL store keeps once.
"""

from __future__ import annotations

import logging

import optuna
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from ..study.records import StudyAttr
from ..study.redact import redact_url
from . import payload as pl
from .artifacts import log_plots
from .mapping import RunMap, TrialRun
from .parent import open_parent, record_ids, study_uid
from .runs import PAGE, active_experiment, gone, log_result
from .store import absolute_uri, make_client
from .util import TrackingError, retry

_log = logging.getLogger(__name__)
TrialState = optuna.trial.TrialState


class StudyWriter:
    """Project one study into MLflow: one experiment, one parent run, one child run per trial.

    Parameters
    ----------
    spec : nnsweep.config.StudySpec
        The study's settings: its name, the tracking URI and experiment, what the parent run's
        params show.
    client : mlflow.MlflowClient, optional
        Default: one for ``spec.tracking.uri``.

    Attributes
    ----------
    experiment_id, parent_run_id : str or None
        Set by `connect`.
    counts : dict
        Runs ``created``, ``updated`` and ``finished`` by this writer, and ``deduplicated``.
    """

    def __init__(self, spec, client=None):
        self.spec = spec
        self.uri = absolute_uri(spec.tracking.uri)
        self.experiment_name = spec.tracking.experiment or spec.name
        self._client = client  # made on first use: inside the writer's retries
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self.counts = dict(created=0, updated=0, finished=0, deduplicated=0)
        self._map: RunMap | None = None  # which run is which trial's; set by connect
        self._best_steps: set[int] = set()
        self._inputs = None

    @property
    def client(self):
        """The `mlflow.MlflowClient` (made on first use; a new SQLite store is created then)."""
        if self._client is None:
            self._client = make_client(self.uri)
        return self._client

    def __repr__(self):
        return (
            f"StudyWriter(study={self.spec.name!r}, uri={redact_url(self.uri)!r}, "
            f"parent_run_id={self.parent_run_id!r})"
        )

    # ------------------------------------------------------------------ connect
    def connect(self, study, status: str | None = "RUNNING") -> None:
        """Find or create the experiment and the study's parent run; learn the existing runs.

        ``status`` is set on the parent run (None: left as it is).
        """
        self.experiment_id = active_experiment(self.client, self.experiment_name, self.uri)
        uid = study_uid(study)
        info = study.user_attrs.get(StudyAttr.DATASET)
        self._inputs = pl.dataset_input(info)
        self._map = RunMap(self.client, self.uri, self.spec, uid, self.experiment_id, self.counts)
        self.parent_run_id, resumed = open_parent(self._map, study, info)
        if status:
            retry(self.client.update_run, self.parent_run_id, status=status)
        record_ids(study, self.parent_run_id, self.experiment_id)
        self._map.load(study, self.parent_run_id)
        history = retry(self.client.get_metric_history, self.parent_run_id, "best_cv_mean")
        self._best_steps = {m.step for m in history}
        _log.info(
            "MLflow: %s parent run %s of experiment %r",
            "resumed" if resumed else "created",
            self.parent_run_id,
            self.experiment_name,
        )

    # ------------------------------------------------------------------ sync
    def pending(self, study) -> int:
        """Trials not fully in MLflow yet: started ones without a run, ended ones not final."""
        n, known = 0, self._map.trials if self._map else {}
        for t in study.get_trials(deepcopy=False):
            if t.state == TrialState.WAITING:
                continue
            run = known.get(t.number)
            if run is None or (t.state.is_finished() and not run.final):
                n += 1
        return n

    def sync(self, study) -> int:
        """One pass: push what MLflow lacks of every trial. Returns the runs written to.

        Raises whatever the MLflow client raises (the caller retries): nothing in the study
        changes but the mapping attributes, and what was pushed stays pushed.
        """
        if self.parent_run_id is None:
            raise TrackingError("StudyWriter.connect(study) first")
        trials = study.get_trials(deepcopy=False)
        touched = 0
        for t in trials:
            if t.state == TrialState.WAITING:
                continue
            run = self._map.trials.get(t.number)
            if run is not None and run.final:
                continue
            try:
                touched += self._push(study, t, run)
            except MlflowException as exc:
                if not gone(exc):
                    raise
                self._map.trials.pop(t.number, None)  # deleted by another writer: look it up again
                touched += self._push(study, t, None)
        self._push_best(trials)
        return touched

    def _push(self, study, t, run: TrialRun | None) -> int:
        if run is None:
            run = self._map.trial_run(study, t, self.parent_run_id)
        params = pl.trial_params(t)
        metrics = pl.curve_metrics(t, run.epochs)
        tags = {}
        finished = t.state.is_finished()
        if finished:
            metrics += pl.final_metrics(t)
            tags = pl.final_tags(t)
        new_params = params if len(params) != run.params else {}
        if not (new_params or metrics or finished):
            return 0
        if finished:
            if self._inputs:
                self._log_inputs(run.run_id)
            tags[pl.SYNCED_TAG] = t.state.name  # with the last batch: then only the status
        param_entities, tag_entities = pl.as_entities(new_params, tags)
        pages = range(0, max(len(metrics), 1), PAGE)
        for i in pages:
            last = i == pages[-1]
            retry(
                self.client.log_batch,
                run.run_id,
                metrics=metrics[i : i + PAGE],
                params=param_entities if i == 0 else [],
                tags=tag_entities if last else [],
            )
        run.params, run.epochs = len(params), pl.curves_known(t)
        if finished:
            status = pl.END_STATUS[t.state][0]
            retry(self.client.set_terminated, run.run_id, status, end_time=pl.end_ms(t))
            run.final = True
            self.counts["finished"] += 1
        else:
            self.counts["updated"] += 1
        return 1

    def _log_inputs(self, run_id: str) -> None:
        """The data set as the run's input (two writers adding it at once: `util.retry`)."""
        retry(self.client.log_inputs, run_id, self._inputs)

    def _push_best(self, trials) -> None:
        """``best_cv_mean`` on the parent: a point at step = trial number at each new best."""
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        complete.sort(key=lambda t: (t.datetime_complete, t.number))
        best, points = None, []
        for t in complete:
            if best is None or t.value > best:
                best = t.value
                if t.number not in self._best_steps:
                    points.append(Metric("best_cv_mean", float(best), pl.end_ms(t), t.number))
        if points:
            retry(self.client.log_batch, self.parent_run_id, metrics=points)
            self._best_steps.update(m.step for m in points)

    # ------------------------------------------------------------------ the end
    def end(self, study, status: str = "FINISHED", plots: bool = True) -> None:
        """The study's outcome on the parent run: result, model, plots; then its status.

        The result is the study's ``nnsweep_result`` attribute (written by the sweep after the
        refit): the best parameters, test score and trial counts, and the saved model, which
        is logged and registered once (a parent run with the tag ``nnsweep.model`` has it).
        """
        run_id = self.parent_run_id
        result = study.user_attrs.get(StudyAttr.RESULT)
        if plots:
            log_plots(self.client, study, run_id)
        if result:
            log_result(self.client, self.uri, self.spec, run_id, result)
        retry(self.client.set_terminated, run_id, status)

    def plots(self, study) -> None:
        """The study's plots on the parent run (made again: same paths, newest content)."""
        log_plots(self.client, study, self.parent_run_id)
