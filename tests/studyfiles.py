"""Small study files for the tests, written from Python dicts.

Every test that needs a study file starts from `TINY`: a digits subset, a two-parameter
search space, 3-fold CV, a handful of trials. A test changes only what it is about:

    write_study(folder, "resume", {"budget": {"n_trials": 6}, "pruner": {"name": "median"}})

Changes merge table by table; a value of None removes the key. The file is written as TOML
(`to_toml`), so the tests read it back through `load_study` exactly as users' files are.
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
        "n_hidden": {"type": "int", "low": 16, "high": 64, "step": 16},
    },
    "cv": {"n_splits": 3},
    "budget": {"n_trials": 4},
    "sampler": {"name": "tpe", "seed": 0, "n_startup_trials": 2},
    "pruner": {"name": "none"},
    "workers": {"n_jobs": 2},
    "storage": {},
    "tracking": {"enabled": False},
}


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
