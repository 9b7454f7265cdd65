"""Shared pytest fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public samples in ../shared/data (read in place, never copied); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data samples not found: {SHARED_DATA} is absent (see shared/data/SOURCES.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Small hand-written test inputs in tests/fixtures."""
    return FIXTURES
