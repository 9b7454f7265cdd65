"""Shared pytest fixtures."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from srl_swe.sandbox import DEFAULT_IMAGE, LABEL_MANAGED
from srl_swe.sandbox.engines import engine_name, how_to_start, select_engine
from srl_swe.sandbox.runtime import LABEL_OWNER_PID, _owner_gone, how_to_build

# read when ray is imported: a Ray runtime of the tests listens on 127.0.0.1 only
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

select_engine()  # SRL_SWE_CONTAINER_ENGINE=podman runs the container tests on Podman (DOCKER_HOST points at it)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"


DOCKER_FIXTURES = {"docker_client", "inflection_tasks", "registry_server"}


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
            why = f"image {DEFAULT_IMAGE} is missing from {engine_name()}: {how_to_build(DEFAULT_IMAGE)}"
    except Exception as exc:  # noqa: BLE001 - any failure means no usable daemon
        why = f"no {engine_name()} engine answers ({type(exc).__name__}): {how_to_start()}"
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


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray cluster of this test process (2 CPUs, every server on 127.0.0.1); yields its address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20, log_to_driver=False)
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:"), address
    yield address
    ray.shutdown()


@pytest.fixture(scope="session")
def registry_server(docker_client, tmp_path_factory):
    """A real image registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1; yields (HOST:PORT, its log).
    `make test` installs it (scripts/ensure_test_tools.sh)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        why = "docker-registry is not installed: run scripts/ensure_test_tools.sh"
        if os.environ.get("SRL_SWE_REQUIRE_DOCKER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    root = tmp_path_factory.mktemp("registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (root / "config.yml").write_text(f"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
                                     f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    log = root / "registry.log"
    with log.open("w") as out:
        server = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"the registry did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", log
    finally:
        server.terminate()
        server.wait(timeout=30)
