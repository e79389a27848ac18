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
    types = _field_types(cls)
    values = {}
    for name, value in data.items():
        kind = types[name]
        if dataclasses.is_dataclass(kind):
            value = from_dict(kind, value, f"{where}.{name}")
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise SpcError(f"{where}: {exc}") from None


def load_config(cls, path: str | Path):
    """A config from a JSON file: the config itself, or a report/summary holding it under ``config``."""
    data = read_json(path, "config file")
    if "config" in data and isinstance(data["config"], dict) and not any(f.name == "config" for f in dataclasses.fields(cls)):
        data = data["config"]
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
