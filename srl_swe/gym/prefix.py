"""Live episodes that start at step k of an expert trajectory, and snapshots to branch rollouts from.

::

    env = gymnasium.make("srl_swe/SWE-v0")
    obs, info = env.reset(options={"trajectory": "srl-swe__toolz-0003", "step": 4})
    info["prefix"]        # {"steps": 4, "similarity": [1.0, 0.98, ...], "reproduced": True, ...}
    obs                   # the SRL step prompt of step 4 (issue + last rounds), as the offline steps have it
    snapshot = env.unwrapped.snapshot()                     # the state after the prefix, saved once
    obs, info = env.reset(options={"snapshot": snapshot})   # each of K rollouts starts there, nothing re-executed
    snapshot.remove()

The prefix is re-executed action by action in a fresh sandbox of the task; each observation is
compared with the recorded one (indel similarity, the reward's metric). A step below
``threshold`` marks the prefix as not reproduced: ``info["prefix"]["reproduced"]`` is False and
names the first diverging step (``strict`` raises instead), so a trajectory whose recording no
longer matches its task is never used silently.

A :class:`Snapshot` is the container committed as an image (the working tree, the editor's undo
history, anything the prefix wrote) plus what the image cannot hold: the shell's working
directory and the variables the prefix exported, restored in each branch's shell, and the
episode's messages. Snapshot images carry the label ``srl-swe.snapshot`` and are removed by
:meth:`Snapshot.remove`.
"""
from __future__ import annotations

import logging
import shlex
import uuid
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from ..errors import SRLSweError
from ..registry import Registry
from ..rewards import similarity
from ..sandbox.engines import engine_client
from ..sandbox.pool import SandboxPool
from ..sandbox.runtime import LABEL_SNAPSHOT, Sandbox, SandboxConfig, wait_for_removals
from ..sandbox.tools import execute_tool
from ..steps import StepBuilder, StepConfig
from ..trajectory import load_trajectories
from ..trajectory.model import Trajectory

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.9
"""Least similarity of a re-executed observation to the recorded one for the prefix to count as reproduced (test
timings and object addresses differ between runs; a different file listing or test outcome does not pass)."""


@dataclass
class PrefixReport:
    """How the expert's first ``steps`` actions re-executed: ``info["prefix"]`` of a reset at step k."""

    trajectory_id: str
    steps: int
    similarity: list[float] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD
    diverged_at: int | None = None
    """The first step whose observation fell below ``threshold`` (None: every step reproduced)."""

    @property
    def reproduced(self) -> bool:
        return self.diverged_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reproduced": self.reproduced,
                "min_similarity": min(self.similarity, default=1.0)}


def find_trajectory(reference: str | Trajectory, source: str = "srl-swe:default") -> Trajectory:
    """A trajectory object as given, or the one with this id in ``source`` (the embedded recordings by default)."""
    if isinstance(reference, Trajectory):
        return reference
    for trajectory in load_trajectories(source).trajectories:
        if trajectory.id == reference:
            return trajectory
    raise SRLSweError(f"no trajectory {reference!r} in {source}")


def task_of(trajectory: Trajectory) -> dict[str, Any]:
    """The registered task row the trajectory solved (by its instance id)."""
    row = Registry().find_task(trajectory.task.id)
    if row is None:
        raise SRLSweError(f"trajectory {trajectory.id!r}: no registered environment has task {trajectory.task.id!r} "
                          "(pass the row as the env's task)")
    return row


def check_step(trajectory: Trajectory, step: int) -> None:
    actions = trajectory.actions
    if not 0 <= step < len(actions):
        raise SRLSweError(f"trajectory {trajectory.id!r} has {len(actions)} actions: step must be in 0..{len(actions) - 1}")
    finished = [i for i, turn in enumerate(actions[:step]) if turn.action.name == "finish"]
    if finished:
        raise SRLSweError(f"trajectory {trajectory.id!r} finishes at action {finished[0]}: it cannot be resumed after it")


def replay_prefix(sandbox: Sandbox, trajectory: Trajectory, step: int, *, timeout: float,
                  threshold: float = DEFAULT_THRESHOLD) -> PrefixReport:
    """Run the expert's actions before ``step`` in ``sandbox``, comparing each observation with the recorded one."""
    check_step(trajectory, step)
    report = PrefixReport(trajectory.id, step, threshold=threshold)
    for index, turn in enumerate(trajectory.actions[:step]):
        result = execute_tool(turn.action, sandbox, timeout=timeout)
        score = 1.0 if turn.observation is None else similarity(turn.observation, result.observation, "indel")
        report.similarity.append(round(score, 4))
        if score < threshold and report.diverged_at is None:
            report.diverged_at = index
    return report


def step_messages(trajectory: Trajectory, step: int, scaffold: str) -> list[dict[str, str]]:
    """The SRL step prompt of ``step``: the same messages the offline step instances hold."""
    return StepBuilder(StepConfig(scaffold=scaffold)).steps(trajectory)[step].prompt


# --------------------------------------------------------------------------- snapshots


def shell_exports(sandbox: Sandbox) -> dict[str, str]:
    """The shell's exported variables, as ``export -p`` prints them (name -> its declaration line)."""
    out = sandbox.run("export -p").output
    lines = {}
    for line in out.splitlines():
        name = line.removeprefix("declare -x ").split("=", 1)[0]
        if line.startswith("declare -x ") and name.isidentifier():
            lines[name] = line
    return lines


@dataclass
class Snapshot:
    """The state of a live episode after a prefix; see the module doc."""

    image: str
    image_id: str
    task: dict[str, Any]
    cwd: str
    exports: list[str]
    """``declare -x`` lines of the variables the prefix exported or changed."""
    messages: list[dict[str, str]]
    prefix: dict[str, Any]
    pools: list[SandboxPool] = field(default_factory=list, repr=False, compare=False)
    """Pools of its branches (:meth:`pool`), closed by :meth:`remove` before the image goes."""

    def restore(self, sandbox: Sandbox) -> None:
        """Put a new sandbox of :attr:`image` in the shell state the prefix left."""
        commands = [*self.exports, f"cd {shlex.quote(self.cwd)}"]
        result = sandbox.run("\n".join(commands))
        if result.exit_code != 0:
            raise SRLSweError(f"could not restore the shell state of snapshot {self.image}: {result.output[-500:]}")

    def branch(self, config: SandboxConfig | None = None) -> Sandbox:
        """A new sandbox of :attr:`image` in the prefix's shell state (removed again if the state cannot be set)."""
        sandbox = Sandbox(self.image, config)
        try:
            self.restore(sandbox)
        except BaseException:
            sandbox.close(wait=False)
            raise
        return sandbox

    def pool(self, config: SandboxConfig | None = None, size: int = 1) -> SandboxPool:
        """Branches started ahead, ``size`` at a time (see :mod:`srl_swe.sandbox.pool`); :meth:`remove` closes it."""
        pool = SandboxPool(partial(self.branch, config), size)
        self.pools.append(pool)
        return pool

    def remove(self) -> None:
        """Delete the snapshot's image, once its pools' spare branches and the containers of finished branches are
        gone (a branch still running keeps it until the owner's exit; the reaper removes snapshot images whose
        owner died)."""
        for pool in self.pools:
            pool.close()
        self.pools.clear()
        wait_for_removals()
        try:
            engine_client().images.remove(self.image_id, force=True)
        except Exception as exc:  # noqa: BLE001 - still in use or already gone: the reaper has the last word
            log.warning("could not remove snapshot %s: %s", self.image, exc)


def take_snapshot(sandbox: Sandbox, task: dict[str, Any], messages: list[dict[str, str]], baseline: dict[str, str],
                  prefix: dict[str, Any]) -> Snapshot:
    """Commit ``sandbox``'s container as an image and note the shell state ``baseline`` (its exports at start)
    does not already have."""
    exports = [line for name, line in shell_exports(sandbox).items()
               if baseline.get(name) != line and name not in ("OLDPWD", "PWD", "SHLVL", "_")]
    cwd = sandbox.run("pwd").output.strip().splitlines()[-1]
    tag = uuid.uuid4().hex[:12]
    # the container's owner labels go with it: the reaper removes the snapshots of owners that died
    image = sandbox.container.commit(repository="srl-swe/snapshot", tag=tag,
                                     conf={"Labels": {**sandbox.labels, LABEL_SNAPSHOT: task["instance_id"]}})
    return Snapshot(f"srl-swe/snapshot:{tag}", image.id, dict(task), cwd, exports, [dict(m) for m in messages], prefix)
