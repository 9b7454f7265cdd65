"""Training throughput: our SRL trainer (dynamic sampling) vs plain TRL GRPO, same model and data.

Two measurements in one run, on the tiny offline model and the embedded step instances:
1. overhead: a reward with spread in every group (so dynamic sampling never refills), our
   trainer vs `trl.GRPOTrainer`; the ratio is the cost of our additions (target < 10 %).
2. the real SRL reward, where groups without spread are dropped and refilled: steps/s and the
   generation rounds per step it takes.
Run: `.venv/bin/python benchmarks/bench_train.py [--steps N]`.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time

import torch
from trl import GRPOConfig, GRPOTrainer

from srl_swe.rewards import SRLReward
from srl_swe.steps import StepConfig
from srl_swe.train.data import load_data, step_dataset
from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer
from srl_swe.train.tiny_model import default_tiny_model


def spread_reward(prompts, completions, **_):
    """A reward with spread in every group: dynamic sampling keeps every group."""
    return [random.random() for _ in completions]


def steps_per_second(trainer_cls, reward, steps: int, **extra) -> tuple[float, dict]:
    torch.manual_seed(0)
    random.seed(0)
    dataset = step_dataset(load_data(None), StepConfig(max_observation_chars=800))
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, max_steps=steps + 1, per_device_train_batch_size=8, num_generations=4,
                          max_completion_length=48, report_to="none", bf16=False, save_strategy="no", logging_steps=1,
                          seed=0, beta=0.0, disable_tqdm=True, remove_unused_columns=False)
        trainer = trainer_cls(model=str(default_tiny_model()), reward_funcs=[reward], args=args, train_dataset=dataset, **extra)
        times: list[float] = []

        class Timer:
            def on_step_begin(self, *a, **k):
                self.t0 = time.perf_counter()

            def on_step_end(self, *a, **k):
                times.append(time.perf_counter() - self.t0)

        from transformers import TrainerCallback

        trainer.add_callback(type("StepTimer", (TrainerCallback,), {"on_step_begin": Timer.on_step_begin, "on_step_end": Timer.on_step_end})())
        trainer.train()
        measured = times[1:]  # the first step carries one-off warm-up
        logged = [entry for entry in trainer.state.log_history if "dynamic_sampling/rounds" in entry]
        metrics = {k: sum(e[k] for e in logged) / len(logged) for k in ("dynamic_sampling/rounds", "dynamic_sampling/filter_rate")} if logged else {}
        return len(measured) / sum(measured), metrics


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    steps = parser.parse_args().steps
    plain, _ = steps_per_second(GRPOTrainer, spread_reward, steps)
    ours, _ = steps_per_second(DynamicSamplingGRPOTrainer, spread_reward, steps)
    print(f"overhead run (reward with spread in every group, {steps} timed steps each)")
    print(f"  plain TRL GRPOTrainer        {plain:.3f} steps/s")
    print(f"  srl-swe dynamic sampling     {ours:.3f} steps/s")
    print(f"  ratio ours/plain             {ours / plain:.3f}  (overhead {100 * (1 - ours / plain):+.1f} %)")
    real, metrics = steps_per_second(DynamicSamplingGRPOTrainer, SRLReward(), steps, max_refill_rounds=2)
    print("real SRL reward (untrained tiny model: most groups have no spread and are refilled)")
    print(f"  srl-swe dynamic sampling     {real:.3f} steps/s, generation rounds/step {metrics.get('dynamic_sampling/rounds', 1):.2f}, "
          f"filter rate {metrics.get('dynamic_sampling/filter_rate', 0):.2f}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU")


if __name__ == "__main__":
    main()
