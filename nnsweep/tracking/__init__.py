"""MLflow as a view of the study: one writer projects the Optuna storage into MLflow.

The Optuna storage is the one source of truth. Workers (local, Dask, or started by hand with
``nnsweep worker``) report to it alone and never import MLflow. One writer at a time per study
(it holds the study's writer lock, `nnsweep.study.locks.writer_lock`) follows it and keeps
MLflow up to date:

* during ``nnsweep run``, a helper process of the command (`follow.start_writer`): it opens
  the store with MLflow's own client while the command loads its data (the command trains
  nothing until it has answered); a trial's run appears within about a second of the trial's
  start, its curves grow while it trains (the workers write them to the trial every second),
  and its scores, tags, data set input and status land when it ends; at the end the plots,
  the refit model (registered as ``nnsweep-<study>`` with alias ``best``) and the result;
* at any time, ``nnsweep sync STUDY`` (``--follow`` to keep following): a finished, running,
  interrupted or crashed study, or an MLflow store deleted and rebuilt. It is idempotent
  (`runs` says how), and says who holds the writer lock when another writer runs;
* at the end of ``nnsweep worker``, one pass over the trials (waiting for the lock).

What MLflow holds: one experiment (``tracking.experiment``, default the study name) and one
parent run per study (found again by the study's ``mlflow_study_uid``; a study re-created
under the same name gets a new one) with the study's settings as params, the study file, the
data set, ``best_cv_mean`` at each new best, the plots, the model and the test score; one
child run per trial (``trial-0007``) with every estimator parameter, the fold scores,
``cv_mean``, ``cv_std``, ``fit_time``, ``n_epochs``, the curves ``val_mean`` and ``loss_mean``
per epoch, the trial's state and stop reason, and its number and id as tags (by which it is
found: ``optuna.trial_number`` under ``mlflow.parentRunId``). A COMPLETE trial ends FINISHED,
PRUNED ends KILLED, FAIL ends FAILED; the parent is RUNNING while a sweep runs, FINISHED after
its end, KILLED when it was stopped.

Where runs live: ``spec.tracking.uri``, chosen by `nnsweep.config.load_study` (overrides, the
study file, ``MLFLOW_TRACKING_URI``, ``sqlite:///mlruns/mlflow.db``); a SQLite store keeps its
artifacts in ``artifacts/`` beside the database (`store`).

A store that goes away mid-sweep does not stop the sweep: the writer retries with backoff,
says how many trials it is behind, and catches up when the store returns; what it could not
push by the end is pushed by ``nnsweep sync``. Every URI printed or logged is redacted.

This package is the only part of nnsweep that imports MLflow, and it imports nothing of the
sweep: both share only `nnsweep.study.records` and `nnsweep.study.storage`.
"""

from .util import TrackingError

__all__ = ["TrackingError"]
