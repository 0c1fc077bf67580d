"""``nnsweep new NAME --csv PATH --label COLUMN``: an annotated study file for your own data.

It reads the CSV once, chooses what the data asks for (the features' `preprocessing`, the
metric, the model's width, the epochs, the folds) and says why in a comment beside each
choice, then checks the file it wrote by loading it as ``nnsweep run`` would. A missing file,
an unknown column, a single class, a class of one row and non-numeric features are refused,
each with its own message, before anything is written.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..datasets import DatasetError
from ..datasets.files import load_csv
from ..datasets.profile import class_counts, suggest_metric, suggest_preprocessing

__all__ = ["cmd_new", "study_text"]

TEST_SIZE = 0.25  # the held-out test split of a CSV study


def cmd_new(args) -> int:
    """Write ``<NAME>.toml`` (or ``--output``) for the CSV; print the choices and how to run it."""
    from ..config import load_study

    path = Path(args.csv)
    data = read_labelled_csv(path, args.label)
    out = Path(args.output or f"{args.name}.toml")
    if out.exists() and not args.force:
        raise DatasetError(f"{out} exists already; choose another NAME or --output, or --force")
    text, notes = study_text(args.name, path, args.label, data)
    out.write_text(text, encoding="utf-8")
    load_study(out)  # what `nnsweep run` will read: a file it refuses is never left unsaid
    print(
        f"wrote {out}: a study of {path} ({data.X_train.shape[0]} rows, "
        f"{data.n_features} features, {len(data.classes)} classes)"
    )
    for note in notes:
        print(f"  {note}")
    print(f"run it: nnsweep run {out}")
    return 0


def read_labelled_csv(path: Path, label: str):
    """The CSV as a `Dataset`, refused with a clear message when it cannot make a study."""
    if not path.is_file():
        raise DatasetError(f"no such CSV file: {path.absolute()}")
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = [h.strip() for h in next(csv.reader(f), [])]
    if label not in header:
        raise DatasetError(
            f"{path}: no column {label!r} for --label; the columns are: {', '.join(header)}"
        )
    data = load_csv(path, label)  # non-numeric or missing cells: the line and the column
    counts = class_counts(data.y_train)
    if len(counts) < 2:
        raise DatasetError(
            f"{path}: column {label!r} has a single class ({next(iter(counts))!r}); a "
            "classifier needs at least two"
        )
    alone = [str(k) for k, n in counts.items() if n < 2]
    if alone:
        raise DatasetError(
            f"{path}: label(s) {', '.join(alone)} of column {label!r} have one row each; "
            "every class needs rows in both the training and the test split: add rows, or "
            "merge or drop those classes"
        )
    return data


def _sizes(n_train: int) -> dict:
    """The model and the training's length for ``n_train`` training rows."""
    if n_train < 1_000:
        return {"width": (16, 128), "max_epochs": 100, "batch_size": 32, "n_trials": 40}
    if n_train < 20_000:
        return {"width": (32, 256), "max_epochs": 60, "batch_size": 64, "n_trials": 40}
    return {"width": (64, 512), "max_epochs": 30, "batch_size": 128, "n_trials": 30}


def study_text(name: str, path: Path, label: str, data) -> tuple[str, list[str]]:
    """The study file's text for ``data``, and the choices to print, one line each."""
    preprocessing, why_pre = suggest_preprocessing(data.X_train)
    metric, why_metric = suggest_metric(data.y_train)
    n_rows = data.X_train.shape[0]
    n_train = int(n_rows * (1 - TEST_SIZE))
    size = _sizes(n_train)
    smallest = min(class_counts(data.y_train).values())
    # every fold's validation part needs each class; the training split holds 3/4 of a class
    n_splits = max(2, min(5, int(smallest * (1 - TEST_SIZE))))
    cv_note = "K" if n_splits == 5 else f"K: fewer, since the smallest class has {smallest} rows"
    low, high = size["width"]
    notes = [
        f'preprocessing = "{preprocessing}": {why_pre}',
        f'metric = "{metric}": {why_metric}',
        f"{n_splits}-fold CV, {size['n_trials']} trials, hidden layer of {low}-{high} units",
    ]
    shape = f"{n_rows} rows, {data.n_features} features, {len(data.classes)} classes"
    text = f'''# A study of {path.name}, written by `nnsweep new`: {shape} in column "{label}".
# Every key is explained in the format reference,
# studies/digits.toml in the nnsweep repository, and on the docs site's "Study files" page.
# Change what you like; `nnsweep run {name}.toml` refuses a misspelled or misplaced key.

name = {json.dumps(name)}
description = "One hidden layer on {path.name}, tuned by {n_splits}-fold CV."
metric = "{metric}"  # {why_metric}

[data]
name = "csv"
path = {json.dumps(str(path))}  # relative to the folder you run nnsweep in
label_column = {json.dumps(label)}
test_size = {TEST_SIZE}  # held out, read once after the search
preprocessing = "{preprocessing}"  # {why_pre}

[estimator]
activation = "relu"
max_epochs = {size["max_epochs"]}
batch_size = {size["batch_size"]}
learning_rate_schedule = "exponential"  # lr * (1 - learning_rate_decay) ** epoch
random_state = 0

# The search space: learning rate, momentum, decay, L1/L2 penalties and dropout, and the
# width of the hidden layer for {n_train} training rows. `off = 0.0`: each trial first
# decides whether to use it at all.
[search_space.learning_rate]
type = "float"
low = 0.001
high = 0.5
log = true

[search_space.momentum]
type = "float"
low = 0.5
high = 0.99

[search_space.learning_rate_decay]
type = "float"
low = 0.001
high = 0.1
log = true
off = 0.0

[search_space.l2_penalty]
type = "float"
low = 1e-05
high = 0.1
log = true
off = 0.0

[search_space.l1_penalty]
type = "float"
low = 1e-06
high = 0.01
log = true
off = 0.0

[search_space.dropout_rate]
type = "float"
low = 0.0
high = 0.5

[search_space.hidden_layer_sizes]  # one hidden layer; max_layers = 2 or 3 tunes the depth too
type = "layers"
min_layers = 1
max_layers = 1
low = {low}
high = {high}
log = true

[cv]
n_splits = {n_splits}  # {cv_note}

[budget]
n_trials = {size["n_trials"]}  # the study's total; running it again resumes up to this

[sampler]
name = "tpe"
seed = 0

[pruner]
name = "median"  # stops a trial whose fold mean falls behind the median at the same epoch
n_startup_trials = 5
n_warmup_steps = 5
'''
    return text, notes


def add_parser(sub) -> None:
    """The ``new`` subcommand."""
    new = sub.add_parser("new", help="write an annotated study file for your own CSV")
    new.add_argument("name", help="the study's name (and its file, NAME.toml)")
    new.add_argument("--csv", required=True, metavar="PATH", help="the CSV file, with a header")
    new.add_argument("--label", required=True, metavar="COLUMN", help="the label column's name")
    new.add_argument("--output", metavar="FILE", help="where to write it (default: NAME.toml)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=cmd_new)
