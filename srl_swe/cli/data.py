"""`srl-swe data stats|convert|steps`: inspect trajectory files and cut them into SRL steps."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..files import atomic_open
from ..steps import StepConfig, build_steps
from ..trajectory import load_trajectories, write_jsonl

def _load(args: argparse.Namespace):
    result = load_trajectories(args.file, format=args.format, skip_invalid=args.skip_invalid)
    if result.invalid:
        print(f"skipped {len(result.invalid)} invalid record(s) of {args.file}:", file=sys.stderr)
        for error in result.invalid[:10]:
            print(f"  {error}", file=sys.stderr)
    if result.skipped:
        print(f"skipped {len(result.skipped)} file(s) of {args.file} that hold no trajectories:", file=sys.stderr)
        for skipped in result.skipped[:10]:
            print(f"  {skipped.path}: {skipped.reason}", file=sys.stderr)
    return result


def dataset_stats(result) -> dict[str, Any]:
    """Counts describing a loaded trajectory file (the `data stats --json` object)."""
    steps_per = [len(t.actions) for t in result.trajectories]
    tools = Counter(turn.action.name for t in result.trajectories for turn in t.actions)
    return {
        "source": str(result.source),
        "format": result.format,
        "trajectories": len(result.trajectories),
        "steps": sum(steps_per),
        "message_turns": sum(1 for t in result.trajectories for turn in t.turns if turn.action is None),
        "tools": dict(sorted(tools.items())),
        "invalid": len(result.invalid),
        "skipped_files": len(result.skipped),
        "steps_per_trajectory": {
            "min": min(steps_per, default=0),
            "mean": round(sum(steps_per) / len(steps_per), 2) if steps_per else 0,
            "max": max(steps_per, default=0),
        },
    }


def cmd_data_stats(args: argparse.Namespace) -> None:
    stats = dataset_stats(_load(args))
    if args.json:
        print(json.dumps(stats, indent=2))
        return
    console = Console()
    console.print(f"[bold]{stats['source']}[/bold] ({stats['format']}): {stats['trajectories']} trajectories, "
                  f"{stats['steps']} steps, {stats['message_turns']} message turns, {stats['invalid']} invalid records")
    table = Table("tool", "steps")
    for tool, count in stats["tools"].items():
        table.add_row(tool, str(count))
    console.print(table)


def cmd_data_convert(args: argparse.Namespace) -> None:
    result = _load(args)
    write_jsonl(result.trajectories, args.out)
    if args.json:
        print(json.dumps({"out": str(args.out), "format": result.format, "trajectories": len(result.trajectories),
                          "invalid": len(result.invalid)}, indent=2))
        return
    print(f"wrote {len(result.trajectories)} trajectories ({result.format}) to {args.out}")


def cmd_data_steps(args: argparse.Namespace) -> None:
    result = _load(args)
    config = StepConfig(context=args.context, max_observation_chars=args.max_observation_chars, scaffold=args.scaffold)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with atomic_open(out) as handle:
        for step in build_steps(result.trajectories, config):
            handle.write(json.dumps(step.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    if args.json:
        print(json.dumps({"out": str(out), "steps": count, "trajectories": len(result.trajectories),
                          "invalid": len(result.invalid)}, indent=2))
        return
    print(f"wrote {count} step instances from {len(result.trajectories)} trajectories to {out}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command group to the top-level ``srl-swe`` subparsers."""
    data = sub.add_parser("data", help="inspect and convert expert trajectories").add_subparsers(dest="data_command", required=True)

    def add_input(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", help="trajectory file (.json/.jsonl/.parquet/.traj) or Hugging Face dataset name")
        p.add_argument("--format", default=None, help="source format (default: detected)")
        p.add_argument("--skip-invalid", action="store_true", help="skip bad records and report how many")

    stats = data.add_parser("stats", help="count trajectories, steps and tools")
    add_input(stats)
    stats.add_argument("--json", action="store_true", help="print a stable JSON object")
    stats.set_defaults(func=cmd_data_stats)

    convert = data.add_parser("convert", help="write canonical trajectory JSONL")
    add_input(convert)
    convert.add_argument("--out", required=True, help="canonical JSONL file to write")
    convert.add_argument("--json", action="store_true", help="print {out, format, trajectories, invalid} as JSON")
    convert.set_defaults(func=cmd_data_convert)

    steps = data.add_parser("steps", help="write SRL step instances as JSONL")
    add_input(steps)
    steps.add_argument("--out", required=True, help="step instances JSONL file to write")
    steps.add_argument("--json", action="store_true", help="print {out, steps, trajectories, invalid} as JSON")
    steps.add_argument("--context", default="last:2", help="'full' or 'last:K' (default last:2, as in the paper)")
    steps.add_argument("--max-observation-chars", type=int, default=4000, help="observations longer than this keep head and tail around a marker (0: no limit)")
    steps.add_argument("--scaffold", default="openhands", help="agent scaffold under agents/ or a YAML path")
    steps.set_defaults(func=cmd_data_steps)
