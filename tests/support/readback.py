"""Reading back what a sweep left, from outside its processes, and checking it.

`load_optuna_study` opens the study in its storage (journal file or database URL);
`trials_now` polls it while a sweep writes it. `mlflow_runs` reads an experiment's runs, and
`trial_run` one trial's run, found by its tags;
`check_trials_match_runs` asserts one MLflow run per Optuna trial, with matching content and
status; `secrets_in_mlflow` lists every place of the runs that holds the password.

Its asserts are rewritten by pytest (``register_assert_rewrite`` in tests/conftest.py), so a
failed check shows its values.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.support.credentials import PASSWORD


def load_optuna_study(name, url):
    """The Optuna study ``name`` in storage ``url`` (journal file or RDB URL), no heartbeat."""
    import optuna

    if "://" in url:
        storage = optuna.storages.RDBStorage(url)
    else:
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(url))
        )
    return optuna.load_study(study_name=name, storage=storage)


def trials_now(storage, name):
    """The trials of study ``name`` as ``storage`` has them now, to poll while a sweep runs:
    [] while it cannot be read (not created yet, or being written: read at the next poll)."""
    try:
        return load_optuna_study(name, storage).get_trials(deepcopy=False)
    except Exception:
        return []


_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def mlflow_runs(tracking_uri, experiment):
    """``(parents, children)`` of an MLflow experiment: lists of runs (all, deleted too)."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs([exp.experiment_id], "", ViewType.ALL, max_results=5000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def trial_run(tracking_uri, experiment, number):
    """The MLflow run of trial ``number`` (found by its tags, as the writer finds it), or None
    while there is none (or no experiment yet)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = (
        []
        if exp is None
        else client.search_runs([exp.experiment_id], f"tags.`optuna.trial_number` = '{number}'")
    )
    return runs[0] if runs else None


def check_trials_match_runs(study, tracking_uri, experiment):
    """One parent run; exactly one child run per Optuna trial, with its number, run id and an
    end status matching the trial's state. Returns ``{trial number: run}``."""
    from nnsweep.compat.optuna import trial_id

    parents, children = mlflow_runs(tracking_uri, experiment)
    assert len(parents) == 1, f"expected one parent run, got {len(parents)}"
    parent = parents[0]
    numbers = [int(r.data.tags["optuna.trial_number"]) for r in children]
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name != "WAITING"]
    assert sorted(numbers) == [t.number for t in trials], (
        f"MLflow child runs for trials {sorted(numbers)}, Optuna has trials "
        f"{[t.number for t in trials]}"
    )
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for t in trials:
        run = by_number[t.number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["optuna.trial_id"] == str(trial_id(t))
        assert run.data.tags.get("nnsweep.synced") == t.state.name, t.number
        assert run.info.status == _RUN_STATUS[t.state.name], (
            f"trial {t.number} is {t.state.name}, its run {run.info.status}"
        )
        for key, value in t.params.items():
            assert run.data.params[key] == str(value), f"trial {t.number} param {key}"
    return by_number


def secrets_in_mlflow(tracking_uri, experiment, secret=PASSWORD):
    """Every place of the experiment's runs (params, tags, artifacts) holding ``secret``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    parents, children = mlflow_runs(tracking_uri, experiment)
    found = []
    for run in parents + children:
        rid = run.info.run_id
        for kind, mapping in (("param", run.data.params), ("tag", run.data.tags)):
            for key, value in mapping.items():
                if secret in key or secret in str(value):
                    found.append(f"run {rid} {kind} {key}")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(client.download_artifacts(rid, "", tmp))
            for f in local.rglob("*"):
                if f.is_file() and secret.encode() in f.read_bytes():
                    found.append(f"run {rid} artifact {f.relative_to(local)}")
    return found
