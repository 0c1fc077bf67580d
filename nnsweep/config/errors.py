"""`StudyFileError`, and pydantic's validation errors worded as the study file's mistakes.

A message names the file, the dotted key (``[search_space.learning_rate] low``), what was
expected, in words made from the key's JSON schema (`expected`: ``Field(ge=1)`` on an
integer is "an integer >= 1"), and what the file has (with its type when the type is what is
wrong), or for an unknown key the key it was probably meant to be. A key set by ``--set``
says so. The key is pydantic's error location (`locate`), with the file's names in place of
the positions of ``[estimator]`` and ``[search_space]`` entries, which the schema holds as
lists. Only the first problem is reported: pydantic finds them all, and unknown keys come
first, then the file's order of sections as the schema declares them.

Leaves out: the rules themselves (`nnsweep.config.schema`).
"""

import difflib
from collections.abc import Iterable

from pydantic import ValidationError

from .schema import json_schema, kinds, sections, show

# StudySpec fields that load_study fills in, not keys of the file.
LOADER_FIELDS = ("path", "source_text", "overrides")
_OPS = {"minimum": ">=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


class StudyFileError(ValueError):
    """A study file (or an override) is invalid.

    Parameters
    ----------
    path : str
        The study file.
    key : str or None
        The dotted key (``"search_space.learning_rate.low"``), shown as ``[table] key``.
    what : str
        What is wrong, and what was expected.
    overrides : iterable of str, default=()
        The keys set by ``--set``: a key set by one (or under one) says which.
    """

    def __init__(self, path: str, key: str | None, what: str, overrides: Iterable[str] = ()):
        given = [k for k in overrides if key and (k == key or k.startswith(key + "."))]
        what += f" (from override {given[0]})" if given else ""
        self.path, self.key, self.what = str(path), key, what
        where = key or ""
        if key and "." in key:
            section, leaf = key.rsplit(".", 1)
            where = f"[{section}] {leaf}"
        super().__init__(f"{self.path}: {where + ': ' if where else ''}{what}")


def expected(node: dict) -> str:
    """What a key's value should be, in words: ``"an integer >= 1"``, ``'one of "a", "b"'``."""
    if "expected" in node:
        return node["expected"]
    if len(kinds(node)) > 1:
        return "a number"  # an integer or a float
    node = kinds(node)[0]
    if "enum" in node:
        return "one of " + ", ".join(f'"{o}"' for o in node["enum"])
    if {"exclusiveMinimum", "exclusiveMaximum"} <= set(node):
        return f"a number in ({node['exclusiveMinimum']}, {node['exclusiveMaximum']})"
    if {"minimum", "maximum"} <= set(node):
        return f"an integer from {node['minimum']} to {node['maximum']}"
    string = "a non-empty string" if node.get("minLength") else "a string"
    words = {"integer": "an integer", "number": "a number", "boolean": "true or false"}
    words |= {"string": string, "array": "a list"}
    return words.get(node.get("type"), "a table") + "".join(
        f" {op} {node[k]}" for k, op in _OPS.items() if k in node
    )


def keys(table: dict) -> list[str]:
    """The keys a table's JSON schema takes, but those that `load_study` or its name fill in."""
    skip = {"StudySpec": LOADER_FIELDS, "ParamSpec": ("name",)}.get(table.get("title"), ())
    return [k for k in table.get("properties", {}) if k not in skip]


def locate(loc: Iterable, names: dict[str, list[str]]) -> tuple[list[str], dict | None, bool]:
    """Where a pydantic ``loc`` is: the dotted key's parts, its JSON schema, inside a list or not.

    ``("search_space", 0, "low", "int")`` -> ``["search_space", "learning_rate", "low"]``:
    ``names`` gives the file's keys of ``[estimator]`` and ``[search_space]``, in order (the
    schema's lists); an entry of a list key and a union's member (``"int"``) end the key.
    A dotted key's parts are a ``loc`` too (``["search_space", "learning_rate", "low"]``).
    """
    parts, node, items = [], json_schema(), list(loc)
    while items and node is not None:
        part, node = items.pop(0), kinds(node)[0] if "$ref" in node else node
        if "properties" in node and isinstance(part, str):
            parts, node = [*parts, part], node["properties"].get(part)
        elif "items" in node and (isinstance(part, str) or len(parts) == 1 and parts[0] in names):
            parts.append(part if isinstance(part, str) else names[parts[0]][part])
            node = node["items"]
        elif "prefixItems" in node and isinstance(part, int):
            node = node["prefixItems"][part]  # the value of an [estimator] pair
        else:
            items.insert(0, part)
            break
    return parts, node, any(isinstance(i, int) for i in items)


def unknown_key(section: str, key: str, valid: Iterable[str]) -> str:
    """``unknown key; did you mean ...? (valid: ...)`` for ``key`` in table ``section``."""
    valid, root = list(valid), json_schema()
    tables = {"": [k for k in keys(root) if k not in ("estimator", "search_space", *sections())]}
    tables |= {name: keys(table) for name, table in sections().items()}
    homes = [s for s, names in tables.items() if key in names and s != section]
    if section in tables and "" in homes:
        hint = f"{key} is a top-level key: put it above the first [table] header"
    elif section in tables and homes:
        hint = f"did you mean {key} in [{homes[0]}]?"
    else:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        hint = f'did you mean "{close[0]}"?' if close else ""
    what = "; ".join(x for x in ("unknown key", hint) if x)
    return what + (f" (valid: {', '.join(valid)})" if len(valid) <= 12 else "")


def _worded(error: dict, names: dict[str, list[str]]) -> tuple[bool, str, str]:
    """``(unknown key?, dotted key, what)`` for one pydantic error."""
    parts, node, inner = locate(error["loc"], names)
    kind, ctx, value, key = error["type"], error.get("ctx") or {}, error["input"], ".".join(parts)
    if kind == "study":
        return False, ".".join([*parts, ctx["key"]]), ctx["what"]
    if kind == "unknown":  # a key of another search-space type
        return True, ".".join([*parts, ctx["key"]]), unknown_key(key, ctx["key"], ctx["valid"])
    if kind == "unexpected_keyword_argument":
        table = kinds(locate(error["loc"][:-1], names)[1])[0]
        return True, key, unknown_key(".".join(parts[:-1]), parts[-1], keys(table))
    if kind == "missing":
        return False, key, f"missing required key; expected {expected(node)}"
    if expected(node) in ("a table", "a list"):
        return False, key, f"expected a table [{key}], got {show(value, True)}"
    typed = not ctx or (kind == "literal_error" and not isinstance(value, str))
    among = " in the list" if inner else ""  # an element of a list (choices)
    return False, key, f"expected {expected(node)}, got {show(value, typed)}{among}"


def study_file_error(
    path: str, exc: ValidationError, names: dict[str, list[str]], overrides: Iterable[str] = ()
) -> StudyFileError:
    """The first of pydantic's errors as a `StudyFileError`: the first unknown key, if any.

    ``names`` gives the file's keys of ``estimator`` and ``search_space`` in order (pydantic
    sees them as lists). pydantic's errors come in the schema's order of keys; those of one key
    (a union's members) are worded alike.
    """
    worded = [_worded(e, names) for e in exc.errors()]
    _, key, what = min(worded, key=lambda w: not w[0])
    return StudyFileError(path, key, what, overrides)
