"""The pool of sandboxes started ahead: order, replacement, failures and cleanup. The sandboxes here are a named
fake (objects that record their removal); real branches from a pool run in tests/test_live_prefix.py."""
from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from srl_swe.sandbox.pool import SandboxPool
from srl_swe.sandbox.runtime import SandboxError


class FakeSandbox:
    """Stands in for a started Sandbox: a number, and whether it was removed."""

    def __init__(self, number: int):
        self.number, self.removed = number, False

    def close(self, *, wait: bool = True) -> Future[None]:
        self.removed = True
        done: Future[None] = Future()
        done.set_result(None)
        return done


def test_each_take_starts_a_replacement_and_close_removes_what_was_never_taken():
    made, lock = [], threading.Lock()

    def start():
        with lock:
            made.append(FakeSandbox(len(made)))
            return made[-1]

    pool = SandboxPool(start, size=2)
    taken = [pool.take() for _ in range(3)]
    removals = pool.close()  # replacements not yet started are cancelled, the started ones removed
    untaken = [sandbox for sandbox in made if sandbox not in taken]
    assert len({id(s) for s in taken}) == 3 and 3 <= len(made) <= 5
    assert not any(sandbox.removed for sandbox in taken)
    assert all(sandbox.removed for sandbox in untaken) and len(removals) == len(untaken)


def test_a_start_that_failed_raises_when_its_sandbox_is_taken():
    def start():
        raise SandboxError("the engine refused the container")

    pool = SandboxPool(start, size=1)
    with pytest.raises(SandboxError, match="refused"):
        pool.take()
    assert pool.close() == []


def test_a_pool_holds_at_least_one_sandbox():
    with pytest.raises(ValueError, match="at least one"):
        SandboxPool(lambda: FakeSandbox(0), size=0)
