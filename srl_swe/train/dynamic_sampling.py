"""GRPO with dynamic sampling, as SRL (and DAPO) define it.

After each generation round, a prompt group whose reward standard deviation is at or
below `epsilon` carries no learning signal (every advantage is ~0), so it is dropped;
generation continues on fresh prompts until the batch is full of informative groups (or a
round limit is hit, in which case the remaining slots hold dropped groups with their loss
mask zeroed, so they still never reach the loss). The filter rate is logged every step.
"""
from __future__ import annotations

from typing import Any

import torch
from trl import GRPOTrainer
from trl.trainer.utils import pad

PROMPT_KEYS = ("prompt_ids", "prompt_mask")
SCALAR_KEYS = ("num_items_in_batch",)
SUPPORTED_KEYS = {"prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages", "num_items_in_batch",
                  "old_per_token_logps", "sampling_per_token_logps", "ref_per_token_logps", "importance_sampling_ratio", "tool_mask"}


def group_std(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Standard deviation of each consecutive group of `group_size` rewards (NaN-safe, population std)."""
    grouped = rewards.view(-1, group_size)
    mean = torch.nanmean(grouped, dim=1, keepdim=True)
    return torch.sqrt(torch.nanmean((grouped - mean) ** 2, dim=1))


def informative_groups(rewards: torch.Tensor, group_size: int, epsilon: float) -> torch.Tensor:
    """Boolean mask over groups: True where the reward spread exceeds `epsilon`."""
    return group_std(rewards, group_size) > epsilon


def merge_batches(parts: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Concatenate generation outputs row-wise, re-padding prompts on the left and completions on the right."""
    merged: dict[str, Any] = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        if key in SCALAR_KEYS:
            continue
        if values[0].dim() == 1:
            merged[key] = torch.cat(values)
            continue
        side = "left" if key in PROMPT_KEYS else "right"
        value = pad_token_id if key in ("prompt_ids", "completion_ids") else (1 if key == "tool_mask" else 0)
        rows = [row for v in values for row in v]
        merged[key] = pad(rows, padding_value=value, padding_side=side)
    return merged


def select_rows(batch: dict[str, Any], index: torch.Tensor) -> dict[str, Any]:
    return {k: v[index] for k, v in batch.items() if k not in SCALAR_KEYS}


class DynamicSamplingGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer, plus SRL's dynamic sampling of informative prompt groups."""

    def __init__(self, *args: Any, dynamic_sampling: bool = True, dynamic_sampling_epsilon: float = 1e-4,
                 max_refill_rounds: int = 8, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.dynamic_sampling = dynamic_sampling
        self.dynamic_sampling_epsilon = dynamic_sampling_epsilon
        self.max_refill_rounds = max_refill_rounds
        self._last_rewards: torch.Tensor | None = None
        self._refill_generator = torch.Generator().manual_seed(self.args.seed)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        self._last_rewards = (rewards_per_func * weights).nansum(dim=1)  # gathered over processes
        return rewards_per_func

    def _refill_inputs(self, n_rows: int) -> list[dict[str, Any]]:
        """Fresh prompts from the training set, each repeated num_generations times (as TRL's sampler does)."""
        n_prompts = max(1, n_rows // self.num_generations)
        picks = torch.randint(len(self.train_dataset), (n_prompts,), generator=self._refill_generator).tolist()
        return [dict(self.train_dataset[i]) for i in picks for _ in range(self.num_generations)]

    def _generate_and_score_completions(self, inputs):
        mode = "train" if self.model.training else "eval"
        if mode != "train" or not self.dynamic_sampling:
            output = super()._generate_and_score_completions(inputs)
            self._log_format_failures(mode)
            return output
        unknown = set()
        target_rows = len(inputs)
        group = self.num_generations
        process = self.accelerator.process_index
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        kept_rows = generated_groups = dropped_groups = 0
        batch_inputs = inputs
        for round_index in range(self.max_refill_rounds + 1):
            output = super()._generate_and_score_completions(batch_inputs)
            self._log_format_failures(mode)
            unknown |= set(output) - SUPPORTED_KEYS
            if unknown:
                raise ValueError(f"dynamic sampling cannot merge batch fields {sorted(unknown)}; disable it for this setup")
            rewards = self._last_rewards
            informative = informative_groups(rewards, group, self.dynamic_sampling_epsilon)
            generated_groups += informative.numel()
            dropped_groups += int((~informative).sum())
            row_mask = informative.repeat_interleave(group)
            local = row_mask[process * len(batch_inputs):(process + 1) * len(batch_inputs)].to(output["advantages"].device)
            kept.append(select_rows(output, local.nonzero().flatten()))
            dropped.append(select_rows(output, (~local).nonzero().flatten()))
            kept_rows += int(local.sum())
            if kept_rows >= target_rows:
                break
            batch_inputs = self._refill_inputs(target_rows)
        pad_id = self._tokenizer.pad_token_id
        parts = [k for k in kept if len(k["advantages"])]
        n_kept = sum(len(k["advantages"]) for k in parts)
        if n_kept < target_rows:  # round limit hit: fill with dropped rows that cannot reach the loss
            filler = merge_batches([d for d in dropped if len(d["advantages"])], pad_id)
            filler = select_rows(filler, torch.arange(target_rows - n_kept))
            filler["completion_mask"] = torch.zeros_like(filler["completion_mask"])
            filler["advantages"] = torch.zeros_like(filler["advantages"])
            parts.append(filler)
        batch = select_rows(merge_batches(parts, pad_id), torch.arange(target_rows))
        loss_mask = batch["completion_mask"] if "tool_mask" not in batch else batch["completion_mask"] * batch["tool_mask"]
        batch["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        self._metrics[mode]["dynamic_sampling/filter_rate"].append(dropped_groups / max(1, generated_groups))
        self._metrics[mode]["dynamic_sampling/rounds"].append(round_index + 1)
        self._metrics[mode]["dynamic_sampling/unfilled_rows"].append(max(0, target_rows - n_kept))
        return batch

    def _log_format_failures(self, mode: str) -> None:
        if self._last_rewards is not None:
            self._metrics[mode]["format_failure_rate"].append(float((self._last_rewards <= -1.0).float().mean()))
