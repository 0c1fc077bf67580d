"""Small study files for the tests, written from Python dicts.

Every test that needs a study file starts from `TINY`: a digits subset, a search space of
the learning rate and one hidden layer's width (a layers table of one depth: the trials draw
its width ``layer_1_units``), 3-fold CV, a handful of trials. A test changes only
what it is about:

    write_study(folder, "resume", {"budget": {"n_trials": 6}, "pruner": {"name": "median"}})

Changes merge table by table; a value of None removes the key. The file is written as TOML
(`to_toml`), so the tests read it back through `load_study` exactly as users' files are.

The tests that run sweeps on the command line, against real storage and tracking, write theirs
with `write_cli_study`: keyword arguments for what they vary (the storage, the tracking URI,
the trials' number and length; ``hidden``: the layer's lowest and highest width), or with
`write_local_study` when the study lives in a journal file and MLflow in a SQLite store under
the same folder. `SLOW` makes trials of about a
second, long enough to be caught in the middle; `NO_REFIT` leaves out the refit where it is
not the subject.
"""

import copy
import json
from pathlib import Path

TINY = {
    "name": "tiny",
    "data": {"name": "digits", "subset": 240},
    "estimator": {
        "activation": "relu",
        "max_epochs": 6,
        "batch_size": 32,
        "random_state": 0,
    },
    "search_space": {
        "learning_rate": {"type": "float", "low": 0.02, "high": 0.3, "log": True},
        "hidden_layer_sizes": {
            "type": "layers",
            "min_layers": 1,
            "max_layers": 1,
            "low": 16,
            "high": 64,
            "step": 16,
        },
    },
    "cv": {"n_splits": 3},
    "budget": {"n_trials": 4},
    "sampler": {"name": "tpe", "seed": 0, "n_startup_trials": 2},
    "pruner": {"name": "none"},
    "workers": {"n_jobs": 2},
    "storage": {},
    "tracking": {"enabled": False},
}
SLOW = dict(subset=1000, batch_size=4, max_epochs=20, hidden=(64, 128))  # ~1 s trials
NO_REFIT = "\n[evaluation]\nrefit = false\n"


def merge(base: dict, changes: dict) -> dict:
    """A deep copy of ``base`` with ``changes`` merged in (tables recursively; None deletes)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string


def to_toml(study: dict) -> str:
    """The TOML text of a study dict: top-level keys first, then ``[a]`` / ``[a.b]`` tables."""
    lines = [f"{k} = {_value(v)}" for k, v in study.items() if not isinstance(v, dict)]

    def tables(prefix, table):
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if scalars or not table:
            lines.extend(["", f"[{prefix}]"])
            lines.extend(f"{k} = {_value(v)}" for k, v in scalars.items())
        for k, v in table.items():
            if isinstance(v, dict):
                tables(f"{prefix}.{k}", v)

    for key, value in study.items():
        if isinstance(value, dict):
            tables(key, value)
    return "\n".join(lines) + "\n"


def write_study(folder, name="tiny", changes=None, *, base=TINY, storage=None, extra=""):
    """Write ``<folder>/<name>.toml`` from ``base`` with ``changes``; returns its path.

    ``storage`` defaults to the journal file ``<folder>/optuna/<name>.log``; ``extra`` is
    raw TOML appended as is (for tests of what a dict cannot express).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study = merge(base, {"name": name, **(changes or {})})
    if storage is None and "url" not in study.get("storage", {}):
        storage = folder / "optuna" / f"{name}.log"
    if storage is not None:
        study = merge(study, {"storage": {"url": str(storage)}})
    path = folder / f"{name}.toml"
    path.write_text(to_toml(study) + extra, encoding="utf-8")
    return path


def write_cli_study(
    folder,
    name,
    *,
    storage,
    tracking_uri=None,
    n_trials=4,
    n_jobs=2,
    subset=240,
    max_epochs=4,
    batch_size=32,
    hidden=(16, 48),
    n_splits=2,
    heartbeat_interval=None,
    tracking=None,
    extra="",
):
    """Write a small digits study file into ``folder`` for a sweep on the command line (its
    study in ``storage``: a journal file or a database URL; 2-fold CV, no early stop);
    returns its path.

    Tracking is on when ``tracking_uri`` is given (or ``tracking=True``: the URI then comes
    from the command line or the environment). The defaults give trials of a fraction of a
    second; more samples, epochs and hidden units and a smaller batch make them longer.
    """
    changes = {
        "data": {"subset": subset},
        "estimator": {
            "max_epochs": max_epochs,
            "batch_size": batch_size,
            "n_iter_no_change": 1000,
        },
        "search_space": {
            "learning_rate": {"high": 0.2},
            "hidden_layer_sizes": {"low": hidden[0], "high": hidden[1]},
        },
        "cv": {"n_splits": n_splits},
        "budget": {"n_trials": n_trials},
        "workers": {"n_jobs": n_jobs},
        "storage": {"heartbeat_interval": heartbeat_interval},
        "tracking": {
            "enabled": bool(tracking_uri if tracking is None else tracking),
            "uri": tracking_uri or "",
        },
    }
    return write_study(folder, name, changes, storage=storage, extra=extra)


def write_local_study(folder, name, *, under="optuna", **options):
    """`write_cli_study` with the study in the journal file ``<folder>/<under>/<name>.log`` and
    MLflow in the SQLite store ``<folder>/mlruns/mlflow.db``; returns ``(path, storage,
    tracking URI)``."""
    storage = str(Path(folder) / under / f"{name}.log")
    tracking = f"sqlite:///{folder}/mlruns/mlflow.db"
    path = write_cli_study(folder, name, storage=storage, tracking_uri=tracking, **options)
    return path, storage, tracking
