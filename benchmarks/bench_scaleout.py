"""Scale-out: trials per minute on a Dask cluster against local joblib (loky) workers, the
per-trial overhead of the study storage (journal file against PostgreSQL) and of MLflow
logging, and the single-worker cost of an MNIST trial. Feeds docs/scaling.md.

Usage: ``python benchmarks/bench_scaleout.py [--repeats 2] [--n-trials 20] [--quick]``.
Writes ``benchmarks/results/scaleout.json`` and ``scaleout.md``.

1. Throughput. One digits study (full training split, 3-fold CV, a fixed number of epochs,
   no pruning, no refit, no tracking) run by ``nnsweep run`` with 2 loky workers and with a
   Dask ``LocalCluster`` of 2 single-threaded worker processes (``--scheduler``), each with
   the study in a journal file and in PostgreSQL; the four configurations interleaved, the
   order reversed every repeat. Trials per minute are counted in the storage: N trials over
   the time from the first trial's start to the last one's end (the "trial phase"); the
   command's wall time (interpreter start, data, workers start) is shown as well.
2. Storage overhead per trial: nnsweep's worker loop (budget lock, stale-trial check, budget
   count, ask, a heartbeat thread on PostgreSQL, the user attributes and one report per
   epoch that CrossValidationObjective writes, tell) with the training taken out, on the
   MNIST study's search space and 40 epochs, in one process: journal file against PostgreSQL
   (fsync on), random and TPE samplers. The time inside the budget lock is the part that
   no number of workers can overlap.
3. MLflow per trial: the writer's pass that projects one finished trial
   (``StudyWriter.sync``) against the SQLite store and against an ``mlflow server`` backed by
   PostgreSQL.
4. MNIST: seconds per epoch of one fold (40,000 training images, 1024 hidden units, the
   mnist.toml fixed parameters) and per scoring of its 20,000 validation images, with 1 and
   2 BLAS threads; the size of the pickled worker job that Dask ships to each worker.
"""

import argparse
import dataclasses
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

common.blas_threads(1)

from common import ROOT, QuietWaiter, blas_env, cpu_busy_seconds, table  # noqa: E402

from nnsweep.study.records import Attr  # noqa: E402
from tests.support.dask_cluster import local_cluster  # noqa: E402
from tests.support.mlflow_server import start_mlflow_server  # noqa: E402
from tests.support.postgres import start_postgres  # noqa: E402
from tests.support.processes import subprocess_env  # noqa: E402
from tests.support.readback import load_optuna_study  # noqa: E402
from tests.support.studyfiles import write_study  # noqa: E402

# The study every run here uses (tests/support/studyfiles.py writes it): the whole digits set,
# equal trials (no early stop, no pruner), no MLflow, no refit.
BENCH_STUDY = {
    "name": "bench",
    "data": {"name": "digits"},
    "estimator": {
        "activation": "relu",
        "hidden_layer_sizes": [128],
        "batch_size": 16,
        "n_iter_no_change": 1000,
        "random_state": 0,
    },
    "search_space": {
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
        "momentum": {"type": "float", "low": 0.5, "high": 0.95},
    },
    "cv": {"n_splits": 3},
    "sampler": {"name": "tpe", "seed": 0, "n_startup_trials": 5},
    "pruner": {"name": "none"},
    "workers": {"n_jobs": 2},
    "tracking": {"enabled": False},
    "evaluation": {"refit": False},
}


# --------------------------------------------------------------------------- quiet machine
QUIET = 0.5  # cores busy with other work below which the machine counts as quiet
QUIET_RUN = 0.3  # a run counts as quiet when other processes used fewer cores than this
QUIET_WAIT = QuietWaiter(QUIET, budget=900.0)


def wait_for_quiet():
    """Wait (bounded) for a quiet machine; returns the busy cores last seen, or None."""
    return QUIET_WAIT.wait(120.0)[1]


# --------------------------------------------------------------------------- 1. throughput
def tree_cpu_seconds(roots):
    """CPU seconds used by the processes ``roots`` and all their descendants, including the
    ones that ended and were reaped (their parents' children times)."""
    import psutil

    seen, total = set(), 0.0
    for root in roots:
        try:
            procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


def run_sweep_once(folder, name, storage, scheduler, n_trials, epochs, roots=()):
    busy_before = wait_for_quiet()
    roots = (os.getpid(), *roots)  # this process (Dask cluster, the command) and PostgreSQL
    busy0, ours0 = cpu_busy_seconds(), tree_cpu_seconds(roots)
    changes = {"estimator": {"max_epochs": epochs}, "budget": {"n_trials": n_trials}}
    study_file = write_study(folder, name, changes, base=BENCH_STUDY, storage=storage)
    cmd = [sys.executable, "-m", "nnsweep", "run", str(study_file), "--no-progress"]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=folder, env=subprocess_env(), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    busy1, ours1 = cpu_busy_seconds(), tree_cpu_seconds(roots)
    others = None
    if busy0 is not None and busy1 is not None:
        others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    trials = load_optuna_study(name, storage).get_trials()
    assert len(trials) == n_trials, f"{name}: {len(trials)} trials"
    start = min(t.datetime_start for t in trials)
    end = max(t.datetime_complete for t in trials)
    phase = (end - start).total_seconds()
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    return {
        "wall": wall,
        "phase": phase,
        "per_min": 60 * n_trials / phase,
        "per_min_wall": 60 * n_trials / wall,
        "trial_s": statistics.mean(durations),
        "workers": len({t.user_attrs[Attr.WORKER] for t in trials}),
        "load": os.getloadavg()[0],
        "busy_before": busy_before,
        "others": others,
    }


def bench_throughput(pg, scheduler, repeats, n_trials, epochs, folder):
    configs = [
        ("loky", "journal"),
        ("dask", "journal"),
        ("loky", "postgresql"),
        ("dask", "postgresql"),
    ]
    results = {c: [] for c in configs}
    for rep in range(repeats):
        order = configs if rep % 2 == 0 else configs[::-1]
        for backend, storage_kind in order:
            name = f"tp-{backend}-{storage_kind}-{rep}"
            if storage_kind == "journal":
                storage = str(Path(folder) / "optuna" / f"{name}.log")
            else:
                storage = pg.url(pg.create_database("tp"))
            r = run_sweep_once(
                folder,
                name,
                storage,
                scheduler if backend == "dask" else None,
                n_trials,
                epochs,
                roots=(pg.postmaster_pid(),),
            )
            print(
                f"  {name}: {r['per_min']:.1f} trials/min (trial phase {r['phase']:.1f} s, "
                f"wall {r['wall']:.1f} s, mean trial {r['trial_s']:.2f} s, load {r['load']:.1f}, "
                f"others {r['others']:.2f} cores)",
                file=sys.stderr,
            )
            results[(backend, storage_kind)].append(r)
    return results


# --------------------------------------------------------------------------- 2. storage
class NoTraining:
    """CrossValidationObjective's storage writes without the training: params, one report
    (and pruning check) per epoch, the user attributes of a finished trial."""

    def __init__(self, search_space, fixed, epochs, n_folds=3):
        self.search_space, self.fixed, self.epochs, self.n_folds = (
            search_space,
            fixed,
            epochs,
            n_folds,
        )

    def __call__(self, trial):
        from nnsweep.study.records import StopReason, TrialRecord
        from nnsweep.sweep import suggest_params

        params = suggest_params(trial, self.search_space)
        trial.set_user_attr(Attr.ESTIMATOR_PARAMS, {**self.fixed, **params})
        curve = []
        for epoch in range(1, self.epochs + 1):
            value = 0.9 + 0.001 * epoch + 0.01 * params.get("learning_rate", 0.1)
            curve.append(value)
            trial.report(value, epoch)
            trial.should_prune()
        record = TrialRecord(
            estimator_params={**self.fixed, **params},
            stop_reason=StopReason.COMPLETED,
            fold_scores=[curve[-1]] * self.n_folds,
            cv_mean=curve[-1],
            cv_std=0.0,
            n_epochs=self.epochs,
            fit_time=1.0,
            curve_val_mean=curve,
            curve_loss_mean=curve,
            curve_val_folds=[curve] * self.n_folds,
        )
        for key, value in record.to_attrs().items():
            trial.set_user_attr(key, value)
        return curve[-1]


def storage_loop(job, n_trials):
    """sweep.worker.run_worker's loop, copied to time its parts: (total s, s in lock) a trial."""
    import socket
    import warnings

    import optuna
    from optuna.exceptions import ExperimentalWarning

    from nnsweep.compat.optuna import heartbeat_thread, is_heartbeat_enabled
    from nnsweep.sweep import (
        count_budget,
        make_pruner,
        make_sampler,
        make_storage,
        recover_interrupted,
    )
    from nnsweep.sweep.worker import _run_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(job.storage_url, job.heartbeat_interval)
    study = optuna.load_study(study_name=job.study_name, storage=storage)
    study.sampler = make_sampler(job.sampler_spec, job.search_space, 0)
    study.pruner = make_pruner(job.pruner_spec)
    totals, locked = [], []
    while True:
        t0 = time.perf_counter()
        with job.budget_lock:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if is_heartbeat_enabled(storage):
                    recover_interrupted(study)
                if count_budget(study) >= n_trials:
                    break
                trial = study.ask()
        t1 = time.perf_counter()
        trial.set_user_attr(Attr.WORKER, f"{socket.gethostname()}:{os.getpid()}")
        with heartbeat_thread(trial, storage):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                _run_trial(study, trial, job.objective)
        totals.append(time.perf_counter() - t0)
        locked.append(t1 - t0)
    return totals, locked


def bench_storage(pg, n_trials, epochs, folder):
    import numpy as np

    from nnsweep.config import load_study
    from nnsweep.estimator import NeuralNetworkClassifier
    from nnsweep.sweep import create_study, make_job

    params = NeuralNetworkClassifier().get_params()
    rows = {}
    # the first configuration is a warm-up (imports, first connections), not reported
    configs = [("tpe", "journal", 5)]
    configs += [(s, k, n_trials) for s in ("random", "tpe") for k in ("journal", "postgresql")]
    for i, (sampler, kind, n) in enumerate(configs):
        wait_for_quiet()
        name = f"st-{kind}-{sampler}-{i}"
        url = (
            str(Path(folder) / "optuna" / f"{name}.log")
            if kind == "journal"
            else pg.url(pg.create_database("st"))
        )
        overrides = {
            "name": name,
            "storage.url": url,
            "budget.n_trials": str(n),
            "budget.timeout": "100000",
            "sampler.name": sampler,
            "tracking.enabled": "false",
        }
        path = ROOT / "studies" / "mnist.toml"
        if sampler == "random":  # random takes no n_startup_trials: drop the sampler's
            path = Path(folder) / f"{name}.toml"
            text = (ROOT / "studies" / "mnist.toml").read_text()
            path.write_text(text.replace("n_startup_trials = 8\n", "", 1))
        spec = load_study(path, estimator_params=params, overrides=overrides)
        X = np.zeros((6, 4), dtype=np.float32)
        y = np.array([0, 1] * 3)
        create_study(spec)
        job = make_job(spec, X, y, 1)
        job = dataclasses.replace(
            job, objective=NoTraining(spec.search_space, dict(spec.estimator), epochs)
        )
        totals, locked = storage_loop(job, n)
        if i == 0:
            continue
        half = len(totals) // 2
        rows[(kind, sampler)] = {
            "first": 1000 * statistics.mean(totals[:half]),
            "second": 1000 * statistics.mean(totals[half:]),
            "all": 1000 * statistics.mean(totals),
            "locked": 1000 * statistics.mean(locked),
            "locked_second": 1000 * statistics.mean(locked[half:]),
        }
        r = rows[(kind, sampler)]
        print(
            f"  storage {kind} {sampler}: {r['all']:.1f} ms/trial "
            f"(trials 1-{half}: {r['first']:.1f}, {half + 1}-{n_trials}: {r['second']:.1f}; "
            f"in the lock {r['locked']:.1f})",
            file=sys.stderr,
        )
    return rows


# --------------------------------------------------------------------------- 3. MLflow
def bench_mlflow(server_url, n_trials, epochs, folder):
    import optuna

    from nnsweep.config import load_study
    from nnsweep.estimator import NeuralNetworkClassifier
    from nnsweep.sweep import create_study
    from nnsweep.tracking.writer import StudyWriter

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = NeuralNetworkClassifier().get_params()
    out = {}
    for kind, uri in (
        ("sqlite", f"sqlite:///{folder}/mlruns/mlflow.db"),
        ("server (PostgreSQL)", server_url),
    ):
        name = "ml-" + kind.split()[0]
        spec = load_study(
            ROOT / "studies" / "mnist.toml",
            estimator_params=params,
            overrides={
                "name": name,
                "storage.url": str(Path(folder) / "optuna" / f"{name}.log"),
                "tracking.uri": uri,
            },
        )
        study = create_study(spec)
        writer = StudyWriter(spec)
        writer.connect(study)
        objective = NoTraining(spec.search_space, dict(spec.estimator), epochs)
        times = []
        for _ in range(n_trials):
            trial = study.ask()
            value = objective(trial)
            study.tell(trial, value)
            t0 = time.perf_counter()
            writer.sync(study)  # the writer's pass that projects the finished trial
            times.append(time.perf_counter() - t0)
        out[kind] = 1000 * statistics.median(times)
        print(f"  MLflow {kind}: {out[kind]:.0f} ms/trial (median)", file=sys.stderr)
    return out


# --------------------------------------------------------------------------- 4. MNIST
MNIST_CODE = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from nnsweep import NeuralNetworkClassifier
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset

threads, epochs = int(sys.argv[1]), int(sys.argv[2])
spec = load_study("studies/mnist.toml")
d = load_dataset("mnist", data_dir=spec.data.data_dir)
X, y = d.X_train, d.y_train
n_train = len(X) * (spec.cv.n_splits - 1) // spec.cv.n_splits
Xt, yt, Xv, yv = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
params = dict(spec.estimator)
params.update(max_epochs=epochs + 1, n_iter_no_change=1000, learning_rate=0.05,
              learning_rate_decay=0.03, dropout_rate=0.45, input_dropout_rate=0.15,
              max_norm=3.5)
fit, score = [], []
with threadpool_limits(threads):
    m = NeuralNetworkClassifier(**params)
    prev = time.perf_counter()
    for i, _ in enumerate(m.iter_epochs(Xt, yt)):
        now = time.perf_counter()
        s0 = time.perf_counter(); m.score(Xv, yv); s = time.perf_counter() - s0
        if i > 0:  # the first epoch is a warm-up
            fit.append(now - prev); score.append(s)
        prev = time.perf_counter()
print(json.dumps({"n_train": int(n_train), "n_val": int(len(Xv)), "epoch": fit,
                  "score": score, "epochs": dict(spec.estimator)["max_epochs"],
                  "folds": spec.cv.n_splits, "n_trials": spec.budget.n_trials}))
"""


def bench_mnist(epochs):
    import json

    out = {}
    for threads in (1, 2):
        wait_for_quiet()
        env = {**subprocess_env(), **blas_env()}
        proc = subprocess.run(
            [sys.executable, "-c", MNIST_CODE, str(threads), str(epochs)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"MNIST timing failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        out[threads] = r
        print(
            f"  MNIST, {threads} thread(s): {statistics.median(r['epoch']):.2f} s/epoch, "
            f"scoring {statistics.median(r['score']):.2f} s",
            file=sys.stderr,
        )
    return out


def mnist_job_size():
    """Megabytes of the pickled worker job of the MNIST study (what Dask ships per worker)."""
    from nnsweep.cli import load_data
    from nnsweep.config import load_study
    from nnsweep.estimator import NeuralNetworkClassifier
    from nnsweep.sweep import make_job, split_data

    spec = load_study(
        ROOT / "studies" / "mnist.toml",
        estimator_params=NeuralNetworkClassifier().get_params(),
        overrides={"storage.url": "/tmp/unused.log"},
    )
    X, y, _, _ = split_data(spec, load_data(spec))
    job = make_job(spec, X, y, 2)
    t0 = time.perf_counter()
    size = len(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
    return size / 2**20, time.perf_counter() - t0


# --------------------------------------------------------------------------- results
def fmt(x, d=1):
    return f"{x:.{d}f}"


def tables(args, throughput, storage, mlflow_ms, mnist, job_mb):
    """The results file's tables, from the measurements."""
    n = args.n_trials
    rows, med = [], {}
    for (backend, kind), runs in throughput.items():
        quiet = [r for r in runs if r["others"] is not None and r["others"] < QUIET_RUN]
        chosen, mark = (quiet, "") if len(quiet) >= 2 else (runs, "*")
        pm = statistics.median(r["per_min"] for r in chosen)
        med[(backend, kind)] = pm
        rows.append(
            [
                backend,
                kind,
                f"{fmt(pm)}{mark}",
                " ".join(fmt(r["per_min"]) for r in runs),
                f"{len(quiet)}/{len(runs)}",
                fmt(statistics.median(r["trial_s"] for r in chosen), 2),
                fmt(statistics.median(r["phase"] for r in chosen)),
                fmt(statistics.median(r["wall"] for r in chosen)),
                fmt(statistics.median(r["per_min_wall"] for r in chosen)),
                "/".join(str(r["workers"]) for r in runs),
                " ".join("?" if r["others"] is None else fmt(r["others"], 2) for r in runs),
            ]
        )
    out = [
        table(
            "1. Trials per minute: Dask cluster against local joblib workers",
            ["workers", "storage", "trials/min", "trials/min (each run)", "quiet runs"]
            + ["mean trial s", "trial phase s", "wall s", "trials/min incl. start"]
            + ["workers used", "others (cores, each run)"],
            rows,
            note=f"Study: digits (1347 training samples), 3-fold CV, {args.epochs} epochs, "
            "batch 16, a layer of 128 (every trial costs the same), learning rate and momentum "
            f"tuned by TPE, no pruning, no refit, no tracking; budget {n} trials; 2 workers "
            "with 1 BLAS thread each: loky processes (`--n-jobs 2`) or a Dask "
            "`LocalCluster(n_workers=2, threads_per_worker=1, processes=True)` "
            "(`--scheduler`), started once, before the runs. Trials/min: counted in the "
            "storage over the trial phase (first start to last end); wall: the whole "
            f"`nnsweep run`. {args.repeats} repeats, interleaved (order reversed every "
            "repeat). Others: cores other processes used during the run (busy CPU less this "
            "benchmark's process tree and PostgreSQL's); trials/min is the median over the "
            f"quiet runs (others < {QUIET_RUN}), or over all runs (*) when fewer than 2 were.",
        ),
        table(
            "",
            ["storage", "Dask / loky, trials/min"],
            [[k, f"{med[('dask', k)] / med[('loky', k)]:.2f}"] for k in ("journal", "postgresql")],
        ),
    ]
    half = args.storage_trials // 2
    out.append(
        table(
            "2. Storage overhead per trial (no training)",
            ["storage", "sampler", "ms/trial", f"trials 1-{half}"]
            + [f"trials {half + 1}-{args.storage_trials}", "ms in the lock"]
            + [f"ms in the lock, trials {half + 1}-{args.storage_trials}"],
            [
                [kind, sampler]
                + [fmt(r[k]) for k in ("all", "first", "second", "locked", "locked_second")]
                for (kind, sampler), r in storage.items()
            ],
            note="nnsweep's worker loop with the training taken out, one process, on the "
            f"MNIST study's search space, {args.epochs_storage} epochs (one report and pruning "
            "check each) and the user attributes a trial writes; "
            f"{args.storage_trials} trials per study. PostgreSQL: a local server with fsync "
            "on, heartbeats on (one thread per trial). In the lock: the budget lock held for "
            "the stale-trial check, the budget count and ask (the serial part across workers).",
        )
    )
    if mlflow_ms:
        out.append(
            table(
                "3. MLflow logging per trial",
                ["tracking store", "ms/trial"],
                [[k, fmt(v, 0)] for k, v in mlflow_ms.items()],
                note="The writer's pass (`StudyWriter.sync`) that projects one finished trial "
                f"({args.epochs_storage}-step curves); median over {args.storage_trials} "
                "trials, one process.",
            )
        )
    r1 = mnist[1]
    mnist_rows = []
    for threads, r in mnist.items():
        e, s = statistics.median(r["epoch"]), statistics.median(r["score"])
        trial = r["folds"] * r["epochs"] * (e + s)
        mnist_rows.append(
            [threads, fmt(e, 2), fmt(s, 2), fmt(trial / 60, 1)]
            + [fmt(r["n_trials"] * trial / 3600, 1)]
        )
    out.append(
        table(
            "4. One MNIST trial on one worker",
            ["BLAS threads", "s/epoch (one fold)", "s/scoring", "min/trial (no pruning)"]
            + ["h for the budget on one worker"],
            mnist_rows,
            note="studies/mnist.toml: 1024 hidden units, batch 128, Nesterov SGD, dropout and "
            f"max-norm, float32; one fold trains on {r1['n_train']} images and is scored on "
            f"{r1['n_val']} after every epoch; {r1['folds']} folds x {r1['epochs']} epochs per "
            f"trial, budget {r1['n_trials']} trials. Median over {len(r1['epoch'])} epochs "
            "after a warm-up.",
            footnote=f"Pickled worker job of the MNIST study (what each Dask worker "
            f"receives): {job_mb[0]:.0f} MB, {job_mb[1]:.1f} s to pickle.",
        )
    )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=30, help="epochs per digits trial")
    parser.add_argument("--storage-trials", type=int, default=60)
    parser.add_argument("--epochs-storage", type=int, default=40)
    parser.add_argument("--mnist-epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.n_trials, args.epochs = 1, 6, 5
        args.storage_trials, args.mnist_epochs = 10, 1
    env = common.environment()
    pg = start_postgres(durable=True)
    server = None
    cluster = None
    try:
        with tempfile.TemporaryDirectory(prefix="nnsweep-bench-") as folder:
            (Path(folder) / "optuna").mkdir()
            (Path(folder) / "mlruns").mkdir()
            cluster = local_cluster()
            print("throughput:", file=sys.stderr)
            throughput = bench_throughput(
                pg, cluster.scheduler_address, args.repeats, args.n_trials, args.epochs, folder
            )
            cluster.close()
            cluster = None
            print("storage:", file=sys.stderr)
            storage = bench_storage(pg, args.storage_trials, args.epochs_storage, folder)
            print("MLflow:", file=sys.stderr)
            server = start_mlflow_server(pg.url(pg.create_database("mlflow")))
            mlflow_ms = bench_mlflow(server.url, args.storage_trials, args.epochs_storage, folder)
            print("MNIST:", file=sys.stderr)
            mnist = bench_mnist(args.mnist_epochs)
            job_mb = mnist_job_size()
    finally:
        if cluster is not None:
            cluster.close()
        if server is not None:
            server.stop()
        pg.stop()
    data = {
        "throughput": {f"{b} {k}": runs for (b, k), runs in throughput.items()},
        "storage": {f"{k} {s}": r for (k, s), r in storage.items()},
        "mlflow_ms": mlflow_ms,
        "mnist": mnist,
        "job": {"megabytes": job_mb[0], "pickle_s": job_mb[1]},
    }
    common.write_results(
        "scaleout",
        "Scale-out: Dask against local workers, storage and tracking overhead",
        env,
        tables(args, throughput, storage, mlflow_ms, mnist, job_mb),
        data=data,
        about="Every measurement first waits (a bounded time) until other processes keep "
        f"fewer than {QUIET} cores busy; section 1 measures how many cores they used during "
        "each run.",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
