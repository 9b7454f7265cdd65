"""Training forwards that compute the prompt prefix a batch's rows share once: SFT and GRPO (SRL, RLVR).

Every step prompt starts with the same system prompt, the steps of one trajectory also share the
issue (about 70 % of a demo prompt), and the rollouts of one GRPO group share their whole prompt;
a batch spends most of its forward and backward passes on that prefix, once per row. Here the
prefix runs once (batch 1, with gradients), its keys and values are broadcast to the rows, and
each row's own suffix attends to them through the model's forward with TRL's fused LM head, so
the loss, log-probabilities and gradients are TRL's own (the prefix's hidden states are the same
in every row) at a fraction of the cost. `group_by_trajectory` batches one trajectory's
consecutive steps for SFT.

Exact by construction: the shared prefix is the longest run of identical token ids (and padding),
cut before the position that predicts any row's first label, so tokenisation at the junction
never matters. A batch sharing fewer than `MIN_SHARED_TOKENS` tokens or less than
`MIN_SHARED_FRACTION` of its length (where the split costs more than it saves), a run over several
processes (DDP must see the whole model's forward) and gradient checkpointing (transformers drops
the cache of checkpointed layers, so the suffix would not see the prefix) take TRL's own path.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch  # noqa: TID253 - a training module: only the heavy paths import it
from torch.utils.data import DataLoader  # noqa: TID253 - a training module: only the heavy paths import it
from trl import SFTTrainer  # noqa: TID253 - a training module: only the heavy paths import it

from .lm_head import score_labelled_positions_only

MIN_SHARED_TOKENS = 16
"""Below this many shared tokens a second forward call costs more than it saves."""
MIN_SHARED_FRACTION = 0.5
"""Nor below this share of the batch's length: the suffix's attention to a cache takes an explicit mask instead of
SDPA's causal path, and the broadcast keys and values are copied. Random demo SFT pairs share only the system prompt
(~15 %) and ran at 19.2 s a step shared against 14.7 s unshared (benchmarks/RESULTS.md)."""


def worth_sharing(shared: int, length: int) -> bool:
    return shared >= MIN_SHARED_TOKENS and shared >= MIN_SHARED_FRACTION * length


def shared_prefix_length(input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Tokens (and padding) every row starts with, ending before the position that predicts any row's first label."""
    same = (input_ids == input_ids[:1]).all(dim=0) & (attention_mask == attention_mask[:1]).all(dim=0)
    length = int(same.long().cumprod(dim=0).sum())
    labelled = labels != -100
    if labelled.any():
        first_label = int(torch.where(labelled.any(dim=0))[0][0])
        length = min(length, first_label - 1)  # the position before a label predicts it: it must be in the suffix
    return max(min(length, input_ids.size(1) - 1), 0)  # a suffix of one token at least (rows without labels, too)


def can_share(trainer, model) -> bool:
    """Whether `trainer` may run `model`'s forward in two parts (one process, no gradient checkpointing)."""
    return trainer.accelerator.num_processes == 1 and not trainer.accelerator.unwrap_model(model).is_gradient_checkpointing


def suffix_inputs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, shared: int) -> dict[str, Any]:
    """The forward inputs of the rows' suffixes, attending to their first `shared` tokens computed once.

    The prefix's keys and values are broadcast to every row; positions run on from the prefix, as in
    the whole forward.
    """
    decoder = model.get_decoder()
    cache = decoder(input_ids=input_ids[:1, :shared], attention_mask=attention_mask[:1, :shared],
                    use_cache=True).past_key_values
    rows = input_ids.size(0)
    for layer in cache.layers:
        layer.keys = layer.keys.expand(rows, -1, -1, -1)
        layer.values = layer.values.expand(rows, -1, -1, -1)
    return {"input_ids": input_ids[:, shared:], "attention_mask": attention_mask, "past_key_values": cache}


def trajectory_chunks(trajectory_ids: Sequence[str], batch_size: int) -> list[list[int]]:
    """Up to `batch_size` consecutive steps of one trajectory each, in data order."""
    chunks: list[list[int]] = []
    current: list[int] = []
    for index, trajectory in enumerate(trajectory_ids):
        if current and (trajectory != trajectory_ids[current[0]] or len(current) == batch_size):
            chunks.append(current)
            current = []
        current.append(index)
    if current:
        chunks.append(current)
    return chunks


def shuffled(chunks: Sequence[list[int]], seed: int, epoch: int) -> list[list[int]]:
    """`chunks` in the order of epoch `epoch`."""
    order = list(chunks)
    random.Random(seed * 100_003 + epoch).shuffle(order)
    return order


def trajectory_batches(trajectory_ids: Sequence[str], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of up to `batch_size` consecutive steps of one trajectory, in an order shuffled per epoch."""
    return shuffled(trajectory_chunks(trajectory_ids, batch_size), seed, epoch)


class TrajectoryBatchSampler:
    """The batch sampler of :func:`trajectory_batches`; the trainer sets its epoch."""

    def __init__(self, trajectory_ids: Sequence[str], batch_size: int, seed: int):
        self.chunks, self.seed = trajectory_chunks(trajectory_ids, batch_size), seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        return iter(shuffled(self.chunks, self.seed, self.epoch))

    def __len__(self) -> int:
        return len(self.chunks)


class SharedPrefixSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer with our LM-head override, computing each batch's shared prompt prefix once; optionally
    batching by trajectory."""

    def __init__(self, *args: Any, group_by_trajectory: bool = False, **kwargs: Any):
        score_labelled_positions_only()
        super().__init__(*args, **kwargs)
        self.group_by_trajectory = group_by_trajectory
        if group_by_trajectory and "trajectory_id" not in self.train_dataset.column_names:
            raise ValueError("group_by_trajectory needs a trajectory_id column in the training set")

    def get_train_dataloader(self):
        if not self.group_by_trajectory:
            return super().get_train_dataloader()
        dataset = self.train_dataset
        sampler = TrajectoryBatchSampler(dataset["trajectory_id"], self._train_batch_size, self.args.seed)
        columns = [c for c in dataset.column_names if c in ("input_ids", "labels", "completion_mask", "assistant_masks")]
        loader = DataLoader(dataset.select_columns(columns), batch_sampler=sampler, collate_fn=self.data_collator,
                            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        shared = 0
        if can_share(self, model) and "position_ids" not in inputs:
            shared = shared_prefix_length(inputs["input_ids"], inputs["labels"], inputs["attention_mask"])
        if worth_sharing(shared, inputs["input_ids"].size(1)):
            unwrapped = self.accelerator.unwrap_model(model)
            inputs = {**suffix_inputs(unwrapped, inputs["input_ids"], inputs["attention_mask"], shared),
                      "labels": inputs["labels"][:, shared:]}
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def completion_logps(trainer, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int,
                     group_size: int, compute_entropy: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """GRPO's per-token log-probabilities (and entropies) of the completions, as TRL's text-only path computes
    them, with each group of `group_size` consecutive rows (one prompt's rollouts) sharing its prompt."""
    logps, entropies = [], []
    for start in range(0, input_ids.size(0), group_size):
        ids, mask = input_ids[start:start + group_size], attention_mask[start:start + group_size]
        labels = ids.masked_fill(mask == 0, -100)  # TRL's labels: the completion tokens only
        labels[:, :-logits_to_keep] = -100
        shared = min(shared_prefix_length(ids, labels, mask), ids.size(1) - logits_to_keep - 1)  # rows without labels too
        inputs = {"input_ids": ids, "attention_mask": mask}
        if worth_sharing(shared, ids.size(1)):
            inputs = suffix_inputs(trainer.accelerator.unwrap_model(model), ids, mask, shared)
            labels = labels[:, shared:]
        with trainer.accelerator.autocast():
            outputs = model(**inputs, labels=labels, fused_lm_head=True)
        logps.append(outputs.log_probs[:, -logits_to_keep:])
        if compute_entropy:
            entropies.append(outputs.entropy[:, -logits_to_keep:])
    return torch.cat(logps), torch.cat(entropies) if compute_entropy else None
