"""One rank of a 2-process dynamic-sampling run (started by torchrun from test_train_distributed.py).

Rank 0's groups always have reward spread; rank 1's never do, so rank 1 alone would keep
refilling: the ranks must still leave the refill loop at the same round (decided from the
gathered rewards), or TRL's collective calls deadlock. Each rank writes what it saw to
OUT/rank{N}.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from trl import GRPOConfig

from srl_swe.models import resolve_model
from srl_swe.steps import StepConfig
from srl_swe.distributed import distributed_state
from srl_swe.train.data import load_data, step_dataset
from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer


def rank_dependent_reward(prompts, completions, **_):
    if distributed_state().process_index == 0:
        return [float(torch.rand(1)) for _ in completions]
    return [0.25 for _ in completions]


class RecordingTrainer(DynamicSamplingGRPOTrainer):
    """Keeps each step's round count and unfilled rows (TRL clears its metrics at every log)."""

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        if self.model.training:
            metrics = self._metrics["train"]
            self.steps_seen.append({"rounds": metrics["dynamic_sampling/rounds"][-1],
                                    "unfilled": metrics["dynamic_sampling/unfilled_rows"][-1]})
        return batch


def main(out: Path) -> None:
    state = distributed_state()
    dataset = step_dataset(load_data(None)[:4], StepConfig(context="last:0", max_observation_chars=200))
    args = GRPOConfig(output_dir=str(out / "run"), per_device_train_batch_size=4, num_generations=2, max_completion_length=4,
                      max_steps=2, save_steps=1, report_to="none", bf16=False, remove_unused_columns=False, seed=0,
                      disable_tqdm=True, use_cpu=True)
    trainer = RecordingTrainer(model=resolve_model("tiny-random"), reward_funcs=[rank_dependent_reward], args=args,
                                         train_dataset=dataset, max_refill_rounds=3)
    trainer.steps_seen = []
    drawn: list[int] = []
    draw = trainer.refill_sampler.draw
    trainer.refill_sampler.draw = lambda count: drawn.extend(draw(count)) or drawn[-count:]
    trainer.train()
    (out / f"rank{state.process_index}.json").write_text(json.dumps({
        "world": state.num_processes, "steps": trainer.steps_seen, "drawn": drawn, "global_step": trainer.state.global_step,
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
