"""Step-level evaluation: greedy actions on held-out SRL steps, scored like the SRL reward.

For each step instance the model sees the step prompt (chat template with the generation
prompt) and writes greedily; the output is parsed and scored against the expert's action with
:func:`srl_swe.rewards.score_action`, as the SRL reward and the replay env score it. Held-out
steps come from :func:`srl_swe.train.data.select_split` with the same split seed and
fraction that training used, so they are steps of trajectories the model never trained on.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from ..models import resolve_model
from ..rewards import DEFAULT_METRIC, score_action
from ..scaffold import load_scaffold
from ..steps import StepConfig
from ..trajectory.model import Trajectory
from .data import load_data, select_split, step_rows
from .generation import StopWhenMalformed, neutral_generation


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


def _device_and_dtype(dtype: str = "auto"):
    """(device, torch dtype): `auto` is bf16 (or fp16) on a GPU and fp32 on the CPU."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype != "auto":
        return device, getattr(torch, dtype)
    if device == "cuda":
        return device, (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return device, torch.float32


def batch_order(prompt_lengths: Sequence[int], expected_lengths: Sequence[int] | None = None) -> list[int]:
    """The order in which steps are batched: by prompt length (less padding), or first by an
    expected completion length when one is given (benchmarks/bench_decode.py compares the two).

    Batching by the expert's completion length was measured no faster (88.1 s against 85.2 s on
    the 42 validation steps with the demo's SFT model) and, through bf16 padding, changed 10 of 42
    greedy completions, so `score steps` batches by prompt length. Records keep data order.
    """
    expected = expected_lengths or [0] * len(prompt_lengths)
    return sorted(range(len(prompt_lengths)), key=lambda i: (expected[i], prompt_lengths[i]))


def _generate(model, tokenizer, texts: list[str], generation, batch_size: int, scaffold, progress: str | None,
              expected_lengths: Sequence[int] | None = None) -> list[str]:
    """Completions of `texts` in data order, generated in batches of similar length (see `batch_order`)."""
    import torch
    from transformers import StoppingCriteriaList

    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = batch_order(lengths, expected_lengths)
    completions: dict[int, str] = {}
    bar = tqdm(total=len(texts), desc=progress, disable=progress is None)
    for i in range(0, len(order), batch_size):
        batch = order[i:i + batch_size]
        inputs = tokenizer([texts[j] for j in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(model.device)
        stop = StoppingCriteriaList([StopWhenMalformed(tokenizer, inputs["input_ids"].shape[1], scaffold)])
        with torch.no_grad():
            output = model.generate(**inputs, generation_config=generation, stopping_criteria=stop)
        completions.update(zip(batch, tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)))
        bar.update(len(batch))
    bar.close()
    return [completions[i] for i in range(len(texts))]


def _score(row: dict[str, Any], completion: str, scaffold, metric: str) -> dict[str, Any]:
    """One step's record: the parsed tool, format validity and the SRL reward of `completion`."""
    reward, call, error = score_action(completion, row["expert_action"], metric, scaffold)
    predicted = None if call is None else call.name
    return {
        "trajectory_id": row["trajectory_id"],
        "step_index": row["step_index"],
        "tool_name": row["tool_name"],
        "predicted_tool": predicted,
        "format_ok": error is None,
        "format_error": error,
        "tool_match": predicted == row["tool_name"],
        "reward": reward,
        "completion": completion,
        "expert_action": row["expert_action"],
    }


def evaluate_steps(
    model_path: str | Path,
    data: str | Path | Sequence[Trajectory] | None,
    *,
    split: str = "heldout",
    heldout_fraction: float = 0.2,
    split_seed: int = 0,
    validation_fraction: float = 0.0,
    max_new_tokens: int = 256,
    metric: str = DEFAULT_METRIC,
    limit: int | None = None,
    batch_size: int = 8,
    step_config: StepConfig | None = None,
    predictions_path: str | Path | None = None,
    progress: bool = True,
    dtype: str = "auto",
    sample_temperature: float | None = None,
) -> dict[str, Any]:
    """Evaluate a model's greedy step actions; return a JSON-able report.

    `data`: a trajectory file, a list of trajectories, or None for the embedded data.
    `split` picks the trajectories (heldout, validation, train or all; `heldout_fraction`,
    `validation_fraction` and `split_seed` must be the values training used). `limit` caps the number of steps (first N, in data
    order). `predictions_path` also writes one JSON line per step (completion, reward, ...).
    Steps are generated in batches of similar prompt length (less padding); records keep data
    order. Decoding is greedy whatever the model's generation_config says (no top-k/top-p,
    no repetition penalty). `dtype`: `auto` (fp32 on CPU, bf16 on GPU) or a torch dtype name.
    `sample_temperature` also scores one pure sample per step at that temperature (what
    training sees; no top-k/top-p) as `sampled_*` keys.

    The report holds `mean_reward` (the SRL reward: similarity in [0, 1], -1 when
    malformed), `mean_similarity` (malformed counted as 0), `format_rate`,
    `tool_match_rate` (the call parses and names the expert's tool), the same numbers
    `per_tool` (keyed by the expert's tool), and `expert_over_budget`: how many expert
    completions are longer than `max_new_tokens` (steps where even a copy would be cut and fail).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    step_config = step_config or StepConfig()
    trajectories = load_data(data)
    trajectories = select_split(trajectories, split, heldout_fraction, split_seed, validation_fraction)
    rows = step_rows(trajectories, step_config)
    scaffold = load_scaffold(step_config.scaffold)
    if limit is not None:
        rows = rows[:limit]

    device, torch_dtype = _device_and_dtype(dtype)
    model_path = resolve_model(str(model_path))
    tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
    greedy = neutral_generation(tokenizer, max_new_tokens)

    texts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows]
    expert_lengths = [len(ids) for ids in tokenizer([r["expert_completion"] for r in rows], add_special_tokens=False)["input_ids"]]
    start = time.time()
    completions = _generate(model, tokenizer, texts, greedy, batch_size, scaffold, "score steps" if progress else None)
    records = [_score(row, completion, scaffold, metric) for row, completion in zip(rows, completions)]
    sampled: dict[str, Any] = {}
    if sample_temperature is not None:
        torch.manual_seed(split_seed)
        sampling = neutral_generation(tokenizer, max_new_tokens, sample_temperature)
        samples = _generate(model, tokenizer, texts, sampling, batch_size, scaffold, "sampled steps" if progress else None)
        summary = _summary([_score(row, completion, scaffold, metric) for row, completion in zip(rows, samples)])
        sampled = {"sample_temperature": sample_temperature, **{f"sampled_{k}": v for k, v in summary.items() if k != "count"}}

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
        "split": split,
        "heldout_fraction": heldout_fraction,
        "validation_fraction": validation_fraction,
        "split_seed": split_seed,
        "trajectories": sorted({r["trajectory_id"] for r in rows}),
        "metric": metric,
        "max_new_tokens": max_new_tokens,
        "expert_over_budget": sum(n > max_new_tokens for n in expert_lengths),
        "context": step_config.context,
        **_summary(records),
        **sampled,
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
        f"data: {report['data']} ({report['split']} split, split seed {report['split_seed']}), metric: {report['metric']}, "
        f"context: {report['context']}, max_new_tokens: {report['max_new_tokens']} "
        f"(expert actions longer than that: {report.get('expert_over_budget', '–')})",
        "",
        "| tool | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for tool, stats in report["per_tool"].items():
        lines.append(f"| {tool} | " + " | ".join(_fmt(stats[c]) for c in columns) + " |")
    lines.append("| **all** | " + " | ".join(f"**{_fmt(report[c])}**" for c in columns) + " |")
    return "\n".join(lines) + "\n"
