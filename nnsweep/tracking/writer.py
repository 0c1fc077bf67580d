"""`StudyWriter`: project an Optuna study into MLflow, one pass at a time, idempotently.

The Optuna storage is the source of truth; MLflow is a view of it. Each `StudyWriter.sync`
pass reads the study's trials and pushes what MLflow lacks: a run for each trial that started,
the params once known, the curves' new epochs, and, once the trial ended, its scores, tags,
data set input and final status. A pass that fails (the store went away) changes nothing in
the study; the next pass picks up where MLflow is.

Reconciliation, so that any number of passes, restarts and writers give one run per trial:

* a trial's run carries the study name, uid, trial number and trial id as tags, and its id is
  kept in the study's user attribute ``mlflow_run:<number>``;
* `StudyWriter.connect` lists the parent's trial runs once; a run whose final content landed
  has the tag ``nnsweep.synced`` (the trial state), and is not written again;
* metric rows carry the trial's own timestamps, so a row pushed twice is the same row, which
  MLflow's SQL store keeps once;
* two writers that create a run for one trial at once both search right after creating it:
  the run with the smallest (start time, run id) is kept, the others deleted, by whichever
  writer sees them. A writer whose run was deleted meets an error at its next write, looks the
  trial's run up again and goes on with the kept one.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import optuna
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from ..compat.optuna import trial_id
from ..records import StudyAttr
from ..redact import redact_text, redact_url
from . import payload as pl
from .artifacts import log_plots, log_study_text
from .runs import PAGE, active_experiment, gone, log_params_once, log_result, search_all
from .store import absolute_uri, creation_lock, make_client
from .util import TrackingError, ms, quote, retry, short

_log = logging.getLogger(__name__)
TrialState = optuna.trial.TrialState


@dataclass
class _Run:
    """What this writer knows of one trial's run."""

    run_id: str
    epochs: int = 0  # curve epochs pushed (0 after a restart: pushed again, kept once)
    params: int = 0  # params pushed
    final: bool = False  # the trial's final content is in MLflow


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
        self._runs: dict[int, _Run] = {}
        self._best_steps: set[int] = set()
        self._inputs = None
        self._uid = ""

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
        self._uid = study.user_attrs.get(StudyAttr.MLFLOW_UID) or ""
        if not self._uid:
            study.set_user_attr(StudyAttr.MLFLOW_UID, uuid.uuid4().hex)
            self._uid = study.user_attrs[StudyAttr.MLFLOW_UID]
        info = study.user_attrs.get(StudyAttr.DATASET)
        self._inputs = pl.dataset_input(info)
        self.parent_run_id, resumed = self._parent(study, info)
        if status:
            retry(self.client.update_run, self.parent_run_id, status=status)
        for key, value in (
            (StudyAttr.MLFLOW_PARENT, self.parent_run_id),
            (StudyAttr.MLFLOW_EXPERIMENT, self.experiment_id),
        ):
            if study.user_attrs.get(key) != value:
                study.set_user_attr(key, value)
        self._load_runs(study)
        history = retry(self.client.get_metric_history, self.parent_run_id, "best_cv_mean")
        self._best_steps = {m.step for m in history}
        _log.info(
            "MLflow: %s parent run %s of experiment %r",
            "resumed" if resumed else "created",
            self.parent_run_id,
            self.experiment_name,
        )

    def _context_tags(self, info) -> dict[str, str]:
        spec, info = self.spec, info or {}
        return {
            pl.STUDY_TAG: spec.name,
            pl.UID_TAG: self._uid,
            "optuna.study_name": spec.name,
            "nnsweep.sampler": spec.sampler.name,
            "nnsweep.pruner": spec.pruner.name,
            "nnsweep.data": info.get("name", spec.data.name),
            "nnsweep.data_digest": info.get("digest", ""),
        }

    def _parent(self, study, info) -> tuple[str, bool]:
        """The study's parent run, found by (study, role, uid) or created: ``(id, found)``."""
        which = (
            f"tags.`{pl.STUDY_TAG}` = '{quote(self.spec.name)}' AND tags.`{pl.ROLE_TAG}` = "
            f"'study' AND tags.`{pl.UID_TAG}` = '{self._uid}'"
        )
        tags = {
            **self._context_tags(info),
            pl.ROLE_TAG: "study",
            "optuna.direction": study.direction.name,
            "nnsweep.tracking_uri": redact_url(self.uri),
            "nnsweep.storage": redact_url(self.spec.storage.url),
        }
        if self.spec.description:
            tags["mlflow.note.content"] = self.spec.description
        with creation_lock(self.uri):
            found = self._oldest(which)
            resumed = found is not None
            if not resumed:
                self.client.create_run(self.experiment_id, tags=tags, run_name=self.spec.name)
                found = self._oldest(which, delete_others=True)  # writers elsewhere: one wins
        run_id = found.info.run_id
        log_params_once(self.client, run_id, pl.spec_params(self.spec, info))
        text = study.user_attrs.get(StudyAttr.STUDY_FILE) or redact_text(self.spec.source_text)
        log_study_text(self.client, self.spec, run_id, text)
        _, entities = pl.as_entities(tags=tags)
        retry(self.client.log_batch, run_id, tags=entities)
        return run_id, resumed

    def _oldest(self, filter_string: str, delete_others: bool = False):
        """The run matching ``filter_string`` with the smallest (start time, id), or None."""
        runs = search_all(self.client, self.experiment_id, filter_string)
        if not runs:
            return None
        runs.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))
        if delete_others:
            for extra in runs[1:]:
                self._delete(extra.info.run_id)
        return runs[0]

    def _delete(self, run_id: str) -> None:
        try:
            retry(self.client.delete_run, run_id)
            self.counts["deduplicated"] += 1
        except MlflowException as exc:  # deleted meanwhile by the other writer?
            if not gone(exc):
                _log.warning("MLflow: could not delete duplicate run %s: %s", run_id, short(exc))

    def _load_runs(self, study) -> None:
        """Learn the parent's trial runs (one search); delete duplicates; fix the mapping."""
        which = f"tags.`{pl.PARENT_TAG}` = '{self.parent_run_id}'"
        by_trial: dict[int, list] = {}
        for run in search_all(self.client, self.experiment_id, which):
            number = run.data.tags.get(pl.TRIAL_TAG)
            if number is not None and number.isdigit():
                by_trial.setdefault(int(number), []).append(run)
        self._runs = {}
        for number, runs in by_trial.items():
            runs.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))
            for extra in runs[1:]:
                self._delete(extra.info.run_id)
            kept = runs[0]
            synced = kept.data.tags.get(pl.SYNCED_TAG) is not None
            ended = kept.info.status != "RUNNING"  # the status is set after the synced tag
            self._runs[number] = _Run(kept.info.run_id, final=synced and ended)
        self._save_mapping(study, {n: r.run_id for n, r in self._runs.items()})

    def _save_mapping(self, study, mapping: dict[int, str]) -> None:
        attrs = study.user_attrs
        for number, run_id in mapping.items():
            key = f"{StudyAttr.MLFLOW_RUN_PREFIX}{number}"
            if attrs.get(key) != run_id:
                study.set_user_attr(key, run_id)

    # ------------------------------------------------------------------ sync
    def pending(self, study) -> int:
        """Trials not fully in MLflow yet: started ones without a run, ended ones not final."""
        n = 0
        for t in study.get_trials(deepcopy=False):
            if t.state == TrialState.WAITING:
                continue
            run = self._runs.get(t.number)
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
            run = self._runs.get(t.number)
            if run is not None and run.final:
                continue
            try:
                touched += self._push(study, t, run)
            except MlflowException as exc:
                if not gone(exc):
                    raise
                self._runs.pop(t.number, None)  # deleted by another writer: look it up again
                touched += self._push(study, t, None)
        self._push_best(trials)
        return touched

    def _push(self, study, t, run: _Run | None) -> int:
        if run is None:
            run = self._trial_run(study, t)
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
        """The data set as the run's input; two writers adding it at once: once more.

        MLflow's SQL store inserts a data set row per experiment, and two writers that log the
        same new one together collide on its unique key ("UNIQUE constraint failed:
        datasets..."); the second attempt finds the row and only links it.
        """
        for attempt in range(3):
            try:
                return retry(self.client.log_inputs, run_id, self._inputs)
            except MlflowException as exc:
                if attempt == 2 or "unique constraint" not in str(exc).lower():
                    raise
        return None

    def _trial_run(self, study, t) -> _Run:
        """The trial's run: found by its tags, or created (and deduplicated against a race)."""
        which = (
            f"tags.`{pl.PARENT_TAG}` = '{self.parent_run_id}' "
            f"AND tags.`{pl.TRIAL_TAG}` = '{t.number}'"
        )
        with creation_lock(self.uri):  # one machine's writers of a SQLite store: no race
            found = self._oldest(which, delete_others=True)
            if found is None:
                found = self._create_trial_run(study, t, which)
        run = _Run(found.info.run_id)
        self._runs[t.number] = run
        self._save_mapping(study, {t.number: run.run_id})
        return run

    def _create_trial_run(self, study, t, which):
        """Create the trial's run; then keep the oldest of its runs (writers elsewhere)."""
        tags = {
            **self._context_tags(study.user_attrs.get(StudyAttr.DATASET)),
            pl.PARENT_TAG: self.parent_run_id,
            pl.ROLE_TAG: "trial",
            pl.TRIAL_TAG: str(t.number),
            pl.TRIAL_ID_TAG: str(trial_id(t)),
        }
        retry(
            self.client.create_run,
            self.experiment_id,
            start_time=ms(t.datetime_start),
            tags=tags,
            run_name=f"trial-{t.number:04d}",
        )
        self.counts["created"] += 1
        return self._oldest(which, delete_others=True)

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
