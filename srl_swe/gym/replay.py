"""Replay environment: walk an expert trajectory one action at a time (teacher forcing).

Each `step(text)` scores the policy's completion against the expert's action at that
step (SRL reward), then advances with the EXPERT's action and recorded observation, so
the context never contains the policy's own actions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym

from ..actions import format_action, render_call
from ..data import default_dataset_path
from ..errors import SRLSweError
from ..rewards import DEFAULT_METRIC, METRICS, score_action
from ..steps import StepBuilder, StepConfig, StepInstance, task_prompt
from ..trajectory import load_trajectories
from ..trajectory.model import Trajectory
from .spaces import UnicodeText, chat_messages_space


@dataclass
class ReplayConfig:
    """Options of the replay environment."""

    metric: str = DEFAULT_METRIC
    """Similarity metric of the step reward: difflib, indel or structured."""
    steps: StepConfig = field(default_factory=StepConfig)
    """How prompts are built (context window, observation budget, scaffold)."""
    max_action_length: int = 100_000
    """Longest policy output accepted by the action space."""


def _load(dataset: str | Path | Sequence[Trajectory], skip_invalid: bool) -> list[Trajectory]:
    if isinstance(dataset, (str, Path)):
        return load_trajectories(dataset, skip_invalid=skip_invalid).trajectories
    return list(dataset)


class ReplayEnv(gym.Env):
    """Teacher-forced walk through expert trajectories with step-wise SRL rewards.

    Observation: the chat prompt (tuple of `{"role", "content"}` dicts) for the next step.
    Action: the policy's completion text (`<think>...</think>` then one tool call).
    Reward: similarity of the policy's call to the expert's, or -1 when malformed.
    `info["expert_action"]` is the expert's completion for the NEXT step (its thought in
    `<think>` and its canonical call); `info["expert_call"]` is that call alone.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        dataset: str | Path | Sequence[Trajectory] | None = None,
        *,
        context: str | None = None,
        max_observation_chars: int | None = None,
        metric: str | None = None,
        scaffold: str | None = None,
        skip_invalid: bool = False,
        config: ReplayConfig | None = None,
        render_mode: str | None = None,
    ):
        if dataset is None:
            dataset = default_dataset_path()
        config = config or ReplayConfig()  # the keywords override a copy: the caller's config is left as it is
        steps = {"context": context, "max_observation_chars": max_observation_chars, "scaffold": scaffold}
        config = replace(config, steps=replace(config.steps, **{k: v for k, v in steps.items() if v is not None}),
                         metric=config.metric if metric is None else metric)
        if config.metric not in METRICS:
            raise ValueError(f"unknown metric {config.metric!r}; choose one of {METRICS}")
        config.steps.history_rounds  # validate the context policy now, not at the first reset
        self.config = config
        self.render_mode = render_mode
        self.trajectories = [t for t in _load(dataset, skip_invalid) if t.actions]
        if not self.trajectories:
            raise SRLSweError(f"dataset {dataset!r} holds no trajectory with at least one action")
        self._by_id = {t.id: i for i, t in enumerate(self.trajectories)}
        self._builder = StepBuilder(config.steps)
        self._cache: dict[int, list[StepInstance]] = {}
        self.observation_space = chat_messages_space()
        self.action_space = UnicodeText(config.max_action_length)
        self._trajectory: Trajectory | None = None
        self._steps: list[StepInstance] = []
        self._index = 0
        self._last_info: dict[str, Any] = {}

    @property
    def trajectory_ids(self) -> list[str]:
        return [t.id for t in self.trajectories]

    def _steps_of(self, index: int) -> list[StepInstance]:
        if index not in self._cache:
            self._cache[index] = self._builder.steps(self.trajectories[index])
        return self._cache[index]

    def _observation(self) -> tuple[dict[str, str], ...]:
        if self._index < len(self._steps):
            messages = self._steps[self._index].prompt
        else:  # after the last action: the whole (windowed) history, for inspection
            trajectory = self._trajectory
            issue = {"role": "user", "content": task_prompt(trajectory, self._builder.scaffold, self._builder.config.max_problem_chars)}
            rounds = [self._builder.round_messages(t) for t in trajectory.actions]
            messages = self._builder.prompt(issue, rounds, len(rounds))
        return tuple({"role": m["role"], "content": m["content"]} for m in messages)

    def _next_expert(self) -> dict[str, Any]:
        if self._index >= len(self._steps):
            return {"expert_action": None, "expert_call": None, "tool_name": None}
        step = self._steps[self._index]
        turn = self._trajectory.actions[self._index]
        return {
            "expert_action": format_action(turn.thought, turn.action, self._builder.scaffold),
            "expert_call": step.expert_action,
            "tool_name": step.tool_name,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "trajectory_id" in options:
            try:
                index = self._by_id[options["trajectory_id"]]
            except KeyError:
                raise SRLSweError(f"unknown trajectory_id {options['trajectory_id']!r}") from None
        elif "trajectory_index" in options:
            index = int(options["trajectory_index"]) % len(self.trajectories)
        else:
            index = int(self.np_random.integers(len(self.trajectories)))
        self._trajectory = self.trajectories[index]
        self._steps = self._steps_of(index)
        self._index = 0
        info = {"trajectory_id": self._trajectory.id, "step_index": 0, "num_steps": len(self._steps), **self._next_expert()}
        self._last_info = info
        return self._observation(), info

    def step(self, action: str):
        if self._trajectory is None:
            raise SRLSweError("call reset() before step()")
        if self._index >= len(self._steps):
            raise SRLSweError("episode is over; call reset()")
        step = self._steps[self._index]
        scaffold = self._builder.scaffold
        reward, call, format_error = score_action(action, self._trajectory.actions[self._index].action, self.config.metric, scaffold)
        policy_call = None if call is None else render_call(call, scaffold)
        scored = {"scored_step_index": self._index, "scored_expert_call": step.expert_action}
        self._index += 1  # teacher forcing: the expert's round enters the context
        terminated = self._index >= len(self._steps)
        info = {
            "trajectory_id": self._trajectory.id,
            "step_index": self._index,
            "num_steps": len(self._steps),
            "policy_action": policy_call,
            "format_ok": format_error is None,
            "format_error": format_error,
            "reward": reward,
            **scored,
            **self._next_expert(),
        }
        self._last_info = info
        return self._observation(), float(reward), terminated, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        info = self._last_info
        lines = [f"trajectory {info.get('trajectory_id')} step {info.get('step_index')}/{info.get('num_steps')}"]
        if "reward" in info:
            lines.append(f"reward {info['reward']:+.3f} format_ok={info['format_ok']}")
            lines.append(f"policy: {info['policy_action']}")
            lines.append(f"expert: {info['scored_expert_call']}")
        return "\n".join(lines)
