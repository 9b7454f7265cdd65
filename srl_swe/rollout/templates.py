"""Prompt templates of the rollout modes, loaded from YAML files (``srl_swe/rollout/prompts/*.yaml``).

A directory given with ``--prompts DIR`` overrides the shipped files of the same name. Each
file must hold the keys its mode uses; a missing key is an error naming the file and the key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import InvalidRecordError, SRLSweError

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
REQUIRED = {
    "repair": ("system", "user", "file_template", "truncated_note", "edit_format"),
    "localize": ("system", "user", "snippet_template", "structure_more"),
}


def prompt_path(name: str, directory: str | Path | None = None) -> Path:
    """The YAML file of prompt ``name``: in ``directory`` when it has one, else the shipped one."""
    if directory is not None:
        candidate = Path(directory) / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    path = PROMPTS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise SRLSweError(f"no prompt file {name}.yaml in {directory or PROMPTS_DIR}")
    return path


def _load(path: str) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise InvalidRecordError(path, None, None, "a prompt file must be a YAML mapping")
    return data


def load_prompt(name: str, directory: str | Path | None = None) -> dict[str, str]:
    """The templates of prompt ``name`` (``repair`` or ``localize``), checked for the keys its mode needs."""
    path = prompt_path(name, directory)
    data = _load(str(path))
    for key in REQUIRED.get(name, ()):
        if not isinstance(data.get(key), str):
            raise InvalidRecordError(str(path), None, key, "missing (a template string is required)")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def render(template: str, source: str | Path, **fields: Any) -> str:
    """``template.format(**fields)``; an unknown field is an error naming the prompt file."""
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise SRLSweError(f"{source}: bad template field {exc} (literal braces must be doubled: {{{{ }}}})") from None
