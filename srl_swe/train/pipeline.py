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
from .config_io import build_config

STAGES = ("sft", "srl", "rlvr")


@dataclass
class PipelineConfig:
    """A pipeline run: stage names, shared options and per-stage overrides."""

    stages: list[str] = field(default_factory=lambda: ["sft", "srl"])
    """Stage names in order."""
    output_dir: str = "runs/pipeline"
    """Each stage writes to output_dir/NN-stage."""
    model: str | None = None
    """Starting model (None = the tiny offline model)."""
    data: str | None = None
    """Trajectory source shared by every stage (None = the embedded trajectories)."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Options given to every stage (e.g. context, seed, heldout_fraction)."""
    stage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-stage options, keyed by stage name."""
    eval_limit: int = 32
    """Held-out step instances evaluated after each stage (0 = skip)."""
    tiny_model: dict[str, Any] = field(default_factory=dict)
    """Size of the tiny offline model when `model` is None (hidden_size, num_layers, num_heads, vocab_size);
    its tokenizer is trained on `data`."""
    max_new_tokens: int = 192
    """Generation budget of the held-out evaluation."""


def _stage_config(name: str, config: PipelineConfig, model: str | None, output_dir: Path):
    common = {"model": model, "data": config.data, "output_dir": str(output_dir)}
    options = {**config.shared, **config.stage_options.get(name, {})}
    if name == "sft":
        from .sft import SFTRunConfig

        return SFTRunConfig, build_config(SFTRunConfig, options, common, origin=f"stage {name}")
    if name == "srl":
        from .srl import SRLRunConfig

        return SRLRunConfig, build_config(SRLRunConfig, {"eval_limit": 0}, options, common, origin=f"stage {name}")
    if name == "rlvr":  # trains on the registered environments' tasks, not on trajectories
        from .rlvr import RLVRRunConfig

        common.pop("data")
        return RLVRRunConfig, build_config(RLVRRunConfig, options, common, origin=f"stage {name}")
    raise SRLSweError(f"unknown stage {name!r}; available: {', '.join(STAGES)}")


def _evaluate(model: str, config: PipelineConfig, stage_config: Any) -> dict[str, Any]:
    """Held-out step reward of `model`, with the step options of the stage (or the shared ones)."""
    from ..scaffold import DEFAULT_SCAFFOLD
    from ..steps import StepConfig
    from .evaluate_steps import evaluate_steps

    def option(name: str, default: Any) -> Any:
        return getattr(stage_config, name, config.shared.get(name, default))

    step_config = StepConfig(context=option("context", "last:2"), max_observation_chars=option("max_observation_chars", 4000),
                             scaffold=option("scaffold", DEFAULT_SCAFFOLD))
    return evaluate_steps(model, config.data, heldout_only=True, heldout_fraction=option("heldout_fraction", 0.2),
                          seed=option("seed", 0), step_config=step_config, limit=config.eval_limit or None,
                          max_new_tokens=config.max_new_tokens, progress=False)


def run_pipeline(config: PipelineConfig, console: Console | None = None) -> dict[str, Any]:
    """Run every stage; return {"stages": [...], "final_model": path} and write pipeline.json."""
    from .tiny_model import default_corpus, default_tiny_model

    console = console or Console()
    for name in config.stages:
        if name not in STAGES:
            raise SRLSweError(f"unknown stage {name!r}; available: {', '.join(STAGES)}")
    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    model = config.model or str(default_tiny_model(texts=default_corpus(config.data), **config.tiny_model))
    results: list[dict[str, Any]] = []
    first_config = _stage_config(config.stages[0], config, model, root / "00")[1]
    if config.eval_limit:
        report = _evaluate(model, config, first_config)
        results.append({"stage": "initial", "model": model, **_scores(report)})
        console.print(f"[bold]initial[/bold] held-out step reward {report['mean_reward']:+.3f}")
    for index, name in enumerate(config.stages, 1):
        _, stage_config = _stage_config(name, config, model, root / f"{index:02d}-{name}")
        console.rule(f"stage {index}/{len(config.stages)}: {name}")
        if name == "sft":
            from .sft import train_sft

            model = str(train_sft(stage_config))
        elif name == "srl":
            from .srl import train_srl

            model = str(train_srl(stage_config))
        else:
            from .rlvr import train_rlvr

            model = str(train_rlvr(stage_config))
        entry = {"stage": name, "model": model, "output_dir": stage_config.output_dir}
        if config.eval_limit:
            report = _evaluate(model, config, stage_config)
            entry.update(_scores(report))
            console.print(f"[bold]after {name}[/bold] held-out step reward {report['mean_reward']:+.3f}")
        results.append(entry)
    summary = {"stages": results, "final_model": model}
    (root / "pipeline.json").write_text(json.dumps(summary, indent=2) + "\n")
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
