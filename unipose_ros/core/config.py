"""Typed configuration: dataclasses built from YAML mappings, with unknown keys refused."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import types
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
            args = typing.get_args(hint)
            items = list(value)
            kinds = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args)
            if len(kinds) != len(items):
                raise ValueError(f"{where}.{key}: expected {len(kinds)} values, got {len(items)}")
            kwargs[key] = tuple(_scalar(k, v, f"{where}.{key}[{i}]") for i, (k, v) in enumerate(zip(kinds, items)))
        elif typing.get_origin(hint) is dict and value is not None:
            kwargs[key] = {str(k): _scalar(float, v, f"{where}.{key}.{k}") for k, v in dict(value).items()}
        else:
            kwargs[key] = _scalar(hint, value, f"{where}.{key}")
    return cls(**kwargs)


def _scalar(hint: Any, value: Any, where: str) -> Any:
    """``value`` converted to the scalar type ``hint`` names (float, int, bool, optionally
    ``| None``); other hints pass the value through.

    YAML 1.1 reads ``1.0e9`` as a float but ``1e9`` as a string, and ``5`` as an int where a float
    is meant: numbers are converted, and what cannot be converted raises ValueError naming the key.
    """
    kind = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None and len(members) < len(typing.get_args(hint)):
            return None
        kind = members[0] if len(members) == 1 else hint
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if kind is int and not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected an integer, got {value!r}") from None
        if not number.is_integer():
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return int(number)
    return value


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
