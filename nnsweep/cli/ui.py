"""``nnsweep ui [STUDY...]`` and ``nnsweep dashboard STUDY``: the views of a study, served here.

``ui`` serves the MLflow UI (``mlflow ui``) on the studies' tracking store, on localhost unless
told otherwise, and prints each study's runs page (MLflow 3's UI opens on its GenAI pages,
not on the runs). A tracking server is already a UI: its pages are printed and nothing is
started. ``dashboard`` serves optuna-dashboard on the study's Optuna storage, when installed.
Both open no browser; Ctrl-C stops them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

from ..config import DEFAULT_TRACKING_URI, load_study
from .children import child_pids, stop_children

__all__ = ["cmd_dashboard", "cmd_ui", "hint"]


UI_URL = "http://127.0.0.1:5000"  # where `nnsweep ui` and `make ui` serve the MLflow UI


def hint(experiment_id=None) -> str:
    """How to see the runs from here: ``make ui`` in a checkout of nnsweep, else ``nnsweep ui``."""
    here = os.path.isfile("Makefile") and os.path.isdir("nnsweep") and os.path.isdir("studies")
    page = f"{UI_URL}/#/experiments/{experiment_id}/runs" if experiment_id else ""
    return f"`{'make ui' if here else 'nnsweep ui'}`" + (f", then {page}" if page else "")


def runs_page(uri: str, experiment_id, run_id=None) -> str:
    """Where an experiment's runs page, or one run's page, is in the MLflow UI.

    On the tracking server that ``uri`` names, else in the UI that `hint` starts.
    """
    from ..study.redact import redact_url
    from ..tracking.store import absolute_uri, scheme_of

    page = f"#/experiments/{experiment_id}/runs" + (f"/{run_id}" if run_id else "")
    if scheme_of(absolute_uri(uri)) in ("http", "https"):
        return f"{redact_url(uri).rstrip('/')}/{page}"
    return f"{hint()}, then {UI_URL}/{page}"


def _serve(command, what, env=None, grace=10.0) -> int:
    """Run a server until it ends or the command is stopped.

    The server runs in a process group of its own, so that a terminal's Ctrl-C reaches the
    command alone: on SIGINT, uvicorn (the server of ``mlflow ui``) prints a traceback as it
    exits, and on SIGTERM it does not. However the command is stopped (Ctrl-C, or a signal to
    it alone, ``kill``, ``timeout``), it ends the server's whole process tree (`stop_children`:
    SIGTERM, then SIGKILL after ``grace`` s), while it is still this command's tree: ``mlflow
    ui`` can exit before the uvicorn it started, which init then adopts.
    """
    print(f"serving {what}; Ctrl-C stops it", flush=True)
    before = child_pids()  # a Python caller's own children are not the server's
    proc = subprocess.Popen(command, env=env, process_group=0)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # a stop signal (nnsweep.cli.signals.interrupt_on_stop)
        stop_children(grace=grace, keep=before)
        raise


def cmd_ui(args) -> int:
    """Serve the MLflow UI on the studies' tracking store; print their runs pages."""
    from ..tracking.links import runs_pages
    from ..tracking.store import absolute_uri

    uri = args.tracking_uri
    names = None
    if args.studies:
        specs = [load_study(study) for study in args.studies]
        uris = {absolute_uri(s.tracking.uri) for s in specs}
        if len(uris) > 1 and not uri:
            raise SystemExit(f"nnsweep ui: the studies log to different stores: {sorted(uris)}")
        uri = uri or uris.pop()
        names = {s.tracking.experiment or s.name for s in specs}
    uri = absolute_uri(uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    base = f"http://{args.host}:{args.port}"
    if uri.startswith(("http://", "https://")):
        base, serve = uri.rstrip("/"), False
    else:
        serve = True
    pages = [(n, url) for n, url in runs_pages(uri, base) if names is None or n in names]
    if pages:
        print("The runs of each study:")
        width = max(len(name) for name, _ in pages)
        for name, url in pages:
            print(f"  {name:<{width}}  {url}")
    else:
        print(f"no runs yet in {uri}" + ("" if names is None else f" for {', '.join(names)}"))
    if not serve:
        print(f"{base} is a tracking server: open it there")
        return 0
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", args.host, "--port", str(args.port), "--workers", "1"]
    # A UI to read the runs: one uvicorn process, without MLflow's GenAI job runner and its
    # huey consumers. Measured on 2 cores: 2 processes and the API answering after 5-6 s,
    # against 15 processes and 16-18 s with mlflow's defaults (4 workers, jobs on).
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return _serve(command, f"MLflow at {base}", env=env)


def cmd_dashboard(args) -> int:
    """Serve optuna-dashboard on the study's Optuna storage."""
    spec = load_study(args.study)
    here = os.path.dirname(sys.executable)
    program = shutil.which("optuna-dashboard", path=here) or shutil.which("optuna-dashboard")
    if importlib.util.find_spec("optuna_dashboard") is None or program is None:
        print(
            "nnsweep: error: optuna-dashboard is not installed: pip install 'nnsweep[dashboard]'",
            file=sys.stderr,
        )
        return 2
    command = [program, args.storage or spec.storage.url]
    command += ["--host", args.host, "--port", str(args.port)]
    return _serve(command, f"optuna-dashboard at http://{args.host}:{args.port}")


def add_parsers(sub) -> None:
    """The ``ui`` and ``dashboard`` subcommands."""
    ui = sub.add_parser("ui", help="serve the MLflow UI on the studies' store; print their runs")
    ui.add_argument("studies", nargs="*", metavar="STUDY", help="study files (default: all)")
    ui.add_argument("--tracking-uri", help="the MLflow store (default: the studies', or mlruns/)")
    ui.add_argument("--host", default="127.0.0.1", help="where to listen (default: localhost)")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=cmd_ui)
    dash = sub.add_parser("dashboard", help="serve optuna-dashboard on a study's storage")
    dash.add_argument("study", help="a study file, e.g. studies/digits.toml")
    dash.add_argument("--storage", help="Optuna storage URL or journal file")
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8080)
    dash.set_defaults(func=cmd_dashboard)
