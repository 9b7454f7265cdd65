"""GRPO with dynamic sampling, as SRL (and DAPO) define it.

After each generation round, a prompt group whose reward standard deviation is at or
below `epsilon` carries no learning signal (every advantage is ~0), so it is dropped;
generation continues on fresh prompts until the batch is full of informative groups or
`max_refill_rounds` extra rounds are spent. Then the remaining slots hold dropped groups
with their loss mask zeroed (they never reach the loss), the short batch is logged, and a
step in which no group at all was informative leaves the weights untouched (no
momentum-only optimizer step).

With several processes, every decision is taken from the globally gathered rewards, so
all ranks run the same number of rounds (TRL gathers in every round: a rank that stopped
early would deadlock the others). Each group must lie within one process. Refill prompts
are drawn without replacement within an epoch, each rank from its own shard of one
shuffled order, and the sampler's position is saved in every checkpoint.

Given a scaffold (`stop_malformed`), a rollout on the plain transformers path stops as soon
as its text can no longer parse as that scaffold's action: its reward is -1 whatever follows,
so the rewards are unchanged, and a degenerate loop no longer holds the whole batch to
max_completion_length. The completion then ends at the token that broke it (no EOS is
appended), so the loss covers only what the policy wrote up to the break.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable

import torch  # noqa: TID253 - a training module: only the heavy paths import it
from transformers import StoppingCriteriaList, TrainerCallback  # noqa: TID253 - a training module: only the heavy paths import it
from trl import GRPOTrainer  # noqa: TID253 - a training module: only the heavy paths import it
from trl.trainer.utils import pad  # noqa: TID253 - a training module: only the heavy paths import it

from ..scaffold import Scaffold
from ..generation import StopWhenMalformed, fast_decoding
from .lm_head import score_labelled_positions_only
from .shared_prefix import can_share, completion_logps

logger = logging.getLogger(__name__)

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


class RefillSampler:
    """Prompt indices without replacement within an epoch; rank `rank` of `world` takes every world-th of one order.

    The order of epoch e is a permutation seeded by (seed, e), the same on every rank, so the
    ranks' shards are disjoint. The state (epoch, position) is what a checkpoint saves.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1):
        if size < 1:
            raise ValueError("the training set is empty")
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        self.epoch = self.position = 0

    def _shard(self) -> list[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)).tolist()
        return order[self.rank::self.world] or order  # fewer prompts than ranks: share the order

    def draw(self, count: int) -> list[int]:
        picks: list[int] = []
        while len(picks) < count:
            shard = self._shard()
            take = shard[self.position:self.position + count - len(picks)]
            picks += take
            self.position += len(take)
            if self.position >= len(shard):
                self.epoch, self.position = self.epoch + 1, 0
        return picks

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "size": self.size, "seed": self.seed,
                "rank": self.rank, "world": self.world}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if (state["size"], state["world"]) != (self.size, self.world):
            raise ValueError(f"refill sampler state is for {state['size']} prompts on {state['world']} processes, "
                             f"not {self.size} on {self.world}")
        self.epoch, self.position = state["epoch"], state["position"]


class _SkipUninformativeStep(TrainerCallback):
    """Drops every gradient before an optimizer step whose batch held no informative group.

    torch optimizers skip parameters whose `.grad` is None, so neither momentum nor weight
    decay moves the weights; every rank takes the same (global) decision.
    """

    def __init__(self, trainer: "DynamicSamplingGRPOTrainer"):
        self.trainer = trainer

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if self.trainer.batch_is_uninformative:
            for parameter in self.trainer.model.parameters():
                parameter.grad = None
            self.trainer.skipped_optimizer_steps += 1
            logger.warning("step %d: no prompt group had reward spread; the optimizer step is skipped", state.global_step + 1)


class DynamicSamplingGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer, plus SRL's dynamic sampling of informative prompt groups."""

    def __init__(self, *args: Any, dynamic_sampling: bool = True, dynamic_sampling_epsilon: float = 1e-4,
                 max_refill_rounds: int = 8, stop_malformed: Scaffold | None = None,
                 reward_metrics: Callable[[], dict[str, float]] | None = None, **kwargs: Any):
        score_labelled_positions_only()
        super().__init__(*args, **kwargs)
        self.stop_malformed = stop_malformed
        self.reward_metrics = reward_metrics
        self.dynamic_sampling = dynamic_sampling
        self.dynamic_sampling_epsilon = dynamic_sampling_epsilon
        self.max_refill_rounds = max_refill_rounds
        if dynamic_sampling and self.args.per_device_train_batch_size % self.num_generations:
            raise ValueError(f"dynamic sampling needs whole groups on each process: per_device_train_batch_size "
                             f"{self.args.per_device_train_batch_size} is not a multiple of num_generations {self.num_generations}")
        self._last_rewards: torch.Tensor | None = None
        self.refill_sampler = RefillSampler(len(self.train_dataset), self.args.seed, self.accelerator.process_index,
                                            self.accelerator.num_processes)
        self.batch_is_uninformative = False
        self.skipped_optimizer_steps = 0
        self.add_callback(_SkipUninformativeStep(self))

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        rewards = (rewards_per_func * weights).nansum(dim=1)  # gathered over processes
        rewards[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan  # masked (no reward at all): not a 0
        self._last_rewards = rewards
        if self.reward_metrics is not None:
            mode = "train" if self.model.training else "eval"
            for name, value in self.reward_metrics().items():
                self._metrics[mode][name].append(value)
        return rewards_per_func

    def _refill_inputs(self, n_rows: int) -> list[dict[str, Any]]:
        """Fresh prompts of this rank's shard, each repeated num_generations times (as TRL's sampler does)."""
        picks = self.refill_sampler.draw(max(1, n_rows // self.num_generations))
        return [dict(self.train_dataset[i]) for i in picks for _ in range(self.num_generations)]

    def _generate_single_turn(self, prompt_ids, *args, **kwargs):
        """TRL's generation (plain transformers path), decoding fast on the CPU (:func:`fast_decoding`) and with rows
        stopped once they cannot parse (``stop_malformed``)."""
        if self.use_vllm or self.use_transformers_continuous_batching:
            return super()._generate_single_turn(prompt_ids, *args, **kwargs)
        model = self.accelerator.unwrap_model(self.model_wrapped)
        generate, criteria = model.generate, []

        def generate_fast(*gen_args, **gen_kwargs):
            if self.stop_malformed is not None:
                criteria.append(StopWhenMalformed(self._tokenizer, gen_kwargs["input_ids"].shape[1], self.stop_malformed))
                gen_kwargs["stopping_criteria"] = StoppingCriteriaList(criteria[-1:])
            with fast_decoding(model) as fast:
                return generate(*gen_args, **gen_kwargs, **fast)

        model.generate = generate_fast  # TRL's generate call takes neither stopping criteria nor a cache of ours
        try:
            completion_ids, logprobs = super()._generate_single_turn(prompt_ids, *args, **kwargs)
        finally:
            del model.generate
        if self.stop_malformed is None:
            return completion_ids, logprobs
        if len(criteria) != 1:
            raise RuntimeError(f"expected one generate call per generation round, saw {len(criteria)}")
        for row, length in criteria[0].stopped.items():  # drop the padding TRL read as an EOS
            completion_ids[row] = completion_ids[row][:length]
        stopped = self.accelerator.gather(torch.tensor(float(len(criteria[0].stopped)), device=self.accelerator.device))
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["completions/stopped_malformed_ratio"].append(float(stopped.sum()) / max(1, len(prompt_ids) * self.accelerator.num_processes))
        return completion_ids, logprobs

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **media):
        """TRL's log-probabilities, with each group's rollouts sharing the forward of their prompt (text models)."""
        if compute_aux_loss or any(value is not None for value in media.values()) or not can_share(self, model):
            return super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, batch_size,
                                                              compute_entropy, compute_aux_loss, **media)
        logps, entropies = completion_logps(self, model, input_ids, attention_mask, logits_to_keep, self.num_generations,
                                            compute_entropy)
        return logps, entropies, None

    def _save_rng_state(self, output_dir: str) -> None:
        super()._save_rng_state(output_dir)
        path = os.path.join(output_dir, f"refill_sampler_{self.accelerator.process_index}.json")
        with open(path, "w") as handle:
            json.dump(self.refill_sampler.state_dict(), handle)

    def _load_rng_state(self, checkpoint: str | None) -> None:
        super()._load_rng_state(checkpoint)
        path = os.path.join(checkpoint or "", f"refill_sampler_{self.accelerator.process_index}.json")
        if checkpoint and os.path.isfile(path):
            with open(path) as handle:
                self.refill_sampler.load_state_dict(json.load(handle))

    def _generate_and_score_completions(self, inputs):
        mode = "train" if self.model.training else "eval"
        if mode != "train" or not self.dynamic_sampling:
            output = super()._generate_and_score_completions(inputs)
            self._log_format_failures(mode)
            return output
        target_rows = len(inputs)
        group = self.num_generations
        world, process = self.accelerator.num_processes, self.accelerator.process_index
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        kept_per_rank = torch.zeros(world, dtype=torch.long)
        generated_groups = dropped_groups = 0
        batch_inputs = inputs
        all_malformed = True
        for round_index in range(self.max_refill_rounds + 1):
            output = super()._generate_and_score_completions(batch_inputs)
            self._log_format_failures(mode)
            all_malformed = all_malformed and bool((self._last_rewards <= -1.0).all())
            unknown = set(output) - SUPPORTED_KEYS
            if unknown:
                raise ValueError(f"dynamic sampling cannot merge batch fields {sorted(unknown)}; disable it for this setup")
            informative = informative_groups(self._last_rewards, group, self.dynamic_sampling_epsilon)  # every rank's groups
            generated_groups += informative.numel()
            dropped_groups += int((~informative).sum())
            row_mask = informative.repeat_interleave(group).view(world, len(batch_inputs)).cpu()
            kept_per_rank += row_mask.sum(dim=1)
            local = row_mask[process].to(output["advantages"].device)
            kept.append(select_rows(output, local.nonzero().flatten()))
            dropped.append(select_rows(output, (~local).nonzero().flatten()))
            if int(kept_per_rank.min()) >= target_rows:  # the same decision on every rank
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
        unfilled = int((target_rows - kept_per_rank.clamp(max=target_rows)).sum())
        self.batch_is_uninformative = int(kept_per_rank.sum()) == 0
        if all_malformed and self.state.global_step == 0:
            logger.warning("every rollout of the first step was malformed (reward -1): the model does not write the output "
                           "format, so no group can be informative; give it a short SFT warm-up first "
                           "(`srl-swe train pipeline sft,srl`, as the demo does)")
        if unfilled:
            logger.warning("dynamic sampling: %d of %d rows unfilled after %d rounds (max_refill_rounds=%d); they are masked "
                           "out of the loss", unfilled, target_rows * world, round_index + 1, self.max_refill_rounds)
        self._metrics[mode]["dynamic_sampling/filter_rate"].append(dropped_groups / max(1, generated_groups))
        self._metrics[mode]["dynamic_sampling/rounds"].append(round_index + 1)
        self._metrics[mode]["dynamic_sampling/unfilled_rows"].append(unfilled)
        self._metrics[mode]["dynamic_sampling/skipped_step"].append(float(self.batch_is_uninformative))
        return batch

    def _log_format_failures(self, mode: str) -> None:
        if self._last_rewards is not None:
            scored = self._last_rewards[~torch.isnan(self._last_rewards)]  # masked rows are neither
            self._metrics[mode]["format_failure_rate"].append(float((scored <= -1.0).float().mean()) if len(scored) else 0.0)
