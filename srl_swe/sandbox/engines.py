"""Which container engine runs sandboxes, builds images and grades: Docker (default) or Podman.

Both are reached through one interface, the Docker Engine API, which Podman serves too
(``podman system service``): the live env, grading, recording, evaluation, image builds and the
swebench harness's own subprocesses talk to whichever engine is selected, with no code of their
own per engine. Choose it with ``SRL_SWE_CONTAINER_ENGINE=podman`` or ``srl-swe
--container-engine podman …``; ``make podman`` (``resources/scripts/ensure_podman.sh``) installs
Podman, starts its API service on ``SRL_SWE_PODMAN_SOCKET`` and gives it the base image.
Selecting Podman points ``DOCKER_HOST`` at that socket for this process and its children (the
harness); Ray workers receive the same variables (:class:`srl_swe.backend.BackendConfig`).

What differs, and is handled where it shows: Podman's init process is ``podman-init``; it keeps a
container's log limit in its own ``LogConfig.Size``; its default ``RLIMIT_NOFILE``/``NPROC`` of
1048576 fail on hosts without CAP_SYS_RESOURCE, so sandboxes set both; its overlay storage has no
per-container disk quota here, so only the per-file limit holds (a warning says so).
"""
from __future__ import annotations

import os

from ..errors import SRLSweError

ENGINES = ("docker", "podman")
ENGINE_ENV = "SRL_SWE_CONTAINER_ENGINE"
PODMAN_SOCKET_ENV = "SRL_SWE_PODMAN_SOCKET"
DEFAULT_PODMAN_SOCKET = "/run/podman/podman.sock"


def engine_name() -> str:
    """The selected engine (``SRL_SWE_CONTAINER_ENGINE``, default docker)."""
    name = os.environ.get(ENGINE_ENV, "docker") or "docker"
    if name not in ENGINES:
        raise SRLSweError(f"{ENGINE_ENV}={name!r}: choose one of {', '.join(ENGINES)}")
    return name


def podman_socket() -> str:
    return os.environ.get(PODMAN_SOCKET_ENV) or DEFAULT_PODMAN_SOCKET


def select_engine(name: str | None = None) -> str:
    """Make ``name`` (default: the selected one) this process's engine; for Podman, point ``DOCKER_HOST`` at its
    API socket so that every Docker client here and in child processes reaches it. Returns the engine's name."""
    name = name or engine_name()
    os.environ[ENGINE_ENV] = name
    if name == "podman":
        os.environ["DOCKER_HOST"] = f"unix://{podman_socket()}"
    elif os.environ.get("DOCKER_HOST") == f"unix://{podman_socket()}":
        del os.environ["DOCKER_HOST"]
    engine_name()  # validates
    return name


def how_to_start() -> str:
    """What starts the selected engine, for error messages."""
    if engine_name() == "podman":
        return (f"start Podman's API service with `make podman` (srl_swe/resources/scripts/ensure_podman.sh; "
                f"socket {podman_socket()})")
    return "start one with `make docker` (srl_swe/resources/scripts/ensure_docker.sh)"


def init_process() -> str:
    """The name of the init process the engine runs as PID 1 of a container started with ``init=True``."""
    return "podman-init" if engine_name() == "podman" else "docker-init"


def engine_environment() -> dict[str, str]:
    """The variables that select this process's engine, for workers on other processes or machines."""
    keys = (ENGINE_ENV, PODMAN_SOCKET_ENV, "DOCKER_HOST")
    return {key: os.environ[key] for key in keys if os.environ.get(key)}


def engine_client(timeout: int = 120):
    """A Docker SDK client of the selected engine, which answers; else an error naming how to start it."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - the sandbox extra is not installed
        raise SRLSweError("the docker SDK is missing: pip install 'srl-swe[sandbox]'") from exc
    name = select_engine()
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means no usable engine
        raise SRLSweError(f"no {name.capitalize()} engine answers ({type(exc).__name__}: {exc}); {how_to_start()}") from None
    return client
