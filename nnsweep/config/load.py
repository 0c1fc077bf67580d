"""`load_study`: a study file's text, overrides applied, validated by the schema and the estimator.

Settings are resolved here, in this order: overrides (``--set key=value``, `parse_overrides`)
> study file > environment (the keys with an ``env`` in the schema) > defaults, so the spec
records what a run actually used. Then the estimator's parameter names and values are
checked, with what the caller passes (the estimator's ``get_params()`` keys and its own
validator).

Leaves out: the schema (`nnsweep.config.schema`) and the wording of errors
(`nnsweep.config.errors`).
"""

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import LOADER_FIELDS, StudyFileError, keys, locate, study_file_error, unknown_key
from .schema import StudySpec, json_schema, kinds, sections, show, takes, validate_study

# How a value's type is worded in a validator's "expected ..." (then "got" needs no type);
# an integer is a valid float.
_TYPE_WORDS = {
    bool: r"\bbool\b",
    int: r"\b(int(eger)?|float|real)\b",
    float: r"\b(float|real)\b",
    str: r"\bstr(ing)?\b",
}
_TYPES = {"boolean": bool, "integer": int, "number": float, "string": str}  # JSON schema's


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return float(text)  # ".5"; a word raises ValueError


def _coerce(parts: list[str], value: Any) -> Any:
    """Convert an override string to the type its key expects; unchanged if that fails."""
    if not isinstance(value, str):
        return value
    node = locate(parts, {})[1]
    found = [] if node is None else kinds(node)
    kind = _TYPES.get(found[0].get("type")) if len(found) == 1 else None
    try:
        if kind is bool:
            return {"true": True, "false": False}[value.lower()]
        return (kind or _toml_value)(value)
    except (ValueError, KeyError):
        return value  # reported by validation: expected ..., got "..." (a string)


def parse_overrides(items: list[str]) -> dict[str, str]:
    """Parse ``--set key=value`` items into ``{dotted key: value string}`` (later items win).

    Values stay strings: `load_study` converts each to the type its key expects.
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value (e.g. budget.n_trials=10), got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _read(path: str) -> tuple[str, dict]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyFileError(path, None, f"cannot read the study file: {exc}") from exc
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        lines = text.splitlines()
        n = int(found.group(1)) if found else 0
        shown = f"\n    line {n}: {lines[n - 1].strip()}" if 0 < n <= len(lines) else ""
        raise StudyFileError(path, None, f"invalid TOML: {exc}{shown}") from None


def _apply(path: str, raw: dict, overrides: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Set each override's key in ``raw`` (converted); the applied ``(key, value)`` pairs."""
    applied = []
    for dotted, value in overrides.items():
        parts, node = dotted.split("."), raw
        if not all(parts):
            what = "expected a dotted key such as budget.n_trials"
            raise StudyFileError(path, dotted, what, overrides)
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                key, what = ".".join(parts[: i + 1]), f"is not a table; cannot set {dotted}"
                raise StudyFileError(path, key, what, overrides)
        node[parts[-1]] = _coerce(parts, value)
        value = node[parts[-1]]
        applied.append((dotted, tuple(value) if isinstance(value, list) else value))
    return tuple(applied)


def _resolved(raw: dict, environ: Any) -> dict:
    """The file's tables as the schema takes them, unset keys resolved from the environment."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for name, schema in sections().items():
        table, keys = out.setdefault(name, {}), schema["properties"]
        if not isinstance(table, dict):
            continue
        variant = schema["variant"]  # the chosen one, else the default (None: no variants)
        chosen = table.get(variant, keys.get(variant, {}).get("default"))
        for key in (k for k in takes(schema, chosen) if "env" in keys[k]):  # keys in use only
            # unset, or "" where the default is not: the environment, else the default
            if key not in table or (table[key] == "" and keys[key].get("default")):
                if environ.get(keys[key]["env"]):
                    table[key] = environ[keys[key]["env"]]
                else:
                    table.pop(key, None)
    name = out.get("name")
    if isinstance(name, str):  # defaults named after the study
        for section, key, value in (
            ("storage", "url", f"mlruns/optuna/{name}.log"),
            ("tracking", "experiment", name),
        ):
            if isinstance(out[section], dict) and not out[section].get(key):
                out[section][key] = value
    if isinstance(out.get("estimator"), dict):
        out["estimator"] = list(out["estimator"].items())
    if isinstance(out.get("search_space"), dict):
        tables = out["search_space"].items()
        out["search_space"] = [{"name": k, **v} if isinstance(v, dict) else v for k, v in tables]
    return out


def _check_names(names: dict[str, list[str]], params: list[str] | None, fail) -> None:
    """Refuse keys of ``[estimator]`` and ``[search_space]`` that the estimator doesn't take."""
    for section, name in ((s, n) for s in names for n in names[s] if params is not None):
        if name not in params:
            close = difflib.get_close_matches(name, params, n=1, cutoff=0.5)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            fail(f"{section}.{name}", f"not a parameter of the estimator{hint}")


def _check_values(spec: StudySpec, check, fail) -> None:
    """Refuse values the estimator would refuse (``check``), in file order."""
    values = [(f"estimator.{k}", k, v) for k, v in spec.estimator]
    for p in spec.search_space:  # ranges: their ends suffice (layers: as one layer's width)
        for field in ("low", "high", "off", "choices"):
            found = p.choices if field == "choices" else [getattr(p, field)]
            found = [(v,) if p.type == "layers" else v for v in found if v is not None]
            values += [(f"search_space.{p.name}.{field}", p.name, v) for v in found]
    for key, name, value in values:
        try:
            check({name: value})
        except (ValueError, TypeError) as exc:
            expected = str(exc)
            typed = not re.search(_TYPE_WORDS.get(type(value), "^$"), expected, re.IGNORECASE)
            fail(key, f"expected {expected}, got {show(value, typed)}")


def load_study(
    path: str | os.PathLike,
    *,
    estimator_params: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
    estimator_check: Callable[[dict[str, Any]], None] | None = None,
) -> StudySpec:
    """Read, override and validate a study file.

    Parameters
    ----------
    path : str or path-like
        The TOML study file.
    estimator_params : iterable of str, optional
        Valid estimator parameter names (``NeuralNetworkClassifier().get_params().keys()``);
        when given, the keys of ``[estimator]`` and ``[search_space]`` must be among them.
    overrides : dict, optional
        ``{dotted key: value}`` applied before validation (see `parse_overrides`); string
        values are converted to the type their key expects.
    estimator_check : callable, optional
        Checks estimator parameter values: called with one ``{name: value}`` at a time, for
        each ``[estimator]`` value and each search-space ``low``, ``high``, ``off`` and
        choice (a layers table's ``low`` and ``high`` as one layer's width, ``(low,)``), it
        raises ``ValueError`` or ``TypeError`` for a value the estimator would refuse, with a
        message saying what the value should be, worded to follow "expected" ("a float in
        the range [0.0, 1.0)"). The command line passes
        ``nnsweep.estimator.check_estimator_params``. Without it, values are not
        checked against the estimator (only as the schema says).

    Returns
    -------
    StudySpec

    Raises
    ------
    StudyFileError
        The first problem found, naming the file, the key and what was expected.
    """
    path, overrides = str(path), dict(overrides or {})
    text, raw = _read(path)
    applied = _apply(path, raw, overrides)

    def fail(key: str, what: str):
        raise StudyFileError(path, key, what, overrides)

    for key in (k for k in LOADER_FIELDS if k in raw):
        fail(key, unknown_key("", key, keys(json_schema())))
    space = raw.get("search_space")
    for param, table in space.items() if isinstance(space, dict) else ():
        if isinstance(table, dict) and "name" in table:  # its name is the table's
            params = json_schema()["$defs"]["ParamSpec"]
            fail(f"search_space.{param}.name", unknown_key(param, "name", keys(params)))
    names = {
        k: list(raw[k]) for k in ("estimator", "search_space") if isinstance(raw.get(k), dict)
    }
    raw.update(path=path, source_text=text, overrides=applied)
    _check_names(names, None if estimator_params is None else list(estimator_params), fail)
    try:
        spec = validate_study(_resolved(raw, os.environ))
    except ValidationError as exc:
        raise study_file_error(path, exc, names, overrides) from None
    if estimator_check is not None:
        _check_values(spec, estimator_check, fail)
    return spec
