"""Decoding speed of step evaluation: how the steps are batched, side by side in one run.

One model (default: the demo's SFT stage, `runs/demo/01-sft/final`; train it with `make demo`)
greedily answers the same steps (default: the validation split, the demo's prompt settings)
three ways, and the script prints wall time, the ratio to the first, how many completions
are identical to the first way's, and the decode steps the batches ran (sum over batches of
the longest completion):
  by-prompt     batched `generate`, batches of similar prompt length: what `eval steps` does
  by-expected   batched `generate`, batches of similar expected completion length (the expert's),
                then prompt length (srl_swe.train.evaluate_steps.batch_order with the expert's lengths)
  continuous    transformers' continuous batching (`generate_batch`, its default paged cache)
Run on a quiet machine: `.venv/bin/python benchmarks/bench_decode.py [--model M] [--split S] [--limit N]`.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from srl_swe.models import resolve_model
from srl_swe.scaffold import load_scaffold
from srl_swe.steps import StepConfig
from srl_swe.train.config_io import load_yaml
from srl_swe.train.data import load_data, select_split, step_rows
from srl_swe.train.evaluate_steps import _generate, batch_order
from srl_swe.train.generation import neutral_generation


def decode_steps(order: list[int], lengths: list[int], batch_size: int) -> int:
    return sum(max(lengths[j] for j in order[i:i + batch_size]) for i in range(0, len(order), batch_size))


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
    path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, demo["eval_dtype"])).eval()
    greedy = neutral_generation(tokenizer, demo["max_new_tokens"])
    scaffold = load_scaffold(config.scaffold)
    texts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows]
    expected = [len(ids) for ids in tokenizer([r["expert_completion"] for r in rows], add_special_tokens=False)["input_ids"]]
    prompts = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    print(f"{platform.node()} ({os.cpu_count()} CPUs), torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"model {args.model}, {len(rows)} {args.split} steps, batch {batch_size}, max_new_tokens {demo['max_new_tokens']}, "
          f"{demo['eval_dtype']}", flush=True)

    results = {}
    for name, hint in (("by-prompt", None), ("by-expected", expected)):
        start = time.perf_counter()
        completions = _generate(model, tokenizer, texts, greedy, batch_size, scaffold, None, hint)
        results[name] = (time.perf_counter() - start, completions)
        lengths = [len(ids) for ids in tokenizer(completions, add_special_tokens=False)["input_ids"]]
        print(f"  {name:12s} {results[name][0]:7.1f} s; decode steps run {decode_steps(batch_order(prompts, hint), lengths, batch_size)}"
              f" (the completions' own lengths)", flush=True)
    if not args.skip_continuous:
        start = time.perf_counter()
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        outputs = model.generate_batch(ids, generation_config=greedy, progress_bar=False)
        ordered = [outputs[key] for key in sorted(outputs, key=lambda k: int(k.rsplit("_", 1)[-1]))]
        completions = [tokenizer.decode(o.generated_tokens, skip_special_tokens=True) for o in ordered]
        results["continuous"] = (time.perf_counter() - start, completions)
    base_time, base = results["by-prompt"]
    print("| batching | wall s | ratio to by-prompt | identical to by-prompt |\n|---|---:|---:|---:|")
    for name, (seconds, completions) in results.items():
        same = sum(a == b for a, b in zip(base, completions))
        print(f"| {name} | {seconds:.1f} | {seconds / base_time:.2f}x | {same}/{len(base)} |")


if __name__ == "__main__":
    main()
