"""`srl-swe replay`: walk expert trajectories with a baseline policy and print per-step rewards."""
from __future__ import annotations

import argparse
import json
from statistics import mean

from rich.console import Console
from rich.table import Table

from ..replay_baseline import ReplayConfig, run_replay
from ..rewards import DEFAULT_METRIC, METRICS


def cmd_replay(args: argparse.Namespace) -> None:
    config = ReplayConfig(data=args.data, policy=args.policy, metric=args.metric, context=args.context)
    rows = run_replay(config)
    summary = {"steps": len(rows), "trajectories": len({r["trajectory"] for r in rows}),
               "mean_reward": round(mean(r["reward"] for r in rows), 4) if rows else None}
    if args.json:
        print(json.dumps({**summary, "rows": rows}, indent=2))
        return
    console = Console(width=max(Console().width, 110))
    table = Table(title=f"Replay of {config.data or 'the embedded trajectories'} — policy {config.policy}, metric {config.metric}")
    for column in ("trajectory", "step", "expert tool", "policy tool", "format", "reward"):
        table.add_column(column, justify="right" if column in ("step", "reward") else "left", overflow="fold")
    for r in rows:
        table.add_row(r["trajectory"], str(r["step"]), r["expert_tool"], r["policy_tool"], "ok" if r["format_ok"] else "bad", f"{r['reward']:+.3f}")
    console.print(table)
    console.print(f"{summary['steps']} steps over {summary['trajectories']} trajectories; mean step reward {summary['mean_reward']:.3f}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command group to the top-level ``srl-swe`` subparsers."""
    replay = sub.add_parser("replay", help="replay trajectories with a baseline policy and print per-step rewards")
    replay.add_argument("--data", default=None, help="trajectory file or dataset name (default: the embedded trajectories)")
    replay.add_argument("--policy", default="repeat-previous", choices=["repeat-previous", "oracle"], help="baseline policy: repeat the previous expert action, or the expert's own (the ceiling)")
    replay.add_argument("--metric", default=DEFAULT_METRIC, choices=METRICS, help="similarity metric of the reward")
    replay.add_argument("--context", default="last:2", help="full, or last:K (the issue plus the last K expert rounds)")
    replay.add_argument("--json", action="store_true", help="print {steps, trajectories, mean_reward, rows} as JSON")
    replay.set_defaults(func=cmd_replay)
