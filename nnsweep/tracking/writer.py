"""`StudyWriter`: project an Optuna study into MLflow, one pass at a time, idempotently.

The Optuna storage is the source of truth; MLflow is a view of it. Each `StudyWriter.sync`
pass reads the study's trials and pushes what MLflow lacks: a run for each trial that started,
the params once known, the curves' new epochs, and, once the trial ended, its scores, tags,
data set input and final status. A pass that fails (the store went away) changes nothing in
the study; the next pass picks up where MLflow is: metric rows carry the trial's own
timestamps, so a row pushed twice is the same row, which MLflow's SQL store keeps once.

One writer per study at a time: `StudyWriter.connect` takes the study's writer lock
(`nnsweep.study.locks.writer_lock`), and a second writer is told who holds it. Which run is
which trial's is `nnsweep.tracking.runs`'.
"""

from __future__ import annotations

import optuna
from mlflow.entities import Metric

from ..study.locks import take_exclusive, writer_lock
from ..study.records import StudyAttr
from . import payload as pl
from .artifacts import log_plots, log_result
from .runs import (
    TrialRun,
    active_experiment,
    create_trial_run,
    open_parent,
    study_uid,
    trial_runs,
)
from .store import absolute_uri, open_store
from .util import TrackingError

TrialState = optuna.trial.TrialState
BUSY = "another MLflow writer of this study is running ({holder}; lock {path})"


class StudyWriter:
    """Project one study into MLflow: one experiment, one parent run, one child run per trial.

    Parameters
    ----------
    spec : nnsweep.config.StudySpec
        The study's settings: its name, the tracking URI and experiment, what the parent run's
        params show.
    client : mlflow.MlflowClient, optional
        Default: one for ``spec.tracking.uri`` (`nnsweep.tracking.store.open_store`).

    Attributes
    ----------
    experiment_id, parent_run_id, uid, dataset_info
        The experiment's and the parent run's ids, the study's ``mlflow_study_uid`` and its
        data set's description: set by `connect`.
    lock : nnsweep.study.flock.FileLock
        The study's writer lock, held from `connect` on (`close` releases it).
    counts : dict
        Runs ``created``, ``updated`` and ``finished`` by this writer.
    """

    def __init__(self, spec, client=None):
        self.spec = spec
        self.uri = absolute_uri(spec.tracking.uri)
        self._client = client  # made on first use: inside the writer's retries
        self.lock = writer_lock(spec)
        self.experiment_id = self.parent_run_id = self.uid = self.dataset_info = None
        self.counts = dict(created=0, updated=0, finished=0)
        self.trials: dict[int, TrialRun] = {}  # trial number -> its run; set by connect
        self._best_steps: set[int] = set()
        self._inputs = []

    @property
    def client(self):
        """The `mlflow.MlflowClient` (made on first use; a new SQLite store is created then)."""
        if self._client is None:
            self._client = open_store(self.uri)
        return self._client

    def close(self) -> None:
        """Release the writer lock: another writer may follow the study now."""
        self.lock.release()

    # ------------------------------------------------------------------ connect
    def connect(self, study, status: str | None = "RUNNING", wait=None) -> None:
        """Take the writer lock; find or create the experiment, the parent run; learn the runs.

        ``status`` is set on the parent run (None: left as it is). ``wait``: called with a
        sentence saying who holds the lock, then its end is awaited (None: raise at once).

        Raises
        ------
        nnsweep.study.locks.StudyBusyError
            Another writer holds the study's writer lock (the message says which), and
            ``wait`` is None.
        """
        if not self.lock.held:
            take_exclusive(self.lock, BUSY, wait)
        name = self.spec.tracking.experiment or self.spec.name
        self.experiment_id = active_experiment(self.client, name, self.uri)
        self.uid, self.dataset_info = study_uid(study), study.user_attrs.get(StudyAttr.DATASET)
        self._inputs = pl.dataset_input(self.dataset_info)
        self.parent_run_id = open_parent(self, study)
        if status:
            self.client.update_run(self.parent_run_id, status=status)
        self.trials = trial_runs(self.client, self.experiment_id, self.parent_run_id)
        history = self.client.get_metric_history(self.parent_run_id, "best_cv_mean")
        self._best_steps = {m.step for m in history}

    # ------------------------------------------------------------------ sync
    def pending(self, study) -> int:
        """Trials not fully in MLflow yet: started ones without a run, ended ones not final."""
        n = 0
        for t in study.get_trials(deepcopy=False):
            run = self.trials.get(t.number)
            if t.state != TrialState.WAITING and (
                run is None or (t.state.is_finished() and not run.final)
            ):
                n += 1
        return n

    def sync(self, study) -> None:
        """One pass: push what MLflow lacks of every trial.

        Raises whatever the MLflow client raises (the caller retries): nothing in the study
        changes, and what was pushed stays pushed.
        """
        if self.parent_run_id is None:
            raise TrackingError("StudyWriter.connect(study) first")
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            run = self.trials.get(t.number)
            if t.state != TrialState.WAITING and not (run is not None and run.final):
                self._push(t, run)
        self._push_best(trials)

    def _push(self, t, run: TrialRun | None) -> None:
        if run is None:
            run = self.trials[t.number] = create_trial_run(self, t)
            self.counts["created"] += 1
        params = pl.trial_params(t)
        metrics = pl.curve_metrics(t, run.epochs)
        tags = {}
        finished = t.state.is_finished()
        if finished:
            metrics += pl.final_metrics(t)
            tags = pl.final_tags(t)
        new_params = params if len(params) != run.params else {}
        if not (new_params or metrics or finished):
            return
        if finished:
            if self._inputs:
                self.client.log_inputs(run.run_id, self._inputs)
            tags[pl.SYNCED_TAG] = t.state.name  # final once the end status is set too, after
        param_entities, tag_entities = pl.as_entities(new_params, tags)
        # MLflow's client splits a batch at its limits (1000 metrics, 100 params or tags)
        self.client.log_batch(run.run_id, metrics, param_entities, tag_entities)
        run.params, run.epochs = len(params), pl.curves_known(t)
        if finished:
            status = pl.END_STATUS[t.state][0]
            self.client.set_terminated(run.run_id, status, end_time=pl.end_ms(t))
            run.final = True
            self.counts["finished"] += 1
        else:
            self.counts["updated"] += 1

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
            self.client.log_batch(self.parent_run_id, metrics=points)
            self._best_steps.update(m.step for m in points)

    # ------------------------------------------------------------------ the end
    def end(self, study, status: str = "FINISHED", plots: bool = True) -> None:
        """The study's outcome on the parent run: result, model, plots; then its status.

        The result is the study's ``nnsweep_result`` attribute (written by the sweep after the
        refit): the best parameters, test score and trial counts, and the saved model, which
        is logged and registered once (a parent run with the tag ``nnsweep.model`` has it).
        """
        result = study.user_attrs.get(StudyAttr.RESULT)
        if plots:
            self.plots(study)
        if result:
            log_result(self.client, self.uri, self.spec, self.parent_run_id, result)
            self._tag_ties(result)
        self.client.set_terminated(self.parent_run_id, status)

    def _tag_ties(self, result) -> None:
        """``nnsweep.within_noise`` on every finished trial's run, for the UI to filter on.

        True for the ties of the best (the folds cannot tell them apart), false for the others.
        """
        ties = {tie["trial"] for tie in result.get("within_noise") or []}
        if not ties:
            return
        for number, run in self.trials.items():
            if run.final:
                self.client.set_tag(
                    run.run_id, "nnsweep.within_noise", str(number in ties).lower()
                )

    def plots(self, study) -> None:
        """The study's plots on the parent run (made again: same paths, newest content)."""
        log_plots(self.client, study, self.parent_run_id)
