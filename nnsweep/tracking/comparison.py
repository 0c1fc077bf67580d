"""``nnsweep compare --mlflow``: a comparison of studies as an MLflow run of its own.

Each call makes a new run (a comparison is a moment: the studies may grow after it) named
``<A>-vs-<B>``, in the experiment ``nnsweep-compare`` of the first study's tracking store. It
holds:

* the table as an MLflow table (``comparison.json``, shown in the run's artifacts) and as the
  run's note (Markdown, on the run's overview page);
* the figure, under the name ``compare`` wrote it;
* each study's figures as metrics ``<study>.best_cv``, ``<study>.n_complete``, ... so that the
  MLflow UI can chart comparisons against each other;
* a tag ``nnsweep.compared.<study>`` per study: the run id of its parent run in that store,
  when the study has one there.
"""

from __future__ import annotations

import time
from pathlib import Path

from mlflow.entities import Metric

from . import payload as pl
from .runs import active_experiment, parent_filter
from .store import absolute_uri, open_store

__all__ = ["EXPERIMENT", "log_comparison"]

EXPERIMENT = "nnsweep-compare"
_METRICS = {  # column of the table -> metric name (per study)
    "best": "best_cv",
    "std": "best_cv_std",
    "complete": "n_complete",
    "pruned": "n_pruned",
    "failed": "n_failed",
    "wall": "wall_time_s",
    "to_best": "time_to_best_s",
    "added": "n_warm_start",
    "test": "test_mean",
}


def log_comparison(
    uri: str, columns: dict, rows: list[dict], cells: list[dict], uids: dict, figure: Path
) -> tuple:
    """Log one comparison; ``(experiment id, run id)``.

    ``rows`` are `nnsweep.cli.compare.compare_rows`'s numbers (the metrics), ``cells`` the
    same as the table shows them (the table and the note); ``columns`` maps their keys to the
    table's headings, in order; ``uids`` maps each study's name to its ``mlflow_study_uid``
    (or None), by which its parent run is found.
    """
    uri = absolute_uri(uri)
    client = open_store(uri)
    experiment_id = active_experiment(client, EXPERIMENT, uri)
    names = [row["study"] for row in rows]
    tags = {pl.ROLE_TAG: "comparison", "nnsweep.compared": ", ".join(names)}
    tags["mlflow.note.content"] = _markdown(columns, cells)
    for name, uid in uids.items():
        parent = _parent_run(client, name, uid) if uid else None
        if parent:
            tags[f"nnsweep.compared.{name}"] = parent
    run = client.create_run(experiment_id, tags=tags, run_name="-vs-".join(names))
    run_id = run.info.run_id
    metrics = {
        f"{row['study']}.{metric}": float(row[key])
        for row in rows
        for key, metric in _METRICS.items()
        if row.get(key) is not None
    }
    stamp = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()])
    table = {heading: [row[key] for row in cells] for key, heading in columns.items()}
    client.log_table(run_id, table, "comparison.json")
    client.log_artifact(run_id, str(figure))
    client.set_terminated(run_id)
    return experiment_id, run_id


def _parent_run(client, name: str, uid: str) -> str | None:
    """The run id of the study's parent run, in whichever experiment of the store holds it."""
    ids = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(ids, parent_filter(name, uid), max_results=1) if ids else []
    return found[0].info.run_id if found else None


def _markdown(columns: dict, rows: list[dict]) -> str:
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[key] for key in columns) + " |" for row in rows]
    return "\n".join(lines)
