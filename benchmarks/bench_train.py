"""Training throughput: our SRL trainer (dynamic sampling) vs plain TRL GRPO, same model and data.

Three measurements in one run, on the default model (SmolLM2-135M-Instruct) and the embedded
expert steps with the demo's prompts:
1. overhead: a reward with spread in every group (so dynamic sampling never refills), our
   trainer vs `trl.GRPOTrainer`; the ratio is what our additions cost (target < 5 %) or save. Plain TRL
   runs twice: as shipped (its LM head projects every prompt position on the CPU) and with our
   one override of it (`srl_swe.train.lm_head`, which our trainer applies), so the overhead is
   measured like for like and the override's own gain is printed beside it.
2. the real SRL reward, where groups without spread are dropped and refilled: steps/s and the
   generation rounds per step it takes.
3. `--demo`: the wall time of `srl-swe demo` from scratch (the main job, timed end to end).
Run: `.venv/bin/python benchmarks/bench_train.py [--steps N] [--model NAME] [--demo] [--no-real]`.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from trl import GRPOConfig, GRPOTrainer

from transformers import TrainerCallback

from srl_swe.distributed import bf16_is_fast
from srl_swe.models import DEFAULT_MODEL, resolve_model
from srl_swe.rewards import SRLReward
from srl_swe.steps import StepConfig
from srl_swe.train.data import load_data, step_dataset
from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer
from srl_swe.train.lm_head import score_labelled_positions_only

DEMO_PROMPTS = StepConfig(context="last:1", max_observation_chars=300, max_problem_chars=800, scaffold="openhands_compact")


def spread_reward(prompts, completions, **_):
    """A reward with spread in every group: dynamic sampling keeps every group."""
    return [random.random() for _ in completions]


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []

    def on_step_begin(self, *args, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, *args, **kwargs):
        self.times.append(time.perf_counter() - self.start)


def steps_per_second(trainer_cls, reward, steps: int, model: str, **extra) -> tuple[float, dict]:
    torch.manual_seed(0)
    random.seed(0)
    dataset = step_dataset(load_data("srl-swe:default"), DEMO_PROMPTS)
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, max_steps=steps + 1, per_device_train_batch_size=8, num_generations=4,
                          max_completion_length=48, report_to="none", bf16=bf16_is_fast("cpu"), use_cpu=True, save_strategy="no",
                          logging_steps=1, seed=0, beta=0.0, disable_tqdm=True, remove_unused_columns=False)
        trainer = trainer_cls(model=resolve_model(model), reward_funcs=[reward], args=args, train_dataset=dataset, **extra)
        timer = StepTimer()
        times = timer.times
        trainer.add_callback(timer)
        trainer.train()
        measured = times[1:]  # the first step carries one-off warm-up
        logged = [entry for entry in trainer.state.log_history if "dynamic_sampling/rounds" in entry]
        metrics = {k: sum(e[k] for e in logged) / len(logged) for k in ("dynamic_sampling/rounds", "dynamic_sampling/filter_rate")} if logged else {}
        return len(measured) / sum(measured), metrics


def demo_wall_time() -> tuple[float, str]:
    """Seconds of `srl-swe demo` from scratch in a temporary output folder, and the results it printed."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).with_name("srl-swe")), "demo", "--output-dir", out], check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--demo", action="store_true", help="also time `srl-swe demo` from scratch")
    parser.add_argument("--no-real", action="store_true",
                        help="skip the real-reward run (on an untrained model every step makes 1 + 2 refill rounds)")
    options = parser.parse_args()
    steps, model = options.steps, options.model
    shipped, _ = steps_per_second(GRPOTrainer, spread_reward, steps, model)
    score_labelled_positions_only()  # from here on for every trainer of this process, as in `srl-swe train`
    plain, _ = steps_per_second(GRPOTrainer, spread_reward, steps, model)
    ours, _ = steps_per_second(DynamicSamplingGRPOTrainer, spread_reward, steps, model)
    print(f"overhead run (reward with spread in every group, {steps} timed steps each)")
    print(f"  plain TRL GRPOTrainer, as shipped          {shipped:.3f} steps/s")
    print(f"  plain TRL GRPOTrainer, labelled positions  {plain:.3f} steps/s  (LM-head override: x{plain / shipped:.2f})")
    print(f"  srl-swe dynamic sampling                   {ours:.3f} steps/s")
    print(f"  ratio ours/plain (labelled positions)      {ours / plain:.3f}  (overhead {100 * (1 - ours / plain):+.1f} %)")
    if not options.no_real:
        real, metrics = steps_per_second(DynamicSamplingGRPOTrainer, SRLReward(scaffold=DEMO_PROMPTS.scaffold), steps,
                                         model, max_refill_rounds=2)
        print(f"real SRL reward ({model}, untrained: groups without spread are dropped and refilled)")
        print(f"  srl-swe dynamic sampling     {real:.3f} steps/s, generation rounds/step "
              f"{metrics.get('dynamic_sampling/rounds', 1):.2f}, filter rate {metrics.get('dynamic_sampling/filter_rate', 0):.2f}")
    if options.demo:
        seconds, printed = demo_wall_time()
        print(f"srl-swe demo from scratch      {seconds:.0f} s wall; it printed:\n{printed}")
    print(f"model {model}; machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU, "
          f"{'bf16 autocast' if bf16_is_fast('cpu') else 'fp32 (this CPU has no native bf16)'}")


if __name__ == "__main__":
    main()
