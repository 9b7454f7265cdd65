"""SFT batches that compute the prompt prefix their rows share once, and batches of one trajectory's steps.

Every step of a trajectory starts with the same system prompt and issue (about 70 % of a demo
prompt), so a batch of one trajectory's consecutive steps spends most of its forward and
backward passes on that prefix, once per row. Here the prefix runs once (batch 1, with
gradients), its keys and values are broadcast to every row, and the rows' own suffixes attend
to them: the same loss and gradients (the prefix's hidden states are the same in every row) at a
fraction of the cost. The LM head projects only the labelled positions (as `lm_head.py` makes
TRL's do).

Exact by construction: the shared prefix is the longest run of identical token ids, cut before
the position that predicts any row's first label, so tokenisation at the junction never matters.
A batch sharing fewer than `MIN_SHARED_TOKENS` tokens, a run over several processes (DDP must see
the whole model's forward) and gradient checkpointing (transformers drops the cache of checkpointed
layers, so the suffix would not see the prefix) take TRL's own path.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch  # noqa: TID253 - a training module: only the heavy paths import it
from trl import SFTTrainer  # noqa: TID253 - a training module: only the heavy paths import it

MIN_SHARED_TOKENS = 16
"""Below this many shared tokens a second forward call costs more than it saves."""


def shared_prefix_length(input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Tokens every row starts with, ending before the position that predicts any row's first label."""
    same = (input_ids == input_ids[:1]).all(dim=0) & attention_mask.bool().all(dim=0)
    length = int(same.long().cumprod(dim=0).sum())
    labelled = labels != -100
    if labelled.any():
        first_label = int(torch.where(labelled.any(dim=0))[0][0])
        length = min(length, first_label - 1)  # the position before a label predicts it: it must be in the suffix
    return max(length, 0)


def trajectory_batches(trajectory_ids: Sequence[str], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of up to `batch_size` consecutive steps of one trajectory, in an order shuffled per epoch."""
    chunks: list[list[int]] = []
    current: list[int] = []
    for index, trajectory in enumerate(trajectory_ids):
        if current and (trajectory != trajectory_ids[current[0]] or len(current) == batch_size):
            chunks.append(current)
            current = []
        current.append(index)
    if current:
        chunks.append(current)
    random.Random(seed * 100_003 + epoch).shuffle(chunks)
    return chunks


class TrajectoryBatchSampler:
    """The batch sampler of :func:`trajectory_batches`; the trainer sets its epoch."""

    def __init__(self, trajectory_ids: Sequence[str], batch_size: int, seed: int):
        self.trajectory_ids, self.batch_size, self.seed = list(trajectory_ids), batch_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        return iter(trajectory_batches(self.trajectory_ids, self.batch_size, self.seed, self.epoch))

    def __len__(self) -> int:
        return len(trajectory_batches(self.trajectory_ids, self.batch_size, self.seed, 0))


class SharedPrefixSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer, computing each batch's shared prompt prefix once; optionally batching by trajectory."""

    def __init__(self, *args: Any, group_by_trajectory: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.group_by_trajectory = group_by_trajectory
        if group_by_trajectory and "trajectory_id" not in self.train_dataset.column_names:
            raise ValueError("group_by_trajectory needs a trajectory_id column in the training set")

    def get_train_dataloader(self):
        if not self.group_by_trajectory:
            return super().get_train_dataloader()
        from torch.utils.data import DataLoader

        dataset = self.train_dataset
        sampler = TrajectoryBatchSampler(dataset["trajectory_id"], self._train_batch_size, self.args.seed)
        columns = [c for c in dataset.column_names if c in ("input_ids", "labels", "completion_mask", "assistant_masks")]
        loader = DataLoader(dataset.select_columns(columns), batch_sampler=sampler, collate_fn=self.data_collator,
                            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        unwrapped = self.accelerator.unwrap_model(model)
        possible = (self.accelerator.num_processes == 1 and "position_ids" not in inputs and not return_outputs
                    and not unwrapped.is_gradient_checkpointing)
        shared = shared_prefix_length(inputs["input_ids"], inputs["labels"], inputs["attention_mask"]) if possible else 0
        if shared < MIN_SHARED_TOKENS:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss, correct, labelled = shared_prefix_loss(unwrapped, inputs, shared, num_items_in_batch)
        mode = "train" if model.training else "eval"
        self._metrics[mode]["mean_token_accuracy"].append(correct / max(labelled, 1))
        if mode == "train":
            self._total_train_tokens += int(inputs["attention_mask"].sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss


def shared_prefix_loss(model, inputs: dict[str, torch.Tensor], shared: int,
                       num_items_in_batch: torch.Tensor | int | None = None) -> tuple[torch.Tensor, int, int]:
    """(summed next-token loss over labelled positions / token count, top-1 hits, labelled tokens) of a batch
    whose rows share their first `shared` tokens."""
    input_ids, labels, attention_mask = inputs["input_ids"], inputs["labels"], inputs["attention_mask"]
    rows, length = input_ids.shape
    decoder = model.get_decoder()
    prefix = decoder(input_ids=input_ids[:1, :shared], use_cache=True)
    cache = prefix.past_key_values
    for layer in cache.layers:
        layer.keys = layer.keys.expand(rows, -1, -1, -1)
        layer.values = layer.values.expand(rows, -1, -1, -1)
    positions = torch.arange(shared, length, device=input_ids.device).unsqueeze(0).expand(rows, -1)
    hidden = decoder(input_ids=input_ids[:, shared:], attention_mask=attention_mask, past_key_values=cache,
                     position_ids=positions, use_cache=True).last_hidden_state
    targets = labels[:, shared + 1:]
    mask = targets != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][mask]).float()
    per_token = torch.nn.functional.cross_entropy(logits, targets[mask], reduction="sum")
    labelled = int(mask.sum())
    denominator = num_items_in_batch if num_items_in_batch is not None else max(labelled, 1)
    correct = int((logits.argmax(dim=-1) == targets[mask]).sum())
    return per_token / denominator, correct, labelled
