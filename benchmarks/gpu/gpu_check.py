"""GPU check of SRL training (run on an H100/H200 with torch + transformers; trl etc. carried as wheels).

The default model (SmolLM2-135M-Instruct, prepared from its carried GGUF; `--shape qwen05b`
for the random Qwen2.5-0.5B-shaped model of the first check), the embedded expert steps, the
SRL reward, 32 completions per micro-batch (4 prompts x 8 rollouts) of up to 512 tokens. Runs on the
same model and generation batch:
  plain-trl       trl.GRPOTrainer with its defaults (transformers `generate`)
  ours            srl-swe trainer (dynamic sampling), plain `generate`
  ours-nods       the same with dynamic sampling off
  ours-gen128     one generation batch of 128 (16 prompts x 8) per optimizer step, trained in 4
                  micro-batches of 32 (steps_per_generation = gradient_accumulation_steps = 4,
                  so every update is still on-policy)
  ours-static     static KV cache + torch.compile of the decode step (TRL 1.16 hard-codes
                  disable_compile=True; we lift it after construction)
  ours-paged      TRL's continuous batching with its defaults (measured 3.5x slower than `generate`
                  on 2026-11-27)
  ours-cb-graphs  the same with CUDA graphs forced on for both paths and transformers' default
                  compile configs (`default_compile_level=1`)
(`--runs` picks a subset; `--smoke` is a CPU dry run with the tiny model.)
Prints step time, generated tokens/s and peak GPU memory for each, and the ratios to plain TRL.
Usage (see benchmarks/gpu/run_on_device.sh): python benchmarks/gpu/gpu_check.py --steps 24
"""
from __future__ import annotations

import argparse
import json
import signal
import tempfile
import time

import torch
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from srl_swe.models import resolve_model
from srl_swe.rewards import SRLReward
from srl_swe.steps import StepConfig
from srl_swe.train.data import load_data, step_dataset
from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer
from srl_swe.tiny_model import default_tiny_model


def qwen05b_shaped(path: str) -> str:
    """A random model with Qwen2.5-0.5B's shape (our offline tokenizer; vocab padded to Qwen's 151,936)."""
    tokenizer = AutoTokenizer.from_pretrained(default_tiny_model())
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


class Probe(TrainerCallback):
    def __init__(self):
        self.times, self.logs = [], []

    def on_step_begin(self, args, state, control, **kw):
        _sync()
        self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        _sync()
        self.times.append(time.perf_counter() - self.t0)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "completions/mean_length" in logs:  # TRL clears its metrics at each log: keep them here
            self.logs.append(logs)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


RUNS = {
    "plain-trl": {},
    "ours": {},
    "ours-nods": {"dynamic_sampling": False},
    "ours-gen128": {"steps_per_generation": 4, "gradient_accumulation_steps": 4},
    "ours-static": {"cache_implementation": "static", "compile": True},
    "ours-paged": {"use_transformers_continuous_batching": True},
    "ours-cb-graphs": {"use_transformers_continuous_batching": True,
                       "transformers_continuous_batching_config": {"use_cuda_graph": True, "default_compile_level": 1}},
}


def run(name: str, model: str, steps: int, dataset, completion_tokens: int = 512, warmup: int = 2,
        dynamic_sampling: bool = True, **kw) -> dict:
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    ours = name.startswith("ours")
    dynamic_sampling, compile_decode = kw.pop("dynamic_sampling", dynamic_sampling), kw.pop("compile", False)
    with tempfile.TemporaryDirectory() as out:
        options = dict(output_dir=out, max_steps=steps, per_device_train_batch_size=32, num_generations=8,
                       max_completion_length=completion_tokens, bf16=cuda, report_to="none", save_strategy="no", logging_steps=1,
                       beta=0.0, temperature=1.0, top_k=0, top_p=1.0, learning_rate=1e-6, disable_tqdm=True,
                       remove_unused_columns=False, use_cpu=not cuda, seed=0, loss_type="grpo")
        args = GRPOConfig(**{**options, **kw})
        cls = DynamicSamplingGRPOTrainer if ours else GRPOTrainer
        extra = {"dynamic_sampling": dynamic_sampling, "max_refill_rounds": 2} if ours else {}
        trainer = cls(model=model, reward_funcs=[SRLReward()], args=args, train_dataset=dataset, **extra)
        if compile_decode:
            trainer.generation_config.disable_compile = False
        probe = Probe()
        trainer.add_callback(probe)
        trainer.train()
    times = probe.times[warmup:] or probe.times  # warm-up steps excluded
    logs = probe.logs[warmup:] or probe.logs
    rounds = sum(float(log.get("dynamic_sampling/rounds", 1)) for log in logs) / len(logs)
    mean_len = sum(float(log["completions/mean_length"]) for log in logs) / len(logs)
    step_time = sum(times) / len(times)
    # one optimizer step trains gradient_accumulation_steps micro-batches, all generated for it
    generated = args.per_device_train_batch_size * args.gradient_accumulation_steps * mean_len * rounds
    return {"run": name, "steps": steps, "measured_steps": len(times), "first_step_s": round(probe.times[0], 1),
            "step_time_s": round(step_time, 3), "generated_tokens_per_s": round(generated / step_time, 1),
            "generation_rounds_per_step": round(rounds, 2), "mean_completion_tokens": round(mean_len, 1),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}


class RunTimeout(Exception):
    pass


def _timed_out(signum, frame):
    raise RunTimeout("stopped at --run-timeout")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated subset of {', '.join(RUNS)}")
    parser.add_argument("--shape", default="smollm2", choices=["smollm2", "qwen05b"], help="the model the runs train")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the figures")
    parser.add_argument("--completion-tokens", type=int, default=512)
    parser.add_argument("--no-dynamic-sampling", action="store_true",
                        help="every run of ours without it (a random model's groups are all flat: each step would refill and skip)")
    parser.add_argument("--run-timeout", type=int, default=0, help="seconds one run may take before it is stopped (0: none)")
    parser.add_argument("--smoke", action="store_true", help="CPU dry run: the tiny model, 32-token completions")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _timed_out)
    print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", torch.__version__, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            model = str(default_tiny_model())
        else:
            model = resolve_model("smollm2-135m") if args.shape == "smollm2" else qwen05b_shaped(tmp + "/model")
        dataset = step_dataset(load_data("srl-swe:default"), StepConfig())
        tokens = 32 if args.smoke else args.completion_tokens
        results = []
        for name in args.runs.split(","):
            kw = dict(RUNS[name])
            signal.alarm(args.run_timeout)  # 0: no limit
            try:  # one failing or overlong configuration must not lose the others' figures
                results.append(run(name, model, args.steps, dataset, completion_tokens=tokens, warmup=args.warmup,
                                   dynamic_sampling=not args.no_dynamic_sampling, **kw))
            except Exception as exc:  # noqa: BLE001 - report and go on
                results.append({"run": name, "error": f"{type(exc).__name__}: {exc}"})
            finally:
                signal.alarm(0)
            print(json.dumps(results[-1]), flush=True)
    base = results[0].get("generated_tokens_per_s")
    for r in results[1:]:
        if base and r.get("generated_tokens_per_s"):
            print(f"{r['run']}: generated tokens/s {r['generated_tokens_per_s'] / base:.2f}x plain TRL")


if __name__ == "__main__":
    main()
