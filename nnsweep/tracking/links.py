"""The MLflow UI's runs page of each study, for ``nnsweep ui`` (`nnsweep.cli.ui`).

MLflow 3's UI opens on its GenAI pages: clicking an experiment shows an empty traces overview,
not the runs. ``nnsweep ui`` prints these direct links first. Reads the SQLite store with
sqlite3 (no MLflow import, so it answers at once).
"""

from __future__ import annotations

import sqlite3

from .store import is_sqlite, sqlite_path


def runs_pages(uri: str, base_url: str) -> list[tuple[str, str]]:
    """``(experiment name, URL of its runs page)`` for each active experiment with runs."""
    path = sqlite_path(uri) if is_sqlite(uri) else None
    if path is None or not path.is_file():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute(
            "SELECT e.experiment_id, e.name FROM experiments e WHERE e.lifecycle_stage = "
            "'active' AND EXISTS (SELECT 1 FROM runs r WHERE r.experiment_id = "
            "e.experiment_id AND r.lifecycle_stage = 'active') ORDER BY e.experiment_id"
        ).fetchall()
    base = base_url.rstrip("/")
    return [(name, f"{base}/#/experiments/{eid}/runs") for eid, name in rows]
