"""Typed configuration: dataclasses built from YAML mappings, with unknown keys refused."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, recursively (nested dataclasses, tuples, dicts).

    Missing keys take the dataclass defaults; unknown keys raise ValueError naming the valid ones.
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid keys: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value, f"{where}.{key}")
        elif typing.get_origin(hint) is tuple and value is not None:
            kwargs[key] = tuple(value)
        elif typing.get_origin(hint) is dict and value is not None:
            kwargs[key] = {str(k): float(v) for k, v in dict(value).items()}
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Read dataclass ``cls`` from the YAML file at ``path`` (see :func:`from_dict`)."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    return from_dict(cls, data, str(path))


def stable_hash(obj: Any, digits: int = 12) -> str:
    """Short stable hash of a configuration: SHA-256 of its sorted-key JSON (a dataclass is
    converted with ``dataclasses.asdict``; other values that JSON cannot hold with ``str``), the
    first ``digits`` hex digits."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:digits]
