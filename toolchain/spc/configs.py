"""Configs are frozen dataclasses: read one from JSON, change fields by dotted path, read a field's default.

Every artifact stores the config that made it (``dataclasses.asdict``); ``from_dict`` turns such a
dict back into the config, so ``--config run.json`` reruns exactly what a report says was run.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from .errors import SpcError
from .fileio import read_json


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_dict(cls, data: dict, where: str = "config"):
    """``cls`` built from a dict as ``asdict`` writes it (nested configs too); unknown keys are a user error."""
    if not isinstance(data, dict):
        raise SpcError(f"{where} must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpcError(f"{where} has unknown settings {unknown}; known: {', '.join(sorted(fields))}")
    if "version" in data and "version" in fields:
        current = fields["version"].default
        if data["version"] != current:
            raise SpcError(f"{where} holds version {data['version']!r} of {cls.__name__}; this spc reads version "
                           f"{current}: write the settings again with this spc (or leave 'version' out)")
    types = _field_types(cls)
    values = {}
    for name, value in data.items():
        kind = types[name]
        inner = [k for k in typing.get_args(kind) if dataclasses.is_dataclass(k)]  # ``Config | None``
        if dataclasses.is_dataclass(kind):
            value = from_dict(kind, value, f"{where}.{name}")
        elif inner and isinstance(value, dict):
            value = from_dict(inner[0], value, f"{where}.{name}")
        else:
            if isinstance(value, list) and any(typing.get_origin(k) is tuple for k in (kind, *typing.get_args(kind))):
                value = tuple(value)
            check_type(f"{where}: {name}", kind, value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise SpcError(f"{where}: {exc}") from None


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def check_type(what: str, kind, value) -> None:
    """A user error where a JSON value does not have a field's type ("retention must be a number, got 'high'")."""
    def ok(k, v) -> bool:
        origin = typing.get_origin(k)
        if k is typing.Any:
            return True
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
            return any(ok(a, v) for a in typing.get_args(k))
        if k is type(None):
            return v is None
        if origin is tuple:
            args = typing.get_args(k)
            item = args[0] if args else typing.Any
            return isinstance(v, tuple) and all(ok(item, x) for x in v)
        if k is float:
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        if k is int:
            return isinstance(v, int) and not isinstance(v, bool)
        if k in (bool, str):
            return isinstance(v, k)
        return True  # other annotations are validated by the config itself

    if not ok(kind, value):
        def name(a) -> str:
            if typing.get_origin(a) is tuple:
                item = (typing.get_args(a) or (typing.Any,))[0]
                return f"a list ({getattr(item, '__name__', 'any')} items)"
            return _NAMES.get(a, getattr(a, "__name__", str(a)))

        union = typing.get_origin(kind) is not tuple and typing.get_args(kind)
        names = [name(a) for a in (union or (kind,)) if a is not type(None)]
        none = " or null" if type(None) in typing.get_args(kind) else ""
        raise SpcError(f"{what} must be {' or '.join(names)}{none}, got {value!r}")


def load_config(cls, path: str | Path, key: str = "config"):
    """A config from a JSON file: the config itself, or a report/summary holding it under ``key`` (``config``; the
    distill summary holds the student's settings under ``mimic``, an analysis.json its settings under
    ``settings``). A file of another kind (none of those keys, not this config's fields) leaves the defaults."""
    data = read_json(path, "config file")
    fields = {f.name for f in dataclasses.fields(cls)}
    for k in dict.fromkeys((key, "config")):
        if k in data and isinstance(data[k], dict) and k not in fields:
            return from_dict(cls, data[k], str(path))
    if key != "config" and not set(data) <= fields:
        raise SpcError(f"{path} holds no {cls.__name__} settings (no '{key}' and not its fields): give the JSON file "
                       "the command wrote, or its settings")
    return from_dict(cls, data, str(path))


def default_of(cls, path: str):
    """The default of a (dotted) field of ``cls`` (a config class, or a named instance such as the
    demo's settings): what the CLI shows, stated once, where the config is defined."""
    value = cls() if isinstance(cls, type) else cls
    for part in path.split("."):
        value = getattr(value, part)
    return value


def with_changes(config, changes: dict[str, Any]):
    """A copy of ``config`` with dotted fields replaced (``{"stage1.epochs": 5}``); validated again."""
    nested: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for path, value in changes.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[head] = value
    for head, sub in nested.items():
        flat[head] = with_changes(getattr(config, head), sub)
    return dataclasses.replace(config, **flat)
