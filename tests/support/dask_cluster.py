"""A local Dask cluster for the scale-out tests, as sweeps use one.

`local_cluster`: 2 worker processes with one thread and one BLAS thread each, on 127.0.0.1,
no dashboard (also used by ``benchmarks/bench_scaleout.py``). Loaded as a plugin
(``pytest_plugins = ["tests.support.dask_cluster"]``) for its session fixture `dask_cluster`.
"""

from __future__ import annotations

import os

import pytest

from tests.support.processes import blas_env


def local_cluster(**options):
    """A local Dask cluster as sweeps use one: 2 worker processes, 1 thread and 1 BLAS
    thread each, on 127.0.0.1, no dashboard (``options`` go to `LocalCluster`)."""
    from distributed import LocalCluster

    settings = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1")
    return LocalCluster(**settings, dashboard_address=None, env=blas_env(), **options)


@pytest.fixture(scope="session")
def dask_cluster():
    """A local Dask cluster: 2 worker processes, 1 thread each, on 127.0.0.1."""
    import logging

    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = local_cluster(silence_logs=logging.ERROR)
    client = Client(cluster)
    client.wait_for_workers(2, timeout=60)
    try:
        yield cluster
    finally:
        client.close(timeout=10)
        cluster.close(timeout=10)


def dask_worker_pids(address):
    """Process ids of the workers of the Dask cluster at ``address``."""
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        return set(client.run(os.getpid).values())
