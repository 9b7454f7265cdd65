"""Run configs as data: dataclasses filled from YAML files and `key=value` overrides."""
from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from ..errors import SRLSweError
from ..records import read_yaml
from ..resources import resource

T = TypeVar("T")


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """`["max_steps=5", "lora_r=8"]` -> {"max_steps": 5, "lora_r": 8} (values parsed as YAML scalars)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SRLSweError(f"override {pair!r} is not key=value")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def build_config(cls: type[T], *sources: dict[str, Any], origin: str = "config") -> T:
    """Instantiate dataclass `cls` from dicts applied in order (later wins); unknown keys are errors."""
    names = {f.name for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    merged: dict[str, Any] = {}
    for source in sources:
        for key, value in (source or {}).items():
            if value is None and key in merged:
                continue
            if key not in names:
                raise SRLSweError(f"{origin}: unknown field {key!r} for {cls.__name__}; known: {', '.join(sorted(names))}")
            merged[key] = _checked(value, hints[key], f"{origin}: {key}")
    return cls(**merged)


class _Mismatch(Exception):
    """A value that is not of a hint's type (caught where the field is named)."""


def _checked(value: Any, hint: Any, where: str) -> Any:
    """`value` as the field's declared type, or an error naming the field (`learning_rate: abc`, `max_steps: 2.5`,
    `resume: 1`, `model: 5`, `stages: sft`): a config is checked whole before any training starts."""
    try:
        return _as(value, hint)
    except _Mismatch:
        raise SRLSweError(f"{where} must be {_type_name(hint)}, got {value!r}") from None


def _as(value: Any, hint: Any) -> Any:
    """`value` converted to `hint` (YAML reads `5e-5`, with no dot, as a string: numbers in strings are parsed)."""
    if hint is Any:
        return value
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            try:
                return _as(value, arm)
            except _Mismatch:
                continue
        raise _Mismatch
    if value is None:  # None for a field that has no None in its type: the dataclass default's own kind decides
        raise _Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint in (int, float):
        if isinstance(value, str):
            try:
                value = hint(value)
            except ValueError:
                raise _Mismatch from None
        if isinstance(value, int if hint is int else (int, float)) and not isinstance(value, bool):
            return hint(value)
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        item = args[0] if args else Any
        return (origin or hint)(_as(v, item) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        key_hint, value_hint = args if args else (Any, Any)
        return {_as(k, key_hint): _as(v, value_hint) for k, v in value.items()}
    return value  # a type this check does not know: the dataclass gets it as it is


def _type_name(hint: Any) -> str:
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(hint))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", None) if not get_args(hint) else str(hint).replace("typing.", "")


def config_path(name_or_path: str | Path) -> Path:
    """A YAML path as given, or the config shipped in the package under that name (`demo`, `paper_7b`)."""
    path = Path(name_or_path)
    shipped = resource("configs", f"{name_or_path}.yaml")
    return shipped if not path.exists() and shipped.is_file() else path


def load_yaml(path: str | Path | None) -> dict[str, Any]:
    """The mapping in a config file (a path, or a shipped config's name); {} for None."""
    if not path:
        return {}
    path = config_path(path)
    data = read_yaml(path)
    if data is None:  # an empty file: every field keeps its default
        return {}
    if not isinstance(data, dict):
        raise SRLSweError(f"{path}: a config file must hold a mapping of field: value, got {type(data).__name__}")
    return data
