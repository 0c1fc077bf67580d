"""Sweeps on digits: nnsweep against scikit-learn's and Optuna's usual searches, worker
scaling, and the cost of MLflow logging.

Three measurements, each in this one run, on the protocol of `studies/digits.toml`
(digits / 16, ``train_test_split(test_size=0.25, random_state=0)``,
``StratifiedKFold(5, shuffle=True, random_state=0)`` on the 75 % part):

1. **Same wall-time budget.** `make sweep` (studies/digits.toml: TPE, lockstep-CV
   pruning, 2 worker processes, MLflow on) against ``RandomizedSearchCV`` (30
   candidates x 5 folds, n_jobs=2) and an Optuna TPE study calling
   ``cross_val_score`` (n_jobs=2 threads), both over ``MLPClassifier`` (SGD:
   learning rate, momentum, alpha, hidden size). Best CV score against elapsed time.
2. **Workers.** The digits study with 1 and with 2 worker processes, a fixed number
   of trials and no pruner, so both do the same kind of work: trials per minute.
3. **Logging.** The digits study with one worker (deterministic: same seed, same
   trials) with MLflow on and off: the wall-time overhead of tracking.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from common import ROOT, environment, header, loadavg, table, write_result  # noqa: E402
from scipy.stats import loguniform, uniform  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)
from sklearn.neural_network import MLPClassifier  # noqa: E402

sys.path.insert(0, str(ROOT))
from nnsweep.config import PrunerSpec, load_study  # noqa: E402
from nnsweep.datasets import load_dataset  # noqa: E402
from nnsweep.search import run_sweep  # noqa: E402

STUDY = ROOT / "studies" / "digits.toml"
THRESHOLDS = (0.975, 0.979, 0.982)


def digits_protocol():
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)
    return X_train, y_train, StratifiedKFold(5, shuffle=True, random_state=0)


def mlp():
    return MLPClassifier(solver="sgd", max_iter=200, random_state=0)


MLP_SPACE = {
    "learning_rate_init": loguniform(1e-3, 0.5),
    "momentum": uniform(0.5, 0.49),
    "alpha": loguniform(1e-6, 1e-1),
    "hidden_layer_sizes": [(64,), (128,), (256,), (512,)],
}


def best_curve(events):
    """[(elapsed, score)] in time order -> [(elapsed, best so far)] at each improvement."""
    best, curve = -np.inf, []
    for t, s in sorted(events):
        if s is not None and s > best:
            best = s
            curve.append((t, s))
    return curve


def summarise(name, curve, n_trials, wall, budget):
    def first_reach(threshold):
        hits = [t for t, s in curve if s >= threshold]
        return f"{hits[0]:.0f} s" if hits else "not reached"

    def best_at(seconds):
        before = [s for t, s in curve if t <= seconds]
        return f"{max(before):.4f}" if before else "-"

    return [
        name,
        str(n_trials),
        f"{wall:.0f}",
        best_at(30),
        best_at(60),
        best_at(budget),
        *(first_reach(th) for th in THRESHOLDS),
    ]


# ----------------------------------------------------------------------------- contenders
def ours(tmp, budget, overrides=None, tag="ours", no_pruner=False):
    """run_sweep as `make sweep` runs it; returns (curve, n_trials, wall, result)."""
    from nnsweep.cli import make_tracker

    over = {
        "storage.url": str(Path(tmp) / f"{tag}.log"),
        "tracking.uri": f"sqlite:///{tmp}/{tag}-mlflow.db",
        "budget.timeout": str(budget),
        **(overrides or {}),
    }
    spec = load_study(STUDY, overrides=over)
    if no_pruner:
        spec = dataclasses.replace(spec, pruner=PrunerSpec(name="none"))
    dataset = load_dataset("digits")
    tracker = None
    if spec.tracking.enabled:
        tracker = make_tracker(spec, dataset)
    start = time.time()
    callbacks, hooks = (), ()
    if tracker is not None:
        from nnsweep.search import create_study

        tracker.start(create_study(spec))
        callbacks, hooks = (tracker,), (tracker.trial_started,)
    result = run_sweep(
        spec,
        dataset,
        on_trial_start=hooks,
        callbacks=callbacks,
        progress=False,
        output_dir=Path(tmp) / tag,
        log=lambda *a: None,
    )
    study = optuna.load_study(study_name=spec.name, storage=_storage(spec))
    events = [
        ((t.datetime_complete.timestamp() - start), t.value)
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    searched = max(t.datetime_complete.timestamp() for t in study.trials) - start
    return best_curve(events), len(study.trials), searched, result


def _storage(spec):
    from nnsweep.search import make_storage

    return make_storage(spec.storage.url)


def randomized_search(X, y, cv):
    start = time.time()
    search = RandomizedSearchCV(
        mlp(), MLP_SPACE, n_iter=30, cv=cv, n_jobs=2, random_state=0, error_score=0.0
    )
    search.fit(X, y)
    wall = time.time() - start
    # RandomizedSearchCV reports only at its end: one point on the curve
    return [(wall, float(search.best_score_))], 30, wall


def optuna_cross_val(X, y, cv, budget):
    def objective(trial):
        model = mlp().set_params(
            learning_rate_init=trial.suggest_float("learning_rate_init", 1e-3, 0.5, log=True),
            momentum=trial.suggest_float("momentum", 0.5, 0.99),
            alpha=trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
            hidden_layer_sizes=(trial.suggest_categorical("hidden", [64, 128, 256, 512]),),
        )
        return cross_val_score(model, X, y, cv=cv).mean()

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    start = time.time()
    study.optimize(objective, timeout=budget, n_jobs=2)
    wall = time.time() - start
    events = [
        (t.datetime_complete.timestamp() - start, t.value)
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    return best_curve(events), len(study.trials), wall


# ----------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short budgets (smoke run)")
    parser.add_argument("--budget", type=float, default=170.0, help="seconds per contender")
    args = parser.parse_args(argv)
    budget = 30.0 if args.quick else args.budget
    scaling_trials = 8 if args.quick else 24
    overhead_trials = 6 if args.quick else 20
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    env = environment(with_torch=False)
    env.append(("optuna", optuna.__version__))
    import mlflow

    env.append(("mlflow", mlflow.__version__))
    X, y, cv = digits_protocol()
    sections = []

    with tempfile.TemporaryDirectory() as tmp:
        # 1. same budget
        rows, loads = [], []
        curve, n, wall, result = ours(tmp, budget)
        rows.append(
            summarise("nnsweep `make sweep` (2 workers, MLflow on)", curve, n, wall, budget)
        )
        loads.append(loadavg())
        ours_test = result.test_score
        curve, n, wall = randomized_search(X, y, cv)
        rows.append(
            summarise("RandomizedSearchCV(MLPClassifier), n_jobs=2", curve, n, wall, budget)
        )
        loads.append(loadavg())
        curve, n, wall = optuna_cross_val(X, y, cv, budget)
        rows.append(
            summarise(
                "Optuna TPE + cross_val_score(MLPClassifier), n_jobs=2", curve, n, wall, budget
            )
        )
        loads.append(loadavg())
        sections.append(
            f"## Same wall-time budget ({budget:.0f} s each)\n\n"
            "Best 5-fold CV accuracy so far against elapsed time (from the start of the "
            "search; trial completion times read from each study). RandomizedSearchCV "
            "has no budget option and reports only at its end, so its only point is its end.\n\n"
            + table(
                [
                    "search",
                    "trials",
                    "wall s",
                    "best @30 s",
                    "best @60 s",
                    f"best @{budget:.0f} s",
                    *(f"reaches {th}" for th in THRESHOLDS),
                ],
                rows,
            )
            + f"\nnnsweep's refit best model scored {ours_test:.4f} on the held-out 25 % "
            f"(read once, after the search). Load average after each: {'; '.join(loads)}.\n"
        )

        # 2. workers
        rows = []
        rates = {}
        for n_jobs in (1, 2, 1, 2):
            over = {
                "workers.n_jobs": str(n_jobs),
                "budget.n_trials": str(scaling_trials),
                "tracking.enabled": "false",
                "evaluation.refit": "false",
            }
            tag = f"workers{n_jobs}-{len(rows)}"
            _, n, wall, _ = ours(tmp, 10_000, over, tag=tag, no_pruner=True)
            rate = 60 * n / wall
            rates.setdefault(n_jobs, []).append(rate)
            rows.append([str(n_jobs), str(n), f"{wall:.1f}", f"{rate:.1f}", loadavg()])
        speedup = np.median(rates[2]) / np.median(rates[1])
        sections.append(
            f"## Worker processes ({scaling_trials} trials, no pruner, MLflow off)\n\n"
            + table(["workers", "trials", "wall s", "trials/min", "load after"], rows)
            + f"\n2 workers / 1 worker (median trials per minute): **{speedup:.2f}x**.\n"
        )

        # 3. logging overhead
        rows = []
        walls = {}
        for tracking in ("false", "true", "false", "true"):
            over = {
                "workers.n_jobs": "1",
                "budget.n_trials": str(overhead_trials),
                "tracking.enabled": tracking,
                "evaluation.refit": "false",
            }
            tag = f"log-{tracking}-{len(rows)}"
            _, n, wall, _ = ours(tmp, 10_000, over, tag=tag)
            walls.setdefault(tracking, []).append(wall)
            rows.append([tracking, str(n), f"{wall:.1f}", loadavg()])
        on, off = np.median(walls["true"]), np.median(walls["false"])
        per_trial = (on - off) / overhead_trials * 1000
        sections.append(
            f"## MLflow logging overhead ({overhead_trials} trials, 1 worker, same seed: "
            "the same trials with and without tracking)\n\n"
            + table(["MLflow", "trials", "wall s", "load after"], rows)
            + f"\nOverhead: **{100 * (on - off) / off:+.1f} %** of the sweep's wall time "
            f"({per_trial:+.0f} ms a trial; median of 2 each). Sweep wall time here excludes "
            "the final refit and model logging, which happen once.\n"
        )

    text = (
        header(
            "Sweeps on digits: nnsweep, RandomizedSearchCV, Optuna + cross_val_score",
            env,
            [
                "Protocol: digits / 16; `train_test_split(test_size=0.25, random_state=0)`; "
                "`StratifiedKFold(5, shuffle=True, random_state=0)` on the 75 % part (1347 "
                "samples). One BLAS thread per process. "
                + ("QUICK smoke run: short budgets." if args.quick else "")
            ],
        )
        + "\n"
        + "\n".join(sections)
    )
    write_result("sweep", text)


if __name__ == "__main__":
    main()
