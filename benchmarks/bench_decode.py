"""Decoding speed of step evaluation, side by side in one run.

One model (default: the demo's SFT stage, `runs/demo/01-sft/final`; train it with `make demo`)
greedily answers the same steps (default: the validation split, the demo's prompt settings)
in up to three ways, and the script prints wall time, the ratio to the first and how many
completions are identical to the first way's:
  batched       what `eval steps` does: batched `generate` by prompt length, with our CPU decoding
                (srl_swe.generation.fast_decoding: grouped key/value heads attended as they are,
                a KV cache that grows without copying itself)
  transformers  the same batches with transformers' own decoding (its cache and attention as shipped)
  continuous    transformers' continuous batching (`generate_batch`, its default paged cache)
Run on a quiet machine: `.venv/bin/python benchmarks/bench_decode.py [--model M] [--split S] [--limit N]`.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time

import torch

import srl_swe.generation
from srl_swe.generation import neutral_generation
from srl_swe.rollout.policies import GenerationConfig, TransformersPolicy
from srl_swe.scaffold import load_scaffold
from srl_swe.steps import StepConfig
from srl_swe.train.config_io import load_yaml
from srl_swe.train.data import load_data, select_split, step_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/demo/01-sft/final")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--limit", type=int, default=None, help="first N steps only")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the demo's eval_batch_size")
    parser.add_argument("--skip-continuous", action="store_true")
    args = parser.parse_args()
    demo = load_yaml("demo")
    shared = demo["shared"]
    config = StepConfig(context=shared["context"], max_observation_chars=shared["max_observation_chars"],
                        max_problem_chars=shared["max_problem_chars"], scaffold=shared["scaffold"])
    rows = step_rows(select_split(load_data(demo["data"]), args.split, shared["heldout_fraction"], shared["split_seed"],
                                  shared["validation_fraction"]), config)[:args.limit]
    batch_size = args.batch_size or demo["eval_batch_size"]
    policy = TransformersPolicy(args.model, GenerationConfig(max_new_tokens=demo["max_new_tokens"]), dtype=demo["eval_dtype"],
                                batch_size=batch_size, stop_malformed=load_scaffold(config.scaffold))
    conversations = [r["prompt"] for r in rows]
    print(f"{platform.node()} ({os.cpu_count()} CPUs), torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"model {args.model}, {len(rows)} {args.split} steps, batch {batch_size}, max_new_tokens {demo['max_new_tokens']}, "
          f"{demo['eval_dtype']}", flush=True)

    start = time.perf_counter()
    batched = policy.generate(conversations)
    results = {"batched": (time.perf_counter() - start, batched)}
    ours = srl_swe.generation.fast_decoding
    srl_swe.generation.fast_decoding = lambda model: contextlib.nullcontext({})  # transformers as shipped
    try:
        start = time.perf_counter()
        completions = policy.generate(conversations)
        results["transformers"] = (time.perf_counter() - start, completions)
    finally:
        srl_swe.generation.fast_decoding = ours
    if not args.skip_continuous:
        tokenizer = policy.tokenizer
        start = time.perf_counter()
        ids = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=False) for c in conversations]
        outputs = policy.model.generate_batch(ids, generation_config=neutral_generation(tokenizer, demo["max_new_tokens"]),
                                              progress_bar=False)
        ordered = [outputs[key] for key in sorted(outputs, key=lambda k: int(k.rsplit("_", 1)[-1]))]
        results["continuous"] = (time.perf_counter() - start, [tokenizer.decode(o.generated_tokens, skip_special_tokens=True)
                                                               for o in ordered])
    base_time, base = results["batched"]
    print("| generation | wall s | time ratio to batched | identical to batched |\n|---|---:|---:|---:|")
    for name, (seconds, completions) in results.items():
        same = sum(a == b for a, b in zip(base, completions))
        print(f"| {name} | {seconds:.1f} | {seconds / base_time:.2f}x | {same}/{len(base)} |")


if __name__ == "__main__":
    main()
