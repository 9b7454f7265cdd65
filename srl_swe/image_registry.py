"""Images across machines: push the images a run needs to a registry the user names, pull them on other nodes.

::

    srl-swe images push --registry 10.0.0.5:5000 --env toolz --tasks     # on the machine that built them
    srl-swe images pull --registry 10.0.0.5:5000 --env toolz --tasks     # on any other node
    SRL_SWE_REGISTRY=10.0.0.5:5000 srl-swe evaluate … --backend ray     # units pull what their node lacks

An image keeps its local name (``srl-swe/task.toolz:0003``) and lives in the registry as
``REGISTRY/srl-swe/task.toolz:0003``; the registry's tag is only a transfer name and is removed
again on both sides, so images, labels and digests stay what the builds made. Where a registry is
configured (``SRL_SWE_REGISTRY``, or ``--registry`` of a command), a missing image is pulled from
it before anything is built (:func:`srl_swe.evaluation.engine.ensure_images`); an image it does
not hold is built offline as before. Docker talks plain HTTP only to registries on loopback;
one on the network needs TLS or the daemon's ``insecure-registries``.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable

from .errors import SRLSweError
from .images import image_exists
from .sandbox.runtime import how_to_build

log = logging.getLogger(__name__)

REGISTRY_ENV = "SRL_SWE_REGISTRY"
"""Environment variable naming the registry (``HOST:PORT``) that runs pull missing images from."""


def configured_registry() -> str | None:
    """The registry of this process (``SRL_SWE_REGISTRY``), or None."""
    return os.environ.get(REGISTRY_ENV) or None


def _split(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return name, tag


def _check_stream(lines: Iterable[Any], what: str) -> None:
    """Docker reports push and pull failures inside the stream, not as an exception."""
    for line in lines:
        if isinstance(line, dict) and line.get("error"):
            raise SRLSweError(f"{what}: {line['error']}")


def push_image(image: str, registry: str, client: Any) -> None:
    """Send the local ``image`` to ``registry`` under its own name."""
    import docker

    remote = f"{registry}/{image}"
    try:
        client.images.get(image).tag(*_split(remote))
    except docker.errors.ImageNotFound:
        raise SRLSweError(f"cannot push {image}: it is not here ({how_to_build(image)})") from None
    try:
        _check_stream(client.images.push(*_split(remote), stream=True, decode=True), f"pushing {image} to {registry}")
    except docker.errors.APIError as exc:
        raise SRLSweError(f"pushing {image} to {registry}: {exc.explanation or exc}") from exc
    finally:
        client.images.remove(remote, noprune=True)


def pull_image(image: str, registry: str, client: Any) -> None:
    """Fetch ``image`` from ``registry`` and give it its local name. Raises when the registry lacks it."""
    import docker

    remote = f"{registry}/{image}"
    try:
        _check_stream(client.api.pull(*_split(remote), stream=True, decode=True), f"pulling {image} from {registry}")
        client.images.get(remote).tag(*_split(image))
    except docker.errors.APIError as exc:
        raise SRLSweError(f"pulling {image} from {registry}: {exc.explanation or exc}") from exc
    client.images.remove(remote, noprune=True)


def pull_missing(images: Iterable[str], client: Any, registry: str | None = None) -> dict[str, str]:
    """Pull each of ``images`` that is not here from the configured registry. Returns {image: why it was not
    pulled} for those it could not give (none when no registry is configured: the caller builds or pulls as before)."""
    registry = registry or configured_registry()
    failed: dict[str, str] = {}
    if not registry:
        return failed
    for image in dict.fromkeys(images):
        if image_exists(image, client):
            continue
        try:
            pull_image(image, registry, client)
            log.info("pulled %s from %s", image, registry)
        except SRLSweError as exc:
            failed[image] = str(exc)
    return failed


def transfer(images: list[str], registry: str, client: Any, *, push: bool,
             progress: Callable[[str], None] = lambda line: None) -> list[str]:
    """Push (or pull) every image; returns the failures, one line each, after trying them all."""
    failures = []
    for number, image in enumerate(images, 1):
        progress(f"[{number}/{len(images)}] {'pushing' if push else 'pulling'} {image}")
        try:
            (push_image if push else pull_image)(image, registry, client)
        except SRLSweError as exc:
            failures.append(str(exc))
    return failures
