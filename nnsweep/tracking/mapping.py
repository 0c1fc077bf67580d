"""Which MLflow run is which trial's: found by its tags, created once, deduplicated.

Reconciliation, so that any number of passes, restarts and writers give one run per trial:

* a trial's run carries the study name, uid, trial number and trial id as tags, and its id is
  kept in the study's user attribute ``mlflow_run:<number>``;
* `RunMap.load` lists the parent's trial runs once; a run whose final content landed has the
  tag ``nnsweep.synced`` (the trial state), and is not written again;
* two writers that create a run for one trial (or the study's parent run) at once both search
  right after creating it: the run with the smallest (start time, run id) is kept, the others
  deleted, by whichever writer sees them. A writer whose run was deleted meets an error at its
  next write, looks the trial's run up again and goes on with the kept one.

Leaves out: what the runs hold (`nnsweep.tracking.payload`, written by
`nnsweep.tracking.writer`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from ..compat.optuna import trial_id
from ..study.records import StudyAttr
from . import payload as pl
from .runs import gone, search_all
from .store import creation_lock
from .util import ms, retry, short

__all__ = ["RunMap", "TrialRun"]

_log = logging.getLogger(__name__)


@dataclass
class TrialRun:
    """What the writer knows of one trial's run."""

    run_id: str
    epochs: int = 0  # curve epochs pushed (0 after a restart: pushed again, kept once)
    params: int = 0  # params pushed
    final: bool = False  # the trial's final content is in MLflow


def _age(run):
    """Sort key: the oldest run first, ties broken by id (every writer picks the same one)."""
    return (run.info.start_time or 0, run.info.run_id)


class RunMap:
    """The runs of one study in its experiment: its parent run, and trial number -> run.

    Parameters
    ----------
    client : mlflow.MlflowClient
    uri : str
        The tracking URI (the creation lock of a SQLite store is beside it).
    spec : nnsweep.config.StudySpec
    uid : str
        The study's ``mlflow_study_uid``.
    experiment_id : str
    counts : dict
        The writer's counts: ``created`` and ``deduplicated`` are counted here.
    """

    def __init__(self, client, uri: str, spec, uid: str, experiment_id: str, counts: dict):
        self.client, self.uri, self.spec, self.uid = client, uri, spec, uid
        self.experiment_id, self.counts = experiment_id, counts
        self.trials: dict[int, TrialRun] = {}

    def parent(self, which: str, tags: dict[str, str]) -> tuple[str, bool]:
        """The run matching ``which``, or one created with ``tags``: ``(id, found)``."""
        with creation_lock(self.uri):
            found = self._oldest(which)
            resumed = found is not None
            if not resumed:
                self.client.create_run(self.experiment_id, tags=tags, run_name=self.spec.name)
                found = self._oldest(which, delete_others=True)  # writers elsewhere: one wins
        return found.info.run_id, resumed

    def load(self, study, parent_run_id: str) -> None:
        """Learn the parent's trial runs (one search); delete duplicates; fix the mapping."""
        which = f"tags.`{pl.PARENT_TAG}` = '{parent_run_id}'"
        by_trial: dict[int, list] = {}
        for run in search_all(self.client, self.experiment_id, which):
            number = run.data.tags.get(pl.TRIAL_TAG)
            if number is not None and number.isdigit():
                by_trial.setdefault(int(number), []).append(run)
        self.trials = {}
        for number, runs in by_trial.items():
            kept = self._keep_oldest(runs)
            synced = kept.data.tags.get(pl.SYNCED_TAG) is not None
            ended = kept.info.status != "RUNNING"  # the status is set after the synced tag
            self.trials[number] = TrialRun(kept.info.run_id, final=synced and ended)
        self._save(study, {n: r.run_id for n, r in self.trials.items()})

    def trial_run(self, study, t, parent_run_id: str) -> TrialRun:
        """The trial's run: found by its tags, or created (and deduplicated against a race)."""
        which = (
            f"tags.`{pl.PARENT_TAG}` = '{parent_run_id}' AND tags.`{pl.TRIAL_TAG}` = '{t.number}'"
        )
        with creation_lock(self.uri):  # one machine's writers of a SQLite store: no race
            found = self._oldest(which, delete_others=True)
            if found is None:
                found = self._create_trial_run(study, t, parent_run_id, which)
        run = TrialRun(found.info.run_id)
        self.trials[t.number] = run
        self._save(study, {t.number: run.run_id})
        return run

    def _create_trial_run(self, study, t, parent_run_id: str, which: str):
        """Create the trial's run; then keep the oldest of its runs (writers elsewhere)."""
        info = study.user_attrs.get(StudyAttr.DATASET)
        tags = {
            **pl.context_tags(self.spec, self.uid, info),
            pl.PARENT_TAG: parent_run_id,
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

    def _oldest(self, filter_string: str, delete_others: bool = False):
        """The run matching ``filter_string`` with the smallest (start time, id), or None."""
        runs = search_all(self.client, self.experiment_id, filter_string)
        if not runs:
            return None
        if delete_others:
            return self._keep_oldest(runs)
        return min(runs, key=_age)

    def _keep_oldest(self, runs):
        """The oldest of ``runs`` (one trial's, or the parent's); the others are deleted."""
        runs = sorted(runs, key=_age)
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

    @staticmethod
    def _save(study, mapping: dict[int, str]) -> None:
        """The trial-to-run mapping as the study's ``mlflow_run:<number>`` attributes."""
        attrs = study.user_attrs
        for number, run_id in mapping.items():
            key = f"{StudyAttr.MLFLOW_RUN_PREFIX}{number}"
            if attrs.get(key) != run_id:
                study.set_user_attr(key, run_id)
