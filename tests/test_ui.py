"""``nnsweep ui``: the MLflow UI on a tracking store, its runs page printed; Ctrl-C ends it.

Through a real pseudo-terminal, as a person runs it; nothing it started outlives it, whether
Ctrl-C came from the terminal or a stop signal went to the command alone.
"""

import json
import signal
import urllib.request

import pytest

from tests.support.processes import free_port, nnsweep_cmd, subprocess_env
from tests.support.terminal import Terminal


def _store_with_a_run(tmp_path, experiment):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (tmp_path / "mlruns").mkdir()
    client = MlflowClient(tracking_uri=uri)
    eid = client.create_experiment(experiment, artifact_location=(tmp_path / "art").as_uri())
    client.set_terminated(client.create_run(eid, run_name="trial 0").info.run_id)
    return uri, eid


def _answers(port, experiment):
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=50"
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            names = [e["name"] for e in json.load(r).get("experiments", [])]
    except OSError:
        return False
    return experiment in names


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm-to-the-command-alone"])
def test_ui_serves_the_store_prints_the_runs_page_and_stops_with_nothing_left(tmp_path, stop):
    uri, eid = _store_with_a_run(tmp_path, "mystudy")
    port = free_port()
    term = Terminal(
        nnsweep_cmd("ui", "--tracking-uri", uri, "--port", port),
        cwd=tmp_path,
        env=subprocess_env(),
    )
    try:
        assert term.wait_until(lambda: _answers(port, "mystudy"), 90), term.output
        assert f"mystudy  http://127.0.0.1:{port}/#/experiments/{eid}/runs" in term.output
        if stop == "ctrl-c":  # to the terminal's foreground group: the command, not the server
            term.ctrl_c()
        else:  # as `timeout` or systemd do
            term.signal_command(signal.SIGTERM)
        code, took = term.wait(30)
        assert code == (130 if stop == "ctrl-c" else 143) and took < 15, term.output
        # the command's stop, as every command's: no traceback (not even the server's), no
        # word of resuming
        assert "stopped after" in term.output and "resume" not in term.output, term.output
        assert "Traceback" not in term.output, term.output
        assert term.survivors() == []
    finally:
        term.close()


def test_the_hint_names_the_command_that_works_where_the_user_is(tmp_path, monkeypatch):
    from nnsweep.cli.ui import hint

    monkeypatch.chdir(tmp_path)
    assert hint(3) == "`nnsweep ui`, then http://127.0.0.1:5000/#/experiments/3/runs"
    for name in ("nnsweep", "studies"):
        (tmp_path / name).mkdir()
    (tmp_path / "Makefile").write_text("ui:\n")
    assert hint() == "`make ui`"
