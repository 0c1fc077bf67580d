"""Sweeps on digits: nnsweep against scikit-learn's and Optuna's usual searches, and worker
scaling.

Two measurements, each in this one run, on the protocol of `studies/digits.toml`
(digits / 16, ``train_test_split(test_size=0.25, random_state=0)``,
``StratifiedKFold(5, shuffle=True, random_state=0)`` on the 75 % part):

1. **Same wall-time budget.** `make sweep` (studies/digits.toml: TPE, lockstep-CV
   pruning, 2 worker processes, MLflow on) against ``RandomizedSearchCV`` (30
   candidates x 5 folds, n_jobs=2) and an Optuna TPE study calling
   ``cross_val_score`` (n_jobs=2 threads), both over ``MLPClassifier`` (SGD:
   learning rate, momentum, alpha, hidden size). Best CV score against elapsed time.
2. **Workers.** The digits study on a fixed grid of 24 configurations with 1 and with
   2 worker processes, so both run the very same trials: trials per minute.

MLflow's cost is measured by `bench_logging.py` (the same trials with MLflow on and off).
Results go to ``results/sweep.json`` and ``sweep.md``; with ``--only-workers`` (section 2
alone) to ``results/sweep_workers.json`` and ``sweep_workers.md``.
"""

import argparse
import tempfile
import time
from pathlib import Path

import common

common.blas_threads(1)

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from common import ROOT, loadavg, table  # noqa: E402
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

from nnsweep.config import load_study  # noqa: E402
from nnsweep.datasets import load_dataset  # noqa: E402
from nnsweep.sweep import run_sweep  # noqa: E402

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
def ours(tmp, budget, overrides=None, tag="ours", study=STUDY):
    """run_sweep as `make sweep` runs it; returns (curve, n_trials, wall, result)."""
    from nnsweep.cli import start_tracking

    over = {
        "storage.url": str(Path(tmp) / f"{tag}.log"),
        "tracking.uri": f"sqlite:///{tmp}/{tag}-mlflow.db",
        "budget.timeout": str(budget),
        **(overrides or {}),
    }
    spec = load_study(study, overrides=over)
    start = time.time()
    writer = start_tracking(spec)  # as `nnsweep run`: before the data is loaded
    dataset = load_dataset("digits")
    result = run_sweep(
        spec,
        dataset,
        writer=writer,
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
    from nnsweep.study.storage import make_storage

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


GRID_SPACE = """
[search_space.hidden_layer_sizes]
type = "layers"
max_layers = 1
low = 64
high = 512
step = 64

[search_space.learning_rate]
type = "categorical"
choices = [0.03, 0.1, 0.3]

"""


def write_grid_study(tmp):
    """studies/digits.toml with its search space replaced by a 24-point grid (section 2)."""
    text = STUDY.read_text()
    head, rest = text.split("[search_space.", 1)
    tail = rest[rest.index("[cv]") :]
    head = head.replace("random_state = 0", "random_state = 0\nmomentum = 0.9", 1)
    tail = tail.replace('name = "tpe"', 'name = "grid"', 1)
    tail = tail.replace('name = "median"', 'name = "none"', 1)
    tail = tail.replace("enabled = true", "enabled = false", 1)
    tail = tail.replace("refit = true", "refit = false", 1)
    unused = ("n_startup_trials", "multivariate", "n_warmup_steps")  # not for grid / none
    tail = "\n".join(ln for ln in tail.splitlines() if not ln.startswith(unused)) + "\n"
    path = Path(tmp) / "digits-grid.toml"
    path.write_text(head + GRID_SPACE + tail)
    return path


# ----------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short budgets (smoke run)")
    parser.add_argument("--budget", type=float, default=170.0, help="seconds per contender")
    parser.add_argument(
        "--only-workers",
        action="store_true",
        help="only section 2 (worker scaling, MLflow on/off on the fixed grid)",
    )
    args = parser.parse_args(argv)
    budget = 30.0 if args.quick else args.budget
    scaling_trials = 8 if args.quick else 24
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    env = common.environment()
    X, y, cv = digits_protocol()
    tables, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.only_workers:
            data["same_budget"] = same_budget(tmp, budget, X, y, cv, tables)
        data["workers"] = workers(tmp, scaling_trials, tables)
    common.write_results(
        "sweep_workers" if args.only_workers else "sweep",
        "Sweeps on digits: nnsweep, RandomizedSearchCV, Optuna + cross_val_score",
        env,
        tables,
        data=data,
        about="Protocol: digits / 16; `train_test_split(test_size=0.25, random_state=0)`; "
        "`StratifiedKFold(5, shuffle=True, random_state=0)` on the 75 % part (1347 samples). "
        "One BLAS thread per process.",
        quick=args.quick,
    )


def same_budget(tmp, budget, X, y, cv, tables):
    """Section 1: nnsweep, RandomizedSearchCV and Optuna + cross_val_score, same budget."""
    rows, loads = [], []
    curve, n, wall, result = ours(tmp, budget)
    rows.append(summarise("nnsweep `make sweep` (2 workers, MLflow on)", curve, n, wall, budget))
    loads.append(loadavg())
    ours_test = result.test_score
    curve, n, wall = randomized_search(X, y, cv)
    rows.append(summarise("RandomizedSearchCV(MLPClassifier), n_jobs=2", curve, n, wall, budget))
    loads.append(loadavg())
    curve, n, wall = optuna_cross_val(X, y, cv, budget)
    rows.append(
        summarise("Optuna TPE + cross_val_score(MLPClassifier), n_jobs=2", curve, n, wall, budget)
    )
    loads.append(loadavg())
    columns = ["search", "trials", "wall s", "best @30 s", "best @60 s", f"best @{budget:.0f} s"]
    tables += [
        table(
            f"Same wall-time budget ({budget:.0f} s each)",
            columns + [f"reaches {th}" for th in THRESHOLDS] + ["load after"],
            [row + [load] for row, load in zip(rows, loads, strict=True)],
            note="Best 5-fold CV accuracy so far against the time since the search started "
            "(trial completion times read from each study). RandomizedSearchCV has no budget "
            "and reports only at its end: its one point is its end.",
            footnote=f"nnsweep's refit best model: {ours_test:.4f} on the held-out 25 % (read "
            "once, after the search).",
        )
    ]
    return {"rows": rows, "test_score": ours_test}


def workers(tmp, scaling_trials, tables):
    """Section 2: the same grid with 1 and 2 workers, MLflow off and on."""
    grid_study = write_grid_study(Path(tmp))
    rows, rates = [], {}
    for n_jobs, tracking in [(1, False), (2, False), (2, True)] * 2:
        over = {
            "workers.n_jobs": str(n_jobs),
            "budget.n_trials": str(scaling_trials),
            "tracking.enabled": str(tracking).lower(),
        }
        tag = f"workers{n_jobs}-{len(rows)}"
        _, n, wall, _ = ours(tmp, 10_000, over, tag=tag, study=grid_study)
        rate = 60 * n / wall
        rates.setdefault((n_jobs, tracking), []).append(rate)
        mlflow_on = "on" if tracking else "off"
        rows.append([str(n_jobs), mlflow_on, str(n), f"{wall:.1f}", f"{rate:.1f}", loadavg()])
    speedup = np.median(rates[2, False]) / np.median(rates[1, False])
    tracked = np.median(rates[2, True]) / np.median(rates[2, False])
    tables += [
        table(
            f"Worker processes ({scaling_trials} trials: the same grid for every run)",
            ["workers", "MLflow", "trials", "wall s", "trials/min", "load after"],
            rows,
            note=f"The digits study with its search space replaced by a grid of {scaling_trials} "
            "configurations (widths 64..512 step 64 x learning rate 0.03 / 0.1 / 0.3; "
            "momentum 0.9, the rest of `studies/digits.toml` fixed), grid sampler, no pruner, "
            "no refit: 1 and 2 workers run the same trials. Wall time of `run_sweep` from the "
            "MLflow writer's start (when on) to its end, worker start-up included; runs "
            "interleaved.",
        ),
        table(
            "",
            ["median trials/min", "ratio"],
            [
                ["2 workers / 1 worker, MLflow off", f"**{speedup:.2f}x**"],
                ["2 workers, MLflow on / off", f"**{tracked:.2f}x**"],
            ],
        ),
    ]
    return {f"{n} workers, MLflow {'on' if t else 'off'}": r for (n, t), r in rates.items()}


if __name__ == "__main__":
    main()
