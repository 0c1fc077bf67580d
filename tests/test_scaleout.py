"""Scale-out on existing engines, for real: workers on a Dask cluster, the Optuna study in
PostgreSQL (heartbeats on), MLflow logging to a tracking server backed by PostgreSQL, workers
added by hand with ``nnsweep worker``; clear errors for a bad storage URL or a tracking server
that is down; passwords masked everywhere.

The servers come from tests/support/postgres.py, tests/support/dask_cluster.py and
tests/support/mlflow_server.py (session fixtures; never skipped: a server that cannot start fails
the test with the reason).
"""

import re
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from nnsweep.study.records import Attr
from nnsweep.study.redact import redact_url
from tests.support.credentials import PASSWORD, USER
from tests.support.dask_cluster import dask_worker_pids
from tests.support.processes import (
    free_port,
    kill_group,
    run_nnsweep,
    start_nnsweep,
    wait_exit,
    wait_for,
)
from tests.support.readback import check_trials_match_runs, load_optuna_study, secrets_in_mlflow
from tests.support.studyfiles import write_cli_study

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.dask_cluster",
    "tests.support.mlflow_server",
]
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# trials of about a second (1000 samples, batch 4, 30 epochs, 2 folds): long enough that every
# worker gets some even when one starts a second later than the other
SLOW = dict(subset=1000, batch_size=4, max_epochs=30, hidden=(64, 128))


def test_sweep_on_dask_with_postgres_study_and_mlflow_server(
    tmp_path, pg_url, dask_cluster, mlflow_server
):
    """The issue's end-to-end run: CLI -> Dask workers -> PostgreSQL study -> MLflow server."""
    address = dask_cluster.scheduler_address
    tracking = mlflow_server.url_with_password()  # user info: nnsweep must mask it everywhere
    study_file = write_cli_study(
        tmp_path, "dask-pg", storage="unused.log", tracking=True, n_trials=4, **SLOW
    )
    proc = run_nnsweep(
        "run",
        study_file,
        "--no-progress",
        "--scheduler",
        address,
        "--storage",
        pg_url,
        "--tracking-uri",
        tracking,
        cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "study dask-pg: 4 complete" in proc.stdout

    # the trials are in PostgreSQL, all complete, and ran in the Dask workers' processes
    study = load_optuna_study("dask-pg", pg_url)
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    pids = {int(t.user_attrs[Attr.WORKER].rsplit(":", 1)[1]) for t in trials}
    workers = dask_worker_pids(address)
    assert pids <= workers, f"trials ran in {pids}, the Dask workers are {workers}"
    assert len(pids) == 2, "both Dask workers ran trials"

    # the MLflow server has one parent run and exactly one child run per trial
    runs = check_trials_match_runs(study, mlflow_server.url, "dask-pg")
    for t in trials:
        assert runs[t.number].data.metrics["cv_mean"] == pytest.approx(t.value)

    # the password of the storage and of the tracking URI is masked everywhere
    assert PASSWORD not in output
    assert f"{USER}:***@" in output  # shown, masked
    assert secrets_in_mlflow(mlflow_server.url, "dask-pg") == []


def test_workers_added_by_hand_share_the_postgres_study_and_its_exact_budget(
    tmp_path, pg_url, mlflow_server
):
    """``nnsweep worker STUDY --storage URL`` joins a running sweep: the budget holds exactly
    across both processes (PostgreSQL advisory lock), every trial has one MLflow run."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()  # two "machines": nothing shared but the servers
    # 8 trials of ~4 s: the sweep alone would take ~35 s, so the worker, which needs up to
    # ~15 s to start on a cold CI machine (imports, data, MLflow), still gets some of them
    n_trials = 8
    kwargs = dict(n_trials=n_trials, n_jobs=1, **dict(SLOW, max_epochs=45))
    study_a, study_b = (
        write_cli_study(tmp_path / m, "by-hand", storage="unused.log", tracking=True, **kwargs)
        for m in "ab"
    )
    common = ("--storage", pg_url, "--tracking-uri", mlflow_server.url)
    run, run_out = start_nnsweep("run", study_a, "--no-progress", *common, cwd=tmp_path / "a")
    worker = None
    try:
        # the worker joins once the sweep has started its first trial
        wait_for(lambda: _n_trials(pg_url, "by-hand") >= 1, timeout=120, what="the first trial")
        worker, worker_out = start_nnsweep("worker", study_b, *common, cwd=tmp_path / "b")
        assert wait_exit(run, 180, run_out, "nnsweep run") == 0, run_out()
        assert wait_exit(worker, 180, worker_out, "nnsweep worker") == 0, worker_out()
    finally:
        kill_group(run)
        if worker is not None:
            kill_group(worker)
    study = load_optuna_study("by-hand", pg_url)
    trials = study.get_trials()
    assert len(trials) == n_trials and all(t.state == TrialState.COMPLETE for t in trials)
    by_process = {t.user_attrs[Attr.WORKER] for t in trials}
    assert len(by_process) == 2, f"trials ran in {by_process}: the added worker ran none"
    check_trials_match_runs(study, mlflow_server.url, "by-hand")
    for out in (*run_out(), *worker_out()):
        assert PASSWORD not in out
    # a warning per trial is noise: Optuna's "Heartbeat of storage is supposed to be used with
    # Study.optimize" (nnsweep runs the heartbeat itself around ask/tell)
    for out in (run_out()[1], worker_out()[1]):
        assert "Heartbeat of storage is supposed" not in out, out[-2000:]


def _n_trials(url, name):
    try:
        return len(load_optuna_study(name, url).get_trials(deepcopy=False))
    except KeyError:  # the study does not exist yet
        return 0


def test_a_plain_postgresql_url_works(tmp_path, postgres):
    """``postgresql://`` (no driver) is what users write; SQLAlchemy 2.1 maps it to psycopg 3,
    which is not installed: nnsweep must use the installed driver (or say which to install)."""
    url = postgres.url(postgres.create_database("plain"), driver="postgresql")
    study_file = write_cli_study(tmp_path, "plain-url", storage=url, n_trials=1, n_jobs=1)
    proc = run_nnsweep("run", study_file, "--no-progress", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert PASSWORD not in output
    assert proc.returncode == 0, output[-3000:]
    assert len(load_optuna_study("plain-url", postgres.url(url.rsplit("/", 1)[1])).trials) == 1


def _bad_urls(postgres):
    db = postgres.create_database("bad")
    return {
        "closed port": f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/x",
        "wrong password": postgres.url(db, password="wrong-" + PASSWORD),
        "no such database": postgres.url("no_such_database"),
        "unknown scheme": f"mongodb://{USER}:{PASSWORD}@127.0.0.1:27017/optuna",
    }


def _main(args, capsys):
    """``nnsweep ARGS`` in this process: (exit code, stdout, stderr); an exception escaping
    ``main`` (a traceback for the user) fails the test, with the password masked."""
    from nnsweep.cli import main

    try:
        rc = main([str(a) for a in args])
    except BaseException as exc:  # noqa: BLE001 - any escape is the failure shown
        out, err = capsys.readouterr()
        leaked = PASSWORD in f"{out}{err}{exc!r}"
        pytest.fail(
            f"nnsweep raised {type(exc).__name__} (a traceback, exit 1) instead of a clear "
            f"error; password leaked: {leaked}; {redact_url(str(exc))[:600]}",
            pytrace=False,
        )
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize(
    "case", ["closed port", "wrong password", "no such database", "unknown scheme"]
)
def test_bad_storage_url_is_a_clear_error_naming_it(tmp_path, monkeypatch, capsys, postgres, case):
    url = _bad_urls(postgres)[case]
    monkeypatch.chdir(tmp_path)
    study_file = write_cli_study(tmp_path, "bad-storage", storage="unused.log", n_jobs=1)
    started = time.monotonic()
    rc, out, err = _main(
        ["run", study_file, "--no-progress", "--no-tracking", "--storage", url], capsys
    )
    assert PASSWORD not in out + err, "the storage password is printed"
    assert rc == 2, f"exit {rc}:\n{out[-2000:]}\n{err[-2000:]}"
    assert redact_url(url) in err, f"the error does not name the storage:\n{err}"
    assert time.monotonic() - started < 60


def test_tracking_server_down_is_a_clear_error_before_any_training(tmp_path, monkeypatch, capsys):
    port = free_port()  # nothing listens there
    monkeypatch.chdir(tmp_path)
    study_file = write_cli_study(
        tmp_path,
        "tracking-down",
        storage=str(tmp_path / "optuna" / "tracking-down.log"),
        tracking_uri=f"http://{USER}:{PASSWORD}@127.0.0.1:{port}",
        n_jobs=1,
    )
    rc, out, err = _main(["run", study_file, "--no-progress"], capsys)
    assert rc == 2, f"exit {rc}:\n{out[-2000:]}\n{err[-2000:]}"
    assert f"http://{USER}:***@127.0.0.1:{port}" in err
    assert "unreachable" in err
    assert PASSWORD not in out + err
    assert not (tmp_path / "optuna" / "tracking-down.log").exists(), "the study was started"


def test_scheduler_address_from_study_file_command_line_or_environment(tmp_path, monkeypatch):
    from nnsweep.cli import build_parser, load_spec
    from nnsweep.sweep.worker import _backend_options

    study_file = write_cli_study(tmp_path, "where", storage="x.log")

    def spec(*args):
        return load_spec(build_parser().parse_args(["run", str(study_file), *args]))

    assert spec().workers.backend == "loky"
    cli = spec("--scheduler", "tcp://10.0.0.1:8786")
    assert (cli.workers.backend, cli.workers.scheduler) == ("dask", "tcp://10.0.0.1:8786")
    assert _backend_options(cli) == {"scheduler_host": "tcp://10.0.0.1:8786"}
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.2:8786")
    env = spec("--set", "workers.backend=dask")
    assert env.workers.scheduler == "tcp://10.0.0.2:8786"
    with_file = (
        write_cli_study(tmp_path, "where", storage="x.log", extra="")
        .read_text()
        .replace("n_jobs = 2", 'n_jobs = 2\nbackend = "dask"\nscheduler = "tcp://h:1"')
    )
    study_file.write_text(with_file)
    assert spec().workers.scheduler == "tcp://h:1"  # the file wins over the environment
    assert spec("--scheduler", "tcp://c:2").workers.scheduler == "tcp://c:2"  # the CLI over both


def test_servers_started_for_the_user_listen_on_localhost():
    """``make ui`` (and any other server target) binds 127.0.0.1 unless asked otherwise."""
    makefile = (REPO / "Makefile").read_text()
    servers = [
        line
        for line in makefile.splitlines()
        if re.search(
            r"\b(mlflow (ui|server)|optuna-dashboard|dask (scheduler|worker)"
            r"|nnsweep (ui|dashboard))\b",
            line,
        )
        and not line.lstrip().startswith("#")
    ]
    assert servers, "no server target found in the Makefile"
    from nnsweep.cli import build_parser

    for command in ("ui", "dashboard"):  # what make ui and make dashboard call: local by default
        args = build_parser().parse_args(
            [command] + (["s.toml"] if command == "dashboard" else [])
        )
        assert args.host == "127.0.0.1"
    for line in servers:
        if re.search(r"nnsweep (ui|dashboard)", line) and "--host" not in line:
            continue  # the command's own default, checked above
        host = re.search(r"--host[ =](\S+)", line)
        assert host, f"no --host: {line.strip()}"
        value = host.group(1)
        if value.startswith("$("):  # a make variable: its default must be local
            var = value[2:-1]
            default = re.search(rf"^{var}\s*\??=\s*(\S+)", makefile, re.M)
            assert default, f"{var} has no default in the Makefile"
            value = default.group(1)
        assert value in ("127.0.0.1", "localhost"), line.strip()
