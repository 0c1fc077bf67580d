"""A study's identity for resuming it: `study_fingerprint`, `changed_keys`, `StudyChangedError`.

Leaves out: loading and validating (`nnsweep.config.load`).
"""

from typing import Any

from pydantic import TypeAdapter

from .errors import StudyFileError
from .schema import StudySpec, show

# A study's identity. Resuming a study (same name, same storage) with other values of these
# would mix trials of two configurations: the data, the score, the fixed parameters, the
# search space and the CV define what every trial's value means. Left out, as changes that
# do not: the budget and timeout (how many trials), workers, storage and tracking (where they
# run and are shown), evaluation (what happens after them), the description, and the sampler
# and pruner (they choose the next trial's parameters and when to stop one; every finished
# trial is still a CV score of the same model on the same data, and a pruned one is still a
# pruned one). data.data_dir is left out too: it says where the official files are.
_IDENTITY = ("data", "metric", "estimator", "search_space", "cv")
_NOT_SET = object()


def study_fingerprint(spec: StudySpec, data_digest: str | None = None) -> dict[str, Any]:
    """The settings that define a study's trials, as JSON types (for an Optuna user attribute).

    Parameters
    ----------
    spec : StudySpec
    data_digest : str, optional
        The loaded data set's content digest (``Dataset.digest``). Given, it identifies the
        data in place of ``data.path`` (so the same file moved is the same study and a file
        rewritten in place is not); else ``data.path`` stands for the data.

    Returns
    -------
    dict
        ``{"data", "metric", "estimator", "search_space", "cv"}``: the resolved values
        (defaults included), estimator parameters and search-space entries sorted by name, so
        that the same study gives the same dict, and the same JSON text, however its file is
        ordered or formatted. Compare two with `changed_keys`.
    """
    fingerprint = TypeAdapter(StudySpec).dump_python(
        spec, mode="json", include=set(_IDENTITY), exclude={"data": {"data_dir"}}
    )
    if data_digest is not None:
        fingerprint["data"].pop("path")
        fingerprint["data"]["digest"] = data_digest
    fingerprint["estimator"] = dict(sorted(fingerprint["estimator"]))
    space = ((p.pop("name"), p) for p in fingerprint["search_space"])
    fingerprint["search_space"] = dict(sorted(space))
    return fingerprint


def _same(a: Any, b: Any) -> bool:
    """Equal as study settings: 1 == 1.0, but true != 1, and lists element by element.

    A key one side lacks is an unset (None) one: a key the schema gained changes no study
    that leaves it unset.
    """
    if a is _NOT_SET or b is _NOT_SET:
        return a is None or b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _changes(stored: dict[str, Any], current: dict[str, Any]):
    """``(dotted key, stored value, current value)`` for each of `changed_keys`."""
    for key in [*current, *(k for k in stored if k not in current)]:
        old, new = stored.get(key, _NOT_SET), current.get(key, _NOT_SET)
        if isinstance(old, dict) and isinstance(new, dict):
            yield from ((f"{key}.{leaf}", a, b) for leaf, a, b in _changes(old, new))
        elif not _same(old, new):
            yield key, old, new


def changed_keys(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The dotted keys whose values differ between two `study_fingerprint` dicts.

    Parameters
    ----------
    stored, current : dict
        Fingerprints (or any nested dicts of JSON values), e.g. the one stored on the study
        when it was created and the one of the study file now.

    Returns
    -------
    list of str
        In ``current``'s order, then keys only ``stored`` has; a table on one side only is
        one key (``"search_space.dropout_rate"``), else the leaves that differ
        (``["estimator.dropout_rate", "search_space.learning_rate.high"]``). Empty: the same
        study.
    """
    return [key for key, _, _ in _changes(stored, current)]


def _inline(v: Any) -> str:
    """A fingerprint value as TOML-like text: unset, "a", [1, 2], {low = 1, ...}."""
    if v is _NOT_SET or v is None:
        return "unset"
    if isinstance(v, dict):
        shown = (f"{k} = {_inline(x)}" for k, x in v.items() if x is not None and x != [])
        return "{" + ", ".join(shown) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(map(_inline, v)) + "]"
    return show(v)


class StudyChangedError(StudyFileError):
    """A study exists under this name with other settings: resuming would mix two studies.

    Parameters
    ----------
    path : str
        The study file.
    study : str
        The study's name.
    stored, current : dict
        The `study_fingerprint` stored on the existing study, and the study file's now.

    Attributes
    ----------
    study : str
    changes : list of (str, object, object)
        ``(dotted key, stored value, current value)`` for each of `changed_keys`.
    changed : list of str
        The dotted keys alone.
    """

    def __init__(self, path: str, study: str, stored: dict[str, Any], current: dict[str, Any]):
        self.study = study
        self.changes = list(_changes(stored, current))
        self.changed = [key for key, _, _ in self.changes]
        shown = "".join(f"\n    {k}: {_inline(a)} -> {_inline(b)}" for k, a, b in self.changes)
        what = (
            f'study "{study}" already exists with other settings, and resuming it would mix '
            f"trials of two configurations:{shown}\n"
            f'  Give the study a new name (name = "..." in the file, or --set name=...) to '
            f"start a new one, or pass --accept-changes to resume it anyway."
        )
        super().__init__(path, None, what)
