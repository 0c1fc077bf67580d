"""The MLflow UI's runs page of each study: ``python -m nnsweep.tracking.links``.

MLflow 3's UI opens on its GenAI pages: clicking an experiment shows an empty traces overview,
not the runs. ``make ui`` prints these direct links first. Reads the SQLite store with sqlite3
(no MLflow import, so it answers at once).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from ..config import DEFAULT_TRACKING_URI
from .store import absolute_uri, is_sqlite, sqlite_path


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


def main(argv=None) -> int:
    """Print the runs page of each study in the store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI)
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="where the UI listens")
    args = parser.parse_args(argv)
    pages = runs_pages(absolute_uri(args.tracking_uri), args.url)
    if not pages:
        print(f"no runs yet in {args.tracking_uri}: `make sweep` first")
        return 0
    print("The runs of each study (MLflow's own start page shows GenAI traces, not these):")
    width = max(len(name) for name, _ in pages)
    for name, url in pages:
        print(f"  {name:<{width}}  {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
