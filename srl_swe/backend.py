"""Where a stage's independent units of work run: threads of this process (``local``) or Ray tasks (``ray``).

::

    for job, result, error in run_each(grade_one, jobs, BackendConfig("ray"), workers=4, cpus=2, memory="4g"):
        ...   # in completion order; the caller writes each result into its resumable files

Evaluation, recording, validation and synthesis hand their units (an instance, a task, a
candidate) to :func:`run_each` and keep writing their own files from the results, so the files
are the same whichever backend ran the work, and a run resumes across backends.

On Ray each unit is one task that declares the CPUs and memory of its container, runs on some
node and starts its containers on that node's engine. A worker that dies mid-unit (killed, out
of memory, node lost) is retried on another worker, up to ``max_retries`` times; an exception
raised by the unit itself is its result, never retried. Each task first removes the containers
of owners that died on its node (a killed earlier attempt), and when the stage ends one task per
node does it again, so no container outlives its worker. ``ray_address`` joins a running cluster;
without one a Ray runtime is started for this process (loopback only) and stopped at its exit.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TypeVar

from .errors import SRLSweError
from .image_registry import REGISTRY_ENV, configured_registry
from .sandbox.engines import engine_environment, select_engine
from .sandbox.runtime import SandboxError, install_exit_hooks, reap_dead_owners

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
Job = TypeVar("Job")


@dataclass
class BackendConfig:
    """Which backend runs a stage's units."""

    name: str = "local"
    """``local`` (a thread pool in this process, one Docker engine) or ``ray``."""
    ray_address: str | None = None
    """A running cluster (``HOST:PORT`` or ``auto``); None starts a Ray runtime for this process."""
    max_retries: int = 3
    """Ray: how often a unit whose worker died is run again (its own exceptions are never retried)."""
    registry: str | None = field(default_factory=configured_registry)
    """A registry (``HOST:PORT``) from which units pull the images their node lacks (:mod:`srl_swe.image_registry`);
    set in every Ray worker that runs a unit. Default: ``SRL_SWE_REGISTRY``."""
    engine_env: dict[str, str] = field(default_factory=engine_environment)
    """The variables that select the container engine (Docker or Podman, :mod:`srl_swe.sandbox.engines`), set in
    every Ray worker that runs a unit, so that its containers run on the same kind of engine as this process's."""

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise SRLSweError(f"unknown backend {self.name!r}; choose one of {', '.join(BACKENDS)}")


class UnitLost(SandboxError):
    """A Ray unit whose worker died more often than ``max_retries`` allows: the infrastructure's failure."""


def memory_bytes(size: str | int) -> int:
    """Docker's size syntax (``512m``, ``4g``, bytes) as bytes."""
    if isinstance(size, int):
        return size
    text = size.strip().lower().removesuffix("b")
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text)
    except ValueError:
        raise SRLSweError(f"not a memory size: {size!r} (use e.g. 512m or 4g)") from None


def run_each(fn: Callable[..., Any], jobs: Iterable[Job], backend: BackendConfig, *, workers: int,
             cpus: float = 1.0, memory: str | int = "4g") -> Iterator[tuple[Job, Any, BaseException | None]]:
    """``fn(*job)`` for each job (a tuple of arguments), yielded as ``(job, result, error)`` in completion order.

    ``fn`` must be a module-level function (Ray sends it by reference). ``workers`` bounds the units in
    flight; on Ray ``cpus`` and ``memory`` are what each unit asks the cluster for, so a node runs only
    as many as it holds. ``error`` is the exception the unit raised (or, on Ray, why it could not finish
    after its retries); the stage decides what that costs its unit.
    """
    jobs = list(jobs)
    if not jobs:
        return
    if backend.name == "local":
        yield from _run_local(fn, jobs, workers)
    else:
        yield from _run_ray(fn, jobs, backend, workers=workers, cpus=cpus, memory=memory_bytes(memory))


def _run_local(fn: Callable[..., Any], jobs: list[Any], workers: int) -> Iterator[tuple[Any, Any, BaseException | None]]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(fn, *job): job for job in jobs}
        for future in as_completed(futures):
            error = future.exception()
            yield futures[future], None if error else future.result(), error


# --------------------------------------------------------------------------- Ray

_ray_lock = threading.Lock()


def connect_ray(address: str | None) -> Any:
    """The ``ray`` module, connected: to ``address``, to the runtime this process already joined, or to a new
    local runtime (loopback, no dashboard, a small object store: units return files and verdicts, not data)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not address:  # Ray's own switch for one-machine clusters (read when ray is imported): servers on 127.0.0.1
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise SRLSweError("the ray backend needs Ray: pip install 'srl-swe[ray]'") from exc
    with _ray_lock:
        if ray.is_initialized():
            return ray
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                                   "configure_logging": False}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(object_store_memory=128 * 2**20, **options)
        log.info("ray: connected to %s", ray.get_runtime_context().gcs_address)
    return ray


def prepare_worker(backend: BackendConfig) -> None:
    """In a Ray worker, before a unit or an episode: select the driver's container engine and registry; remove this
    unit's containers if the worker is told to stop (SIGTERM), and the containers of dead owners on this node (an
    earlier attempt that was killed)."""
    os.environ.update(backend.engine_env)
    if backend.registry:
        os.environ[REGISTRY_ENV] = backend.registry
    select_engine()
    install_exit_hooks()
    reap_dead_owners()


def _unit(fn: Callable[..., Any], job: tuple[Any, ...], backend: BackendConfig) -> Any:
    prepare_worker(backend)
    return fn(*job)


def _reap_node(backend: BackendConfig) -> str:
    os.environ.update(backend.engine_env)
    select_engine()
    reap_dead_owners()
    return os.uname().nodename


def reap_every_node(ray: Any, backend: BackendConfig) -> None:
    """After a stage: on each live node, remove the containers whose worker died (a unit's last attempt)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    reaper = ray.remote(_reap_node)
    refs = [reaper.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
            .remote(backend) for node in ray.nodes() if node.get("Alive")]
    try:
        ray.get(refs, timeout=120)
    except Exception:  # noqa: BLE001 - cleanup after the stage must not lose its results
        log.warning("ray: removing dead workers' containers failed on some node", exc_info=True)


def _run_ray(fn: Callable[..., Any], jobs: list[Any], backend: BackendConfig, *, workers: int, cpus: float,
             memory: int) -> Iterator[tuple[Any, Any, BaseException | None]]:
    ray = connect_ray(backend.ray_address)
    unit = ray.remote(_unit).options(num_cpus=cpus, memory=memory, max_retries=backend.max_retries,
                                     retry_exceptions=False)
    waiting = list(jobs)
    running: dict[Any, Any] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, workers):
                job = waiting.pop(0)
                running[unit.remote(fn, job, backend)] = job
            done, _ = ray.wait(list(running), num_returns=1)
            job = running.pop(done[0])
            try:
                yield job, ray.get(done[0]), None
            except ray.exceptions.RayTaskError as exc:  # the unit raised: its own error, as the local backend gives it
                yield job, None, getattr(exc, "cause", None) or exc.as_instanceof_cause()
            except ray.exceptions.RayError as exc:  # its worker died more often than max_retries allows, or similar
                yield job, None, UnitLost(f"ray could not finish this unit: {type(exc).__name__}: {exc}")
    finally:
        for ref in running:  # a stop (Ctrl-C, an error of the stage): cancel what is still out, kill their workers
            ray.cancel(ref, force=True)
        reap_every_node(ray, backend)
