"""``nnsweep new``: a study file for your own CSV, that ``nnsweep run`` runs; bad CSVs refused.

And the data profile behind it: the features' scales and the labels' balance.
"""

import csv

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.datasets.profile import (
    SCALE_RATIO,
    scale_ratio,
    suggest_metric,
    suggest_preprocessing,
)
from tests.support.processes import run_nnsweep


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cancer_csv(folder, n=None):
    data = load_breast_cancer()
    rows = [[*x, ["malignant", "benign"][t]] for x, t in zip(data.data, data.target, strict=True)]
    return write_csv(folder / "cancer.csv", [*data.feature_names, "diagnosis"], rows[:n])


def test_raw_breast_cancer_features_want_scaling_and_digits_do_not():
    assert scale_ratio(load_breast_cancer().data) > 100 * SCALE_RATIO
    assert suggest_preprocessing(load_breast_cancer().data)[0] == "standard"
    digits = load_dataset("digits").X_train
    assert scale_ratio(digits) < SCALE_RATIO / 4
    assert suggest_preprocessing(digits)[0] == "none"
    assert scale_ratio(np.ones((5, 3))) == 1.0  # constant columns have no scale


def test_imbalanced_labels_get_macro_f1_with_the_reason():
    metric, why = suggest_metric(["a"] * 90 + ["b"] * 10)
    assert metric == "f1_macro" and "10 to 90 rows" in why
    assert suggest_metric(["a"] * 50 + ["b"] * 40)[0] == "accuracy"


@pytest.mark.slow
def test_new_writes_a_study_that_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the file names the CSV relative to where nnsweep runs
    cancer_csv(tmp_path)
    made = run_nnsweep(
        "new", "cancer", "--csv", "cancer.csv", "--label", "diagnosis", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert "run it: nnsweep run cancer.toml" in made.stdout
    assert 'preprocessing = "standard"' in made.stdout
    spec = load_study(tmp_path / "cancer.toml")
    assert spec.data.preprocessing == "standard" and spec.metric == "accuracy"
    assert {"learning_rate", "momentum", "l1_penalty", "l2_penalty", "dropout_rate"} <= {
        p.name for p in spec.search_space
    }
    ran = run_nnsweep(
        "run",
        "cancer.toml",
        "--no-progress",
        "--no-tracking",
        "--n-trials",
        "3",
        "--set",
        "estimator.max_epochs=5",
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "test accuracy" in ran.stdout
    again = run_nnsweep(
        "new", "cancer", "--csv", "cancer.csv", "--label", "diagnosis", cwd=tmp_path
    )
    assert again.returncode == 2 and "exists already" in again.stderr


@pytest.mark.parametrize(
    ("rows", "label", "message"),
    [
        (None, "diagnosis", "no such CSV file"),
        (
            [[1, 2, "a"], [3, 4, "b"]],
            "target",
            "no column 'target' for --label; the columns are: x1, x2, y",
        ),
        ([[1, 2, "a"], [3, 4, "a"], [5, 6, "a"]], "y", "has a single class ('a')"),
        (
            [[1, 2, "a"], [3, 4, "a"], [5, 6, "b"]],
            "y",
            "label(s) b of column 'y' have one row each",
        ),
        ([[1, 2, "a"], [3, "tall", "b"]], "y", "line 3, column 'x2': bad value 'tall'"),
    ],
    ids=["missing-file", "unknown-column", "one-class", "one-sample", "non-numeric"],
)
def test_new_refuses_a_bad_csv_with_its_own_message(tmp_path, rows, label, message):
    from argparse import Namespace

    from nnsweep.cli.new import cmd_new
    from nnsweep.datasets import DatasetError

    if rows is not None:
        write_csv(tmp_path / "data.csv", ["x1", "x2", "y"], rows)
    args = Namespace(
        name="mine",
        csv=str(tmp_path / "data.csv"),
        label=label,
        output=str(tmp_path / "m.toml"),
        force=False,
    )
    with pytest.raises(DatasetError) as info:
        cmd_new(args)
    assert message in str(info.value)
    assert not (tmp_path / "m.toml").exists()


def test_the_scale_warning_fires_on_raw_breast_cancer_and_not_on_digits(tmp_path):
    from nnsweep.cli.inputs import load_data, scale_warning
    from tests.support.studyfiles import write_study

    cancer_csv(tmp_path)
    csv_data = {"name": "csv", "path": str(tmp_path / "cancer.csv"), "label_column": "diagnosis"}
    raw = load_study(write_study(tmp_path, "raw", {"data": {**csv_data, "subset": None}}))
    said = scale_warning(raw, load_data(raw))
    assert said and 'set preprocessing = "standard" in [data] of' in said and "raw.toml" in said
    scaled = {"data": {**csv_data, "subset": None, "preprocessing": "standard"}}
    fixed = load_study(write_study(tmp_path, "scaled", scaled))
    assert scale_warning(fixed, load_data(fixed)) is None
    pixels = load_dataset("digits")  # as a user's CSV: pixels in [0, 1] need no scaling
    rows = [[*x, t] for x, t in zip(pixels.X_train, pixels.y_train, strict=True)]
    write_csv(tmp_path / "digits.csv", [*(f"p{i}" for i in range(64)), "label"], rows)
    as_csv = {"name": "csv", "path": str(tmp_path / "digits.csv"), "subset": None}
    digits = load_study(write_study(tmp_path, "digits", {"data": as_csv}))
    assert scale_warning(digits, load_data(digits)) is None
