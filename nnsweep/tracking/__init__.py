"""MLflow tracking of a sweep: one parent run per study, one nested child run per trial.

This package is the only part of nnsweep that imports MLflow. The parent process calls
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

Cost, CPU time on SQLite (`benchmarks/bench_logging.py`, the 60 trials of a digits sweep): a
trial's run takes about 8 ms to create and 35 ms to log and end (MLflow's ORM writing the
params, the mean curves' rows, the dataset input and the status). Fixed, per process that logs
(the command and each worker): ``import mlflow`` 1.3-2 s and opening the store about 0.9 s
(2.4 s when a new store runs its schema migrations); at the end, the model (skops, first
call) about 3 s and the plots about 1.2 s. On a one-minute sweep the fixed part dominates.

Run statuses: a COMPLETE trial ends FINISHED, PRUNED ends KILLED and FAIL ends FAILED. The parent
run is RUNNING during the sweep (RUNNING again when resumed) and FINISHED after ``finish``.

Errors: `check_reachable` and `start` raise `TrackingError`. In workers, an MLflow failure while
logging a trial is logged as a warning and the sweep goes on (the trial itself is safe in the
Optuna storage); in `finish`, the model and the plots are best effort in the same way. A
trial a worker could not log is logged by the catch-up that `start` (on resume), `finish` (end
of ``nnsweep run``) and `MLflowTracker.catch_up` (end of ``nnsweep worker``) run.
Every URI that is printed, raised or logged goes through `nnsweep.redact.redact_url`.

Left out on purpose: training, choosing trials, and any use of the Optuna storage beyond reading
the trial and study given and setting their ``mlflow_*`` user attributes.
"""

from .tracker import MLflowTracker
from .util import TrackingError

__all__ = ["MLflowTracker", "TrackingError"]
