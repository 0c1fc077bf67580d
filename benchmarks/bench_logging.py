"""What MLflow costs a sweep: the whole `make sweep` with MLflow on and off, the same work.

Two measurements, in this one run:

1. **The whole command, the same trials on and off.** `nnsweep run studies/digits.toml`
   (what `make sweep` runs: 2 worker processes) needs a fixed workload to compare on and
   off: with 2 workers TPE's choices and the median pruner's decisions depend on timing, so
   two runs of the plain study do different work (different numbers of epochs).
   So one reference run of the study (MLflow off) is recorded, and then replayed: each
   replay run gets the reference's 60 trials queued in its study (``enqueue_trial``: the
   same parameters), each trial capped at the epochs it ran in the reference (a
   ``max_epochs`` choice in the search space) and no pruner, so every trial trains exactly
   as in the reference, in whatever order the workers take them. Replays alternate MLflow
   off / on, in fresh directories; "new store" runs create `mlruns/mlflow.db` (MLflow's
   schema migrations: the first `make sweep` of a clone), "existing store" runs find it
   created (every later `make sweep`). Wall time of the whole command, CPU time of it and
   its worker processes, and the CPU other processes used meanwhile (from /proc/stat).
2. **Where the writer's time goes**, in processes of their own: its imports and opening the
   store (new, existing), its passes over the reference trials (live and final), and the end
   of the sweep (plots, the model's imports, the model logged and registered).
3. **How live it is**: trial start to run visible, epoch to metric visible.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import common

common.blas_threads(1)
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

import optuna  # noqa: E402
from common import ROOT, cpu_busy_seconds, loadavg, table  # noqa: E402

from nnsweep.study.records import Attr  # noqa: E402
from nnsweep.study.storage import make_storage  # noqa: E402
from tests.support.studyfiles import to_toml  # noqa: E402

STUDY = ROOT / "studies" / "digits.toml"
NAME = "digits"


def run_cli(cwd, study_file, tracking, n_trials=None):
    """`nnsweep run` in ``cwd``: wall s, CPU s (command + workers), other processes' cores."""
    cmd = [sys.executable, "-m", "nnsweep", "run", str(study_file), "--no-progress"]
    cmd += ["--set", "budget.timeout=100000"]
    if n_trials:
        cmd += ["--n-trials", str(n_trials)]
    if not tracking:
        cmd.append("--no-tracking")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    r0, b0 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_busy_seconds()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    r1, b1 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_busy_seconds()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    other = None if b0 is None or b1 is None else max(0.0, (b1 - b0) - cpu) / wall
    return wall, cpu, other


def load_trials(cwd):
    storage = make_storage(str(Path(cwd) / "mlruns" / "optuna" / f"{NAME}.log"))
    study = optuna.load_study(study_name=NAME, storage=storage)
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def replay_study_file(folder, epochs):
    """studies/digits.toml, random sampler, no pruner, ``max_epochs`` a choice of ``epochs``."""
    study = tomllib.loads(STUDY.read_text())
    study["estimator"].pop("max_epochs", None)
    study["search_space"]["max_epochs"] = {"type": "categorical", "choices": sorted(set(epochs))}
    study["sampler"] = {"name": "random", "seed": study["sampler"].get("seed", 0)}
    study["pruner"] = {"name": "none"}  # every queued trial trains its epochs in full
    path = Path(folder) / "digits-replay.toml"
    path.write_text(to_toml(study))
    return path


def prepare_replay(cwd, reference, make_store):
    """A fresh directory whose study has the reference trials queued (and maybe a store)."""
    cwd.mkdir()
    storage = make_storage(str(cwd / "mlruns" / "optuna" / f"{NAME}.log"))
    study = optuna.create_study(study_name=NAME, storage=storage, direction="maximize")
    for t in reference:
        study.enqueue_trial({**t.params, "max_epochs": max(1, t.user_attrs[Attr.N_EPOCHS])})
    if make_store:  # what `make sweep` finds from its second run on: the store exists
        code = (
            "from mlflow import MlflowClient; "
            f"MlflowClient(tracking_uri='sqlite:///{cwd}/mlruns/mlflow.db').search_experiments()"
        )
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ----------------------------------------------------------------------------- components
def components(workdir, reference_dir):
    """Section 2, run in a process of its own: CPU seconds of each part (printed as JSON).

    What the writer process does, part by part: its imports (a fresh process, as the writer
    is), opening the store (new), connecting (experiment, parent run), projecting each
    reference trial (three live passes while it "trains", then its end), the plots, the
    imports the model needs, and logging and registering the model.
    """
    c0 = time.process_time()
    from nnsweep.tracking.writer import StudyWriter

    out = {"import_writer": time.process_time() - c0}
    from nnsweep.config import load_study
    from nnsweep.datasets import load_dataset
    from nnsweep.study.records import Attr
    from nnsweep.sweep import record_study

    uri = f"sqlite:///{workdir}/mlruns/mlflow.db"
    spec = load_study(STUDY, overrides={"tracking.uri": uri})
    dataset = load_dataset("digits")
    storage = make_storage(str(Path(workdir) / "journal.log"))
    study = optuna.create_study(study_name=NAME, storage=storage, direction="maximize")
    record_study(study, spec, dataset)
    c = time.process_time()
    writer = StudyWriter(spec)
    out["open_new_store"] = time.process_time() - c
    c = time.process_time()
    writer.connect(study)
    out["connect"] = time.process_time() - c
    live, ends = [], []
    curves = (Attr.CURVE_VAL_MEAN, Attr.CURVE_LOSS_MEAN, Attr.CURVE_TIME)
    for ref in load_trials(reference_dir):
        trial = study.ask()
        n = ref.user_attrs.get(Attr.N_EPOCHS) or 0
        for part in (n // 3, 2 * n // 3):  # two live flushes, each followed by a pass
            for key in curves:
                trial.set_user_attr(key, (ref.user_attrs.get(key) or [])[:part])
            c = time.process_time()
            writer.sync(study)
            live.append(time.process_time() - c)
        for key, value in ref.user_attrs.items():
            if key != "worker":
                trial.set_user_attr(key, value)
        if ref.state == optuna.trial.TrialState.COMPLETE:
            study.tell(trial, ref.value)
        else:
            study.tell(trial, state=ref.state)
        c = time.process_time()
        writer.sync(study)
        ends.append(time.process_time() - c)
    out["live_pass_ms"] = 1000 * statistics.mean(live)
    out["trial_end_ms"] = 1000 * statistics.mean(ends)
    out["n_trials"] = len(ends)

    from nnsweep.estimator import NeuralNetworkClassifier
    from nnsweep.tracking import artifacts

    c = time.process_time()
    writer.plots(study)
    out["log_plots"] = time.process_time() - c
    c = time.process_time()
    artifacts.prewarm()
    out["prewarm"] = time.process_time() - c
    model = NeuralNetworkClassifier(hidden_layer_sizes=(64,), max_epochs=2, random_state=0)
    model.fit(dataset.X_train, dataset.y_train)
    import joblib
    import numpy as np

    joblib.dump(model, Path(workdir) / "model.joblib")
    np.save(Path(workdir) / "X_example.npy", dataset.X_train[:5])
    result = {"model_path": str(Path(workdir) / "model.joblib"), "best_value": 0.98}
    c = time.process_time()
    artifacts.log_model(writer.client, uri, spec, writer.parent_run_id, result)
    out["log_model"] = time.process_time() - c
    print(json.dumps(out))


def open_existing_store(workdir):
    """CPU s of the writer's imports and of opening an existing store, in a fresh process."""
    code = (
        "import time; c = time.process_time(); import nnsweep.tracking.writer as w; "
        "i = time.process_time() - c; "
        f"w.make_client('sqlite:///{workdir}/mlruns/mlflow.db'); "
        "print(i, time.process_time() - c - i)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return [float(v) for v in out.stdout.split()]


def latency(cwd, study_file, n_trials):
    """Run the sweep once with MLflow on while this process watches both stores (every 0.1 s):
    per trial, seconds from its start to its run in MLflow, and from each epoch (as the
    trial's ``curve_time`` dates it) to its ``val_mean`` row."""
    import sqlite3
    import threading

    db = Path(cwd) / "mlruns" / "mlflow.db"
    seen_run, seen_step, stop = {}, {}, threading.Event()

    def watch():
        while not stop.wait(0.1):
            if not db.exists():
                continue
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
                    rows = con.execute(
                        "SELECT t.value, r.run_uuid FROM tags t JOIN runs r "
                        "ON t.run_uuid = r.run_uuid WHERE t.key = 'optuna.trial_number'"
                    ).fetchall()
                    steps = con.execute(
                        "SELECT run_uuid, max(step) FROM metrics WHERE key = 'val_mean' "
                        "GROUP BY run_uuid"
                    ).fetchall()
            except sqlite3.Error:
                continue
            now = time.time()
            runs = {run: int(number) for number, run in rows}
            for number in runs.values():
                seen_run.setdefault(number, now)
            for run, step in steps:
                if run in runs:
                    for k in range(1, step + 1):
                        seen_step.setdefault((runs[run], k), now)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    run_cli(cwd, study_file, True, n_trials)
    stop.set()
    thread.join()
    starts, epochs = [], []
    for t in load_trials(cwd):
        if t.number in seen_run:
            starts.append(seen_run[t.number] - t.datetime_start.timestamp())
        times = t.user_attrs.get(Attr.CURVE_TIME) or []
        for k, offset in enumerate(times, start=1):
            if (t.number, k) in seen_step and t.state.name != "RUNNING":
                epochs.append(seen_step[(t.number, k)] - (t.datetime_start.timestamp() + offset))
    return starts, epochs


# ----------------------------------------------------------------------------- main
ABOUT = (
    "One BLAS thread per process. A reference run of `studies/digits.toml` with MLflow off "
    "(2 workers) is replayed: its trials queued with `enqueue_trial` (the same parameters, "
    "each capped at the epochs it ran), no pruner, MLflow off and on alternated in fresh "
    "folders. 'new store': the run creates `mlruns/mlflow.db` (a clone's first sweep); "
    "'existing store': it finds it created. CPU: the command and its workers; 'other cores': "
    "what other processes of the machine used meanwhile (0 = quiet)."
)


def q(values, p):
    """The ``p``-th percentile of ``values``."""
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 trials, one pair (smoke run)")
    parser.add_argument("--pairs", type=int, default=3, help="off/on pairs per store kind")
    parser.add_argument("--components", nargs=2, metavar=("WORKDIR", "REFERENCE"))
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.components:
        return components(*args.components)
    n_trials = 8 if args.quick else None
    pairs = 1 if args.quick else args.pairs
    env = common.environment()
    data = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ref_dir = tmp / "reference"
        ref_dir.mkdir()
        wall, cpu, other = run_cli(ref_dir, STUDY, tracking=False, n_trials=n_trials)
        reference = load_trials(ref_dir)
        epochs = [max(1, t.user_attrs[Attr.N_EPOCHS]) for t in reference]
        states = {s: sum(t.state.name == s for t in reference) for s in ("COMPLETE", "PRUNED")}
        data["reference"] = {"trials": len(reference), **states, "epochs": sum(epochs)}
        data["reference"] |= {"wall": wall, "cpu": cpu}
        ref_row = [len(reference), states["COMPLETE"], states["PRUNED"], sum(epochs)]
        ref_row += [f"{wall:.1f}", f"{cpu:.1f}"]
        study_file = replay_study_file(tmp, epochs)
        rows, results = [], {}
        index = 0
        for new_store in (True, False):
            for _ in range(pairs):
                for tracking in (False, True):
                    cwd = tmp / f"replay-{index}"
                    index += 1
                    prepare_replay(cwd, reference, make_store=tracking and not new_store)
                    wall, cpu, other = run_cli(cwd, study_file, tracking, len(reference))
                    done = load_trials(cwd)
                    assert len(done) == len(reference), (len(done), len(reference))
                    assert sum(t.user_attrs[Attr.N_EPOCHS] for t in done) == sum(epochs)
                    kind = "new" if new_store else "existing"
                    results.setdefault(f"{kind} {'on' if tracking else 'off'}", []).append(
                        {"wall": wall, "cpu": cpu, "other": other}
                    )
                    rows.append(
                        [
                            kind if tracking else "-",
                            "on" if tracking else "off",
                            f"{wall:.1f}",
                            f"{cpu:.1f}",
                            "?" if other is None else f"{other:.2f}",
                            loadavg(),
                        ]
                    )
        data["replays"] = results
        medians = []
        for kind in ("new", "existing"):
            on, off = results[f"{kind} on"], results[f"{kind} off"]
            w_on, w_off = (statistics.median(r["wall"] for r in x) for x in (on, off))
            c_on, c_off = (statistics.median(r["cpu"] for r in x) for x in (on, off))
            medians.append(
                [
                    kind,
                    len(on),
                    f"{w_on:.1f} / {w_off:.1f}",
                    f"**{100 * (w_on - w_off) / w_off:+.1f} %**",
                    f"{c_on:.1f} / {c_off:.1f}",
                    f"{c_on - c_off:+.1f} s ({100 * (c_on - c_off) / c_off:+.1f} %)",
                ]
            )
        comp_dir = tmp / "components"
        comp_dir.mkdir()
        out = subprocess.run(
            [sys.executable, __file__, "--components", str(comp_dir), str(ref_dir)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        parts = json.loads(out.stdout.strip().splitlines()[-1])
        imp, opened = open_existing_store(comp_dir)
        data["components"] = {**parts, "import_writer_fresh": imp, "open_existing_store": opened}
        n = parts["n_trials"]
        comp_rows = [
            ["the writer's imports (MLflow, Optuna) in its fresh process", "start", f"{imp:.2f}"],
            ["open an existing SQLite store", "start", f"{opened:.2f}"],
            [
                "or open a new store (its schema migrations: the store's first sweep)",
                "start",
                f"{parts['open_new_store']:.2f}",
            ],
            [
                "find or create the experiment and the parent run",
                "start",
                f"{parts['connect']:.2f}",
            ],
            [
                f"{n} trials: 2 live passes ({parts['live_pass_ms']:.1f} ms each) + the end "
                f"({parts['trial_end_ms']:.1f} ms) per trial",
                "during the sweep",
                f"{n * (2 * parts['live_pass_ms'] + parts['trial_end_ms']) / 1000:.2f}",
            ],
            ["the four study plots", "while the command refits", f"{parts['log_plots']:.2f}"],
            [
                "imports the model needs (skops, mlflow.sklearn)",
                "while the command refits",
                f"{parts['prewarm']:.2f}",
            ],
            ["log + register the model", "after the refit", f"{parts['log_model']:.2f}"],
        ]
        lat_dir = tmp / "latency"
        prepare_replay(lat_dir, reference, make_store=False)
        starts, epochs_lat = latency(lat_dir, study_file, len(reference))
        data["latency"] = {"trial_start_to_run": starts, "epoch_to_metric": epochs_lat}
    lat_rows = [
        [label, str(len(v)), f"{statistics.median(v):.2f}", f"{q(v, 90):.2f}", f"{max(v):.2f}"]
        for label, v in (
            ("trial start -> run visible", starts),
            ("epoch -> its metric visible", epochs_lat),
        )
    ]
    tables = [
        table(
            "1. The whole command, the same trials with MLflow on and off",
            ["trials", "complete", "pruned", "epochs", "wall s", "CPU s"],
            [ref_row],
            note="The reference run (`nnsweep run studies/digits.toml --no-tracking`):",
        ),
        table("", ["store", "MLflow", "wall s", "CPU s", "other cores", "load after"], rows),
        table(
            "",
            ["store", "pairs", "wall on / off s", "wall", "CPU on / off s", "CPU"],
            medians,
            note="Medians:",
        ),
        table(
            "2. Where the writer's time goes (CPU seconds, in a fresh process)",
            ["part", "when", "CPU s"],
            comp_rows,
        ),
        table(
            "3. How live MLflow is",
            ["", "n", "median s", "90th percentile s", "max s"],
            lat_rows,
            note="One more replay with MLflow on, watched from outside every 0.1 s (read-only "
            "SQLite queries): from a trial's start to its run in MLflow, and from an epoch's "
            "end (the trial's own `curve_time`) to that epoch's `val_mean` row.",
        ),
    ]
    common.write_results(
        "logging",
        "MLflow logging overhead on `make sweep` (digits)",
        env,
        tables,
        data=data,
        about=ABOUT,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
