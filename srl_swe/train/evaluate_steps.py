"""Step-level evaluation: greedy actions on held-out SRL steps, scored like the SRL reward.

For each step instance the model sees the step prompt (chat template with the generation
prompt) and writes greedily; the output is scored with :func:`srl_swe.rewards.srl_reward`
against the expert's action and parsed with :func:`srl_swe.actions.parse_action`. Held-out
steps come from :func:`srl_swe.train.data.split_by_trajectory` with the same seed and
fraction that training used, so they are steps of trajectories the model never trained on.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ..actions import parse_action
from ..errors import FormatError
from ..rewards import DEFAULT_METRIC, srl_reward
from ..scaffold import load_scaffold
from ..steps import StepConfig
from ..trajectory.model import Trajectory


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    if not n:
        return {"count": 0, "mean_reward": None, "mean_similarity": None, "format_rate": None, "tool_match_rate": None}
    return {
        "count": n,
        "mean_reward": sum(r["reward"] for r in records) / n,
        "mean_similarity": sum(max(r["reward"], 0.0) for r in records) / n,
        "format_rate": sum(r["format_ok"] for r in records) / n,
        "tool_match_rate": sum(r["tool_match"] for r in records) / n,
    }


def _device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return "cpu", torch.float32


def evaluate_steps(
    model_path: str | Path,
    data: str | Path | Sequence[Trajectory] | None,
    *,
    heldout_only: bool = True,
    heldout_fraction: float = 0.2,
    seed: int = 0,
    max_new_tokens: int = 256,
    metric: str = DEFAULT_METRIC,
    limit: int | None = None,
    batch_size: int = 8,
    step_config: StepConfig | None = None,
    predictions_path: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a model's greedy step actions; return a JSON-able report.

    `data`: a trajectory file, a list of trajectories, or None for the embedded data.
    `heldout_only` evaluates the held-out split (`heldout_fraction`, `seed`: use the values
    training used); otherwise every step. `limit` caps the number of steps (first N, in data
    order). `predictions_path` also writes one JSON line per step (completion, reward, ...).

    The report holds `mean_reward` (the SRL reward: similarity in [0, 1], -1 when
    malformed), `mean_similarity` (malformed counted as 0), `format_rate`,
    `tool_match_rate` (the call parses and names the expert's tool), and the same numbers
    `per_tool` (keyed by the expert's tool).
    """
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .data import load_data, split_by_trajectory, step_rows

    step_config = step_config or StepConfig()
    trajectories = load_data(data)
    if heldout_only:
        _, trajectories = split_by_trajectory(trajectories, heldout_fraction, seed)
    rows = step_rows(trajectories, step_config)
    scaffold = load_scaffold(step_config.scaffold)
    if limit is not None:
        rows = rows[:limit]

    device, dtype = _device_and_dtype()
    tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(device).eval()
    torch.manual_seed(seed)

    records: list[dict[str, Any]] = []
    start = time.time()
    bar = tqdm(total=len(rows), desc="eval steps", disable=not progress)
    for i in range(0, len(rows), batch_size):
        batch = rows[i:i + batch_size]
        texts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in batch]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        completions = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        for row, completion in zip(batch, completions):
            try:
                call = parse_action(completion, scaffold).call
                predicted, error = call.name, None
            except FormatError as exc:
                predicted, error = None, str(exc)
            records.append({
                "trajectory_id": row["trajectory_id"],
                "step_index": row["step_index"],
                "tool_name": row["tool_name"],
                "predicted_tool": predicted,
                "format_ok": error is None,
                "format_error": error,
                "tool_match": predicted == row["tool_name"],
                "reward": srl_reward(completion, row["expert_action"], metric=metric, scaffold=scaffold),
                "completion": completion,
                "expert_action": row["expert_action"],
            })
        bar.update(len(batch))
    bar.close()

    if predictions_path is not None:
        path = Path(predictions_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    by_tool: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_tool[record["tool_name"]].append(record)
    return {
        "model": str(model_path),
        "data": "embedded" if data is None else (str(data) if isinstance(data, (str, Path)) else "in-memory"),
        "split": "heldout" if heldout_only else "all",
        "heldout_fraction": heldout_fraction if heldout_only else None,
        "seed": seed,
        "trajectories": sorted({r["trajectory_id"] for r in rows}),
        "metric": metric,
        "max_new_tokens": max_new_tokens,
        "context": step_config.context,
        **_summary(records),
        "per_tool": {tool: _summary(recs) for tool, recs in sorted(by_tool.items())},
        "elapsed_s": round(time.time() - start, 3),
        "device": device,
    }


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a header line, the overall numbers and a per-tool table."""
    columns = ["count", "mean_reward", "mean_similarity", "format_rate", "tool_match_rate"]
    lines = [
        f"## Step evaluation: `{report['model']}`",
        "",
        f"data: {report['data']} ({report['split']} split, seed {report['seed']}), metric: {report['metric']}, "
        f"context: {report['context']}, max_new_tokens: {report['max_new_tokens']}",
        "",
        "| tool | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for tool, stats in report["per_tool"].items():
        lines.append(f"| {tool} | " + " | ".join(_fmt(stats[c]) for c in columns) + " |")
    lines.append("| **all** | " + " | ".join(f"**{_fmt(report[c])}**" for c in columns) + " |")
    return "\n".join(lines) + "\n"
