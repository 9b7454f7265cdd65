"""Step rewards that look at what an action does, beside how it reads.

::

    reward = StepRewards(snapshot, expert_call)          # the state after the expert's first k actions
    reward(completion)   # {"similarity": 0.41, "execution": 1.0, "combined": 0.705}
    score_step_group(trajectory, k, completions)         # a GRPO group: prefix, snapshot, K branches, cleanup

From the same snapshot, the expert's action and the policy's each run in a branch of their own
(the expert's once, then reused; identical actions run once). ``execution`` compares what they did:

- an action that ends the episode (``finish``): 1 when both end it, else 0;
- an action that changed the repository on either side: the indel similarity of the two
  resulting diffs against the task's base commit (1 when the same files changed the same way);
- otherwise (both read-only): the indel similarity of the two observations (the same output).

``similarity`` is the paper's textual reward (:func:`srl_swe.rewards.score_action`), ``combined`` their
mean. A malformed completion scores -1 on all three, as in offline SRL, and runs nothing.

Reward integrity, as in the live env: an action that changes test files or test machinery
(:data:`srl_swe.evaluation.integrity.MACHINERY_FILES`) where the expert's does not scores 0 on
``execution`` and ``combined``, and is counted (:attr:`StepScore.tampering`). An action that breaks
its own sandbox (the container dies, the repository is gone) scores 0 on ``execution``: a verdict,
never an infrastructure failure; a failure is the infrastructure's only when a branch that runs
nothing fails too. Infrastructure failures raise :class:`~srl_swe.sandbox.runtime.SandboxError`, so
the trainer masks them instead of scoring them.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..actions import render_call
from ..evaluation.integrity import MACHINERY_FILES
from ..globs import DEFAULT_TEST_FILES, globs_of_test_files, matches
from ..patches import split_patch
from ..registry import load_env
from ..rewards import DEFAULT_METRIC, FORMAT_PENALTY, ScoredAction, score_action, similarity
from ..sandbox.runtime import RepositoryError, Sandbox, SandboxConfig, SandboxError
from ..sandbox.tools import execute_tool
from ..scaffold import DEFAULT_SCAFFOLD, load_scaffold
from ..trajectory.model import ToolCall, Trajectory
from .prefix import Snapshot, task_of


@dataclass(frozen=True)
class Effect:
    """What one action did, run in a branch of a snapshot."""

    observation: str
    diff: str
    """The repository's diff against the task's base commit after the action."""
    finished: bool


@dataclass
class StepScore:
    """The three rewards of one completion, and what the action did that the rewards alone do not show."""

    similarity: float
    execution: float
    combined: float
    tampering: list[str] = field(default_factory=list)
    """Test files and test machinery the action changed where the expert's did not (scored 0)."""
    broke_sandbox: str | None = None
    """Why the action's own branch failed (its container died, the repository is gone): scored 0."""
    ran: bool = False
    """Whether the action ran in a branch (malformed completions run nothing)."""

    @property
    def rewards(self) -> dict[str, float]:
        return {"similarity": self.similarity, "execution": self.execution, "combined": self.combined}


def action_effect(snapshot: Snapshot, call: ToolCall, *, timeout: float = 120.0,
                  config: SandboxConfig | None = None) -> Effect:
    """Run ``call`` in a fresh branch of ``snapshot`` and note what it did (the branch is removed after)."""
    config = replace(config or SandboxConfig(notes=False), command_timeout=timeout)
    with snapshot.branch(config) as sandbox:
        result = execute_tool(call, sandbox, timeout=timeout)
        return Effect(result.observation, sandbox.diff(snapshot.task["base_commit"]), result.finished)


def execution_score(policy: Effect, expert: Effect, before: str) -> float:
    """How alike two effects are (see the module doc); ``before`` is the snapshot's own diff."""
    if policy.finished or expert.finished:
        return 1.0 if policy.finished == expert.finished else 0.0
    if policy.diff != before or expert.diff != before:
        return similarity(policy.diff, expert.diff, "indel")
    return similarity(policy.observation, expert.observation, "indel")


def machinery_changes(policy: Effect, expert: Effect, before: str, test_globs: tuple[str, ...]) -> list[str]:
    """Test files and machinery whose diff the policy's action changed, and not as the expert's did."""
    mine, theirs, prior = (dict(split_patch(diff)) for diff in (policy.diff, expert.diff, before))
    return sorted(path for path in mine.keys() | prior.keys()
                  if mine.get(path) != prior.get(path) and mine.get(path) != theirs.get(path)
                  and (matches(path, test_globs) or matches(path, MACHINERY_FILES)))


class StepRewards:
    """The ``similarity``, ``execution`` and ``combined`` rewards of completions at one step (one snapshot)."""

    def __init__(self, snapshot: Snapshot, expert: ToolCall, *, scaffold: str = DEFAULT_SCAFFOLD,
                 metric: str = DEFAULT_METRIC, timeout: float = 120.0, before: str | None = None,
                 sandbox: SandboxConfig | None = None):
        self.snapshot, self.expert, self.metric, self.timeout = snapshot, expert, metric, timeout
        self.scaffold = load_scaffold(scaffold)
        self.sandbox = sandbox or SandboxConfig(notes=False)
        self._expert_effect: Effect | None = None
        self._expert_key = render_call(expert, self.scaffold)
        self._before = before
        env = snapshot.task.get("env")
        self.test_globs = globs_of_test_files(load_env(env).test_files if env else (), defaults=DEFAULT_TEST_FILES)

    def _effect(self, call: ToolCall) -> Effect:
        return action_effect(self.snapshot, call, timeout=self.timeout, config=self.sandbox)

    def expert_effect(self) -> Effect:
        if self._expert_effect is None:
            self._expert_effect = self._effect(self.expert)
        return self._expert_effect

    def before(self) -> str:
        """The snapshot's diff against the base commit (what the prefix changed)."""
        if self._before is None:
            with Sandbox(self.snapshot.image, self.sandbox) as sandbox:
                self._before = sandbox.diff(self.snapshot.task["base_commit"])
        return self._before

    def sandbox_works(self) -> bool:
        """Whether a branch of the snapshot that runs nothing of the policy's starts and reads its repository."""
        try:
            with self.snapshot.branch(self.sandbox) as sandbox:
                sandbox.diff(self.snapshot.task["base_commit"])
            return True
        except SandboxError:
            return False

    def effect_of(self, call: ToolCall) -> Effect | str:
        """What ``call`` did, or why it broke its own branch; raises SandboxError when the infrastructure failed. The
        expert's own action is the expert's effect (run once)."""
        if render_call(call, self.scaffold) == self._expert_key:
            return self.expert_effect()
        try:
            return self._effect(call)
        except RepositoryError as exc:  # the action broke the repository (e.g. removed .git): its doing
            return str(exc)
        except SandboxError as exc:
            if self.sandbox_works():  # a branch that runs nothing is fine: the action took its own down
                return str(exc)
            raise

    def score(self, completion: Any) -> StepScore:
        """All three rewards of one completion (its action run in a branch of its own)."""
        return self._score(score_action(completion, self.expert, self.metric, self.scaffold))

    def _score(self, scored: ScoredAction, effect: Effect | str | None = None) -> StepScore:
        """The rewards of a parsed completion; ``effect``: its action's, when already run."""
        if scored.call is None:
            return StepScore(FORMAT_PENALTY, FORMAT_PENALTY, FORMAT_PENALTY)
        text = scored.reward
        effect = self.effect_of(scored.call) if effect is None else effect
        if isinstance(effect, str):
            return StepScore(text, 0.0, round(text / 2, 4), broke_sandbox=effect, ran=True)
        expert, before = self.expert_effect(), self.before()
        tampering = machinery_changes(effect, expert, before, self.test_globs)
        if tampering:
            return StepScore(text, 0.0, 0.0, tampering=tampering, ran=True)
        executed = round(execution_score(effect, expert, before), 4)
        return StepScore(text, executed, round((text + executed) / 2, 4), ran=True)

    def __call__(self, completion: Any) -> dict[str, float]:
        return self.score(completion).rewards

    def score_all(self, completions: list[Any], workers: int = 4) -> list[StepScore]:
        """Scores of a group of completions: each distinct action runs once, ``workers`` branches at a time."""
        parsed = [score_action(c, self.expert, self.metric, self.scaffold) for c in completions]
        keys = [None if p.call is None else render_call(p.call, self.scaffold) for p in parsed]
        others = {key: p.call for key, p in zip(keys, parsed) if key is not None and key != self._expert_key}
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            expert = pool.submit(self.expert_effect)
            effects = dict(zip(others, pool.map(self.effect_of, others.values())))
            effects[self._expert_key] = expert.result()
        return [self._score(p, None if key is None else effects[key]) for p, key in zip(parsed, keys)]


# --------------------------------------------------------------------------- a GRPO group


@dataclass(frozen=True)
class BranchSettings:
    """How the completions of one step are run (sent with each group to the worker that runs it)."""

    scaffold: str = DEFAULT_SCAFFOLD
    metric: str = DEFAULT_METRIC
    command_timeout: float = 60.0
    """Seconds one action (the expert's, a completion's, one of the prefix) may run."""
    branches: int = 4
    """Branches of the snapshot run at once."""
    sandbox: SandboxConfig = field(default_factory=lambda: SandboxConfig(notes=False))
    """Limits of every container (prefix, branches); the network is off unless enabled here."""


@dataclass
class GroupScores:
    """The scores of one step's completions, or why the whole group has none (masked)."""

    scores: list[StepScore] | None
    prefix: dict[str, Any]
    """How the expert's prefix re-executed (:class:`srl_swe.gym.prefix.PrefixReport`)."""
    masked: str | None = None
    seconds: float = 0.0


def score_step_group(trajectory: Trajectory, step: int, completions: list[Any],
                     settings: BranchSettings | None = None) -> GroupScores:
    """Re-execute the expert's first ``step`` actions once, snapshot that state, run every completion (and the
    expert's action) in a branch of it, and remove the snapshot. A prefix that does not reproduce masks the group
    (the recording no longer matches the task); infrastructure failures raise SandboxError."""
    from ..evaluation.engine import ensure_images  # noqa: PLC0415 - pulls the harness; only where groups run
    from .live import LiveConfig, SWEEnv  # noqa: PLC0415 - the live env imports this module

    settings = settings or BranchSettings()
    started = time.monotonic()
    task = task_of(trajectory)
    problems = ensure_images([task])  # a Ray node that lacks the task's image builds or pulls it
    if problems:
        raise SandboxError(next(iter(problems.values())))
    env = SWEEnv(config=LiveConfig(scaffold=settings.scaffold, command_timeout=settings.command_timeout,
                                   sandbox=settings.sandbox))
    snapshot = None
    try:
        _, info = env.reset(options={"trajectory": trajectory, "step": step, "task": task})
        if info["prefix"]["reproduced"]:
            before = env.sandbox.diff(env.task["base_commit"])
            snapshot = env.snapshot()
    finally:
        env.close()
    prefix = info["prefix"]
    if snapshot is None:
        return GroupScores(None, prefix, masked=f"the prefix does not reproduce at step {prefix['diverged_at']}",
                           seconds=time.monotonic() - started)
    try:
        rewards = StepRewards(snapshot, trajectory.actions[step].action, scaffold=settings.scaffold,
                              metric=settings.metric, timeout=settings.command_timeout, before=before,
                              sandbox=settings.sandbox)
        scores = rewards.score_all(completions, settings.branches)
    finally:
        snapshot.remove()
    return GroupScores(scores, prefix, seconds=time.monotonic() - started)
