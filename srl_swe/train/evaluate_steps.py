"""Step-level evaluation: greedy actions on held-out SRL steps, scored like the SRL reward.

For each step instance the model sees the step prompt (chat template with the generation
prompt) and writes greedily; the output is parsed and scored against the expert's action with
:func:`srl_swe.rewards.score_action`, as the SRL reward and the replay env score it. Held-out
steps come from :func:`srl_swe.train.data.select_split` with the same split seed and
fraction that training used, so they are steps of trajectories the model never trained on.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ..files import append_line, atomic_open, drop_torn_line
from ..models import resolve_model
from ..rewards import DEFAULT_METRIC, score_action
from ..rollout.policies import GenerationConfig, TransformersPolicy
from ..scaffold import load_scaffold
from ..steps import StepConfig
from ..trajectory.model import Trajectory
from .data import load_data, select_split, step_rows


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


def _digest(conversations: Sequence[Any]) -> str:
    return hashlib.sha256(json.dumps(conversations, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _model_stamp(model: str) -> Any:
    """A local model folder's files with their sizes and modification times (weights written again into the same
    folder make another model); a hub id as it is."""
    folder = Path(model)
    if not folder.is_dir():
        return model
    return [[p.name, st.st_size, st.st_mtime_ns] for p in sorted(folder.iterdir()) if p.is_file() for st in [p.stat()]]


class PartialCompletions:
    """Completions of an evaluation in progress, one JSON line per step as its batch ends, so that a killed
    evaluation resumes instead of starting over. The first line holds the settings; a file made with other
    settings is started afresh, and a last line cut by a kill is dropped (its step is generated again)."""

    def __init__(self, path: Path, settings: dict[str, Any]):
        self.path = path
        self.done: dict[str, dict[int, str]] = defaultdict(dict)
        if path.is_file():
            drop_torn_line(path)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        if lines and _json_or_none(lines[0]) == {"settings": settings}:
            for line in lines[1:]:
                record = _json_or_none(line)
                if isinstance(record, dict) and {"pass", "index", "completion"} <= record.keys():
                    self.done[record["pass"]][int(record["index"])] = record["completion"]
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"settings": settings}) + "\n", encoding="utf-8")

    def resume(self, name: str) -> dict[str, Any]:
        """`generate` keywords for pass `name` (greedy or sampled): what is done, and where new batches go."""
        def save(batch: dict[int, str]) -> None:
            with self.path.open("a", encoding="utf-8") as handle:
                append_line(handle, "".join(json.dumps({"pass": name, "index": index, "completion": completion},
                                                       ensure_ascii=False) + "\n" for index, completion in batch.items()))
        return {"done": dict(self.done[name]), "on_batch": save}


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


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
    Generation is the one local backend's (:class:`srl_swe.rollout.policies.TransformersPolicy`):
    batches of similar prompt length, records in data order, a row stopped once it can no longer
    parse; decoding is greedy whatever the model's generation_config says (no top-k/top-p,
    no repetition penalty). `dtype`: `auto` (bf16 where the hardware computes it natively, else fp32 on
    a CPU; `distributed.auto_dtype`) or a torch dtype name.
    `sample_temperature` also scores one pure sample per step at that temperature (what
    training sees; no top-k/top-p) as `sampled_*` keys.
    With `predictions_path`, each batch's completions are appended to ``PATH.partial`` as they are made, and a
    run with the same model, data and settings after a kill generates only the rest (the file goes once the
    predictions are written). Resumed samples are other draws than an unbroken run's would be, and a greedy
    answer may differ in a near-tie where batches were composed differently (bf16 padding, above).

    The report holds `mean_reward` (the SRL reward: similarity in [0, 1], -1 when
    malformed), `mean_similarity` (malformed counted as 0), `format_rate`,
    `tool_match_rate` (the call parses and names the expert's tool), the same numbers
    `per_tool` (keyed by the expert's tool), and `expert_over_budget`: how many expert
    completions are longer than `max_new_tokens` (steps where even a copy would be cut and fail).
    """
    step_config = step_config or StepConfig()
    trajectories = load_data(data)
    trajectories = select_split(trajectories, split, heldout_fraction, split_seed, validation_fraction)
    rows = step_rows(trajectories, step_config)
    scaffold = load_scaffold(step_config.scaffold)
    if limit is not None:
        rows = rows[:limit]

    model_path = resolve_model(str(model_path))
    policy = TransformersPolicy(model_path, GenerationConfig(max_new_tokens=max_new_tokens), dtype=dtype,
                                batch_size=batch_size, stop_malformed=scaffold)
    conversations = [r["prompt"] for r in rows]
    expert_lengths = [len(ids) for ids in policy.tokenizer([r["expert_completion"] for r in rows], add_special_tokens=False)["input_ids"]]
    start = time.time()
    partial = None
    if predictions_path is not None:
        settings = {"model": str(model_path), "weights": _model_stamp(str(model_path)), "prompts": _digest(conversations), "max_new_tokens": max_new_tokens,
                    "dtype": dtype, "sample_temperature": sample_temperature, "seed": split_seed}
        partial = PartialCompletions(Path(f"{predictions_path}.partial"), settings)
    completions = policy.generate(conversations, "score steps" if progress else None,
                                  **(partial.resume("greedy") if partial else {}))
    records = [_score(row, completion, scaffold, metric) for row, completion in zip(rows, completions)]
    sampled: dict[str, Any] = {}
    if sample_temperature is not None:
        policy.generation = GenerationConfig(max_new_tokens=max_new_tokens, temperature=sample_temperature, seed=split_seed)
        samples = policy.generate(conversations, "sampled steps" if progress else None,
                                  **(partial.resume("sampled") if partial else {}))
        summary = _summary([_score(row, completion, scaffold, metric) for row, completion in zip(rows, samples)])
        sampled = {"sample_temperature": sample_temperature, **{f"sampled_{k}": v for k, v in summary.items() if k != "count"}}

    if predictions_path is not None:
        path = Path(predictions_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        partial.path.unlink(missing_ok=True)

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
        "device": policy.device,
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
