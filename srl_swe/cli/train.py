"""`srl-swe train ...` and `srl-swe score steps` subcommands.

`register(sub)` adds both groups to the top-level subparsers of `srl_swe.cli.build_parser`
and returns the `train` group's subparsers so more trainers can be added to it.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import sys
from pathlib import Path

from rich.console import Console

from ..files import write_atomic
from ..models import DEFAULT_MODEL
from ..backend import BACKENDS
from ..rewards import METRICS, STEP_REWARD_KINDS
from ..steps import StepConfig
from ..train import pipeline  # the module, not its names: tests replace pipeline.run_pipeline
from ..train.config_io import build_config, load_yaml, parse_overrides
from ..train.configs import RLVRRunConfig, SFTRunConfig, SRLRunConfig
from ..train.data import SPLITS
from ..train.evaluate_steps import evaluate_steps, to_markdown
from .options import add_env_option, add_instances_option

MODEL_HELP = f"registered model name (`srl-swe models list`), Hugging Face id or local path (default: {DEFAULT_MODEL})"


EVAL_DEFAULTS = {name: p.default for name, p in inspect.signature(evaluate_steps).parameters.items()}
"""`score steps`' defaults are evaluate_steps' own."""


def _stdout_for(args: argparse.Namespace):
    """Where a training run's own printing goes: stderr under --json (stdout then holds the JSON alone)."""
    return contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()


def _report_final(args: argparse.Namespace, final: Path, output_dir: str) -> None:
    metrics = Path(output_dir) / "metrics.jsonl"
    if args.json:
        print(json.dumps({"final_model": str(final), "metrics": str(metrics)}, indent=2))
    else:
        print(f"final model: {final}\nmetrics: {metrics}")


def cmd_train_sft(args: argparse.Namespace) -> None:
    from ..train.sft import train_sft  # noqa: PLC0415 - pulls transformers, torch

    config = SFTRunConfig(
        model=args.model, data=args.data, output_dir=args.output_dir, max_steps=args.max_steps,
        learning_rate=args.lr, batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_length, loss_on=args.loss_on, heldout_fraction=args.heldout_fraction, seed=args.seed,
        validation_fraction=args.validation_fraction, split_seed=args.split_seed, context=args.context,
        max_observation_chars=args.max_observation_chars, max_problem_chars=args.max_problem_chars, scaffold=args.scaffold,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, save_steps=args.save_steps, resume=args.resume,
        overwrite=args.overwrite, gradient_checkpointing=args.gradient_checkpointing,
        group_by_trajectory=args.group_by_trajectory,
    )
    with _stdout_for(args):  # with --json, stdout carries the result alone
        final = train_sft(config)
    _report_final(args, final, args.output_dir)


def cmd_eval_steps(args: argparse.Namespace) -> None:
    out = Path(args.out) if args.out else None
    report = evaluate_steps(
        args.model, args.data, split=args.split, heldout_fraction=args.heldout_fraction, split_seed=args.split_seed,
        validation_fraction=args.validation_fraction, max_new_tokens=args.max_new_tokens, metric=args.metric,
        limit=args.limit, batch_size=args.batch_size, sample_temperature=args.sample_temperature, dtype=args.dtype,
        step_config=StepConfig(context=args.context, max_observation_chars=args.max_observation_chars,
                               max_problem_chars=args.max_problem_chars, scaffold=args.scaffold),
        predictions_path=out / "predictions.jsonl" if out else None, progress=not args.json,
    )
    markdown = to_markdown(report)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
        write_atomic(out / "report.md", markdown)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(markdown)
        if out:
            print(f"wrote {out / 'report.json'}, {out / 'report.md'}, {out / 'predictions.jsonl'}", file=sys.stderr)


def _origin(args: argparse.Namespace) -> str:
    """What a config error names: the file, and --set when overrides were given too."""
    if not args.config:
        return "command line"
    return f"{args.config} with --set" if args.set else args.config


def _run_config(cls, args: argparse.Namespace, flags: dict):
    """`cls` from --config, then the flags and --set; the file is checked alone first, so its errors name it alone."""
    data = load_yaml(args.config)
    build_config(cls, data, origin=args.config or "config")
    return build_config(cls, data, {k: v for k, v in flags.items() if v is not None}, parse_overrides(args.set),
                        origin=_origin(args))


def cmd_train_srl(args: argparse.Namespace) -> None:
    flags = {"model": args.model, "data": args.data, "output_dir": args.output_dir, "max_steps": args.max_steps,
             "metric": args.metric, "lora_r": args.lora_r, "resume": args.resume or None,
             "dynamic_sampling": False if args.no_dynamic_sampling else None, "live": args.live,
             "live_reward": args.live_reward, "backend": args.backend, "ray_address": args.ray_address}
    config = _run_config(SRLRunConfig, args, flags)
    from ..train.srl import train_srl  # noqa: PLC0415 - pulls transformers, torch (after the config is checked)

    with _stdout_for(args):  # with --json, stdout carries the result alone
        final = train_srl(config)
    _report_final(args, final, config.output_dir)


def cmd_train_rlvr(args: argparse.Namespace) -> None:
    flags = {"model": args.model, "envs": (args.env or []) + args.env_names or None, "tasks": args.instances,
             "output_dir": args.output_dir, "max_steps": args.max_steps, "resume": args.resume or None,
             "backend": args.backend, "ray_address": args.ray_address}
    config = _run_config(RLVRRunConfig, args, flags)
    from ..train.rlvr import train_rlvr  # noqa: PLC0415 - pulls transformers, torch (after the config is checked)

    with _stdout_for(args):  # with --json, stdout carries the result alone
        final = train_rlvr(config)
    _report_final(args, final, config.output_dir)


def cmd_train_pipeline(args: argparse.Namespace) -> None:
    data = load_yaml(args.config)
    flags = {"stages": args.stages.split(",") if args.stages else None, "output_dir": args.output_dir,
             "model": args.model, "data": args.data}
    overrides = parse_overrides(args.set)  # stage.key=value, a pipeline field, or key=value shared by every stage
    pipeline_fields = {f.name for f in dataclasses.fields(pipeline.PipelineConfig)}
    own = {k: v for k, v in overrides.items() if k in pipeline_fields}
    from_file = build_config(pipeline.PipelineConfig, data, origin=args.config or "config")  # the file alone first
    stage_options = {stage: dict(options) for stage, options in from_file.stage_options.items()}
    shared = dict(from_file.shared)
    for key, value in overrides.items():
        stage, _, field = key.rpartition(".")
        if stage:
            stage_options.setdefault(stage, {})[field] = value
        elif key not in own:
            shared[field] = value
    config = build_config(pipeline.PipelineConfig, data, {k: v for k, v in flags.items() if v is not None}, own,
                          {"stage_options": stage_options, "shared": shared}, origin=_origin(args))
    pipeline.check_stages(config, origin=_origin(args))
    if args.json:  # the stages' output goes to stderr, the result alone to stdout
        with _stdout_for(args):
            result = pipeline.run_pipeline(config, console=Console(stderr=True))
        print(json.dumps(result, indent=2, default=str))
    else:
        pipeline.run_pipeline(config)


def add_step_options(p: argparse.ArgumentParser) -> None:
    """Options that shape step prompts and the train/held-out split (shared by trainers and evaluation)."""
    p.add_argument("--data", default=None, help="trajectory file or dataset name (default: the embedded trajectories)")
    defaults = StepConfig()
    p.add_argument("--context", default=defaults.context, help="'last:K' (issue + last K expert rounds) or 'full'")
    p.add_argument("--max-observation-chars", type=int, default=defaults.max_observation_chars,
                   help="cut longer observations to head + tail")
    p.add_argument("--max-problem-chars", type=int, default=defaults.max_problem_chars,
                   help="cut longer issue texts to head + tail (0 = no limit)")
    p.add_argument("--scaffold", default=defaults.scaffold, help="agent scaffold under agents/ or a YAML path")
    p.add_argument("--heldout-fraction", type=float, default=0.2, help="trajectories held out for evaluation")
    p.add_argument("--validation-fraction", type=float, default=0.0, help="trajectories kept out of training to choose settings on")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation/held-out split")
    p.add_argument("--seed", type=int, default=0, help="seed of training (data order, sampling, initialisation)")


def add_train_group(subparsers) -> argparse._SubParsersAction:
    """Create the `train` command group; return its subparsers (to add `sft`, `srl`, `rlvr`, ...)."""
    train = subparsers.add_parser("train", help="train a policy (sft, ...)")
    return train.add_subparsers(dest="train_command", required=True)


def add_eval_group(subparsers) -> argparse._SubParsersAction:
    """Create the `score` command group (`eval`, its old name, kept as an alias for one release); return its subparsers.

    Renamed so that it no longer reads like `evaluate`: `score steps` scores a model's step actions
    with the SRL reward; `evaluate` grades SWE-bench predictions with the harness.
    """
    group = subparsers.add_parser("score", aliases=["eval"], help="score a model's step actions with the SRL reward "
                                                                  "(`eval` is the old name of this group)")
    return group.add_subparsers(dest="eval_command", required=True)


def add_sft_parser(train_sub) -> argparse.ArgumentParser:
    sft = train_sub.add_parser("sft", help="supervised fine-tuning on expert step completions (TRL SFTTrainer)")
    sft.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    sft.add_argument("--output-dir", required=True, help="run dir: config.json, metrics.jsonl, checkpoint-N/, final/")
    sft.add_argument("--max-steps", type=int, default=SFTRunConfig.max_steps, help="optimizer updates")
    sft.add_argument("--lr", type=float, default=SFTRunConfig.learning_rate, help="peak learning rate")
    sft.add_argument("--batch-size", type=int, default=SFTRunConfig.batch_size, help="expert steps per device per update")
    sft.add_argument("--group-by-trajectory", action="store_true",
                     help="batches of consecutive steps of one trajectory, their shared prompt prefix computed once")
    sft.add_argument("--grad-accum", type=int, default=SFTRunConfig.gradient_accumulation_steps, help="gradient accumulation steps")
    sft.add_argument("--max-length", type=int, default=SFTRunConfig.max_length, help="token limit; longer examples are dropped")
    sft.add_argument("--loss-on", default=SFTRunConfig.loss_on, choices=["final", "assistant"],
                     help="final: the step's expert completion only; assistant: every assistant message")
    sft.add_argument("--lora-r", type=int, default=SFTRunConfig.lora_r, help="LoRA rank (0 = full fine-tuning)")
    sft.add_argument("--lora-alpha", type=int, default=SFTRunConfig.lora_alpha, help="LoRA scaling (with --lora-r)")
    sft.add_argument("--save-steps", type=int, default=SFTRunConfig.save_steps, help="save a checkpoint every N updates")
    sft.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    sft.add_argument("--overwrite", action="store_true", help="start over in an --output-dir that has checkpoints")
    sft.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations in the backward pass (less memory, ~30 %% more time)")
    add_step_options(sft)
    sft.add_argument("--json", action="store_true", help="print the result (final model, metrics; a pipeline's stages) as JSON")
    sft.set_defaults(func=cmd_train_sft)
    return sft


def add_eval_steps_parser(eval_sub) -> argparse.ArgumentParser:
    steps = eval_sub.add_parser("steps", help="greedy step actions on held-out steps, scored by the SRL reward")
    steps.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    steps.add_argument("--out", default=None, help="write report.json, report.md and predictions.jsonl here")
    steps.add_argument("--json", action="store_true", help="print the report as JSON")
    steps.add_argument("--split", default=EVAL_DEFAULTS["split"], choices=SPLITS, help="which trajectories' steps to evaluate")
    steps.add_argument("--sample-temperature", type=float, default=EVAL_DEFAULTS["sample_temperature"],
                       help="also score one pure sample per step at this temperature (the training distribution)")
    steps.add_argument("--limit", type=int, default=EVAL_DEFAULTS["limit"], help="evaluate at most N steps")
    steps.add_argument("--max-new-tokens", type=int, default=EVAL_DEFAULTS["max_new_tokens"], help="generation budget per step (an action cut by it scores -1)")
    steps.add_argument("--batch-size", type=int, default=EVAL_DEFAULTS["batch_size"], help="steps decoded together")
    steps.add_argument("--dtype", default=EVAL_DEFAULTS["dtype"],
                       help="auto (bf16 where the hardware computes it natively: a GPU, or a CPU with AVX512-BF16 or AMX; "
                            "fp32 on other CPUs, where bf16 is emulated and many times slower) or a torch dtype")
    steps.add_argument("--metric", default=EVAL_DEFAULTS["metric"], choices=METRICS, help="similarity metric of the reward")
    add_step_options(steps)
    steps.set_defaults(func=cmd_eval_steps)
    return steps


def add_sandbox_backend_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--backend`` and ``--ray-address`` of a training stage (config fields ``backend``, ``ray_address``)."""
    parser.add_argument("--backend", default=None, choices=BACKENDS,
                        help=f"{what}: local (this machine's engine) or ray (tasks or actors on a cluster's nodes; "
                             "default: the config's, local)")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                        help="with --backend ray: a running cluster to join (default: start a Ray runtime for the run)")


def add_srl_parser(train_sub) -> argparse.ArgumentParser:
    srl = train_sub.add_parser("srl", help="Supervised RL: GRPO with dynamic sampling on expert step instances")
    srl.add_argument("--config", default=None, help="YAML file of SRLRunConfig fields, or a shipped config's name (e.g. paper_7b)")
    srl.add_argument("--model", default=None, help=MODEL_HELP)
    srl.add_argument("--data", default=None, help="trajectory file or dataset name (default: the embedded trajectories)")
    srl.add_argument("--output-dir", default=None, help="run dir: config.json, metrics.jsonl, plots, checkpoint-N/, final/")
    srl.add_argument("--max-steps", type=int, default=None, help="optimizer updates (default: the config's)")
    srl.add_argument("--metric", default=None, choices=METRICS, help="similarity metric of the reward (default: the config's)")
    srl.add_argument("--lora-r", type=int, default=None, help="LoRA rank (0 = full fine-tuning)")
    srl.add_argument("--no-dynamic-sampling", action="store_true", help="plain GRPO batches (keep zero-spread groups)")
    srl.add_argument("--live", action="store_true", default=None,
                     help="live SRL: run each completion in a branch of the expert prefix's snapshot (Docker) and reward "
                          "what it does (recordings of registered tasks only)")
    srl.add_argument("--live-reward", default=None, choices=STEP_REWARD_KINDS,
                     help="with --live: the trained step reward (default: the config's, combined)")
    add_sandbox_backend_options(srl, "with --live: where each group's prefix and branches run")
    srl.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    srl.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override any SRLRunConfig field, e.g. --set learning_rate=1e-6")
    srl.add_argument("--json", action="store_true", help="print the result (final model, metrics; a pipeline's stages) as JSON")
    srl.set_defaults(func=cmd_train_srl)
    return srl


def add_rlvr_parser(train_sub) -> argparse.ArgumentParser:
    rlvr = train_sub.add_parser("rlvr", help="GRPO over live episodes in Docker sandboxes, reward = the task's tests resolve")
    rlvr.add_argument("env_names", nargs="*", metavar="ENV", help="the same as --env (its older spelling)")
    add_env_option(rlvr, "registered environments whose tasks to train on (default: all)")
    add_instances_option(rlvr, "a SWE-bench rows file instead of the registered environments")
    rlvr.add_argument("--config", default=None, help="YAML file of RLVRRunConfig fields")
    rlvr.add_argument("--model", default=None, help=MODEL_HELP)
    rlvr.add_argument("--output-dir", default=None, help="run dir: config.json, metrics.jsonl, checkpoint-N/, final/")
    rlvr.add_argument("--max-steps", type=int, default=None, help="optimizer updates (default: the config's)")
    rlvr.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    add_sandbox_backend_options(rlvr, "where each episode's sandbox and grading run")
    rlvr.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override any RLVRRunConfig field, e.g. --set max_turns=20")
    rlvr.add_argument("--json", action="store_true", help="print the result (final model, metrics; a pipeline's stages) as JSON")
    rlvr.set_defaults(func=cmd_train_rlvr)
    return rlvr


def add_pipeline_parser(train_sub) -> argparse.ArgumentParser:
    pipe = train_sub.add_parser("pipeline", help="chain stages, each from the previous stage's model (e.g. sft,srl)")
    pipe.add_argument("stages", nargs="?", default=None, help="comma-separated stages, e.g. sft,srl")
    pipe.add_argument("--config", default=None, help="YAML file of PipelineConfig fields, or a shipped config's name (e.g. demo)")
    pipe.add_argument("--model", default=None, help=MODEL_HELP)
    pipe.add_argument("--data", default=None, help="trajectory file or dataset name (default: the config's, else the embedded trajectories)")
    pipe.add_argument("--output-dir", default=None, help="run dir: one sub-folder per stage and pipeline.json")
    pipe.add_argument("--set", nargs="*", metavar="[STAGE.]KEY=VALUE", help="STAGE.KEY sets one stage's field; a pipeline field (eval_heldout, model, ...) sets that; any other KEY is shared by every stage. E.g. --set sft.max_steps=50 seed=1 eval_heldout=false")
    pipe.add_argument("--json", action="store_true", help="print the result (final model, metrics; a pipeline's stages) as JSON")
    pipe.set_defaults(func=cmd_train_pipeline)
    return pipe


def register(subparsers) -> argparse._SubParsersAction:
    """Add `train sft|srl|pipeline` and `score steps` to the top-level subparsers; return the `train` group's subparsers."""
    train_sub = add_train_group(subparsers)
    add_sft_parser(train_sub)
    add_srl_parser(train_sub)
    add_rlvr_parser(train_sub)
    add_pipeline_parser(train_sub)
    add_eval_steps_parser(add_eval_group(subparsers))
    return train_sub


def cmd_demo(args: argparse.Namespace) -> None:
    args.stages, args.data = None, None  # the stages and data come from the demo config
    cmd_train_pipeline(args)


def register_demo(sub: argparse._SubParsersAction) -> None:
    """Add `demo` (the shipped `demo` pipeline) to the top-level subparsers."""
    demo = sub.add_parser("demo", help="the main job on the embedded data: the default model, SFT warm-up, then SRL (shipped config 'demo')")
    demo.add_argument("--config", default="demo", help="a shipped config name (srl_swe/resources/configs) or a YAML path")
    demo.add_argument("--model", default=None, help="a registered model name, Hugging Face id or local path instead of the config's model")
    demo.add_argument("--output-dir", default=None, help="run dir instead of the config's (runs/demo)")
    demo.add_argument("--set", nargs="*", metavar="[STAGE.]KEY=VALUE", help="override the demo config, as `train pipeline --set`, e.g. sft.max_steps=20")
    demo.add_argument("--json", action="store_true", help="print the result (final model, metrics; a pipeline's stages) as JSON")
    demo.set_defaults(func=cmd_demo)
