"""MLflow tracking of a sweep: one parent run per study, one nested child run per trial.

`MLflowTracker` is the only place nnsweep talks to MLflow. The parent process calls
`~MLflowTracker.check_reachable` and `~MLflowTracker.start` before any worker starts (so the
experiment and the parent run are created once, race-free), and `~MLflowTracker.finish` at the
end (best parameters, the refitted model in the registry under alias ``best``, study plots).
Workers receive the tracker pickled (a few strings: no client, no arrays) and call
`~MLflowTracker.trial_started` when a trial starts and the tracker itself, Optuna-callback style,
when it ends. A trial is logged with one ``log_batch`` call, and every write is idempotent
(runs are found again by their tags; metrics carry the trial's own timestamps), so a repeated
call never duplicates a run or a metric.

Where runs live, first match wins:

1. the ``tracking_uri`` argument (an explicit value from the caller);
2. ``spec.tracking.uri`` unless it is the default, i.e. when the study file or ``--set`` set it
   (`nnsweep.config.load_study` puts ``MLFLOW_TRACKING_URI`` there when the file sets none);
3. the ``MLFLOW_TRACKING_URI`` environment variable;
4. ``sqlite:///mlruns/mlflow.db``: an embedded store, no server.

A relative SQLite path is made absolute against the current directory when the tracker is
built, so workers with another working directory write to the same file; the file is switched to
WAL mode, so concurrent workers rarely wait on each other, and processes that open a new store or
start a study at once (``nnsweep worker`` run several times) take turns on ``<database>.lock``.
A SQLite store keeps the experiment's artifacts in ``artifacts/`` beside the database
(``mlruns/artifacts``), another database in ``./mlruns/artifacts``; an ``http(s)`` tracking
server chooses its own.

Cost, measured on SQLite (2 cores, busy machine): a trial of 60 epochs x 5 folds (420 step
metrics) takes about 10 ms at its start and 50-80 ms at its end, mostly MLflow inserting the
metric rows; each worker process pays about 1-2 s once, importing MLflow and opening the store.

Run statuses: a COMPLETE trial ends FINISHED, PRUNED ends KILLED and FAIL ends FAILED. The parent
run is RUNNING during the sweep (RUNNING again when resumed) and FINISHED after ``finish``.

Errors: `check_reachable` and `start` raise `TrackingError`. In workers, an MLflow failure while
logging a trial is logged as a warning and the sweep goes on (the trial itself is safe in the
Optuna storage); in `finish`, the model and the plots are best effort in the same way.
Every URI that is printed, raised or logged goes through `nnsweep.redact.redact_url`.

Left out on purpose: training, choosing trials, and any use of the Optuna storage beyond reading
the trial and study given and setting their ``mlflow_*`` user attributes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import sqlite3
import sys
import threading
import time
import uuid
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

try:
    import fcntl
except ImportError:  # Windows: no lock between processes
    fcntl = None

import mlflow
import numpy as np
import optuna
from mlflow import MlflowClient
from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from .config import DEFAULT_TRACKING_URI
from .redact import redact_text, redact_url

__all__ = ["MLflowTracker", "TrackingError"]

_log = logging.getLogger(__name__)
TrialState = optuna.trial.TrialState

# Tags: children are found by (parent run, trial number), the parent by (study, role, uid).
PARENT_TAG, ROLE_TAG, STUDY_TAG = "mlflow.parentRunId", "nnsweep.role", "nnsweep.study"
UID_TAG, TRIAL_TAG = "nnsweep.study_uid", "optuna.trial_number"
# Optuna user attributes set here: on the trial, and on the study.
RUN_ATTR = "mlflow_run_id"
PARENT_ATTR, EXPERIMENT_ATTR, UID_ATTR = (
    "mlflow_parent_run_id",
    "mlflow_experiment_id",
    "mlflow_study_uid",
)
_END_STATUS = {  # trial state -> (run status, default stop reason)
    TrialState.COMPLETE: ("FINISHED", "completed"),
    TrialState.PRUNED: ("KILLED", "pruned"),
    TrialState.FAIL: ("FAILED", "failed"),
}
_MAX_FAILURES = 3  # consecutive failures after which a worker stops logging trials
_FAILED = object()  # what _best_effort returns when its step failed
_MAX_ERROR = 2000  # characters of a trial's error kept in its nnsweep.error tag
_PROBE_TIMEOUT = 5.0  # seconds for check_reachable's request, unless MLFLOW_HTTP_REQUEST_TIMEOUT
_LOCK_RETRIES = 12  # SQLite "database is locked": attempts, backing off to 2 s (~15 s in all)


class TrackingError(RuntimeError):
    """MLflow tracking cannot proceed; the message says why and what to do, URLs redacted."""


class MLflowTracker:
    """Log a sweep to MLflow: experiment, parent run per study, child run per trial, best model.

    Parameters
    ----------
    spec : nnsweep.config.StudySpec
        The study; ``spec.tracking.enabled = false`` makes every method a no-op.
    dataset : nnsweep.datasets.Dataset, optional
        Only its name, source, digest and shapes are kept (no arrays); it is logged as the
        input of every trial run. None: no dataset input.
    tracking_uri : str, optional
        Explicit tracking URI; wins over the spec and the environment (module docstring).

    Attributes
    ----------
    tracking_uri : str
        The resolved URI (absolute for SQLite). It may hold credentials: show
        ``redact_url(tracker.tracking_uri)``, never the URI itself.
    artifact_location : str or None
        Artifact location of a new experiment (None: the tracking server decides).
    experiment_name : str
        ``spec.tracking.experiment``, else ``spec.name``.
    experiment_id, parent_run_id : str or None
        Set by `start`; a worker whose copy predates `start` reads them from the study.
    """

    def __init__(self, spec, dataset=None, tracking_uri=None):
        self.spec = spec
        self.enabled = bool(spec.tracking.enabled)
        self.tracking_uri = _resolve_uri(tracking_uri, spec.tracking.uri)
        self.artifact_location = _artifact_location(self.tracking_uri)
        self.experiment_name = spec.tracking.experiment or spec.name
        self.dataset_info = _dataset_info(dataset)
        self.experiment_id = None
        self.parent_run_id = None
        self._client = None
        self._lock = threading.Lock()
        self._failures = 0  # consecutive worker-side logging failures in this process

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_client"] = None  # each process makes its own, on first use
        state["_failures"] = 0
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self):
        return (
            f"MLflowTracker(study={self.spec.name!r}, uri={redact_url(self.tracking_uri)!r}, "
            f"experiment={self.experiment_name!r}, parent_run_id={self.parent_run_id!r})"
        )

    @property
    def client(self) -> MlflowClient:
        """The `mlflow.MlflowClient` of this process for `tracking_uri` (made on first use)."""
        if self._client is None:
            self._client = _process_client(self.tracking_uri)
        return self._client

    # ------------------------------------------------------------------ parent process
    def check_reachable(self) -> None:
        """Fail fast, before any training, if runs cannot be logged where they should go.

        ``http(s)``: one request to the server's REST API, no retries, timeout
        ``MLFLOW_HTTP_REQUEST_TIMEOUT`` if set, else 5 s. SQLite: the database's folder and the
        artifact folder must be creatable and writable, then the store is opened (its tables
        created). Other stores are opened and queried once.

        Raises
        ------
        TrackingError
            Naming the redacted URI, the cause and the fix.
        """
        if not self.enabled:
            return
        uri, shown = self.tracking_uri, redact_url(self.tracking_uri)
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        if scheme in ("http", "https"):
            return self._probe_http()
        if _is_sqlite(uri):
            path = _sqlite_path(uri)
            if path is None:
                raise TrackingError(
                    f"MLflow tracking URI {shown} is an in-memory SQLite database, which worker "
                    f"processes cannot share; use a file, e.g. {DEFAULT_TRACKING_URI}"
                )
            _check_writable(path.parent, f"MLflow SQLite store {shown}")
            artifacts = Path(unquote(urlsplit(self.artifact_location).path))
            _check_writable(artifacts, "MLflow artifacts")
        elif scheme in ("", "file") and not _env_true("MLFLOW_ALLOW_FILE_STORE"):
            raise TrackingError(
                f"MLflow tracking URI {shown} is the legacy file store, which MLflow 3 refuses; "
                f"set tracking.uri to a database such as {DEFAULT_TRACKING_URI}"
            )
        try:
            with _store_lock(uri):  # a new SQLite store is created (migrated) one at a time
                self.client.search_experiments(max_results=1)
        except Exception as exc:
            raise TrackingError(
                f"MLflow tracking store at {shown} is unusable: {_short(exc)}; fix it or set "
                "tracking.uri"
            ) from None

    def start(self, study) -> str:
        """Get or create the experiment and this study's one parent run; log the study setup.

        Call it in the parent process before workers start. The parent run is found again by
        its tags ``nnsweep.study``, ``nnsweep.role=study`` and ``nnsweep.study_uid`` (the
        study's ``mlflow_study_uid`` attribute, so a study re-created under the same name gets a
        new parent) and reused when a sweep is resumed. Logs the study file as an artifact and
        the study's settings as params; sets the study's user attributes
        ``mlflow_parent_run_id`` and ``mlflow_experiment_id``. On resume, finished trials
        whose run a stopped sweep left RUNNING (or never created) are logged now.

        Parameters
        ----------
        study : optuna.Study

        Returns
        -------
        str
            The parent run id ("" when tracking is disabled).
        """
        if not self.enabled:
            return ""
        with _store_lock(self.tracking_uri):  # processes starting at once: one at a time
            run_id, resumed = self._get_or_create_parent(study)
        if resumed:
            self._catch_up(study, run_id)
        what = "resumed" if resumed else "created"
        _log.info("MLflow: %s parent run %s of experiment %r", what, run_id, self.experiment_name)
        return run_id

    def _get_or_create_parent(self, study) -> tuple[str, bool]:
        """The body of `start`: ``(parent run id, whether it existed)``."""
        spec, client = self.spec, self.client
        self.experiment_id = self._experiment()
        if _is_sqlite(self.tracking_uri):
            _use_wal(_sqlite_path(self.tracking_uri))
            _commit_without_fsync(client)
        if not study.user_attrs.get(UID_ATTR):
            study.set_user_attr(UID_ATTR, uuid.uuid4().hex)
        uid = study.user_attrs[UID_ATTR]  # read back: another process may have won
        which = (
            f"tags.`{STUDY_TAG}` = '{_quote(spec.name)}' AND tags.`{ROLE_TAG}` = 'study' "
            f"AND tags.`{UID_TAG}` = '{uid}'"
        )
        found = self._search(which)
        tags = {
            **self._context_tags(),
            ROLE_TAG: "study",
            UID_TAG: uid,
            "optuna.study_name": study.study_name,
            "optuna.direction": study.direction.name,
            "nnsweep.tracking_uri": redact_url(self.tracking_uri),
            "nnsweep.storage": redact_url(spec.storage.url),
        }
        if spec.description:
            tags["mlflow.note.content"] = spec.description
        if found:
            run_id = found.info.run_id
            _retry(client.update_run, run_id, status="RUNNING")
        else:
            run = _retry(client.create_run, self.experiment_id, tags=tags, run_name=spec.name)
            run_id = run.info.run_id
            first = self._search(which)  # several machines started at once: the oldest wins
            if first is not None and first.info.run_id != run_id:
                _retry(client.delete_run, run_id)
                run_id, found = first.info.run_id, first
        self.parent_run_id = run_id
        study.set_user_attr(PARENT_ATTR, run_id)
        study.set_user_attr(EXPERIMENT_ATTR, self.experiment_id)
        self._log_params_once(run_id, self._spec_params())
        self._log_study_file(run_id, resumed=found is not None)
        _retry(client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        return run_id, found is not None

    def finish(self, study, result) -> None:
        """Log the outcome on the parent run, register the model, plot, end the parent run.

        Parameters
        ----------
        study : optuna.Study
        result : object
            With ``best_params`` (dict), ``best_value``, ``best_trial_number``, ``model`` (a
            fitted estimator or Pipeline, or None), ``X_example`` (a few rows, or None),
            ``test_score`` (float or None), ``test_metric`` (str), ``n_complete``,
            ``n_pruned``, ``n_failed`` and ``wall_time`` (seconds).

        Notes
        -----
        The best parameters become params ``best.<name>``. MLflow params cannot change, so a
        resumed sweep that finds another best keeps the first ones (with a warning); the
        current ones are always in ``best_params.json`` and the ``nnsweep.best_trial`` tag.
        The model is logged (skops format, our classes trusted; ``nnsweep`` shipped as code) and
        registered as ``nnsweep-<study name>``, and alias ``best`` moves to the new version.
        """
        if not self.enabled:
            return
        client, run_id = self.client, self._parent(study)
        best = dict(getattr(result, "best_params", None) or {})
        number = getattr(result, "best_trial_number", None)
        self._log_params_once(run_id, {f"best.{k}": v for k, v in best.items()})
        payload = {"best_trial_number": number, "best_value": result.best_value, "params": best}
        client.log_dict(run_id, payload, "best_params.json")
        now = _now_ms()
        best_ms = _best_trial_ms(study, number) or now  # the timestamp trial callbacks used
        metrics = [Metric("best_cv_mean", result.best_value, best_ms, number or 0)]
        for key in ("test_score", "n_complete", "n_pruned", "n_failed", "wall_time"):
            metrics.append(Metric(key, getattr(result, key, None), now, 0))
        tags = [RunTag("nnsweep.best_trial", str(number))]
        if getattr(result, "test_metric", None):
            tags.append(RunTag("nnsweep.test_metric", str(result.test_metric)))
        metrics = [m for m in metrics if _finite(m.value)]
        _retry(client.log_batch, run_id, metrics=metrics, tags=tags)
        if getattr(result, "model", None) is not None:
            _best_effort("log and register the model", self._log_model, run_id, result)
        _best_effort("log the study plots", self._log_plots, study, run_id)
        # Trials a worker could not log (the store was away for a while) are logged now.
        # _catch_up takes self._lock itself (through _guarded), so it is not wrapped in it.
        _best_effort("log the trials left unlogged", self._catch_up, study, run_id)
        _retry(client.set_terminated, run_id, "FINISHED")

    # ------------------------------------------------------------------ worker processes
    def trial_started(self, study, trial) -> None:
        """Create (or find again) the trial's child run, RUNNING; put its id on the trial.

        Parameters
        ----------
        study : optuna.Study
        trial : optuna.Trial
            Gets the user attribute ``mlflow_run_id``.
        """
        if not self.enabled:
            return
        parent = self._parent(study)
        what = f"create the run of trial {trial.number}"
        run_id = self._guarded(what, self._trial_run, study, parent, trial, resets=False)
        if run_id:
            trial.set_user_attr(RUN_ATTR, run_id)

    def __call__(self, study, frozen_trial) -> None:
        """Log a finished trial to its child run and end the run (an Optuna callback).

        Params: the trial's ``estimator_params`` user attribute (every estimator parameter,
        sampled and fixed) over its sampled params. Metrics: ``cv_mean``, ``cv_std``,
        ``fold_<i>_score``, ``fit_time``, ``n_epochs`` and, per epoch (step 1..n),
        ``val_mean``, ``loss_mean`` and ``val_fold_<i>``, from the user attributes
        ``cv_mean``, ``cv_std``, ``fold_scores``, ``fit_time``, ``n_epochs``,
        ``curve_val_mean``, ``curve_loss_mean`` and ``curve_val_folds`` (missing ones are
        derived from the trial or skipped). Tags: ``optuna.trial_state``,
        ``nnsweep.stop_reason`` and ``nnsweep.error``. When the trial is the study's best so
        far, the parent's ``best_cv_mean`` gets a point at step = trial number.

        Parameters
        ----------
        study : optuna.Study
        frozen_trial : optuna.trial.FrozenTrial
            COMPLETE, PRUNED or FAIL; a run without ``mlflow_run_id`` (its worker died before
            `trial_started` ended) is found by its tags, or created.
        """
        if not self.enabled:
            return
        parent = self._parent(study)
        what = f"log trial {frozen_trial.number}"
        self._guarded(what, self._log_trial, study, parent, frozen_trial)

    # ------------------------------------------------------------------ helpers
    def _guarded(self, what: str, fn, *args, resets: bool = True):
        """Run a worker-side logging step; a failure is a warning, not an error.

        After `_MAX_FAILURES` failures with no success of a ``resets`` step in between, this
        process stops trying: a dead tracking server would otherwise stall every trial in
        MLflow's HTTP retries.
        """
        with self._lock:
            if self._failures >= _MAX_FAILURES:
                return None
            result = _best_effort(what, fn, *args)
            if result is _FAILED:
                self._failures += 1
            elif resets:
                self._failures = 0
            if self._failures == _MAX_FAILURES:
                _log.warning(
                    "MLflow: %d failures in a row; process %d logs no more trials (the sweep "
                    "goes on; its trials stay in the Optuna storage)",
                    _MAX_FAILURES,
                    os.getpid(),
                )
            return None if result is _FAILED else result

    def _catch_up(self, study, parent: str) -> None:
        """Log the finished trials whose run a stopped sweep left RUNNING, or never made.

        A worker stopped (Ctrl-C, kill) after telling Optuna a trial's outcome but before its
        callback ended leaves the run RUNNING; one stopped before `trial_started` ended leaves
        the trial without ``mlflow_run_id``. Both are logged now, when the sweep resumes.
        """
        running, token = set(), None
        while True:
            page = _retry(
                self.client.search_runs,
                [self.experiment_id],
                f"tags.`{PARENT_TAG}` = '{parent}' AND attributes.status = 'RUNNING'",
                ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=token,
            )
            running.update(r.data.tags.get(TRIAL_TAG) for r in page)
            token = page.token
            if not token:
                break
        for trial in study.get_trials(deepcopy=False, states=tuple(_END_STATUS)):
            if str(trial.number) in running or RUN_ATTR not in trial.user_attrs:
                what = f"log trial {trial.number} (left unlogged by the stopped sweep)"
                self._guarded(what, self._log_trial, study, parent, trial)

    def _parent(self, study) -> str:
        if self.parent_run_id is None:  # a copy made before start(): the study knows
            self.parent_run_id = study.user_attrs.get(PARENT_ATTR)
            self.experiment_id = study.user_attrs.get(EXPERIMENT_ATTR)
        if not self.parent_run_id or not self.experiment_id:
            raise TrackingError("call MLflowTracker.start(study) in the parent process first")
        return self.parent_run_id

    def _search(self, filter_string: str):
        """The oldest active run of the experiment matching ``filter_string``, or None."""
        runs = _retry(
            self.client.search_runs,
            [self.experiment_id],
            filter_string,
            ViewType.ACTIVE_ONLY,
            max_results=1,
            order_by=["attributes.start_time ASC"],
        )
        return runs[0] if runs else None

    def _experiment(self) -> str:
        client, name = self.client, self.experiment_name
        exp = _retry(client.get_experiment_by_name, name)
        if exp is None:
            try:
                return _retry(client.create_experiment, name, self.artifact_location)
            except MlflowException as exc:  # created meanwhile by another process?
                exp = client.get_experiment_by_name(name)
                if exp is None:
                    what = f"cannot create MLflow experiment {name!r}: {_short(exc)}"
                    raise TrackingError(what) from None
        if exp.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted; restore it "
                f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or set "
                "tracking.experiment to another name"
            )
        return exp.experiment_id

    def _context_tags(self) -> dict[str, str]:
        spec, info = self.spec, self.dataset_info or {}
        return {
            STUDY_TAG: spec.name,
            "nnsweep.sampler": spec.sampler.name,
            "nnsweep.pruner": spec.pruner.name,
            "nnsweep.data": info.get("name", spec.data.name),
            "nnsweep.data_digest": info.get("digest", ""),
        }

    def _trial_run(self, study, parent: str, trial) -> str:
        """The id of the trial's run: found by its tags, else created."""
        number = trial.number
        found = self._search(
            f"tags.`{PARENT_TAG}` = '{parent}' AND tags.`{TRIAL_TAG}` = '{number}'"
        )
        if found is not None:
            return found.info.run_id
        tags = {
            PARENT_TAG: parent,
            ROLE_TAG: "trial",
            TRIAL_TAG: str(number),
            "optuna.study_name": study.study_name,
            **self._context_tags(),
        }
        run = _retry(
            self.client.create_run, self.experiment_id, tags=tags, run_name=f"trial-{number:04d}"
        )
        return run.info.run_id

    def _log_trial(self, study, parent: str, frozen_trial) -> None:
        client = self.client
        params, metrics, tags, end_ms = _trial_payload(frozen_trial)
        run_id = frozen_trial.user_attrs.get(RUN_ATTR)
        try:
            if not run_id:
                raise LookupError
            _retry(client.log_batch, run_id, metrics=metrics, params=params, tags=tags)
        except (LookupError, MlflowException) as exc:
            if isinstance(exc, MlflowException) and exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            run_id = self._trial_run(study, parent, frozen_trial)
            _retry(client.log_batch, run_id, metrics=metrics, params=params, tags=tags)
        if self.dataset_info is not None:  # logged again: MLflow keeps one input per run
            dataset = MlflowDataset(**self.dataset_info["entity"])
            inputs = [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])]
            _retry(client.log_inputs, run_id, inputs)
        status = _END_STATUS.get(frozen_trial.state, (None,))[0]
        if status:
            _retry(client.set_terminated, run_id, status, end_time=end_ms)
        if frozen_trial.state == TrialState.COMPLETE and _finite(frozen_trial.value):
            try:
                best = study.best_value
            except ValueError:  # no complete trial visible to this process yet
                return
            if frozen_trial.value == best:
                metric = Metric("best_cv_mean", best, end_ms, frozen_trial.number)
                _retry(client.log_batch, parent, metrics=[metric])

    def _spec_params(self) -> dict[str, Any]:
        spec, info = self.spec, self.dataset_info or {}
        params: dict[str, Any] = {"metric": spec.metric}
        for section in ("sampler", "pruner", "cv", "budget", "data"):
            for key, value in vars(getattr(spec, section)).items():
                if value is not None:
                    params[f"{section}.{key}"] = value
        for key in ("name", "digest", "n_train", "n_test", "n_features"):
            if key in info:
                params[f"data.{key}"] = info[key]
        params.update({f"estimator.{k}": v for k, v in spec.estimator})
        for p in spec.search_space:
            if p.type == "categorical":
                params[f"space.{p.name}"] = f"categorical {list(p.choices)}"
            else:
                params[f"space.{p.name}"] = f"{p.type} [{p.low}, {p.high}]" + "".join(
                    f" {k}={v}" for k, v in (("log", p.log), ("step", p.step), ("off", p.off)) if v
                )
        params["storage.url"] = redact_url(spec.storage.url)
        return params

    def _log_params_once(self, run_id: str, params: dict[str, Any]) -> None:
        """Log the params the run lacks; warn about (and keep) ones whose value changed."""
        have = _retry(self.client.get_run, run_id).data.params
        new = [Param(k, _param_value(v)) for k, v in params.items() if k not in have]
        changed = [
            f"{k}: {have[k]} -> {_param_value(v)}"
            for k, v in params.items()
            if k in have and have[k] != _param_value(v)
        ]
        if changed:
            _log.warning(
                "MLflow run %s keeps its first values of these params (params cannot change): %s",
                run_id,
                "; ".join(changed),
            )
        _retry(self.client.log_batch, run_id, params=new)

    def _log_study_file(self, run_id: str, resumed: bool) -> None:
        """The study file (URLs redacted) under ``study/``; on resume only if it changed."""
        spec = self.spec
        text = spec.source_text
        if not text and spec.path and os.path.isfile(spec.path):
            text = Path(spec.path).read_text(encoding="utf-8")
        if not text:
            return
        text = redact_text(text)
        if spec.overrides:
            text += "\n# overrides applied on top of this file:\n" + "".join(
                f"#   {k} = {redact_text(str(v))}\n" for k, v in spec.overrides
            )
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        if resumed and self.client.get_run(run_id).data.tags.get("nnsweep.study_sha") == digest:
            return
        name = Path(spec.path).name if spec.path else f"{spec.name}.toml"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.client.log_text(
            run_id, text, f"study/resumed-{stamp}/{name}" if resumed else f"study/{name}"
        )
        _retry(self.client.set_tag, run_id, "nnsweep.study_sha", digest)

    def _log_model(self, run_id: str, result) -> None:
        from mlflow.models import infer_signature

        model, X = result.model, getattr(result, "X_example", None)
        signature = None if X is None else infer_signature(X, model.predict(X))
        name = f"nnsweep-{self.spec.name}"
        save_as = _serialization(model)
        with _fluent_run(self.tracking_uri, run_id):
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=X,
                registered_model_name=name,
                pip_requirements=_pip_requirements(save_as["serialization_format"]),
                code_paths=[str(Path(__file__).resolve().parent)],  # the nnsweep package
                **save_as,
            )
        client, version = self.client, str(info.registered_model_version)
        client.set_registered_model_alias(name, "best", version)
        version_tags = {
            STUDY_TAG: self.spec.name,
            "nnsweep.parent_run_id": run_id,
            "best_cv_mean": result.best_value,
            "best_trial_number": getattr(result, "best_trial_number", None),
            "test_score": getattr(result, "test_score", None),
        }
        for key, value in version_tags.items():
            if value is not None:
                client.set_model_version_tag(name, version, key, str(value))
        _retry(client.set_tag, run_id, "nnsweep.model", f"models:/{name}@best (version {version})")
        _log.info("MLflow: registered %s version %s, alias best", name, version)

    def _log_plots(self, study, run_id: str) -> None:
        """Optuna's matplotlib plots and the best learning curves, as PNG artifacts."""
        try:
            import matplotlib
        except ImportError:
            _log.warning("matplotlib is not installed: no study plots logged")
            return
        if "matplotlib.pyplot" not in sys.modules:  # nobody chose a backend yet: headless
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.importance import FanovaImportanceEvaluator
        from optuna.visualization import matplotlib as ovm

        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        evaluator = FanovaImportanceEvaluator(n_trees=32, seed=0)
        plots = [
            ("optimization_history", ovm.plot_optimization_history, 1),
            ("param_importances", lambda s: ovm.plot_param_importances(s, evaluator), 2),
            ("parallel_coordinate", ovm.plot_parallel_coordinate, 1),
        ]
        notes = []
        with matplotlib.rc_context():  # Optuna's plots set pyplot's style: undo it after
            for name, plot, needed in plots:
                if len(complete) < needed:
                    have = len(complete)
                    notes.append(f"{name}: skipped, needs {needed}+ complete trials, has {have}")
                    continue
                before = set(plt.get_fignums())
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                        fig = np.ravel(plot(study))[0].figure
                    fig.tight_layout()
                    self.client.log_figure(run_id, fig, f"plots/{name}.png")
                except Exception as exc:  # one plot failing never stops the others
                    notes.append(f"{name}: skipped ({_short(exc)})")
                finally:
                    for number in set(plt.get_fignums()) - before:
                        plt.close(number)
            fig = _learning_curves(complete, study.direction)
            if fig is None:
                notes.append("learning_curves: skipped, no complete trial has curve_val_mean")
            else:
                self.client.log_figure(run_id, fig, "plots/learning_curves.png")
        for note in notes:
            _log.info("MLflow plots: %s", note)
        if notes:
            self.client.log_text(run_id, "\n".join(notes) + "\n", "plots/NOTES.txt")

    def _probe_http(self) -> None:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        shown = redact_url(self.tracking_uri)
        timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or _PROBE_TIMEOUT)
        try:
            response = http_request(
                get_default_host_creds(self.tracking_uri),
                "/api/2.0/mlflow/experiments/search",
                "POST",
                max_retries=0,
                timeout=timeout,
                raise_on_status=False,
                json={"max_results": 1},
            )
        except Exception as exc:
            raise TrackingError(
                f"MLflow tracking server at {shown} is unreachable: {_short(exc)}; "
                "start it or set tracking.uri"
            ) from None
        status = response.status_code
        if status in (401, 403):
            raise TrackingError(
                f"MLflow tracking server at {shown} refused access (HTTP {status}); set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
        if status != 200:
            raise TrackingError(
                f"MLflow tracking server at {shown} answered HTTP {status} to a search of "
                "experiments: is it an MLflow server? Check tracking.uri"
            )


# ---------------------------------------------------------------------- module helpers
_CLIENTS: dict[tuple[int, str], MlflowClient] = {}
_CLIENTS_LOCK = threading.Lock()


def _process_client(uri: str) -> MlflowClient:
    """One client per process and URI, shared by the tracker copies unpickled there.

    Also stops MLflow printing "View run ... at <tracking URI>" to stdout each time a run ends:
    two lines per trial from every worker, and the URI unredacted. An explicit
    ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=false`` is respected unless the URI has a secret.
    """
    if redact_url(uri) != uri:
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    else:
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    key = (os.getpid(), uri)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = MlflowClient(tracking_uri=uri)
            if _is_sqlite(uri):
                _commit_without_fsync(_CLIENTS[key])
        return _CLIENTS[key]


def _commit_without_fsync(client: MlflowClient) -> None:
    """Give the client's SQLite connections ``synchronous=NORMAL`` when the file is in WAL mode.

    A commit then writes the WAL without waiting for the disk (an fsync happens at each
    checkpoint): it halved the wall time of logging a trial here. A power cut may lose the
    last commits but cannot corrupt the database; a crashed process loses nothing. Best effort:
    it reaches into the client for the SQLAlchemy engine and does nothing if that moved.
    """
    try:
        from sqlalchemy import event

        engine = client._tracking_client.store.engine
        if not event.contains(engine, "connect", _on_sqlite_connect):
            event.listen(engine, "connect", _on_sqlite_connect)
        engine.dispose()  # pooled connections predate the listener, or WAL mode
    except Exception as exc:
        _log.debug("SQLite connections keep synchronous=FULL: %s", exc)


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _resolve_uri(explicit: str | None, spec_uri: str | None) -> str:
    """Apply the precedence of the module docstring; make local paths absolute."""
    if explicit:
        uri = explicit
    elif spec_uri and spec_uri != DEFAULT_TRACKING_URI:
        uri = spec_uri
    else:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    uri = uri.strip()
    if _is_sqlite(uri):
        path = _sqlite_path(uri)
        if path is not None and not path.is_absolute():
            scheme, rest = uri.split("://", 1)
            query = rest.partition("?")[2]
            absolute = os.path.normpath(Path.cwd() / path.expanduser())
            uri = f"{scheme}:///{absolute}" + (f"?{query}" if query else "")
    elif "://" not in uri and uri not in ("databricks", "uc") and not uri.startswith("file:"):
        uri = Path(uri).expanduser().absolute().as_uri()  # a bare path: the legacy file store
    return uri


def _is_sqlite(uri: str) -> bool:
    return uri.lower().startswith("sqlite") and "://" in uri


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI; None for an in-memory database."""
    path = unquote(uri.split("://", 1)[1].partition("?")[0])[1:]  # after "sqlite:///"
    return None if path in ("", ":memory:") else Path(path)


def _artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts (None: the store's or server's default)."""
    if _is_sqlite(uri):
        path = _sqlite_path(uri)
        return (
            (path.parent / "artifacts").as_uri()
            if path is not None and path.is_absolute()
            else None
        )
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
        return (Path.cwd() / "mlruns" / "artifacts").as_uri()
    return None


@contextlib.contextmanager
def _store_lock(uri: str):
    """Hold an exclusive lock on ``<database>.lock`` for a SQLite store (else do nothing).

    Processes of one machine that open a new store at once would run MLflow's schema
    migrations together and fail ("duplicate column"); those that `start` one study at once
    would each create a parent run. The kernel drops the lock if its holder dies.
    """
    path = _sqlite_path(uri) if _is_sqlite(uri) else None
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _use_wal(path: Path | None) -> None:
    """Put a SQLite database in WAL mode, which persists in the file (best effort).

    Readers then no longer block a writer: two workers logging at once spent half as long
    waiting on each other as in the default rollback-journal mode (measured here).
    """
    if path is None or not path.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:  # e.g. a file system without shared memory
        _log.debug("SQLite %s keeps its journal mode: %s", path, exc)


def _check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and check that a file can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".nnsweep-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrackingError(
            f"{what}: folder {folder} is not writable ({exc.strerror or exc}); "
            "fix its permissions or set tracking.uri"
        ) from None


def _dataset_info(dataset) -> dict | None:
    """Name, digest, sizes and the MLflow dataset entity's fields: no arrays are kept."""
    if dataset is None:
        return None
    from mlflow.data.code_dataset_source import CodeDatasetSource

    X, y, X_test = dataset.X_train, dataset.y_train, dataset.X_test
    digest = dataset.digest  # computed once here (cached); never per trial
    source = redact_url(str(dataset.source or dataset.name))
    local = os.path.isabs(source)
    profile = {"features_shape": list(X.shape), "targets_shape": list(y.shape)}
    if X_test is not None:
        profile["test_features_shape"] = list(X_test.shape)
    try:  # the schema (dtypes, widths) from the first row
        first = mlflow.data.from_numpy(
            np.asarray(X[:1]),
            targets=np.asarray(y[:1]),
            source=CodeDatasetSource({}),
            digest=digest,
        )
        schema = first.to_dict()["schema"]
    except Exception:  # the schema is optional
        schema = ""
    entity = {
        "name": dataset.name,
        "digest": digest,
        "source_type": "local" if local else "code",
        "source": json.dumps({"uri": source} if local else {"tags": {"source": source}}),
        "schema": schema,
        "profile": json.dumps(profile),
    }
    info = {"name": dataset.name, "digest": digest, "n_train": len(X), "n_features": X.shape[1]}
    if X_test is not None:
        info["n_test"] = len(X_test)
    return {**info, "entity": entity}


def _trial_payload(ft) -> tuple[list[Param], list[Metric], list[RunTag], int]:
    """Params, metrics, tags and end time (ms) of a finished trial; a function of ``ft`` only."""
    attrs = ft.user_attrs
    end = _ms(ft.datetime_complete) or _ms(ft.datetime_start) or _now_ms()
    raw = {**ft.params, **(attrs.get("estimator_params") or {})}
    params = [Param(str(k), _param_value(v)) for k, v in raw.items()]
    metrics: list[Metric] = []

    def add(key: str, value: Any, step: int = 0) -> None:
        if isinstance(value, int | float | np.number) and not isinstance(value, bool):
            metrics.append(Metric(key, float(value), end, step))

    cv_mean = attrs.get("cv_mean", ft.value)
    if cv_mean is None and ft.intermediate_values:  # pruned: the last reported CV mean
        cv_mean = ft.intermediate_values[max(ft.intermediate_values)]
    add("cv_mean", cv_mean)
    folds = list(attrs.get("fold_scores") or [])  # None: a fold without a score
    scored = [s for s in folds if _finite(s)]
    add("cv_std", attrs.get("cv_std", float(np.std(scored)) if scored else None))
    for i, score in enumerate(folds):
        add(f"fold_{i}_score", score)
    add("fit_time", attrs.get("fit_time", ft.duration and ft.duration.total_seconds()))
    curve = list(attrs.get("curve_val_mean") or [])
    add("n_epochs", attrs.get("n_epochs", len(curve) if curve else None))
    curves = {"val_mean": curve, "loss_mean": attrs.get("curve_loss_mean") or []}
    for i, fold_curve in enumerate(attrs.get("curve_val_folds") or []):
        curves[f"val_fold_{i}"] = fold_curve or []
    for key, values in curves.items():
        for epoch, value in enumerate(values, start=1):
            add(key, value, epoch)
    reason = _END_STATUS.get(ft.state, (None, ""))[1]
    tags = {
        TRIAL_TAG: str(ft.number),
        "optuna.trial_state": ft.state.name,
        "nnsweep.stop_reason": str(attrs.get("stop_reason") or reason),
        "nnsweep.error": redact_text(str(attrs.get("error") or "")),
    }
    if len(tags["nnsweep.error"]) > _MAX_ERROR:
        tags["nnsweep.error"] = tags["nnsweep.error"][: _MAX_ERROR - 3] + "..."
    return params, metrics, [RunTag(k, v) for k, v in tags.items() if v], end


def _best_trial_ms(study, number: int | None) -> int | None:
    """End time (ms) of trial ``number``: the timestamp its callback gave ``best_cv_mean``."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.number == number:
            return _ms(t.datetime_complete)
    return None


def _learning_curves(complete: list, direction):
    """A figure of ``curve_val_mean`` of the best 5 complete trials; None if none has one."""
    from matplotlib.figure import Figure

    with_curve = [t for t in complete if t.user_attrs.get("curve_val_mean") and _finite(t.value)]
    if not with_curve:
        return None
    maximize = direction == optuna.study.StudyDirection.MAXIMIZE
    best = sorted(with_curve, key=lambda t: t.value, reverse=maximize)[:5]
    fig = Figure(figsize=(7, 4.5), layout="tight")  # not pyplot's: nothing global to close
    ax = fig.subplots()
    for t in best:
        curve = t.user_attrs["curve_val_mean"]
        label = f"trial {t.number}: {t.value:.4f}"
        ax.plot(range(1, len(curve) + 1), curve, marker=".", label=label)
    ax.set(xlabel="epoch", ylabel="validation score, mean over folds")
    ax.set_title(f"Learning curves of the best {len(best)} trials")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _serialization(model) -> dict:
    """Skops (MLflow's safe default) trusting the model's own classes; else cloudpickle."""
    try:
        import skops.io as sio

        trusted = sio.get_untrusted_types(data=sio.dumps(model))
        return {"serialization_format": "skops", "skops_trusted_types": trusted}
    except Exception as exc:
        _log.warning("skops cannot save this model (%s): saving with cloudpickle", _short(exc))
        return {"serialization_format": "cloudpickle"}


def _pip_requirements(serialization_format: str) -> list[str]:
    """Pinned requirements; MLflow would infer them by loading the model in a subprocess (s)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["mlflow", "numpy", "scikit-learn", "scipy", "joblib", "threadpoolctl"]
    names.append("skops" if serialization_format == "skops" else "cloudpickle")
    out = []
    for name in names:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


@contextlib.contextmanager
def _fluent_run(uri: str, run_id: str):
    """Make ``run_id`` the active run of MLflow's fluent API at ``uri``; restore afterwards.

    ``mlflow.set_tracking_uri`` is global and also sets ``MLFLOW_TRACKING_URI`` for child
    processes: both are put back as they were.
    """
    from mlflow.tracking._tracking_service import utils as tracking_utils

    if mlflow.active_run() is not None:
        raise TrackingError("an MLflow run is active in this process: end it before finish()")
    previous = getattr(tracking_utils, "_tracking_uri", None)
    env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_id=run_id):
            yield
    finally:
        mlflow.set_tracking_uri(previous)
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env


def _retry(fn, *args, **kwargs):
    """Call ``fn``; retry while SQLite says "database is locked" (another writer held it)."""
    delay = 0.05
    for attempt in range(1, _LOCK_RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if attempt == _LOCK_RETRIES or not _is_locked(exc):
                raise
            _log.debug("SQLite busy in %s (attempt %d): retrying", fn.__name__, attempt)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(2 * delay, 2.0)


def _is_locked(exc: BaseException | None) -> bool:
    for _ in range(5):  # the exception and its causes
        if exc is None:
            return False
        if "database is locked" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _best_effort(what: str, fn, *args):
    """``fn(*args)``; if it fails, a logged warning and `_FAILED` (TrackingError raises)."""
    try:
        return fn(*args)
    except TrackingError:
        raise
    except Exception as exc:
        _log.warning("MLflow: could not %s: %s", what, _short(exc))
        return _FAILED


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _param_value(value: Any) -> str:
    text = redact_text(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."  # MLflow's limit


def _quote(text: str) -> str:
    """``text`` as a value inside single quotes of an MLflow search filter."""
    return str(text).replace("\\", "\\\\").replace("'", "\\'")


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _ms(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _short(exc: BaseException, limit: int = 300) -> str:
    """One line of an exception, URLs redacted, at most ``limit`` characters."""
    text = redact_text(" ".join(str(exc).split()) or type(exc).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."
