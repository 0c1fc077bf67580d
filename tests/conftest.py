"""Shared fixtures: small study files written under tmp_path, and the shared data folder."""

import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NNSWEEP_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _one_blas_thread(monkeypatch):
    """Tests run with one BLAS thread per process, as sweeps do."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")


QUICK_STUDY = """
name = "{name}"

[data]
name = "digits"
subset = {subset}

[estimator]
activation = "relu"
max_epochs = {max_epochs}
batch_size = 32
random_state = 0

[search_space.learning_rate]
type = "float"
low = 0.02
high = 0.3
log = true

[search_space.n_hidden]
type = "int"
low = 16
high = 64
step = 16

[cv]
n_splits = 3

[budget]
n_trials = {n_trials}

[sampler]
name = "tpe"
seed = 0
n_startup_trials = 2

[pruner]
name = "{pruner}"
{pruner_options}

[workers]
n_jobs = {n_jobs}

[storage]
url = "{storage}"

[tracking]
enabled = {tracking}
uri = "{tracking_uri}"
"""


@pytest.fixture
def make_study(tmp_path):
    """Write a small digits study file under tmp_path; returns its path."""

    def make(
        name="tiny",
        subset=240,
        max_epochs=6,
        n_trials=4,
        n_jobs=2,
        pruner="none",
        pruner_options="",
        tracking=False,
        extra="",
    ):
        text = QUICK_STUDY.format(
            name=name,
            subset=subset,
            max_epochs=max_epochs,
            n_trials=n_trials,
            n_jobs=n_jobs,
            pruner=pruner,
            pruner_options=pruner_options,
            storage=tmp_path / "optuna" / f"{name}.log",
            tracking="true" if tracking else "false",
            tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db",
        )
        path = tmp_path / f"{name}.toml"
        path.write_text(textwrap.dedent(text) + extra)
        return path

    return make
