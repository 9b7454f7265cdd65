"""Step datasets for the trainers: a split by trajectory, SRL step rows, SFT rows.

Held-out data is split by trajectory, never by step: steps of one trajectory share their
issue and history, so splitting steps would leak test prompts into training. Training and
evaluation call :func:`split_by_trajectory` with the same seed and get the same split.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..actions import format_action
from ..data import default_dataset_path
from ..steps import StepBuilder, StepConfig
from ..trajectory import load_trajectories
from ..trajectory.model import Trajectory

SFT_LOSS_ON = ("final", "assistant")


def load_data(data: str | Path | Sequence[Trajectory] | None) -> list[Trajectory]:
    """Trajectories from a file/dataset name, an in-memory list, or (None) the embedded default data."""
    if data is None:
        data = default_dataset_path()
    if isinstance(data, (str, Path)):
        return list(load_trajectories(data).trajectories)
    return list(data)


SPLITS = ("heldout", "validation", "train", "all")


def _partition_ids(trajectories: Sequence[Trajectory], heldout_fraction: float, validation_fraction: float,
                   seed: int) -> tuple[set[str], set[str]]:
    """(held-out ids, validation ids): the first ids of one seeded shuffle, then the next ones."""
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    if not 0.0 <= validation_fraction < 1.0 - heldout_fraction:
        raise ValueError(f"validation_fraction must be in [0, 1 - heldout_fraction), got {validation_fraction}")
    ids = sorted({t.id for t in trajectories})
    random.Random(seed).shuffle(ids)
    count = round(len(ids) * heldout_fraction)
    if heldout_fraction > 0 and len(ids) >= 2:
        count = min(max(count, 1), len(ids) - 1)
    validation = round(len(ids) * validation_fraction)
    if validation_fraction > 0:
        validation = min(max(validation, 1), len(ids) - count - 1)
    return set(ids[:count]), set(ids[count:count + max(0, validation)])


def _parts(trajectories: Sequence[Trajectory], heldout_fraction: float, validation_fraction: float,
           seed: int) -> dict[str, list[Trajectory]]:
    """The train, validation and held-out trajectories, each in input order."""
    heldout_ids, validation_ids = _partition_ids(trajectories, heldout_fraction, validation_fraction, seed)
    parts: dict[str, list[Trajectory]] = {"train": [], "validation": [], "heldout": []}
    for t in trajectories:
        parts["heldout" if t.id in heldout_ids else "validation" if t.id in validation_ids else "train"].append(t)
    return parts


def split_by_trajectory(
    trajectories: Sequence[Trajectory], heldout_fraction: float = 0.2, seed: int = 0, validation_fraction: float = 0.0
) -> tuple[list[Trajectory], list[Trajectory]]:
    """(train, heldout) lists of whole trajectories; both keep the input order.

    Trajectory ids are sorted, then shuffled with `random.Random(seed)`, so the split
    depends only on the ids and the seed, not on input order. Trajectories sharing an id
    stay together. With `heldout_fraction > 0` and at least two ids, at least one id is held
    out and at least one is kept for training. `validation_fraction` takes the ids right
    after the held-out ones out of training (see :func:`select_split`); the held-out set
    does not depend on it.
    """
    parts = _parts(trajectories, heldout_fraction, validation_fraction, seed)
    return parts["train"], parts["heldout"]


def select_split(trajectories: Sequence[Trajectory], split: str, heldout_fraction: float = 0.2, seed: int = 0,
                 validation_fraction: float = 0.0) -> list[Trajectory]:
    """The trajectories of one split: heldout, validation (for choosing settings), train, or all."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "all":
        return list(trajectories)
    return _parts(trajectories, heldout_fraction, validation_fraction, seed)[split]


def step_rows(trajectories: Iterable[Trajectory], step_config: StepConfig | None = None) -> list[dict[str, Any]]:
    """One dict per expert action (the rows of :func:`step_dataset`)."""
    builder = StepBuilder(step_config)
    rows = []
    for trajectory in trajectories:
        for step, turn in zip(builder.steps(trajectory), trajectory.actions):
            rows.append({
                "prompt": step.prompt,
                "expert_action": step.expert_action,
                "expert_completion": format_action(turn.thought, turn.action, builder.scaffold),
                "trajectory_id": step.trajectory_id,
                "step_index": step.step_index,
                "tool_name": step.tool_name,
            })
    return rows


def completions_over_budget(completions: Iterable[str], tokenizer, max_tokens: int) -> dict[str, int]:
    """How many expert completions are longer than `max_tokens` tokens (and the longest).

    A policy cut at `max_tokens` scores -1 on such a step even when it copies the expert, so SRL
    learns to avoid the expert's action there and evaluation counts it as malformed: a generation
    budget must cover the data.
    """
    lengths = [len(ids) for ids in tokenizer(list(completions), add_special_tokens=False)["input_ids"]]
    return {"over": sum(n > max_tokens for n in lengths), "steps": len(lengths), "longest": max(lengths, default=0)}


def step_dataset(trajectories: Iterable[Trajectory], step_config: StepConfig | None = None):
    """A `datasets.Dataset` of SRL step instances.

    Columns: `prompt` (chat messages `{role, content}`), `expert_action` (canonical call text:
    what the SRL reward compares against), `expert_completion` (`<think>` + call: the SFT
    target), `trajectory_id`, `step_index`, `tool_name`. GRPO uses `prompt` and passes
    `expert_action` to :class:`srl_swe.rewards.SRLReward`.
    """
    from datasets import Dataset

    rows = step_rows(trajectories, step_config)
    if not rows:
        raise ValueError("no step instances: the trajectories have no tool calls")
    return Dataset.from_list(rows)


def sft_dataset(trajectories: Iterable[Trajectory], step_config: StepConfig | None = None, *, loss_on: str = "final"):
    """A conversational `datasets.Dataset` for TRL's SFTTrainer (`assistant_only_loss=True`).

    `loss_on="final"` (default): columns `prompt` (the step's messages) and `completion`
    (one assistant message holding the expert completion); the loss covers that completion
    only. Earlier expert calls in the prompt are assistant messages too, written without
    `<think>`; training on them would teach the model to skip its reasoning.
    `loss_on="assistant"`: one `messages` column (prompt + the completion as the last
    assistant message); the loss covers every assistant message, context calls included.
    Both keep `trajectory_id`, `step_index` and `tool_name`.
    """
    from datasets import Dataset

    if loss_on not in SFT_LOSS_ON:
        raise ValueError(f"loss_on must be one of {SFT_LOSS_ON}, got {loss_on!r}")
    rows = []
    for row in step_rows(trajectories, step_config):
        answer = {"role": "assistant", "content": row["expert_completion"]}
        keep = {k: row[k] for k in ("trajectory_id", "step_index", "tool_name")}
        if loss_on == "final":
            rows.append({"prompt": row["prompt"], "completion": [answer], **keep})
        else:
            rows.append({"messages": row["prompt"] + [answer], **keep})
    if not rows:
        raise ValueError("no step instances: the trajectories have no tool calls")
    return Dataset.from_list(rows)
