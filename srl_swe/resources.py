"""Where srl-swe's files live: data shipped inside the package, and the writable cache.

Everything the code reads at run time (scaffolds, prompts, configs, Docker build contexts,
env specs, templates) ships inside the package, so a wheel installed anywhere works the
same as a checkout. Things built on the machine (prepared models, logs) go to the cache.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"


def resource(*parts: str) -> Path:
    """A path inside the package's `resources/` folder."""
    return RESOURCES_DIR.joinpath(*parts)


def cache_dir(*parts: str) -> Path:
    """A folder of the writable cache: `$SRL_SWE_CACHE`, else `$XDG_CACHE_HOME/srl-swe`, else `~/.cache/srl-swe`."""
    root = os.environ.get("SRL_SWE_CACHE")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "srl-swe")
    return Path(root).joinpath(*parts)
