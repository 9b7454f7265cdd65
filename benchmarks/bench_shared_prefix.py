"""Our training forwards against TRL's, side by side, on the default model and the demo's data.

Two measurements in one run (every path gives the same loss and gradients, as tests/test_precision.py
and tests/test_shared_prefix.py check):
1. SFT: seconds per optimizer step of the demo's SFT (batch 2, lr 1e-4): TRL as shipped (its LM head
   projects every position on the CPU); with our LM-head override (`lm_head.py`), which is what
   `srl-swe train sft` runs on random steps; with the shared prompt prefix forced on as well
   (`shared_prefix.py`: random steps share only the system prompt, below MIN_SHARED_FRACTION); and
   with `group_by_trajectory` (two consecutive steps of one trajectory, whose system prompt and
   issue are computed once).
2. GRPO: seconds of the log-probability forward + backward of one group of rollouts (1 prompt x 4,
   as the demo's SRL step), TRL's path against the one that runs the prompt once.
Run: `.venv/bin/python benchmarks/bench_shared_prefix.py [--steps N] [--model NAME]`.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import torch
import trl.trainer.utils as trl_utils
from trl import GRPOConfig, GRPOTrainer

from bench_train import StepTimer  # this folder is on sys.path when a benchmark runs as a script
from srl_swe.distributed import bf16_is_fast
from srl_swe.models import DEFAULT_MODEL, resolve_model
from srl_swe.train.configs import SFTRunConfig
from srl_swe.train.data import load_data, step_dataset
from srl_swe.train import shared_prefix
from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer
from srl_swe.train.sft import build_sft_trainer
from srl_swe.steps import StepConfig

SHIPPED_HEAD = trl_utils._use_triton
"""TRL's own choice of which positions its LM head scores (read before any trainer applies our override)."""
DEMO_PROMPTS = dict(context="last:1", max_observation_chars=300, max_problem_chars=800, scaffold="openhands_compact",
                    heldout_fraction=0.2, validation_fraction=0.1)


def sft_seconds_per_step(model: str, steps: int, grouped: bool = False, labelled_only: bool = True,
                         share: bool = True) -> float:
    applied, min_fraction = trl_utils._use_triton, shared_prefix.MIN_SHARED_FRACTION
    shared_prefix.MIN_SHARED_FRACTION = 0.0 if share else 2.0  # always share what is shared, or never
    with tempfile.TemporaryDirectory() as out:
        config = SFTRunConfig(model=model, output_dir=out, max_steps=steps + 1, learning_rate=1e-4, batch_size=2,
                              save_steps=10_000, max_length=1536, group_by_trajectory=grouped, **DEMO_PROMPTS)
        trainer, _ = build_sft_trainer(config)  # applies the LM-head override
        if not labelled_only:
            trl_utils._use_triton = SHIPPED_HEAD
        timer = StepTimer()
        trainer.add_callback(timer)
        try:
            trainer.train()
        finally:
            trl_utils._use_triton, shared_prefix.MIN_SHARED_FRACTION = applied, min_fraction
    return statistics.mean(timer.times[1:])  # the first step carries one-off warm-up


def grpo_seconds(model: str, repeats: int) -> tuple[float, float, float]:
    """(TRL's path, shared prompt, largest log-prob difference) for the forward + backward of one group of 4."""
    dataset = step_dataset(load_data("srl-swe:default"), StepConfig(**{k: DEMO_PROMPTS[k] for k in
                                                                       ("context", "max_observation_chars",
                                                                        "max_problem_chars", "scaffold")}))
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, per_device_train_batch_size=4, num_generations=4, max_steps=1, report_to="none",
                          bf16=bf16_is_fast("cpu"), use_cpu=True, remove_unused_columns=False, seed=0)
        trainer = DynamicSamplingGRPOTrainer(model=model, reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
                                             args=args, train_dataset=dataset)
    tokenizer = trainer.processing_class
    prompt = tokenizer.apply_chat_template(dataset[3]["prompt"], add_generation_prompt=True, tokenize=True,
                                           return_dict=True)["input_ids"]
    completion = tokenizer(dataset[3]["expert_completion"], add_special_tokens=False)["input_ids"]
    lengths = (len(completion), len(completion) * 3 // 4, len(completion) // 2, len(completion) // 4)
    rows = [prompt + completion[:n] + [tokenizer.pad_token_id] * (len(completion) - n) for n in lengths]
    masks = [[1] * (len(prompt) + n) + [0] * (len(completion) - n) for n in lengths]
    input_ids, attention_mask = torch.tensor(rows), torch.tensor(masks)
    trainer.model.train()
    timings, logps = {}, {}
    for name, method in (("trl", GRPOTrainer._get_per_token_logps_and_entropies),
                         ("shared", type(trainer)._get_per_token_logps_and_entropies)):
        seconds = []
        for _ in range(repeats + 1):
            trainer.model.zero_grad()
            start = time.perf_counter()
            out, _, _ = method(trainer, trainer.model, input_ids, attention_mask, len(completion), compute_entropy=True)
            out.sum().backward()
            seconds.append(time.perf_counter() - start)
        timings[name], logps[name] = statistics.mean(seconds[1:]), out.detach()
    return timings["trl"], timings["shared"], float((logps["trl"] - logps["shared"]).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4, help="timed SFT steps per setting (after one warm-up step)")
    parser.add_argument("--repeats", type=int, default=3, help="timed GRPO forward + backward passes per path")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    options = parser.parse_args()
    model = resolve_model(options.model)
    shipped = sft_seconds_per_step(model, options.steps, labelled_only=False, share=False)
    labelled = sft_seconds_per_step(model, options.steps, share=False)
    shared = sft_seconds_per_step(model, options.steps)
    grouped = sft_seconds_per_step(model, options.steps, grouped=True)
    print(f"SFT, demo settings (batch 2), {options.steps} timed steps each")
    print(f"  TRL as shipped (every position scored)   {shipped:6.2f} s/step")
    print(f"  labelled positions only (default)        {labelled:6.2f} s/step   (x{shipped / labelled:.2f})")
    print(f"  + shared prefix forced, random steps     {shared:6.2f} s/step   (x{shipped / shared:.2f})")
    print(f"  + one trajectory's steps a batch         {grouped:6.2f} s/step   (x{shipped / grouped:.2f})")
    trl, shared, difference = grpo_seconds(model, options.repeats)
    print("GRPO log-probabilities, forward + backward of one group (1 prompt x 4 rollouts)")
    print(f"  TRL's forward                            {trl:6.2f} s")
    print(f"  prompt computed once                     {shared:6.2f} s        (x{trl / shared:.2f}; "
          f"largest log-prob difference {difference:.1e})")
    print(f"model {options.model}; machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{'bf16' if bf16_is_fast('cpu') else 'fp32'}")


if __name__ == "__main__":
    main()
