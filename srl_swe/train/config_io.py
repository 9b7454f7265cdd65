"""Run configs as data: dataclasses filled from YAML files and `key=value` overrides."""
from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from ..errors import SRLSweError
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


def _checked(value: Any, hint: Any, where: str) -> Any:
    """`value` as the field's scalar type: YAML reads `5e-5` (no dot) as a string, so numbers in strings are parsed;
    a value of the wrong kind (`learning_rate: abc`, `max_steps: 2.5`, `resume: 1`) is an error naming the field."""
    if value is None:
        return None
    if get_origin(hint) in (Union, types.UnionType):
        scalars = [a for a in get_args(hint) if a in (bool, int, float)]
        if len(scalars) != 1:
            return value
        hint = scalars[0]
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint in (int, float):
        if isinstance(value, str):
            try:
                value = hint(value)
            except ValueError:
                pass
        ok = isinstance(value, int if hint is int else (int, float)) and not isinstance(value, bool)
    else:
        return value
    if ok:
        return hint(value)
    raise SRLSweError(f"{where} must be {hint.__name__}, got {value!r}")


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
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SRLSweError(f"{path}: cannot read config: {exc}") from exc
    if not isinstance(data, dict):
        raise SRLSweError(f"{path}: a config file must hold a mapping")
    return data
