"""Run a policy in the live env and record the episode as a canonical trajectory."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from ..actions import parse_action
from ..errors import FormatError
from ..gym.live import SWEEnv
from ..trajectory.model import Task, Trajectory, Turn


@dataclass
class Episode:
    """A recorded episode and its grading."""

    trajectory: Trajectory
    reward: float
    info: dict[str, Any] = field(default_factory=dict)


def record_episode(env: SWEEnv, actions: Iterator[str], *, task_id: str | None = None, source_format: str = "recorded") -> Episode:
    """Drive `env` with a generator of completions (sent each raw observation); return the trajectory.

    Only well-formed actions become turns; the episode's grade goes into the metadata.
    """
    _, reset_info = env.reset(options={"task_id": task_id} if task_id else None)
    task = env.task
    turns: list[Turn] = []
    observation: str | None = None
    reward, info = 0.0, {}
    try:
        completion = next(actions)
        while True:
            _, reward, terminated, truncated, info = env.step(completion)
            try:
                parsed = parse_action(completion)
                turns.append(Turn(parsed.thought, parsed.call, info.get("observation")))
            except FormatError:
                pass
            if terminated or truncated:
                break
            observation = info.get("observation")
            completion = actions.send(observation)
    except StopIteration:
        pass
    metadata = {
        "resolved": bool(info.get("resolved")), "reward": reward, "patch": info.get("patch"),
        "fail_to_pass": info.get("fail_to_pass"), "infra_error": info.get("infra_error"),
        "image": task["image"], "base_commit": task["base_commit"],
    }
    trajectory = Trajectory(
        id=task["instance_id"],
        task=Task(task["instance_id"], task["problem_statement"], repo=task.get("repo"), base_commit=task["base_commit"]),
        turns=turns, source_format=source_format, metadata=metadata,
    )
    return Episode(trajectory, reward, info)
