"""What MLflow logging costs a sweep: the whole `make sweep` with MLflow on and off, same work.

Two measurements, in this one run:

1. **The whole command, the same trials on and off.** `nnsweep run studies/digits.toml`
   (what `make sweep` runs: 2 worker processes) needs a fixed workload to compare on and
   off: with 2 workers TPE's choices and the median pruner's decisions depend on timing, so
   two runs of the plain study do different work (measured: 1,955 against 2,112 epochs).
   So one reference run of the study (MLflow off) is recorded, and then replayed: each
   replay run gets the reference's 60 trials queued in its study (``enqueue_trial``: the
   same parameters), each trial capped at the epochs it ran in the reference (a
   ``max_epochs`` choice in the search space) and no pruner, so every trial trains exactly
   as in the reference, in whatever order the workers take them. Replays alternate MLflow
   off / on, in fresh directories; "new store" runs create `mlruns/mlflow.db` (MLflow's
   schema migrations: the first `make sweep` of a clone), "existing store" runs find it
   created (every later `make sweep`). Wall time of the whole command, CPU time of it and
   its worker processes, and the CPU other processes used meanwhile (from /proc/stat).
2. **Where the time goes**, in processes of their own: `import mlflow` (after what a worker
   has imported anyway) and opening the store (new, existing), the tracker's per-trial calls
   replaying the reference trials (CPU ms), and the end of the sweep (model logged and
   registered, plots).
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

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

import optuna  # noqa: E402
from common import (  # noqa: E402
    ROOT,
    cpu_busy_seconds,
    environment,
    header,
    loadavg,
    table,
    write_result,
)

sys.path.insert(0, str(ROOT))
from nnsweep.search import make_storage  # noqa: E402
from tests.studyfiles import to_toml  # noqa: E402

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
        study.enqueue_trial({**t.params, "max_epochs": max(1, t.user_attrs["n_epochs"])})
    if make_store:  # what `make sweep` finds from its second run on: the store exists
        code = (
            "from mlflow import MlflowClient; "
            f"MlflowClient(tracking_uri='sqlite:///{cwd}/mlruns/mlflow.db').search_experiments()"
        )
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ----------------------------------------------------------------------------- components
def components(workdir, reference_dir):
    """Section 2, run in a process of its own: CPU seconds of each part (printed as JSON)."""
    import nnsweep.search  # noqa: F401  (loaded before MLflow in the command and the workers)

    c0 = time.process_time()
    import mlflow  # noqa: F401

    out = {"import_mlflow": time.process_time() - c0}
    from nnsweep.config import load_study
    from nnsweep.datasets import load_dataset
    from nnsweep.tracking import MLflowTracker

    spec = load_study(STUDY)
    dataset = load_dataset("digits")
    uri = f"sqlite:///{workdir}/mlruns/mlflow.db"
    c = time.process_time()
    tracker = MLflowTracker(spec, dataset, tracking_uri=uri)
    tracker.check_reachable()
    out["open_new_store"] = time.process_time() - c
    storage = make_storage(str(Path(workdir) / "journal.log"))
    study = optuna.create_study(study_name=NAME, storage=storage, direction="maximize")
    c = time.process_time()
    tracker.start(study)
    out["start_parent_run"] = time.process_time() - c
    starts, ends = [], []
    for ref in load_trials(reference_dir):
        trial = study.ask()
        c = time.process_time()
        tracker.trial_started(study, trial)
        starts.append(time.process_time() - c)
        for key, value in ref.user_attrs.items():
            if key not in ("mlflow_run_id", "worker"):
                trial.set_user_attr(key, value)
        for step, value in ref.intermediate_values.items():
            trial.report(value, step)
        if ref.state == optuna.trial.TrialState.COMPLETE:
            frozen = study.tell(trial, ref.value)
        else:
            frozen = study.tell(trial, state=ref.state)
        c = time.process_time()
        tracker(study, frozen)
        ends.append(time.process_time() - c)
    out["trial_start_ms"] = 1000 * statistics.mean(starts)
    out["trial_end_ms"] = 1000 * statistics.mean(ends)
    out["n_trials"] = len(starts)
    run = tracker.client.get_run(study.trials[-1].user_attrs["mlflow_run_id"])
    out["metric_keys_per_trial"] = len(run.data.metrics)

    from types import SimpleNamespace

    from nnsweep.estimator import NeuralNetworkClassifier
    from nnsweep.tracking import artifacts

    model = NeuralNetworkClassifier(n_hidden=64, max_epochs=2, random_state=0)
    model.fit(dataset.X_train, dataset.y_train)
    result = SimpleNamespace(
        model=model, X_example=dataset.X_train[:5], best_value=0.98, best_trial_number=0
    )
    c = time.process_time()
    artifacts.log_model(tracker.client, uri, spec, tracker.parent_run_id, result)
    out["log_model"] = time.process_time() - c
    c = time.process_time()
    artifacts.log_plots(tracker.client, study, tracker.parent_run_id)
    out["log_plots"] = time.process_time() - c
    print(json.dumps(out))


def open_existing_store(workdir):
    """CPU s of `import mlflow` and of opening an existing store, in a new process that has
    imported what a worker has (nnsweep.search: numpy, scikit-learn, Optuna)."""
    code = (
        "import time, nnsweep.search; c = time.process_time(); import mlflow; "
        "i = time.process_time() - c; "
        f"mlflow.MlflowClient(tracking_uri='sqlite:///{workdir}/mlruns/mlflow.db')"
        ".search_experiments(); print(i, time.process_time() - c - i)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return [float(v) for v in out.stdout.split()]


# ----------------------------------------------------------------------------- main
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
    env = environment(with_torch=False)
    import mlflow

    env += [("optuna", optuna.__version__), ("mlflow", mlflow.__version__)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ref_dir = tmp / "reference"
        ref_dir.mkdir()
        wall, cpu, other = run_cli(ref_dir, STUDY, tracking=False, n_trials=n_trials)
        reference = load_trials(ref_dir)
        epochs = [max(1, t.user_attrs["n_epochs"]) for t in reference]
        states = {s: sum(t.state.name == s for t in reference) for s in ("COMPLETE", "PRUNED")}
        ref_line = (
            f"Reference run (`nnsweep run studies/digits.toml --no-tracking`, 2 workers): "
            f"{len(reference)} trials ({states['COMPLETE']} complete, {states['PRUNED']} "
            f"pruned), {sum(epochs)} epochs, {wall:.1f} s wall, {cpu:.1f} s CPU."
        )
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
                    assert sum(t.user_attrs["n_epochs"] for t in done) == sum(epochs)
                    key = ("new" if new_store else "existing", tracking)
                    results.setdefault(key, []).append((wall, cpu))
                    rows.append(
                        [
                            key[0] if tracking else "-",
                            "on" if tracking else "off",
                            f"{wall:.1f}",
                            f"{cpu:.1f}",
                            "?" if other is None else f"{other:.2f}",
                            loadavg(),
                        ]
                    )
        lines = []
        for kind in ("new", "existing"):
            on, off = results[(kind, True)], results[(kind, False)]
            w_on, w_off = (statistics.median(w for w, _ in r) for r in (on, off))
            c_on, c_off = (statistics.median(c for _, c in r) for r in (on, off))
            lines.append(
                f"- {kind} store: wall {w_on:.1f} s on / {w_off:.1f} s off (medians of "
                f"{len(on)}): **{100 * (w_on - w_off) / w_off:+.1f} %**; CPU {c_on:.1f} / "
                f"{c_off:.1f} s: {c_on - c_off:+.1f} s ({100 * (c_on - c_off) / c_off:+.1f} %)"
            )
        section1 = (
            "## 1. The whole command, the same trials with MLflow on and off\n\n"
            + ref_line
            + " Replays: the same trials (parameters and epochs), random order between the "
            "2 workers, no pruner; each line a fresh directory. `other cores`: CPU that "
            "other processes of the machine used meanwhile, in cores (0 = quiet).\n\n"
            + table(["store", "MLflow", "wall s", "CPU s", "other cores", "load after"], rows)
            + "\n"
            + "\n".join(lines)
            + "\n"
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
        n = parts["n_trials"]
        per_trial = parts["trial_start_ms"] + parts["trial_end_ms"]
        comp_rows = [
            [
                "`import mlflow`, after numpy, scikit-learn, Optuna and nnsweep.search",
                "each process that logs (the command, each worker)",
                f"{imp:.2f}",
            ],
            ["open an existing SQLite store", "each process that logs", f"{opened:.2f}"],
            [
                "open a new store instead (with its schema migrations)",
                "the command, the store's first sweep",
                f"{parts['open_new_store']:.2f}",
            ],
            ["get/create the parent run", "the command", f"{parts['start_parent_run']:.2f}"],
            [
                f"a trial's run: create ({parts['trial_start_ms']:.1f} ms) + log and end "
                f"({parts['trial_end_ms']:.1f} ms)",
                f"per trial, in its worker ({n} trials)",
                f"{n * per_trial / 1000:.2f}",
            ],
            [
                "log + register the model (first call: skops and mlflow.sklearn imports)",
                "the command, at the end",
                f"{parts['log_model']:.2f}",
            ],
            ["the four study plots", "the command, at the end", f"{parts['log_plots']:.2f}"],
        ]
        section2 = (
            "## 2. Where the time goes (CPU seconds, each part in a fresh process)\n\n"
            + table(["part", "paid by", "CPU s"], comp_rows)
            + f"\nA trial run holds {parts['metric_keys_per_trial']} metric keys.\n"
        )
    text = (
        header(
            "MLflow logging overhead on `make sweep` (digits)",
            env,
            ["2-core machine; one BLAS thread per process. " + ("QUICK smoke run." * args.quick)],
        )
        + "\n"
        + section1
        + "\n"
        + section2
    )
    write_result("logging", text, quick=args.quick)


if __name__ == "__main__":
    main()
