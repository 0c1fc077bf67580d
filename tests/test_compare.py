"""``nnsweep compare``: two built studies in one table and one figure, and the bad inputs
(an unknown study, two data sets, an empty study), each refused with a clear error."""

import json
from pathlib import Path

import mlflow
import numpy as np
import optuna
from sklearn.datasets import load_digits

from nnsweep.cli.compare import WITHIN
from tests.support.processes import run_nnsweep
from tests.support.studyfiles import NO_REFIT, write_cli_study


def _built(folder, name, sampler, extra=NO_REFIT, **options):
    """A small digits study, run to its end by ``nnsweep run`` with the sampler ``sampler``."""
    path = write_cli_study(
        folder, name, storage=str(folder / "optuna" / f"{name}.log"), extra=extra, **options
    )
    if sampler != "tpe":  # TINY's sampler is TPE with its startup trials
        text = path.read_text().replace("n_startup_trials = 2\n", "")
        path.write_text(text.replace('[sampler]\nname = "tpe"', f'[sampler]\nname = "{sampler}"'))
    ran = run_nnsweep("run", path, "--no-progress", cwd=folder)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return path


def test_compare_prints_one_table_writes_the_figure_and_logs_both_to_mlflow(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tpe = _built(tmp_path, "tpe", "tpe", extra="", n_trials=4, tracking_uri=uri)
    rnd = _built(tmp_path, "rnd", "random", n_trials=3)
    out = tmp_path / "cmp.png"
    ran = run_nnsweep("compare", tpe, rnd, "--out", out, "--mlflow", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split()[:3] == ["study", "best", "CV"] and f"s to best-{WITHIN}" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    for name in ("tpe", "rnd"):
        study = optuna.load_study(
            study_name=name,
            storage=optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(
                    str(tmp_path / "optuna" / f"{name}.log")
                )
            ),
        )
        assert float(rows[name][1]) == round(study.best_value, 4)
        complete = sum(t.state.name == "COMPLETE" for t in study.trials)
        assert int(rows[name][3]) == complete
    assert "+-" in rows["tpe"][-1] and len(rows["rnd"]) == len(rows["tpe"]) - 2  # test: tpe only
    assert out.stat().st_size > 10_000 and f"figure: {out}" in ran.stdout

    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("nnsweep-compare").experiment_id])
    assert f"MLflow: run {run.info.run_id} in experiment nnsweep-compare" in ran.stdout
    page = f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    assert f"MLflow run: `nnsweep ui`, then {page}" in ran.stdout
    assert run.info.run_name == "tpe-vs-rnd" and run.info.status == "FINISHED"
    for name in ("tpe", "rnd"):
        assert round(run.data.metrics[f"{name}.best_cv"], 4) == float(rows[name][1])
        assert run.data.metrics[f"{name}.n_complete"] == int(rows[name][3])
    assert round(run.data.metrics["tpe.test_mean"], 4) == float(rows["tpe"][-2])
    assert run.data.metrics["rnd.n_warm_start"] == 0 and "rnd.test_mean" not in run.data.metrics
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("tpe").experiment_id], "tags.`nnsweep.role` = 'study'"
    )
    assert run.data.tags["nnsweep.compared.tpe"] == parent.info.run_id
    assert "nnsweep.compared.rnd" not in run.data.tags  # tracking was off for rnd
    assert run.data.tags["mlflow.note.content"].splitlines()[0].startswith("| study | best CV")
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
        "cmp.png",
        "comparison.json",
    }
    table = json.loads(
        Path(client.download_artifacts(run.info.run_id, "comparison.json", tmp_path)).read_text()
    )
    assert table["columns"][0] == "study" and [r[0] for r in table["data"]] == ["tpe", "rnd"]


def test_compare_refuses_an_unknown_study_two_data_sets_and_an_empty_study(tmp_path):
    built = _built(tmp_path, "built", "random", n_trials=2)
    unknown = run_nnsweep("compare", built, tmp_path / "nope.toml", cwd=tmp_path)
    assert unknown.returncode == 2 and "nope.toml: cannot read the study file" in unknown.stderr

    never_run = write_cli_study(tmp_path, "never", storage=str(tmp_path / "optuna" / "never.log"))
    ran = run_nnsweep("compare", built, never_run, cwd=tmp_path)
    assert ran.returncode == 2 and "no study 'never' in its storage" in ran.stderr, ran.stderr

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna" / "empty.log"))
    )
    optuna.create_study(study_name="empty", storage=storage)
    empty = write_cli_study(tmp_path, "empty", storage=str(tmp_path / "optuna" / "empty.log"))
    ran = run_nnsweep("compare", built, empty, cwd=tmp_path)
    assert ran.returncode == 2 and "the study 'empty' has no complete trial yet" in ran.stderr

    X, y = load_digits(return_X_y=True)
    table = np.column_stack([X[:300], y[:300]])
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    np.savetxt(tmp_path / "mine.csv", table, delimiter=",", header=header, comments="", fmt="%g")
    other = tmp_path / "other.toml"
    other.write_text(
        write_cli_study(
            tmp_path,
            "other",
            storage=str(tmp_path / "optuna" / "other.log"),
            n_trials=2,
            extra=NO_REFIT,
        )
        .read_text()
        .replace('name = "digits"', 'name = "csv"\npath = "mine.csv"', 1)
    )
    ran = run_nnsweep("run", other, "--no-progress", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    ran = run_nnsweep("compare", built, other, cwd=tmp_path)
    assert ran.returncode == 2 and "compare needs one data set: built has digits" in ran.stderr, (
        ran.stderr
    )
