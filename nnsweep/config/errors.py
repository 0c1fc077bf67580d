"""`StudyFileError`, and pydantic's validation errors worded as the study file's mistakes.

A message names the file, the dotted key (``[search_space.learning_rate] low``), what was
expected, in words made from the field's declaration (`expected`: ``Field(ge=1)`` on an
integer is "an integer >= 1"), and what the file has (with its type when the type is what is
wrong), or for an unknown key the key it was probably meant to be. A key set by ``--set``
says so. Only the first problem is reported: pydantic finds them all, and unknown keys come
first, then the file's order of sections as the schema declares them.

Leaves out: the rules themselves (`nnsweep.config.schema`).
"""

import dataclasses
import difflib
import functools
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from .fields import expected, show, unwrap
from .schema import ParamSpec, StudySpec, sections

# StudySpec fields that load_study fills in, not keys of the file.
LOADER_FIELDS = ("path", "source_text", "overrides")
# Errors about the value itself, not its type: "got 0", not "got 0 (an integer)".
_CONSTRAINTS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "string_too_short",
    "string_pattern_mismatch",
}
_NOT_A_TABLE = {"dataclass_type", "tuple_type", "list_type", "dataclass_exact_type"}


class StudyFileError(ValueError):
    """A study file (or an override) is invalid: ``path``, dotted ``key`` (or None), ``what``."""

    def __init__(self, path: str, key: str | None, what: str):
        self.path, self.key, self.what = str(path), key, what
        where = key or ""
        if key and "." in key:
            section, leaf = key.rsplit(".", 1)
            where = f"[{section}] {leaf}"
        super().__init__(f"{self.path}: {where + ': ' if where else ''}{what}")


def study_error(path: str, key: str | None, what: str, overrides: Iterable[str] = ()):
    """A `StudyFileError`; a key set (or under one set) by an override says which."""
    given = [k for k in overrides if key and (k == key or k.startswith(key + "."))]
    what += f" (from override {given[0]})" if given else ""
    return StudyFileError(path, key, what)


@functools.cache
def fields_of(cls: type) -> dict[str, Any]:
    """``{field: annotation}`` of a schema dataclass (the keys a table takes)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    skip = {StudySpec: LOADER_FIELDS, ParamSpec: ("name",)}.get(cls, ())
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in skip}


def unknown_key(section: str, key: str, valid: Iterable[str]) -> str:
    """``unknown key; did you mean ...? (valid: ...)`` for ``key`` in table ``section``."""
    valid = list(valid)
    keyed = ("estimator", "search_space", *sections())  # tables, not top-level keys
    tables = {"": [k for k in fields_of(StudySpec) if k not in keyed]}
    tables |= {name: list(fields_of(cls)) for name, cls in sections().items()}
    homes = [s for s, keys in tables.items() if key in keys and s != section]
    if section in tables and "" in homes:
        hint = f"{key} is a top-level key: put it above the first [table] header"
    elif section in tables and homes:
        hint = f"did you mean {key} in [{homes[0]}]?"
    else:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        hint = f'did you mean "{close[0]}"?' if close else ""
    what = "; ".join(x for x in ("unknown key", hint) if x)
    return what + (f" (valid: {', '.join(valid)})" if len(valid) <= 12 else "")


def _where(loc: tuple, names: dict[str, list[str]]) -> tuple[list[str], type | None, Any, bool]:
    """Where a pydantic ``loc`` is: dotted key parts, table, annotation, inside a list or not.

    ``("search_space", 0, "low", "int")`` -> ``["search_space", "learning_rate", "low"]``:
    keyed tables are lists to the schema (indices become the file's names) and unions add a
    member's name (dropped).
    """
    parts, cls, hint, table = [], StudySpec, None, StudySpec
    items = list(loc)
    while items and cls is not None:
        part = items.pop(0)
        if cls is StudySpec and part in names and items and isinstance(items[0], int):
            parts += [part, names[part][items.pop(0)]]
            if part == "search_space":
                cls = table = ParamSpec
                continue
            del items[:1]  # the value of the pair (name, value)
            pair = typing.get_args(fields_of(StudySpec)["estimator"])[0]
            return parts, StudySpec, typing.get_args(pair)[1], False
        parts.append(str(part))
        table, hint = cls, fields_of(cls).get(part)
        base, _ = unwrap(hint) if hint is not None else (None, [])
        cls = base if dataclasses.is_dataclass(base) else None
    return parts, table, hint, any(isinstance(i, int) for i in items)


def _worded(error: dict, names: dict[str, list[str]]) -> tuple[int, str, str]:
    """``(rank, dotted key, what)`` for one pydantic error; rank 0 for unknown keys."""
    parts, table, hint, inner = _where(error["loc"], names)
    kind, ctx, value = error["type"], error.get("ctx") or {}, error["input"]
    if kind == "study":
        return 1, ".".join([*parts, ctx["key"]]), ctx["what"]
    if kind == "unknown":  # a key of another search-space type
        what = unknown_key(".".join(parts), ctx["key"], ctx["valid"])
        return 0, ".".join([*parts, ctx["key"]]), what
    key = ".".join(parts)
    if kind == "unexpected_keyword_argument":
        return 0, key, unknown_key(".".join(parts[:-1]), parts[-1], fields_of(table))
    if kind == "missing":
        base, _ = unwrap(hint)
        if dataclasses.is_dataclass(base):  # a missing table: its first required key
            first = next(f for f in dataclasses.fields(base) if f.default is dataclasses.MISSING)
            key, hint = f"{key}.{first.name}", fields_of(base)[first.name]
        return 1, key, f"missing required key; expected {expected(hint)}"
    if kind in _NOT_A_TABLE and (hint is None or expected(hint) in ("a table", "a list")):
        return 1, key, f"expected a table [{key}], got {show(value, True)}"
    typed = kind not in _CONSTRAINTS and not (kind == "literal_error" and isinstance(value, str))
    among = " in the list" if inner else ""  # an element of a list (choices)
    return 2 - typed, key, f"expected {expected(hint)}, got {show(value, typed)}{among}"


def study_file_error(
    path: str, exc: ValidationError, names: dict[str, list[str]], overrides: Iterable[str] = ()
) -> StudyFileError:
    """The first of pydantic's errors as a `StudyFileError` (unknown keys first).

    ``names`` gives the file's keys of ``estimator`` and ``search_space`` in order (pydantic
    sees them as lists). Errors of one key (a union's members) give the most specific one.
    """
    worded = [_worded(e, names) for e in exc.errors()]
    rank, key, what = min(worded, key=lambda w: w[0] > 0)  # the first unknown key, else first
    same = [w for w in worded if w[1] == key]
    rank, key, what = min(same, key=lambda w: -w[0]) if rank else (rank, key, what)
    return study_error(path, key, what, overrides)
