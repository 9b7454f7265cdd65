"""Chained training stages (`sft,srl`, `srl,rlvr`, …): each starts from the previous stage's model.

The held-out step reward is measured on the initial model and after every stage.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..errors import SRLSweError
from ..files import write_atomic
from ..models import DEFAULT_MODEL, resolve_model
from .config_io import build_config
from .configs import RLVRRunConfig, SFTRunConfig, SRLRunConfig, StepDataConfig
from ..tiny_model import default_corpus, default_tiny_model

STAGES = ("sft", "srl", "rlvr")


@dataclass
class PipelineConfig:
    """A pipeline run: stage names, shared options and per-stage overrides."""

    stages: list[str] = field(default_factory=lambda: ["sft", "srl"])
    """Stage names in order."""
    output_dir: str = "runs/pipeline"
    """Each stage writes to output_dir/NN-stage."""
    model: str = DEFAULT_MODEL
    """Starting model: a registered name (`srl-swe models list`), Hugging Face id or local path."""
    data: str | None = None
    """Trajectory source shared by every stage (None = the embedded trajectories)."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Options given to every stage (e.g. context, seed, heldout_fraction)."""
    stage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-stage options, keyed by stage name."""
    eval_heldout: bool = True
    """Evaluate the held-out steps on the starting model and after each stage."""
    eval_limit: int | None = None
    """Evaluate at most this many held-out steps (None = every one)."""
    tiny_model: dict[str, Any] = field(default_factory=dict)
    """Size of the tiny offline model when `model` is tiny-random (hidden_size, num_layers, num_heads, vocab_size);
    its tokenizer is trained on `data`."""
    max_new_tokens: int = 192
    """Generation budget of the held-out evaluation."""
    eval_dtype: str = "auto"
    """dtype of the held-out evaluation: auto (bf16 where the hardware computes it natively, else fp32 on a CPU) or a
    torch dtype name such as bfloat16."""
    eval_batch_size: int = 16
    """Held-out steps generated together."""


def _stage_config(name: str, config: PipelineConfig, model: str | None, output_dir: Path, origin: str = "pipeline"):
    common = {"model": model, "data": config.data, "output_dir": str(output_dir)}
    options = {**config.shared, **config.stage_options.get(name, {})}
    where = f"{origin}: stage {name}"
    if name == "sft":
        return SFTRunConfig, build_config(SFTRunConfig, options, common, origin=where)
    if name == "srl":
        return SRLRunConfig, build_config(SRLRunConfig, {"eval_heldout": False}, options, common, origin=where)
    if name == "rlvr":  # trains on the registered environments' tasks, not on trajectories
        common.pop("data")
        return RLVRRunConfig, build_config(RLVRRunConfig, options, common, origin=where)
    raise SRLSweError(f"unknown stage {name!r}; available: {', '.join(STAGES)}")


def check_stages(config: PipelineConfig, origin: str = "pipeline") -> None:
    """Build every stage's config now: a bad option of the last stage fails before the first one trains."""
    for name in config.stages:
        _stage_config(name, config, config.model, Path(config.output_dir) / name, origin)


def _evaluate(model: str, config: PipelineConfig) -> dict[str, Any]:
    """Held-out step reward of `model`, with the pipeline's shared step and split options.

    Every stage is scored on the same held-out steps: the split depends on `split_seed`
    alone, never on a stage's training seed.
    """
    from .evaluate_steps import evaluate_steps  # noqa: PLC0415 - pulls transformers, torch
    shared = build_config(StepDataConfig, {k: v for k, v in config.shared.items() if k in StepDataConfig.__dataclass_fields__},
                          origin="pipeline shared options")
    return evaluate_steps(model, config.data, split="heldout", heldout_fraction=shared.heldout_fraction,
                          split_seed=shared.split_seed, validation_fraction=shared.validation_fraction,
                          step_config=shared.step_config, limit=config.eval_limit, batch_size=config.eval_batch_size,
                          max_new_tokens=config.max_new_tokens, dtype=config.eval_dtype, progress=True)


def run_pipeline(config: PipelineConfig, console: Console | None = None) -> dict[str, Any]:
    """Run every stage; return {"stages": [...], "final_model": path} and write pipeline.json."""
    console = console or Console()
    for name in config.stages:
        if name not in STAGES:
            raise SRLSweError(f"unknown stage {name!r}; available: {', '.join(STAGES)}")
    check_stages(config)
    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    if config.model == "tiny-random":  # its tokenizer is trained on the pipeline's own data
        model = str(default_tiny_model(texts=default_corpus(config.data), **config.tiny_model))
    else:
        model = resolve_model(config.model)
    results: list[dict[str, Any]] = []
    if config.eval_heldout:
        report = _evaluate(model, config)
        results.append({"stage": "initial", "model": model, **_scores(report)})
        console.print(f"[bold]initial[/bold] held-out step reward {report['mean_reward']:+.3f}")
    for index, name in enumerate(config.stages, 1):
        _, stage_config = _stage_config(name, config, model, root / f"{index:02d}-{name}")
        console.rule(f"stage {index}/{len(config.stages)}: {name}")
        if name == "sft":
            from .sft import train_sft  # noqa: PLC0415 - pulls transformers, torch

            model = str(train_sft(stage_config))
        elif name == "srl":
            from .srl import train_srl  # noqa: PLC0415 - pulls transformers, torch

            model = str(train_srl(stage_config))
        else:
            from .rlvr import train_rlvr  # noqa: PLC0415 - pulls transformers, torch

            model = str(train_rlvr(stage_config))
        entry = {"stage": name, "model": model, "output_dir": stage_config.output_dir}
        if config.eval_heldout:
            report = _evaluate(model, config)
            entry.update(_scores(report))
            console.print(f"[bold]after {name}[/bold] held-out step reward {report['mean_reward']:+.3f}")
        results.append(entry)
    summary = {"stages": results, "final_model": model}
    write_atomic(root / "pipeline.json", json.dumps(summary, indent=2) + "\n")
    table = Table(title="held-out step reward before and after each stage")
    for column in ("stage", "mean reward", "format rate", "tool match"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for r in results:
        if "mean_reward" in r:
            table.add_row(r["stage"], f"{r['mean_reward']:+.3f}", f"{r['format_rate']:.2f}", f"{r['tool_match_rate']:.2f}")
    console.print(table)
    console.print(f"final model: {model}")
    return summary


def _scores(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("mean_reward", "format_rate", "tool_match_rate", "count")}
