"""An MNIST study, end to end: `make sweep STUDY=mnist` timed, and what it found.

Runs ``nnsweep run studies/<study>.toml`` (``--study``: ``mnist``, the shipped one-layer study,
or ``mnist-deep``, two or three layers; each is TPE over 3-fold CV on the 60,000 training
images, Hyperband pruning over epochs, one worker per core, MLflow on) as a subprocess
in a working directory of its own, once per sampler seed (``--seeds``, default 0 and 1, so
that one lucky run is not taken for the study's result). After
each run it reads the Optuna study and the ``summary.json`` the run wrote beside the refit
model, and records: the test error of the refit best model (the official 10,000 test images,
read once, after the search): each refit seed's, their mean, range and std, and their soft
vote's), its parameters, its CV score, the wall time of the whole command,
when the best trial finished, the trial counts, the best trials and the command's output. The
results are rewritten after every run, so a stop keeps the runs done.

Long: about 28 minutes a seed on 2 cores (`run.py` runs it only when named:
``--only mnist_study``, ``make bench-mnist``). ``--quick`` is a smoke run on 6,000 images with
4 trials of 3 epochs; its results go to the temporary directory.
"""

import argparse
import datetime
import json
import statistics
import sys
import tempfile
from pathlib import Path

import common

common.blas_threads(1)

import optuna  # noqa: E402
from common import ROOT, loadavg, run_nnsweep_study, table  # noqa: E402

from nnsweep.config import load_study  # noqa: E402
from nnsweep.study.records import Attr  # noqa: E402
from nnsweep.study.storage import make_storage  # noqa: E402

QUICK = ["--set", "data.subset=6000", "--set", "estimator.max_epochs=3", "--n-trials", "4"]


def fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run(study, workdir, extra):
    """The study as `make sweep STUDY=<name>` runs it; (wall s, stdout)."""
    print(f"running in {workdir}: nnsweep run {study} {' '.join(extra)}", file=sys.stderr)
    wall, proc = run_nnsweep_study(study, workdir, extra)
    print(proc.stdout + proc.stderr[-3000:], file=sys.stderr)
    if proc.returncode != 0:
        sys.exit(f"nnsweep run exited with {proc.returncode}")
    return wall, proc.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (minutes)")
    parser.add_argument(
        "--study", default="mnist", help="a study of studies/: mnist (default) or mnist-deep"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1], help="sampler seeds, one run each"
    )
    parser.add_argument(
        "--workdir",
        help="run in folders under this one (seed-<S>/mlruns/ keeps each study, its runs and "
        "model); default: a new temporary folder. The studies must not exist there yet.",
    )
    args = parser.parse_args(argv)
    root = Path(args.workdir or tempfile.mkdtemp(prefix="nnsweep-mnist-"))
    study = ROOT / "studies" / f"{args.study}.toml"
    spec = load_study(study)
    workdirs = {seed: root / f"seed-{seed}" for seed in args.seeds}
    for workdir in workdirs.values():
        if (workdir / spec.storage.url).exists():
            sys.exit(f"{workdir / spec.storage.url} exists: this benchmark times whole studies")
    env = common.environment()
    runs = []
    for seed, workdir in workdirs.items():
        workdir.mkdir(parents=True, exist_ok=True)
        extra = ["--set", f"sampler.seed={seed}", *(QUICK if args.quick else [])]
        load_before = loadavg()
        start = datetime.datetime.now(datetime.UTC).strftime("%H:%M UTC")
        wall, stdout = run(study, workdir, extra)
        runs.append(analyse(spec, workdir, seed, start, wall, stdout, load_before, loadavg()))
        write(spec, study, env, runs, args.quick)


def analyse(spec, workdir, seed, start, wall, stdout, load_before, load_after):
    """One run's facts, from its study and its summary.json."""
    summary = json.loads((workdir / "mlruns" / "studies" / spec.name / "summary.json").read_text())
    study = optuna.load_study(
        study_name=spec.name, storage=make_storage(str(workdir / spec.storage.url))
    )
    trials = study.get_trials(deepcopy=False)
    t0 = min(t.datetime_start for t in trials if t.datetime_start)
    best = study.best_trial
    search_end = max(t.datetime_complete for t in trials if t.datetime_complete)
    tuned = [p.name for p in spec.search_space]
    done = sorted(
        (t for t in trials if t.value is not None and t.state.name == "COMPLETE"),
        key=lambda t: t.value,
        reverse=True,
    )[:8]
    pruned_at = {}
    for t in trials:
        if t.state.name == "PRUNED":
            n = t.user_attrs.get(Attr.N_EPOCHS, len(t.intermediate_values))
            pruned_at[n] = pruned_at.get(n, 0) + 1
    return {
        "seed": seed,
        "start": start,
        "wall": wall,
        "stdout": stdout,
        "load": (load_before, load_after),
        "summary": summary,
        "error": 1 - summary["test_score"],
        "search": (search_end - t0).total_seconds(),
        "best_at": (best.datetime_complete - t0).total_seconds(),
        "pruned_at": dict(sorted(pruned_at.items())),
        "params": [[name, fmt(summary["best_params"].get(name))] for name in tuned],
        "top": [
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
        ],
    }


def refits(summary):
    """The refits' test errors: mean, range and std of the single refits, and the soft vote."""
    errors = [100 * (1 - s) for s in summary.get("test_scores") or [summary["test_score"]]]
    ensemble = summary.get("ensemble_score")
    trials = set(summary.get("test_trials") or [])
    what = f"{len(errors)} seeds" if len(trials) <= 1 else f"{len(trials)} trials within noise"
    return [
        f"{sum(errors) / len(errors):.2f} % ({min(errors):.2f}-{max(errors):.2f}, "
        f"std {statistics.pstdev(errors):.2f}, {what})",
        "" if ensemble is None else f"{100 * (1 - ensemble):.2f} %",
    ]


def write(spec, study, env, runs, quick):
    """The results: both runs side by side, then each run's parameters and best trials."""
    tuned = [p.name for p in spec.search_space]
    fixed = ", ".join(f"{k}={v}" for k, v in spec.estimator if k not in tuned)
    both = [
        [
            str(r["seed"]),
            r["start"],
            f"{r['load'][0].split(' / ')[0]} / {r['load'][1].split(' / ')[0]}",
            f"**{100 * r['error']:.2f} %** ({r['summary'].get('registered', '')})",
            *refits(r["summary"]),
            f"{r['wall'] / 60:.1f}",
            f"{r['search'] / 60:.1f}",
            f"{(r['summary']['refit_time'] or 0) / 60:.1f}",
            f"{r['summary']['best_value']:.4f} +- {r['summary']['best_std'] or 0:.4f}",
            f"{r['best_at'] / 60:.1f}",
            f"{r['summary']['n_complete']} / {r['summary']['n_pruned']}",
        ]
        for r in runs
    ]
    columns = ["sampler seed", "start", "load before / after", "test error (registered)"]
    columns += ["refits: mean (range, std)", "soft vote", "wall min"]
    columns += ["search min", "refit min", "best CV", "best found at min", "complete / pruned"]
    tables = [
        table(
            "Both runs",
            columns,
            both,
            note="Test error: the registered model on the official 10,000 test images, read "
            "once, after the search (one image is 0.01 %); the refits are the chosen "
            "parameters refit with random_state 0..R-1 (or, with members = within_noise, the "
            "trials within noise of the best, one seed each), and the soft vote is theirs.",
        )
    ]
    for r in runs:
        pruned = ", ".join(f"{k}: {v}" for k, v in r["pruned_at"].items()) or "none"
        tables.append(
            table(f"Sampler seed {r['seed']}", ["parameter (best trial)", "value"], r["params"])
        )
        tables.append(
            table(
                "",
                ["trial", "CV acc", "std", "epochs", "done at min", *tuned],
                r["top"],
                note=f"Best complete trials (pruned trials by epochs trained: {pruned}):",
            )
        )
    name = "mnist_study" if spec.name == "mnist" else f"{spec.name.replace('-', '_')}_study"
    common.write_results(
        name,
        f"The {spec.name} study (`make sweep STUDY={spec.name}`), end to end, one run per "
        "sampler seed",
        env,
        tables,
        data=runs,
        about=f"Command, in a new folder per run: `nnsweep run studies/{study.name} --no-progress "
        "--set sampler.seed=S" + (" " + " ".join(QUICK) if quick else "") + "`. Fixed in the "
        f"study file: {fixed}. Budget: {spec.budget.n_trials} trials or a "
        f"{spec.budget.timeout:.0f} s timeout (trials running then finish); pruner "
        f"{spec.pruner.name}.",
        quick=quick,
    )


if __name__ == "__main__":
    main()
