"""Step rewards that look at what an action does, beside how it reads.

::

    reward = StepRewards(snapshot, expert_call)          # the state after the expert's first k actions
    reward(completion)   # {"similarity": 0.41, "execution": 1.0, "combined": 0.705}

From the same snapshot, the expert's action and the policy's each run in a branch of their own
(the expert's once, then reused). ``execution`` compares what they did:

- an action that ends the episode (``finish``): 1 when both end it, else 0;
- an action that changed the repository on either side: the indel similarity of the two
  resulting diffs against the task's base commit (1 when the same files changed the same way);
- otherwise (both read-only): the indel similarity of the two observations (the same output).

``similarity`` is the paper's textual reward (:func:`srl_swe.rewards.srl_reward`), ``combined`` their
mean. A malformed completion scores -1 on all three, as in offline SRL, and runs nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..actions import parse_action
from ..errors import FormatError
from ..rewards import FORMAT_PENALTY, similarity, srl_reward
from ..sandbox.runtime import Sandbox, SandboxConfig
from ..sandbox.tools import execute_tool
from ..scaffold import DEFAULT_SCAFFOLD, load_scaffold
from ..trajectory.model import ToolCall
from .prefix import Snapshot


@dataclass(frozen=True)
class Effect:
    """What one action did, run in a branch of a snapshot."""

    observation: str
    diff: str
    """The repository's diff against the task's base commit after the action."""
    finished: bool


def action_effect(snapshot: Snapshot, call: ToolCall, *, timeout: float = 120.0,
                  config: SandboxConfig | None = None) -> Effect:
    """Run ``call`` in a fresh branch of ``snapshot`` and note what it did (the branch is removed after)."""
    config = replace(config or SandboxConfig(notes=False), command_timeout=timeout)
    with Sandbox(snapshot.image, config) as sandbox:
        snapshot.restore(sandbox)
        result = execute_tool(call, sandbox, timeout=timeout)
        return Effect(result.observation, sandbox.diff(snapshot.task["base_commit"]), result.finished)


def execution_score(policy: Effect, expert: Effect, before: str) -> float:
    """How alike two effects are (see the module doc); ``before`` is the snapshot's own diff."""
    if policy.finished or expert.finished:
        return 1.0 if policy.finished == expert.finished else 0.0
    if policy.diff != before or expert.diff != before:
        return similarity(policy.diff, expert.diff, "indel")
    return similarity(policy.observation, expert.observation, "indel")


class StepRewards:
    """The ``similarity``, ``execution`` and ``combined`` rewards of completions at one step (one snapshot)."""

    def __init__(self, snapshot: Snapshot, expert: ToolCall, *, scaffold: str = DEFAULT_SCAFFOLD,
                 timeout: float = 120.0):
        self.snapshot, self.expert, self.timeout = snapshot, expert, timeout
        self.scaffold = load_scaffold(scaffold)
        self._expert_effect: Effect | None = None
        self._before: str | None = None

    def expert_effect(self) -> Effect:
        if self._expert_effect is None:
            self._expert_effect = action_effect(self.snapshot, self.expert, timeout=self.timeout)
        return self._expert_effect

    def before(self) -> str:
        """The snapshot's diff against the base commit (what the prefix changed)."""
        if self._before is None:
            with Sandbox(self.snapshot.image, SandboxConfig(notes=False)) as sandbox:
                self._before = sandbox.diff(self.snapshot.task["base_commit"])
        return self._before

    def __call__(self, completion: Any) -> dict[str, float]:
        text = srl_reward(completion, self.expert, scaffold=self.scaffold)
        try:
            call = parse_action(completion if isinstance(completion, str) else str(completion), self.scaffold).call
        except FormatError:
            return {"similarity": FORMAT_PENALTY, "execution": FORMAT_PENALTY, "combined": FORMAT_PENALTY}
        executed = execution_score(action_effect(self.snapshot, call, timeout=self.timeout), self.expert_effect(),
                                   self.before())
        return {"similarity": text, "execution": round(executed, 4), "combined": round((text + executed) / 2, 4)}
