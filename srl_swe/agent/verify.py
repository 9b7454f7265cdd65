"""Re-execute recorded trajectories in the live env: is the expert data sound?"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..actions import format_action
from ..gym.live import LiveConfig, SWEEnv
from ..rewards import similarity
from ..trajectory.model import Trajectory
from .recorder import record_episode


@dataclass
class VerifyResult:
    """Per-step observation similarity (recorded vs re-executed) and the replayed patch's grade."""

    trajectory_id: str
    step_similarity: list[float] = field(default_factory=list)
    resolved: bool = False
    infra_error: str | None = None

    @property
    def mean_similarity(self) -> float:
        return sum(self.step_similarity) / len(self.step_similarity) if self.step_similarity else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean_similarity": round(self.mean_similarity, 4)}


def verify_trajectory(trajectory: Trajectory, task: dict[str, Any], config: LiveConfig | None = None) -> VerifyResult:
    """Replay every recorded action in a fresh sandbox of the task (the one episode loop) and compare observations."""
    config = config or LiveConfig()
    config = replace(config, max_steps=max(config.max_steps, len(trajectory.actions) + 1))  # a copy: the caller's stays
    env = SWEEnv(task=task, config=config)
    try:
        episode = record_episode(env, (format_action(turn.thought, turn.action) for turn in trajectory.actions),
                                 source_format="verified")
    finally:
        env.close()
    result = VerifyResult(trajectory.id, resolved=bool(episode.info.get("resolved")), infra_error=episode.info.get("infra_error"))
    for recorded, replayed in zip(trajectory.actions, episode.trajectory.turns):
        if recorded.observation is not None and replayed.observation is not None:
            result.step_similarity.append(round(similarity(recorded.observation, replayed.observation, "indel"), 4))
    return result
