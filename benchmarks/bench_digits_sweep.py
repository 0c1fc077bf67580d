"""`make sweep` before and after: the digits study, run at this commit and at a baseline commit.

Each round runs ``nnsweep run studies/digits.toml --no-progress`` (what `make sweep` runs:
TPE over 5-fold CV, pruning on the fold mean, 2 workers, MLflow on) once with this checkout
and once with the baseline commit (a detached ``git worktree``, each with its own study
file), in a new folder each time, the order alternating between rounds. It reports, per run
and as medians: the wall time of the command, the sweep's own time, the best CV score, the
test accuracy of the refit model (the held-out 25 %), the trial counts, the epochs trained
and the time per epoch inside the trials (pruning makes runs train different numbers of
epochs, so the sweep's time alone mixes the code's speed with the work done).

With 2 workers TPE's choices depend on which trials finish first, so two runs of the same
code differ; the rounds show that spread beside the difference between the commits.

Usage: ``python benchmarks/bench_digits_sweep.py [--baseline COMMIT] [--rounds N]``; about
2 minutes a round. The baseline is ``main`` unless ``--baseline`` names another commit.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import common
import optuna
from common import ROOT, run_nnsweep_study, table

from nnsweep.study.storage import make_storage

ABOUT = (
    "Command: `nnsweep run studies/digits.toml --no-progress` (each commit's own study file, "
    "what `make sweep` runs), a new folder per run, this checkout and the baseline (a git "
    "worktree) alternating. With pruning, runs train different numbers of epochs, so the time "
    "per epoch inside the trials (trial time over epochs, both workers' trials summed) is what "
    "compares the code."
)


def run_once(code_root, workdir):
    """One `make sweep` of the digits study with the code at ``code_root``; its facts."""
    study_file = code_root / "studies" / "digits.toml"
    wall, proc = run_nnsweep_study(study_file, workdir, code_root=code_root)
    if proc.returncode != 0:
        sys.exit(
            f"nnsweep run {study_file} in {workdir} exited {proc.returncode}:\n"
            f"{proc.stderr[-2000:]}"
        )
    summary = json.loads((workdir / "mlruns" / "studies" / "digits" / "summary.json").read_text())
    epochs, trial_seconds = trained(workdir)
    return {
        "epochs": epochs,
        "ms_per_epoch": 1000 * trial_seconds / epochs,
        "wall": wall,
        "sweep": summary["wall_time"],
        "cv": summary["best_value"],
        "test": summary["test_score"],
        "complete": summary["n_complete"],
        "pruned": summary["n_pruned"],
    }


def trained(workdir):
    """(epochs trained, seconds inside trials) of the study a run left in ``workdir``.

    With pruning, runs of the same code train different numbers of epochs; the time per
    epoch (trial time / epochs, both workers' trials summed) compares the code itself.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (path,) = (workdir / "mlruns" / "optuna").glob("*.log")
    storage = make_storage(str(path))
    trials = optuna.load_study(study_name="digits", storage=storage).get_trials(deepcopy=False)
    epochs = sum(len(t.intermediate_values) for t in trials)
    seconds = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if t.datetime_complete and t.datetime_start
    )
    return epochs, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="commit to compare against (main)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--quick", action="store_true", help="one round (smoke run)")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    scratch = Path(tempfile.mkdtemp(prefix="nnsweep-digits-ab-"))
    base_root = scratch / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_root), args.baseline],
        check=True,
        capture_output=True,
    )
    env = common.environment()
    env["baseline"] = common.git("rev-parse", "--short", args.baseline) or args.baseline
    runs = {"this commit": [], f"baseline {env['baseline']}": []}
    contenders = list(zip(runs, (ROOT, base_root), strict=True))
    try:
        for r in range(rounds):
            for name, code_root in contenders if r % 2 == 0 else contenders[::-1]:
                workdir = scratch / f"{name.split()[0]}-{r}"
                workdir.mkdir()
                print(f"round {r + 1}: {name}", file=sys.stderr, flush=True)
                runs[name].append(run_once(code_root, workdir))
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_root)],
            capture_output=True,
        )

    def cells(r):
        return [
            f"{r['wall']:.1f}",
            f"{r['sweep']:.1f}",
            f"{r['cv']:.4f}",
            f"{r['test']:.4f}",
            f"{r['complete']} / {r['pruned']}",
            str(r["epochs"]),
            f"{r['ms_per_epoch']:.1f}",
        ]

    rows = [[name, str(i + 1), *cells(r)] for name, rs in runs.items() for i, r in enumerate(rs)]
    medians = [
        [
            name,
            f"{statistics.median(r['wall'] for r in rs):.1f}",
            f"{statistics.median(r['sweep'] for r in rs):.1f}",
            f"{statistics.median(r['cv'] for r in rs):.4f}",
            f"{min(r['cv'] for r in rs):.4f}-{max(r['cv'] for r in rs):.4f}",
            f"{statistics.median(r['test'] for r in rs):.4f}",
            f"{statistics.median(r['epochs'] for r in rs):.0f}",
            f"{statistics.median(r['ms_per_epoch'] for r in rs):.1f}",
        ]
        for name, rs in runs.items()
    ]
    columns = ["code", "wall s", "sweep s", "best CV", "best CV range", "test accuracy"]
    columns += ["epochs trained", "ms per epoch"]
    every = ["code", "run", "wall s", "sweep s", "best CV", "test accuracy", "complete / pruned"]
    every += ["epochs", "ms per epoch"]
    common.write_results(
        "digits_sweep",
        "`make sweep` (the digits study) at this commit and at a baseline",
        env,
        [
            table(f"Medians of {rounds} round(s)", columns, medians),
            table("Every run", every, rows),
        ],
        data=runs,
        about=ABOUT,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
