"""Repository path globs, and the one meaning of "test file" that the registry, task synthesis, the live env and
rollouts share.

Globs are matched by `wcmatch` on repository-relative paths, anchored at the root: ``**/`` spans
zero or more directories (so ``tests/**/*.py`` matches ``tests/test_x.py``), ``*`` and ``?`` stay
within one path segment and also match names that start with a dot.
"""
from __future__ import annotations

from typing import Iterable

from wcmatch import glob

FLAGS = glob.GLOBSTAR | glob.DOTGLOB

DEFAULT_TEST_FILES = ("tests/**", "test/**", "**/tests/**", "**/test/**", "**/test_*.py", "**/*_test.py")
"""Test files in any Python repository, whatever its env spec declares (declared globs add to these)."""

ALWAYS_TEST_FILES = ("**/conftest.py",)
"""Files that are part of the test machinery wherever they sit, even when a caller gives its own globs."""

ARTIFACT_FILES = ("**/*.pyc", "**/__pycache__/**", "**/.pytest_cache/**", "**/*.egg-info/**", "**/.mypy_cache/**",
                  "**/.coverage")
"""Build and test by-products: never part of a graded patch."""


def repo_relative(path: str) -> str:
    """A path as the globs see it: relative to the repository (``/testbed/x``, ``./x`` and ``x`` are the same file)."""
    path = path.lstrip("/").removeprefix("testbed/")
    while path.startswith("./"):
        path = path[2:]
    return path


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether a path in the repository (relative, or absolute under /testbed) matches any of the globs."""
    patterns = list(patterns)
    return bool(patterns) and glob.globmatch(repo_relative(path), patterns, flags=FLAGS)


def globs_of_test_files(declared: Iterable[str] = (), *, defaults: Iterable[str] = DEFAULT_TEST_FILES) -> tuple[str, ...]:
    """The globs of test files: ``defaults``, then the declared ones, then :data:`ALWAYS_TEST_FILES` (no repeats)."""
    return tuple(dict.fromkeys([*defaults, *declared, *ALWAYS_TEST_FILES]))


def literal(path: str) -> str:
    """A glob that matches exactly this path (its glob characters escaped)."""
    return glob.escape(path)
