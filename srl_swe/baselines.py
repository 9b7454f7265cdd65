"""Reference policies for the replay environment (no model needed).

They give reward floors and ceilings: `repeat-previous` re-issues the last expert action
in its context, `oracle` replays the expert (reward 1 at every step by construction), and
`copy_from_train` answers each held-out step with the same step of the nearest training
trajectory (the floor a trained policy has to beat).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from rapidfuzz.distance import Indel

from .actions import render_call
from .rewards import DEFAULT_METRIC, srl_reward
from .steps import StepBuilder, StepConfig
from .trajectory.model import Trajectory

Policy = Callable[[Sequence[dict[str, str]], dict[str, Any]], str]


def repeat_previous(messages: Sequence[dict[str, str]], info: dict[str, Any], workdir: str = "/testbed") -> str:
    """Repeat the most recent assistant action in the prompt (a directory view at step 0)."""
    previous = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), None)
    if previous is None:
        previous = f"<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>{workdir}</parameter>\n</function>"
    return f"<think>\nI will do what I did last.\n</think>\n{previous}"


def oracle(messages: Sequence[dict[str, str]], info: dict[str, Any]) -> str:
    """The expert's own completion for this step (taken from the env's info)."""
    return info["expert_action"]


BASELINES: dict[str, Policy] = {"repeat-previous": repeat_previous, "oracle": oracle}


def copy_from_train(train: Sequence[Trajectory], heldout: Sequence[Trajectory], step_config: StepConfig | None = None,
                    metric: str = DEFAULT_METRIC) -> dict[str, Any]:
    """A model-free floor for step rewards: answer held-out step k with step k of the most similar training trajectory.

    Similarity is that of the issue texts (rapidfuzz's normalised Indel); a shorter
    neighbour answers with its last action. When trajectories share a scaffold and a
    recipe, this floor is high: a trained policy must beat it to show it learned more
    than the recipe. Returns the same summary keys as `score steps`.
    """
    builder = StepBuilder(step_config)
    issues = [t.task.problem_statement for t in train]
    records = []
    for trajectory in heldout:
        text = trajectory.task.problem_statement
        neighbour = max(range(len(train)), key=lambda i: Indel.normalized_similarity(text, issues[i]))
        answers = [render_call(turn.action, builder.scaffold) for turn in train[neighbour].actions]
        for step in builder.steps(trajectory):
            answer = answers[min(step.step_index, len(answers) - 1)]
            completion = f"<think>\nThis is step {step.step_index} of a similar task.\n</think>\n{answer}"
            reward = srl_reward(completion, step.expert_action, metric=metric, scaffold=builder.scaffold)
            tool = answer.split(">", 1)[0].removeprefix("<function=")
            records.append({"reward": reward, "format_ok": reward > -1, "tool_match": tool == step.tool_name})
    n = len(records)
    return {"count": n, "mean_reward": sum(r["reward"] for r in records) / n, "format_rate": sum(r["format_ok"] for r in records) / n,
            "tool_match_rate": sum(r["tool_match"] for r in records) / n}
