"""The settings pytest reads from a configuration file: one reader for reward integrity and onboarding."""
from __future__ import annotations

import configparser
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def pytest_section(path: str, text: str | None) -> Any:
    """The settings pytest reads from ``text`` (a file at ``path``): None when it has none; a file that cannot be
    parsed gives its text, so any change to it counts as a change of the section."""
    if text is None:
        return None
    name = path.rsplit("/", 1)[-1]
    try:
        if name == "pyproject.toml":
            return tomllib.loads(text).get("tool", {}).get("pytest")
        parser = configparser.RawConfigParser(strict=False, interpolation=None)
        parser.read_string(text)
    except (tomllib.TOMLDecodeError, configparser.Error):
        return text
    section = "tool:pytest" if name == "setup.cfg" else "pytest"
    return dict(parser.items(section)) if parser.has_section(section) else None
