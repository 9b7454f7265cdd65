"""`srl-swe replay`: walk the embedded expert trajectories with a baseline policy and print per-step rewards."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from .baselines import BASELINES
from .rewards import DEFAULT_METRIC


@dataclass
class ReplayConfig:
    """What `srl-swe replay` runs."""

    data: str | None = None
    """Trajectory file or dataset name (None = the embedded default)."""
    policy: str = "repeat-previous"
    """Baseline policy: repeat-previous or oracle."""
    metric: str = DEFAULT_METRIC
    """Similarity metric of the reward."""
    context: str = "last:2"
    """Context policy of the step prompts."""


def run_replay(config: ReplayConfig) -> list[dict]:
    """Walk every trajectory with the chosen policy; return one row per step."""
    policy = BASELINES[config.policy]
    env = gym.make("srl_swe/Replay-v0", dataset=config.data, metric=config.metric, context=config.context)
    rows = []
    for trajectory_id in env.unwrapped.trajectory_ids:
        obs, info = env.reset(options={"trajectory_id": trajectory_id})
        terminated = False
        while not terminated:
            expert_tool = info["tool_name"]
            obs, reward, terminated, _, info = env.step(policy(obs, info))
            policy_tool = info["policy_action"].split(">", 1)[0].removeprefix("<function=") if info["policy_action"] else "-"
            rows.append({"trajectory": trajectory_id, "step": info["scored_step_index"], "expert_tool": expert_tool,
                         "policy_tool": policy_tool, "format_ok": info["format_ok"], "reward": reward})
    env.close()
    return rows
