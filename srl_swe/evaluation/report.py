"""`srl-swe report`: the paper's Table 5 layout from evaluation runs.

::

    srl-swe report runs/sft runs/srl runs/srl-rlvr --out evaluation/tables/mine

Each RUN_DIR is an ``srl-swe evaluate --output-dir`` folder (or any folder below which
``*.summary.json`` files lie). Rows are models (the predictions' ``model_name_or_path``),
columns the settings (``oracle-file``, ``end-to-end``, ``agentic``, then any other), each cell
the resolve rate with its counts and a link to that run's summary. Summaries of one model and
setting are merged by instance, so per-environment runs add up. Writes ``table.md`` and a
grouped bar chart ``table.png``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import InvalidRecordError, SRLSweError
from ..files import write_atomic
from ..records import parse_json, read_text

PAPER_SETTINGS = ("oracle-file", "end-to-end", "agentic")


@dataclass
class Cell:
    """One (model, setting): {instance_id: resolved?} merged over its summaries, and where they lie."""

    outcomes: dict[str, bool] = field(default_factory=dict)
    summaries: list[Path] = field(default_factory=list)
    log_dirs: list[Path] = field(default_factory=list)

    @property
    def resolved(self) -> int:
        return sum(self.outcomes.values())

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def rate(self) -> float:
        return 100.0 * self.resolved / self.total if self.total else 0.0


OUTCOME_LISTS = ("resolved_ids", "unresolved_ids", "not_applied_ids", "empty_patch_ids", "error_ids", "missing_image_ids")


def collect(run_dirs: Iterable[str | Path]) -> dict[tuple[str, str], Cell]:
    """{(model, setting): Cell} from every ``*.summary.json`` under the run dirs.

    Summaries of the same model and setting are merged by instance (runs over different task
    sets add up; a later summary of the same instance replaces the earlier one)."""
    cells: dict[tuple[str, str], Cell] = {}
    loaded: list[tuple[str, Path, dict[str, Any]]] = []
    for run_dir in run_dirs:
        root = Path(run_dir)
        if not root.exists():
            raise SRLSweError(f"no such run directory: {root}")
        for path in [root] if root.is_file() else sorted(root.rglob("*.summary.json")):
            data = parse_json(read_text(path), str(path))
            missing = [key for key in ("model", *OUTCOME_LISTS) if not isinstance(data, dict) or key not in data]
            if missing:
                raise SRLSweError(f"{path}: not an srl-swe evaluation summary (no {', '.join(missing)})")
            for key in OUTCOME_LISTS:
                if not isinstance(data[key], list) or not all(isinstance(i, str) for i in data[key]):
                    raise InvalidRecordError(str(path), None, key, "expected a list of instance ids")
            loaded.append((str(data.get("created_at", "")), path, data))
    if not loaded:
        raise SRLSweError("no *.summary.json found under " + ", ".join(map(str, run_dirs)))
    for _, path, data in sorted(loaded, key=lambda item: item[0]):
        cell = cells.setdefault((str(data["model"]), str(data.get("setting") or "unspecified")), Cell())
        for key in OUTCOME_LISTS:
            cell.outcomes.update({iid: key == "resolved_ids" for iid in data[key]})
        cell.summaries.append(path)
        cell.log_dirs.append(Path(data.get("log_dir", path.parent)))
    return cells


def _settings(cells: dict[tuple[str, str], Cell]) -> list[str]:
    present = {setting for _, setting in cells}
    return [s for s in PAPER_SETTINGS if s in present] + sorted(present - set(PAPER_SETTINGS))


def markdown_table(cells: dict[tuple[str, str], Cell], *, link_from: Path | None = None) -> str:
    """Models × settings, each cell ``rate % (resolved/total)`` linking to its run summary."""
    settings = _settings(cells)
    models = sorted({model for model, _ in cells})

    def link(path: Path) -> str:
        return os.path.relpath(path, link_from) if link_from else str(path)

    lines = ["| model | " + " | ".join(settings) + " |", "|---|" + "---:|" * len(settings)]
    for model in models:
        row = []
        for setting in settings:
            cell = cells.get((model, setting))
            row.append(f"[{cell.rate:.1f} ({cell.resolved}/{cell.total})]({link(cell.summaries[-1].with_suffix('.md'))})"
                       if cell else "–")
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    lines += ["", "Resolve rate in % (resolved / instances). Per-instance logs:", ""]
    lines += [f"- {model} · {setting}: " + ", ".join(f"`{link(d)}`" for d in cell.log_dirs) for (model, setting), cell in sorted(cells.items())]
    return "\n".join(lines) + "\n"


def bar_chart(cells: dict[tuple[str, str], Cell], path: Path, title: str = "SWE-bench") -> Path:
    """A grouped bar chart of the resolve rates (one group per model, one bar per setting)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = _settings(cells)
    models = sorted({model for model, _ in cells})
    width = 0.8 / max(1, len(settings))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(models) + 2), 3.6))
    for i, setting in enumerate(settings):
        xs = [m + (i - (len(settings) - 1) / 2) * width for m in range(len(models))]
        rates = [cells[(model, setting)].rate if (model, setting) in cells else 0.0 for model in models]
        bars = ax.bar(xs, rates, width, label=setting)
        for bar, model in zip(bars, models):
            cell = cells.get((model, setting))
            if cell:
                ax.annotate(f"{cell.rate:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(models)), models, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("resolved (%)")
    ax.set_ylim(0, min(105.0, max(10.0, max(c.rate for c in cells.values()) * 1.2)))
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: resolve rate by setting")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(run_dirs: Iterable[str | Path], out_dir: str | Path, *, title: str = "SWE-bench") -> tuple[Path, Path]:
    """Write ``table.md`` and ``table.png`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells = collect(list(run_dirs))
    table = out / "table.md"
    write_atomic(table, f"# {title} results (the SRL paper's Table 5 layout)\n\n" + markdown_table(cells, link_from=out))
    return table, bar_chart(cells, out / "table.png", title)
