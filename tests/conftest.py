"""Shared pytest fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from srl_swe.sandbox import DEFAULT_IMAGE, LABEL_MANAGED
from srl_swe.sandbox.runtime import LABEL_OWNER_PID, _owner_gone

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"


DOCKER_FIXTURES = {"docker_client", "inflection_tasks"}


def pytest_collection_modifyitems(items):
    """Mark every test that reaches a Docker fixture `docker`, so `-m "not docker"` never needs a daemon."""
    for item in items:
        if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


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


def docker_client_or_skip(timeout: int = 30):
    """A docker client for a daemon that answers and has the base image; else skip (or fail in CI)."""
    why = None
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
        try:
            client.images.get(DEFAULT_IMAGE)
        except docker.errors.ImageNotFound:
            why = f"image {DEFAULT_IMAGE} is missing: run srl_swe/resources/scripts/ensure_docker.sh"
    except Exception as exc:  # noqa: BLE001 - any failure means no usable daemon
        why = f"no Docker daemon answers ({type(exc).__name__}): run srl_swe/resources/scripts/ensure_docker.sh"
    if why:
        if os.environ.get("SRL_SWE_REQUIRE_DOCKER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return client


@pytest.fixture(scope="session")
def docker_client():
    """The session's docker client; at the end no sandbox of this process nor any orphan may remain."""
    client = docker_client_or_skip()
    yield client
    left = [
        c for c in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_MANAGED}=true"})
        if (c.attrs.get("Labels") or {}).get(LABEL_OWNER_PID) == str(os.getpid()) or _owner_gone(c.attrs.get("Labels") or {})
    ]
    for c in left:
        c.remove(force=True)
    assert not left, f"sandbox containers left behind: {[c.id[:12] for c in left]}"


@pytest.fixture(scope="session")
def inflection_tasks(docker_client):
    """The first two shipped (harness-validated) inflection tasks, their env and task images built when missing."""
    from srl_swe.evaluation.engine import ensure_images
    from srl_swe.registry import load_env

    rows = load_env("inflection").load_tasks()[:2]
    problems = ensure_images(rows, pull=False, client=docker_client)
    assert not problems, problems
    return rows
