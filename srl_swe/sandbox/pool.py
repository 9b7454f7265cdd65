"""Sandboxes started ahead of need.

Starting a container and its shells costs 0.7-0.9 s on Docker (benchmarks/RESULTS.md), more than
a branch of a snapshot costs once it runs. K rollouts from one snapshot, one after another, can
hide that: while a branch runs, the next branch's sandbox is started (and its shell state
restored) in the background, so the next reset takes a running one. Unused sandboxes are removed
by :meth:`SandboxPool.close`, and, like every sandbox, by the exit hooks or the reaper when the
owner dies.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from .runtime import Sandbox, install_exit_hooks


class SandboxPool:
    """``size`` sandboxes made by ``start`` kept starting ahead; one consumer takes them in turn."""

    def __init__(self, start: Callable[[], Sandbox], size: int = 1):
        if size < 1:
            raise ValueError(f"a sandbox pool holds at least one sandbox, not {size}")
        install_exit_hooks()  # from this thread: the pool's threads cannot set the SIGTERM handler
        self._start = start
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sandbox-pool")
        self._ready: deque[Future[Sandbox]] = deque(self._executor.submit(start) for _ in range(size))

    def take(self) -> Sandbox:
        """The oldest sandbox started (waiting for it if it is still starting); another starts in its place. A
        start that failed raises its error here."""
        future = self._ready.popleft()
        self._ready.append(self._executor.submit(self._start))
        return future.result()

    def close(self) -> list[Future[None]]:
        """Remove the sandboxes started and not taken (waiting for those still starting), in the background: the
        removals are returned to wait for."""
        removals = []
        while self._ready:
            future = self._ready.popleft()
            if future.cancel():
                continue
            try:
                sandbox = future.result()
            except Exception:  # noqa: BLE001 - a start that failed left nothing to remove
                continue
            removal = sandbox.close(wait=False)
            if removal is not None:
                removals.append(removal)
        self._executor.shutdown(wait=True)
        return removals

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc: object) -> None:
        for removal in self.close():
            removal.result()
