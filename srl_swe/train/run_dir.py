"""A training run's directory: resolved config, metrics.jsonl (resume-safe) and PNG plots."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback  # noqa: TID253 - a training module: only the heavy paths import it

from ..files import append_line, drop_torn_line, write_atomic

METRIC_KEYS = {"reward": "reward_mean", "reward_std": "reward_std", "dynamic_sampling/filter_rate": "filter_rate",
               "format_failure_rate": "format_failure_rate", "loss": "loss"}


class RunDir:
    """Files of one run under `path`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.path / "metrics.jsonl"

    def write_config(self, config: Any) -> None:
        data = asdict(config) if is_dataclass(config) else dict(config)
        write_atomic(self.path / "config.json", json.dumps(data, indent=2, default=str) + "\n")

    def append(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        with self.metrics_path.open("a") as handle:
            append_line(handle, json.dumps(clean))

    def records(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop step records past `step` (a resumed run re-logs the steps after its checkpoint), and a line torn by a kill."""
        if self.metrics_path.exists():
            drop_torn_line(self.metrics_path)
        kept = [r for r in self.records() if r.get("step", 0) <= step]
        write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def plot(self) -> list[Path]:
        """PNG plots of the step metrics and held-out reward; returns the files written."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        records = self.records()
        train = [r for r in records if r.get("reward_mean") is not None]
        heldout = [r for r in records if r.get("heldout_reward") is not None]
        written = []
        panels = [
            ("reward", "reward mean ± std", [("reward_mean", "reward_std")]),
            ("filter_rate", "dynamic-sampling filter rate", [("filter_rate", None)]),
            ("format_failure_rate", "format-failure rate", [("format_failure_rate", None)]),
        ]
        for name, title, series in panels:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for key, spread in series:
                points = [(r["step"], r[key]) for r in train if r.get(key) is not None]
                if not points:
                    continue
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=key)
                if spread:
                    sd = [r.get(spread) or 0.0 for r in train if r.get(key) is not None]
                    ax.fill_between(xs, [y - s for y, s in zip(ys, sd)], [y + s for y, s in zip(ys, sd)], alpha=0.2)
            ax.set(title=title, xlabel="step")
            fig.tight_layout()
            out = self.path / f"{name}.png"
            fig.savefig(out, dpi=100)
            plt.close(fig)
            written.append(out)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        if heldout:
            ax.plot([r["step"] for r in heldout], [r["heldout_reward"] for r in heldout], marker="o")
        ax.set(title="held-out step reward", xlabel="step")
        fig.tight_layout()
        out = self.path / "heldout_reward.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        written.append(out)
        return written


class MetricsCallback(TrainerCallback):
    """Writes one metrics.jsonl record per logged training step (stable key names plus TRL's raw keys)."""

    def __init__(self, run_dir: RunDir):
        self.run_dir = run_dir

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or state.is_world_process_zero is False:
            return
        if "loss" not in logs and "reward" not in logs:
            return  # end-of-training summary or eval
        record = {"step": state.global_step}
        for key, name in METRIC_KEYS.items():
            if key in logs:
                record[name] = logs[key]
        record.setdefault("filter_rate", 0.0)
        record["raw"] = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        self.run_dir.append(record)
