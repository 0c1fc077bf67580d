"""Shared fixtures: small study files written under tmp_path, and the shared data folder."""

import os
from pathlib import Path

import pytest

from tests.support.studyfiles import write_study

# Rewritten by pytest, as the test modules are, so that a failed check shows its values: the
# checks of tests/support/readback.py, and the server modules that test modules load as plugins
# (`pytest_plugins`) and may import as well (registered here, before any of them imports one).
pytest.register_assert_rewrite(
    "tests.support.readback",
    "tests.support.postgres",
    "tests.support.mlflow_server",
    "tests.support.dask_cluster",
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NNSWEEP_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _one_blas_thread(monkeypatch):
    """Tests run with one BLAS thread per process, as sweeps do."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")


@pytest.fixture
def make_study(tmp_path):
    """Write a small digits study file under tmp_path (tests/support/studyfiles.py).

    Returns its path.
    """

    def make(
        name="tiny",
        subset=240,
        max_epochs=6,
        n_trials=4,
        n_jobs=2,
        pruner="none",
        pruner_options=None,
        tracking=False,
        extra="",
    ):
        changes = {
            "data": {"subset": subset},
            "estimator": {"max_epochs": max_epochs},
            "budget": {"n_trials": n_trials},
            "workers": {"n_jobs": n_jobs},
            "pruner": {"name": pruner, **(pruner_options or {})},
            "tracking": {"enabled": tracking, "uri": f"sqlite:///{tmp_path}/mlruns/mlflow.db"},
        }
        return write_study(tmp_path, name, changes, extra=extra)

    return make


@pytest.fixture(params=[True, False], ids=["fast-path-as-found", "fast-path-off"])
def fast_path(request, monkeypatch):
    """Run a test once with the optimiser's fused BLAS path as found, once with it off.

    Off is the one switch, ``nnsweep.nn._blas.AVAILABLE``, set to False: every BLAS call
    then declines, and `nnsweep.nn.fused.FusedSGD` takes `nnsweep.nn.optim.SGD`'s own step
    for every parameter (processes the test starts, joblib's workers, keep the path as
    found). Returns whether the path is on.
    """
    from nnsweep.nn import _blas

    if not request.param:
        monkeypatch.setattr(_blas, "AVAILABLE", False)
    return _blas.AVAILABLE
