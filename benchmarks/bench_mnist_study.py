"""The MNIST study, end to end: `make sweep STUDY=mnist` timed, and what it found.

Runs ``nnsweep run studies/mnist.toml`` (the shipped study: TPE over 3-fold CV on the 60,000
training images, median pruning, one worker per core, MLflow on) as a subprocess in a working
directory, then reads the Optuna study and the ``summary.json`` the run wrote beside the refit
model, and reports: the test error of the refit best model (the official 10,000 test images,
read once, after the search), its parameters, its CV score, the wall time of the whole command,
when the best trial finished, the trial counts, and the best trials.

Long: about 65 minutes on 2 cores (`run.py` runs it only when named: ``--only mnist_study``).
``--quick`` is a smoke run on 6,000 images with 4 trials of 3 epochs; its results go to the
temporary directory.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import optuna  # noqa: E402
from common import ROOT, environment, header, loadavg, table, write_result  # noqa: E402

sys.path.insert(0, str(ROOT))
from nnsweep.config import load_study  # noqa: E402
from nnsweep.records import Attr  # noqa: E402
from nnsweep.storage import make_storage  # noqa: E402

STUDY = ROOT / "studies" / "mnist.toml"
QUICK = ["--set", "data.subset=6000", "--set", "estimator.max_epochs=3", "--n-trials", "4"]


def fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run(workdir, extra):
    """The study as `make sweep STUDY=mnist` runs it; (wall s, stdout)."""
    cmd = [sys.executable, "-m", "nnsweep", "run", str(STUDY), "--no-progress", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"running in {workdir}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    print(proc.stdout, file=sys.stderr)
    if proc.returncode != 0:
        sys.exit(f"nnsweep run exited with {proc.returncode}")
    return wall, proc.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (minutes)")
    parser.add_argument(
        "--workdir",
        help="run in this folder (its mlruns/ keeps the study, the runs and the model); "
        "default: a new temporary folder. The study must not exist there yet.",
    )
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nnsweep-mnist-"))
    spec = load_study(STUDY)
    journal = workdir / spec.storage.url
    if journal.exists():
        sys.exit(f"{journal} exists: this benchmark times a whole study from its start")
    env = environment(with_torch=False)
    env.append(("optuna", optuna.__version__))
    env.append(("mlflow", __import__("mlflow").__version__))
    load_before = loadavg()
    wall, stdout = run(workdir, QUICK if args.quick else [])
    load_after = loadavg()

    summary = json.loads((workdir / "mlruns" / "studies" / spec.name / "summary.json").read_text())
    study = optuna.load_study(study_name=spec.name, storage=make_storage(str(journal)))
    trials = study.get_trials(deepcopy=False)
    t0 = min(t.datetime_start for t in trials if t.datetime_start)
    best = study.best_trial
    best_at = (best.datetime_complete - t0).total_seconds()
    search_end = max(t.datetime_complete for t in trials if t.datetime_complete)
    search = (search_end - t0).total_seconds()
    error = 1 - summary["test_score"]
    refit = summary["refit_time"] or 0.0
    tuned = [p.name for p in spec.search_space]

    params = [[name, fmt(summary["best_params"].get(name))] for name in tuned]
    fixed = ", ".join(f"{k}={v}" for k, v in spec.estimator if k not in tuned)
    done = sorted(
        (t for t in trials if t.value is not None and t.state.name == "COMPLETE"),
        key=lambda t: t.value,
        reverse=True,
    )[:8]
    top = [
        [
            str(t.number),
            f"{t.value:.4f}",
            f"{t.user_attrs.get('cv_std', float('nan')):.4f}",
            str(t.user_attrs.get(Attr.N_EPOCHS, "")),
            f"{(t.datetime_complete - t0).total_seconds() / 60:.1f}",
            *(
                fmt(t.params.get(n, t.user_attrs.get(Attr.ESTIMATOR_PARAMS, {}).get(n)))
                for n in tuned
            ),
        ]
        for t in done
    ]
    text = header(
        "The MNIST study (`make sweep STUDY=mnist`), end to end",
        env,
        [
            "Command: `nnsweep run studies/mnist.toml --no-progress`"
            + (" " + " ".join(QUICK) if args.quick else "")
            + f". Load average before: {load_before}; after: {load_after}.",
        ]
        + (["QUICK smoke run: not the study's result."] if args.quick else []),
    )
    text += (
        "\n## Result\n\n"
        + table(
            ["", ""],
            [
                [
                    "test error (official 10,000 test images, read once)",
                    f"**{100 * error:.2f} %**",
                ],
                ["test accuracy", f"{summary['test_score']:.4f}"],
                [
                    "best trial: 3-fold CV accuracy",
                    f"{summary['best_value']:.4f} +- {summary['best_std'] or 0:.4f} "
                    f"(trial {summary['best_trial_number']})",
                ],
                ["wall time of the whole command", f"{wall / 60:.1f} min"],
                [
                    "of which the search (first trial start to last trial end)",
                    f"{search / 60:.1f} min",
                ],
                ["of which the refit on all training images + test", f"{refit / 60:.1f} min"],
                ["best trial finished after", f"{best_at / 60:.1f} min of search"],
                [
                    "trials",
                    f"{summary['n_complete']} complete, {summary['n_pruned']} pruned, "
                    f"{summary['n_failed']} failed",
                ],
            ],
        )
        + "\n## Best parameters (tuned)\n\n"
        + table(["parameter", "value"], params)
        + f"\nFixed in the study file: {fixed}.\n"
        + "\n## Best complete trials\n\n"
        + table(["trial", "CV acc", "std", "epochs", "done at min", *tuned], top)
        + "\n## Output of the command\n\n```\n"
        + stdout.strip()
        + "\n```\n"
    )
    write_result("mnist_study", text, quick=args.quick)


if __name__ == "__main__":
    main()
