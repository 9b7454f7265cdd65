"""`srl-swe replay`: walk the embedded expert trajectories with a baseline policy and print per-step rewards."""
from __future__ import annotations

from dataclasses import dataclass
from statistics import mean

import gymnasium as gym
from rich.console import Console
from rich.table import Table

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


def run_replay(config: ReplayConfig, console: Console | None = None) -> list[dict]:
    """Walk every trajectory with the chosen policy; print and return one row per step."""
    console = console or Console(width=max(Console().width, 110))
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
    table = Table(title=f"Replay of {config.data or 'the embedded trajectories'} — policy {config.policy}, metric {config.metric}")
    for column in ("trajectory", "step", "expert tool", "policy tool", "format", "reward"):
        table.add_column(column, justify="right" if column in ("step", "reward") else "left", overflow="fold")
    for r in rows:
        table.add_row(r["trajectory"], str(r["step"]), r["expert_tool"], r["policy_tool"], "ok" if r["format_ok"] else "bad", f"{r['reward']:+.3f}")
    console.print(table)
    console.print(f"{len(rows)} steps over {len({r['trajectory'] for r in rows})} trajectories; "
                  f"mean step reward {mean(r['reward'] for r in rows):.3f}")
    return rows
