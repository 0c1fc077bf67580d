"""The vocabulary of the schema's fields, and what can be read from a field's declaration.

Markers a field's ``Annotated`` metadata may carry beside pydantic's constraints (`Expected`,
`Only`, `FromEnv`); `unwrap` a field's type to its base type and metadata; `expected` words
what a value should be from them (``Field(ge=1)`` on an integer: "an integer >= 1"), for error
messages and the documentation's tables; `show` writes a value as TOML does.

Leaves out: any particular field (`nnsweep.config.trial`, `runtime`, `schema`).
"""

import dataclasses
import functools
import types
import typing
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError


class Expected(str):
    """Field metadata: what a value should be, when its constraints don't say it in words."""


class Only(tuple):
    """Field metadata: the variants of its section (``name``, ``backend``, ``type``) using it."""

    def __new__(cls, *variants: str):  # noqa: D102
        return super().__new__(cls, variants)


class FromEnv(str):
    """Field metadata: the environment variable that fills the key when the file leaves it."""


def fail(key: str, what: str) -> typing.NoReturn:
    """Raise a validation error at ``key`` (dotted, relative to the table being validated)."""
    raise PydanticCustomError("study", "{what}", {"key": key, "what": what})


def default(cls: type, field: str) -> Any:
    """The default of ``cls``'s ``field`` (None if it has none)."""
    found = {f.name: f.default for f in dataclasses.fields(cls)}.get(field)
    return None if found is dataclasses.MISSING else found


def field_meta(cls: type, field: str) -> list[Any]:
    """The metadata of ``cls``'s ``field`` (pydantic's constraints and the markers above)."""
    return unwrap(typing.get_type_hints(cls, include_extras=True)[field])[1]


@functools.cache
def _marked(cls: type, marker: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for field, hint in hints.items():
        for meta in getattr(hint, "__metadata__", ()):
            if isinstance(meta, marker):
                out[field] = meta
    return out


def variant_keys(cls: type) -> dict[str, Only]:
    """``{field: the variants using it}`` for the fields of ``cls`` marked `Only`."""
    return _marked(cls, Only)


def env_keys(cls: type) -> dict[str, FromEnv]:
    """``{field: environment variable}`` for the fields of ``cls`` marked `FromEnv`."""
    return _marked(cls, FromEnv)


def _flat(meta: Iterable[Any]) -> list[Any]:
    out = []
    for m in meta:
        out += [m, *m.metadata] if isinstance(m, FieldInfo) else [m]
    return out


def unwrap(hint: Any, meta: tuple = ()) -> tuple[Any, list[Any]]:
    """A field's type without Annotated and None, and the metadata gathered on the way."""
    if typing.get_origin(hint) is Annotated:
        return unwrap(typing.get_args(hint)[0], (*meta, *hint.__metadata__))
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return unwrap(args[0], meta)
    return hint, _flat(meta)


def show(v: Any, typed: bool = False) -> str:
    """A value as TOML writes it (``"a"``, ``true``, ``0.5``), with its type if ``typed``."""
    if isinstance(v, dict):
        return "a table"
    text = ("true" if v else "false") if isinstance(v, bool) else repr(v)
    if isinstance(v, str):
        text = '"' + v.replace('"', '\\"') + '"'
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list"}
    kind = names.get(type(v), type(v).__name__)
    return f"{text} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})" if typed else text


def python_type(hint: Any) -> type | None:
    """The TOML type a field takes: bool, int, float or str; None for anything else."""
    base, _ = unwrap(hint)
    if typing.get_origin(base) is Literal:
        return str
    return base if base in (bool, int, float, str) else None


def expected(hint: Any) -> str:
    """What a field's value should be, in words: ``"an integer >= 1"``, ``'one of "a", "b"'``."""
    base, meta = unwrap(hint)
    for m in meta:
        if isinstance(m, Expected):
            return str(m)
    bounds = {k: getattr(m, k) for m in meta for k in ("ge", "gt", "lt") if hasattr(m, k)}
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(f'"{o}"' for o in typing.get_args(base))
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        base = float  # int | float: a number
    if base is int:
        return "an integer" + "".join(f" {op} {bounds[k]}" for k, op in _OPS if k in bounds)
    if base is float:
        if "gt" in bounds and "lt" in bounds:
            return f"a number in ({bounds['gt']}, {bounds['lt']})"
        return "a number" + "".join(f" {op} {bounds[k]}" for k, op in _OPS if k in bounds)
    if base is bool:
        return "true or false"
    if base is str:
        return (
            "a non-empty string" if any(getattr(m, "min_length", 0) for m in meta) else "a string"
        )
    return "a table" if dataclasses.is_dataclass(base) else "a list"


_OPS = (("ge", ">="), ("gt", ">"), ("lt", "<"))
