"""Live SWE environment: the policy's tool calls run in a Docker sandbox of a task's image.

`reset` starts a sandbox at the task's base commit and returns the task prompt; `step(text)`
parses `<think>` + one tool call, runs it, and returns the conversation so far. The episode
ends on `finish` (terminated) or at the step limit (truncated); then the repository's diff
(test files restored: edits to them are reported, not graded) is graded in a fresh
container with the task's own eval script and swebench's grading, guarded against tampering with the test
machinery (srl_swe.evaluation.integrity; counted in `info["integrity"]`). Reward: 1.0 when resolved.
Infrastructure failures (daemon, image) are flagged in `info["infra_error"]` with `info["reward_valid"] = False`;
what the agent causes (a broken repository, tests that hang, tampering) is a verdict: reward 0, valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import gymnasium as gym

from ..actions import parse_action
from ..errors import FormatError, SRLSweError
from ..evaluation.grader import grade_patch
from ..evaluation.integrity import MACHINERY_FILES
from ..globs import ARTIFACT_FILES, DEFAULT_TEST_FILES, globs_of_test_files, matches
from ..patches import split_patch
from ..registry import load_env
from ..sandbox.pool import SandboxPool
from ..sandbox.runtime import RepositoryError, Sandbox, SandboxConfig, SandboxError
from ..sandbox.tools import execute_tool
from ..scaffold import DEFAULT_SCAFFOLD, load_scaffold
from .prefix import Snapshot, find_trajectory, replay_prefix, shell_exports, step_messages, take_snapshot, task_of
from .spaces import UnicodeText, chat_messages_space

FORMAT_HINT = "ERROR: {reason}. Reply with <think>...</think> followed by exactly one tool call."


@dataclass
class LiveConfig:
    """Options of the live SWE environment."""

    max_steps: int = 30
    """Tool calls allowed before the episode is truncated (and graded)."""
    command_timeout: float = 120.0
    """Seconds one tool call may run in the sandbox."""
    grade_timeout: float = 300.0
    """Seconds the eval script may run when grading; past it the episode is unresolved (reward 0, a valid reward):
    tests that hang are the agent's doing. Short by default for training; `srl-swe evaluate` keeps the harness's 1800."""
    integrity: bool = True
    """Guard grading against an agent that games its tests (srl_swe.evaluation.integrity): test machinery reverted,
    tampering scored 0; both counted in ``info["integrity"]``."""
    scaffold: str = DEFAULT_SCAFFOLD
    """Agent scaffold: tools, prompts."""
    sandbox: SandboxConfig = field(default_factory=lambda: SandboxConfig(notes=False))
    """Container limits; the network is off unless enabled here (timeout notes come from the tools, once)."""
    test_globs: tuple[str, ...] = DEFAULT_TEST_FILES
    """Globs of test files (left out of the graded patch); the env spec's `test_files` add to them, and every
    `conftest.py` counts (srl_swe.globs)."""
    artifact_globs: tuple[str, ...] = ARTIFACT_FILES
    """Build artifacts left by running code (bytecode, caches): dropped from the graded patch."""
    branch_pool: int = 0
    """Sandboxes of a snapshot started ahead, in the background, for the next resets from the same snapshot (0:
    none). K rollouts from one snapshot in turn then skip the container start (0.7-0.9 s) whenever a rollout lasts
    longer than a start; ``Snapshot.remove()`` removes the spare ones."""


class FinalPatch(NamedTuple):
    """The repository's diff at the end of an episode, as it is graded."""

    patch: str
    """The diff without test files and build artifacts."""
    test_files_modified: list[str]
    """Test files the agent changed (their edits are left out of ``patch``)."""


def task_messages(task: dict[str, Any], scaffold) -> list[dict[str, str]]:
    """The opening chat messages of an episode on `task`: the scaffold's system prompt and the issue."""
    issue = scaffold.instance_prompt.format(
        workdir=scaffold.workdir, repo_clause=f" ({task['repo']})" if task.get("repo") else "",
        problem_statement=task["problem_statement"].strip()).strip()
    return [{"role": "system", "content": scaffold.render_system_prompt()}, {"role": "user", "content": issue}]


def _find_task(env_name: str | None, task_id: str | None, task: dict[str, Any] | None, rng) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The episode's task and the test-file globs its env spec declares."""
    if task is not None:
        return task, ()
    if env_name is None:
        raise SRLSweError("SWE-v0 needs env_name (a registered environment) or task (a SWE-bench row)")

    spec = load_env(env_name)
    tasks = spec.load_tasks()
    if not tasks:
        raise SRLSweError(f"environment {env_name!r} has no tasks ({spec.tasks_path}); run `srl-swe tasks synthesize {env_name}`")
    globs = tuple(spec.test_files)
    if task_id is None:
        return tasks[int(rng.integers(len(tasks)))], globs
    for row in tasks:
        if row["instance_id"] == task_id:
            return row, globs
    raise SRLSweError(f"environment {env_name!r} has no task {task_id!r}")


def _declared_test_files(task: dict[str, Any]) -> tuple[str, ...]:
    """The test-file globs of the environment a task row names (``env``), none for foreign rows."""
    return tuple(load_env(task["env"]).test_files) if task.get("env") else ()


class SWEEnv(gym.Env):
    """A software-engineering task in a live Docker sandbox, graded by its tests."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, env_name: str | None = None, task_id: str | None = None, *, task: dict[str, Any] | None = None,
                 max_steps: int | None = None, config: LiveConfig | None = None, render_mode: str | None = None):
        self.config = replace(config or LiveConfig(), **({} if max_steps is None else {"max_steps": max_steps}))
        self.env_name, self.task_id, self._fixed_task = env_name, task_id, task
        self.render_mode = render_mode
        self.scaffold = load_scaffold(self.config.scaffold)
        self.observation_space = chat_messages_space()
        self.action_space = UnicodeText(100_000)
        self.sandbox: Sandbox | None = None
        self.task: dict[str, Any] | None = None
        self.messages: list[dict[str, str]] = []
        self.steps_taken = 0
        self._test_globs = globs_of_test_files(defaults=self.config.test_globs)
        self._removals: list[Any] = []
        """Background removals of earlier episodes' containers, waited for by :meth:`close`."""
        self._prefix: tuple[dict[str, str], dict[str, Any] | None] = ({}, None)
        """(the shell's exports before a replayed prefix, the prefix's report): what :meth:`snapshot` saves."""
        self._pool: tuple[str, SandboxPool] | None = None
        """(snapshot image, its sandboxes started ahead) with ``config.branch_pool``."""

    # ----------------------------------------------------------------- episode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """A new episode. ``options``: ``task_id`` or ``task`` (which task); ``trajectory`` (an id in the embedded
        recordings, or a Trajectory) with ``step`` k: start after the expert's first k actions, re-executed here
        (``info["prefix"]`` says how each reproduced; ``strict`` raises when one did not), the observation being the
        SRL step prompt of step k; ``snapshot`` (from :meth:`snapshot`): start in that saved state, nothing
        re-executed (:mod:`srl_swe.gym.prefix`)."""
        super().reset(seed=seed)
        options = options or {}
        self._close_sandbox()
        snapshot: Snapshot | None = options.get("snapshot")
        trajectory = find_trajectory(options["trajectory"]) if options.get("trajectory") is not None else None
        if snapshot is not None:
            task, declared = snapshot.task, _declared_test_files(snapshot.task)
        elif trajectory is not None:
            task = options.get("task", self._fixed_task) or task_of(trajectory)
            declared = _declared_test_files(task)
        else:
            task, declared = _find_task(self.env_name, options.get("task_id", self.task_id), options.get("task", self._fixed_task), self.np_random)
        self.task, self._test_globs = task, globs_of_test_files(declared, defaults=self.config.test_globs)
        sandbox_config = replace(self.config.sandbox, command_timeout=self.config.command_timeout)
        self.steps_taken = 0
        info: dict[str, Any] = {"instance_id": task["instance_id"], "image": task["image"], "base_commit": task["base_commit"]}
        if snapshot is not None:
            self.sandbox = self._branch(snapshot, sandbox_config)
            self.messages = [dict(m) for m in snapshot.messages]
            self._prefix = ({}, snapshot.prefix)
            return self._obs(), {**info, "prefix": snapshot.prefix, "snapshot": snapshot.image}
        self._close_pool()
        self.sandbox = Sandbox(task["image"], sandbox_config)
        head = self.sandbox.exec("git rev-parse HEAD").output.strip()
        if head != task["base_commit"]:
            self.sandbox.exec(f"git checkout -q {task['base_commit']}")
        self.messages = task_messages(task, self.scaffold)
        self._prefix = ({}, None)
        if trajectory is not None:
            step = int(options.get("step", 0))
            baseline = shell_exports(self.sandbox)
            report = replay_prefix(self.sandbox, trajectory, step, timeout=self.config.command_timeout)
            if options.get("strict") and not report.reproduced:
                raise SRLSweError(f"trajectory {trajectory.id!r} does not reproduce at step {report.diverged_at} "
                                  f"(observation similarity {report.similarity[report.diverged_at]} < {report.threshold})")
            self.messages = step_messages(trajectory, step, self.config.scaffold)
            self._prefix = (baseline, report.to_dict())
            info.update(trajectory_id=trajectory.id, prefix=report.to_dict())
        return self._obs(), info

    def snapshot(self) -> Snapshot:
        """Save this episode's state (container, shell, messages) so that later resets start from it; remove it with
        ``Snapshot.remove()``."""
        if self.sandbox is None or self.task is None:
            raise SRLSweError("call reset() before snapshot()")
        baseline, prefix = self._prefix
        return take_snapshot(self.sandbox, self.task, self.messages, baseline,
                             prefix or {"steps": 0, "similarity": [], "reproduced": True})

    def step(self, action: str):
        if self.sandbox is None or self.task is None:
            raise SRLSweError("call reset() before step()")
        self.steps_taken += 1
        info: dict[str, Any] = {"instance_id": self.task["instance_id"], "step": self.steps_taken}
        finished = False
        try:
            parsed = parse_action(action, self.scaffold)
            result = execute_tool(parsed.call, self.sandbox, timeout=self.config.command_timeout)
            observation, finished = result.observation, result.finished
            info.update(format_ok=True, tool=parsed.call.name, tool_error=result.error, action=parsed.call)
        except FormatError as exc:
            observation = FORMAT_HINT.format(reason=exc)
            info.update(format_ok=False, format_error=str(exc))
        except SandboxError as exc:
            observation = f"ERROR: the sandbox failed: {exc}"
            info.update(format_ok=True, infra_error=str(exc), reward_valid=False)
            self.messages += [{"role": "assistant", "content": action}, {"role": "user", "content": observation}]
            return self._obs(), 0.0, True, False, info
        info["observation"] = None if finished else observation
        self.messages.append({"role": "assistant", "content": action})
        if not finished:
            self.messages.append({"role": "user", "content": self.scaffold.observation_template.format(observation=observation)})
        truncated = not finished and self.steps_taken >= self.config.max_steps
        reward = 0.0
        if finished or truncated:
            reward = self.grade(info)
        return self._obs(), reward, finished, truncated, info

    def patch(self) -> FinalPatch:
        """The repository's diff against the base commit as `grade` grades it: build artifacts
        dropped, test files left out (and listed). Raises `SandboxError` when the diff cannot be read."""
        if self.sandbox is None or self.task is None:
            raise SRLSweError("call reset() before patch()")
        kept, touched_tests = [], []
        for path, section in split_patch(self.sandbox.diff(self.task["base_commit"])):
            if matches(path, self.config.artifact_globs):
                continue
            if matches(path, self._test_globs):
                touched_tests.append(path)
            else:
                kept.append(section)
        return FinalPatch("".join(kept), touched_tests)

    def grade(self, info: dict[str, Any]) -> float:
        """Grade the repository's diff (`patch`); fills `info` and returns the reward."""
        try:
            patch, touched_tests = self.patch()
        except RepositoryError as exc:  # the agent broke the repository (e.g. deleted .git): a verdict, not infra
            info.update(repository_error=str(exc), reward_valid=True, resolved=False, infra_error=None)
            return 0.0
        except SandboxError as exc:
            info.update(infra_error=str(exc), reward_valid=False, resolved=False)
            return 0.0
        grade = grade_patch(self.task, patch, timeout=self.config.grade_timeout, integrity=self.config.integrity)
        if self.config.integrity:
            grade.integrity.reverted[:0] = [path for path in touched_tests if matches(path, MACHINERY_FILES)]
        info.update(
            patch=patch, test_files_modified=touched_tests, resolved=grade.resolved, patch_applied=grade.applied,
            fail_to_pass=grade.fail_to_pass, pass_to_pass_regressions=grade.pass_to_pass_regressions,
            infra_error=grade.infra_error, reward_valid=grade.infra_error is None, report=grade.report,
            grade_timed_out=grade.timed_out, integrity=grade.integrity.to_dict(),
            tampering_attempts=grade.integrity.attempts,
        )
        return 1.0 if grade.resolved else 0.0

    def _obs(self) -> tuple[dict[str, str], ...]:
        return tuple(dict(m) for m in self.messages)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or not self.messages:
            return None
        last = self.messages[-1]
        return f"[{self.task['instance_id'] if self.task else '-'} step {self.steps_taken}] {last['role']}: {last['content'][:2000]}"

    def _branch(self, snapshot: Snapshot, config: SandboxConfig) -> Sandbox:
        """A sandbox in the snapshot's state: a new one, or with ``branch_pool`` one started ahead."""
        if not self.config.branch_pool:
            return snapshot.branch(config)
        if self._pool is None or self._pool[0] != snapshot.image:
            self._close_pool()
            self._pool = (snapshot.image, snapshot.pool(config, self.config.branch_pool))
        return self._pool[1].take()

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._removals += self._pool[1].close()
            self._pool = None

    def _close_sandbox(self, *, wait: bool = False) -> None:
        """Remove the episode's container; between episodes in the background (the next one starts meanwhile)."""
        if self.sandbox is not None:
            removal = self.sandbox.close(wait=wait)
            if removal is not None:
                self._removals = [r for r in self._removals if not r.done()] + [removal]
            self.sandbox = None

    def close(self) -> None:
        self._close_pool()
        self._close_sandbox(wait=True)
        for removal in self._removals:  # the earlier episodes' containers are gone too when close returns
            removal.result()
        self._removals.clear()
        super().close()
