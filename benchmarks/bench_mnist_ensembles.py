"""What diversifies an MNIST ensemble: seeds of one configuration, or configurations within noise.

A study's soft vote is of its best configuration refit with R seeds (``members = "seeds"``)
or of the trials within noise of the best (``"within_noise"``). Dropout networks of one recipe
make many of the same mistakes, so this benchmark measures both, for each run of the deep
MNIST study in its sources: the configurations the study could not tell from its best
(``within_noise`` in ``results/mnist_deep_study*.json``, at most ``--members`` of them, best
first), each refit once with ``random_state`` 0, and their soft vote. It also votes all the
models of a run together (the best configuration's R seeds and the other configurations).

Each fit trains on all 60,000 training images in its own process with one BLAS thread, two at
a time, and is scored on the official 10,000 test images. A configuration that two runs share
is fit once. The parameters of trials other than the chosen one are those of the results
file's tables, rounded to 4 significant figures. This is a measurement on the test set, not a
selection: it says which kind of ensemble a study should register, for later runs.

Usage: ``python benchmarks/bench_mnist_ensembles.py [--members 4] [--workdir DIR]``; 5 to 8
minutes of a core per fit. ``--workdir`` keeps each model's test probabilities, so a rerun
fits only what is missing.
"""

import argparse
import ast
import hashlib
import json
import os
import statistics
from pathlib import Path

import common

common.blas_threads(1)

import numpy as np  # noqa: E402
from common import RESULTS, ROOT, table  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

from nnsweep.config import load_study  # noqa: E402

SOURCES = [RESULTS / "mnist_deep_study.json", RESULTS / "mnist_deep_study_within_noise.json"]
TUNED = (
    "hidden_layer_sizes",
    "batch_size",
    "learning_rate",
    "learning_rate_decay",
    "dropout_rate",
    "input_dropout_rate",
    "max_norm",
)


def runs_from(source):
    """Per run: its sampler seed, the configurations within noise (best first) and the chosen
    one's refit seeds, as ``{"seed", "members": [(trial, params)], "seeds"}``."""
    record = json.loads(Path(source).read_text())
    runs = []
    for run in record["data"]:
        summary = run["summary"]
        rows = {int(r[0]): r for r in run["top"]}
        members = []
        for tie in summary["within_noise"]:
            trial = tie["trial"]
            if trial == summary["chosen"]["trial"]:
                params = {k: summary["chosen"]["params"][k] for k in TUNED}
            else:
                values = rows[trial][5:]
                params = {k: ast.literal_eval(v) for k, v in zip(TUNED, values, strict=True)}
            members.append((trial, params))
        first, n = summary["test_seeds"][0], len(summary["test_seeds"])
        runs.append(
            {"seed": run["seed"], "members": members, "seeds": list(range(first, first + n))}
        )
    return runs


def cached(workdir, params, seed, quick):
    """Where one model's test probabilities are kept: named by its parameters and seed."""
    text = json.dumps({"params": params, "random_state": seed}, sort_keys=True)
    name = hashlib.sha256(text.encode()).hexdigest()[:16]
    return workdir / f"{name}{'-quick' if quick else ''}.npz"


def fit_one(fixed, params, seed, data_dir, path):
    """Fit one model, keep its test probabilities in ``path``; the CPU seconds it took."""
    import time

    from nnsweep.datasets import load_dataset
    from nnsweep.estimator import NeuralNetworkClassifier

    d = load_dataset("mnist", data_dir=data_dir)
    start = time.process_time()
    model = NeuralNetworkClassifier(**fixed, **params, random_state=seed).fit(d.X_train, d.y_train)
    cpu = time.process_time() - start
    np.savez(path, proba=model.predict_proba(d.X_test), classes=model.classes_, cpu=cpu)
    return cpu


def error(proba, classes, y):
    return 100 * float(np.mean(classes[np.argmax(proba, axis=1)] != y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4, help="configurations per run")
    parser.add_argument("--data-dir", default=os.environ.get("NNSWEEP_DATA_DIR"))
    parser.add_argument("--workdir", default=None, help="where the probabilities are kept")
    parser.add_argument(
        "--source",
        nargs="+",
        type=Path,
        default=SOURCES,
        help="results of bench_mnist_study.py (default: the deep study's)",
    )
    parser.add_argument("--quick", action="store_true", help="2 epochs (smoke run)")
    args = parser.parse_args(argv)

    fixed = dict(load_study(ROOT / "studies" / "mnist-deep.toml").estimator)
    fixed.pop("random_state", None)
    if args.quick:
        fixed["max_epochs"] = 2
    workdir = Path(args.workdir or common.results_folder(quick=True) / "ensembles")
    workdir.mkdir(parents=True, exist_ok=True)
    runs = [run for source in args.source for run in runs_from(source)]
    for run in runs:
        run["members"] = run["members"][: args.members]
        best, params = run["members"][0]
        # (label, params, random_state) of every model of the run: the ties, then the best's seeds
        run["ties"] = [(f"#{t}", p, 0) for t, p in run["members"]]
        run["seeded"] = [(f"#{best} seed {s}", params, s) for s in run["seeds"][1:]]
        run["models"] = run["ties"] + run["seeded"]
    jobs = {}
    for run in runs:
        for _, params, seed in run["models"]:
            path = cached(workdir, params, seed, args.quick)
            if not path.exists():
                jobs[path] = (params, seed)
    env = common.environment()
    Parallel(n_jobs=2)(
        delayed(fit_one)(fixed, p, s, args.data_dir, path) for path, (p, s) in jobs.items()
    )

    from nnsweep.datasets import load_dataset

    y = load_dataset("mnist", data_dir=args.data_dir).y_test
    summary, every, paired, data = [], [], [], []
    for run in runs:
        loaded = {}
        for label, params, seed in run["models"]:
            with np.load(cached(workdir, params, seed, args.quick)) as f:
                loaded[label] = (f["proba"], f["classes"], float(f["cpu"]))
        errors = {label: error(p, c, y) for label, (p, c, _) in loaded.items()}
        classes = next(iter(loaded.values()))[1]
        ties = [label for label, _, _ in run["ties"]]
        groups = {
            f"the {len(ties)} configurations within noise, seed 0 each": ties,
            f"the best configuration's {len(run['seeds'])} seeds": [
                ties[0],
                *[label for label, _, _ in run["seeded"]],
            ],
            "all of them": list(loaded),
        }
        right = {}
        for name, labels in groups.items():
            vote = np.mean([loaded[label][0] for label in labels], axis=0)
            right[name] = classes[np.argmax(vote, axis=1)] == y
            members = [errors[label] for label in labels]
            summary.append(
                [
                    str(run["seed"]),
                    name,
                    str(len(labels)),
                    f"{statistics.mean(members):.2f} %",
                    f"{min(members):.2f}-{max(members):.2f} %",
                    f"**{error(vote, classes, y):.2f} %**",
                ]
            )
            data.append(
                {
                    "sampler_seed": run["seed"],
                    "ensemble": name,
                    "members": labels,
                    "member_errors_pct": members,
                    "soft_vote_error_pct": error(vote, classes, y),
                }
            )
        configs, seeds, both = right
        for a, b, name in (
            (configs, seeds, "configurations - seeds"),
            (both, seeds, "all - seeds"),
        ):
            only_a = int(np.sum(right[a] & ~right[b]))
            only_b = int(np.sum(right[b] & ~right[a]))
            p = binomtest(min(only_a, only_b), only_a + only_b).pvalue if only_a + only_b else 1.0
            paired.append([str(run["seed"]), name, str(only_a), str(only_b), f"{p:.2f}"])
            data.append(
                {
                    "sampler_seed": run["seed"],
                    "pair": name,
                    "only_first": only_a,
                    "only_second": only_b,
                    "mcnemar_exact_p": p,
                }
            )
        for label, params, seed in run["models"]:
            every.append(
                [
                    str(run["seed"]),
                    label,
                    str(seed),
                    str(list(params["hidden_layer_sizes"])),
                    f"{errors[label]:.2f} %",
                    f"{loaded[label][2]:.0f}",
                ]
            )
    common.write_results(
        "mnist_ensembles",
        "MNIST soft votes: seeds of the best configuration, or the configurations within noise",
        env,
        [
            table(
                "Soft votes",
                [
                    "sampler seed",
                    "ensemble",
                    "models",
                    "members' mean",
                    "members' range",
                    "soft vote",
                ],
                summary,
            ),
            table(
                "Paired on the same test images",
                [
                    "sampler seed",
                    "soft votes",
                    "right only in the first",
                    "right only in the second",
                    "exact McNemar p",
                ],
                paired,
                note="Images one vote classifies correctly and the other does not. Under the "
                "hypothesis that both votes err equally often, the smaller count is binomial "
                "(n = their sum, p = 0.5): McNemar's exact test, two-sided.",
            ),
            table(
                "Every model",
                ["sampler seed", "model", "random_state", "layers", "test error", "CPU s"],
                every,
            ),
        ],
        data={"sources": [str(p) for p in args.source], "fixed": fixed, "ensembles": data},
        about="The runs of the sources; each model trained on all 60,000 "
        "training images with the study's fixed estimator settings, scored on the official "
        "10,000 test images (one image is 0.01 %; the 95 % interval of one error rate near "
        "1.1 % is about +-0.21 %). A soft vote averages the members' predict_proba. One BLAS "
        "thread per fit, two fits at a time.",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
