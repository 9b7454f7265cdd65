"""`srl-swe replay`: walk expert trajectories with a baseline policy and print per-step rewards."""
from __future__ import annotations

import argparse

from ..replay_baseline import ReplayConfig, run_replay
from ..rewards import DEFAULT_METRIC, METRICS

def cmd_replay(args: argparse.Namespace) -> None:
    run_replay(ReplayConfig(data=args.data, policy=args.policy, metric=args.metric, context=args.context))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command group to the top-level ``srl-swe`` subparsers."""
    replay = sub.add_parser("replay", help="replay trajectories with a baseline policy and print per-step rewards")
    replay.add_argument("--data", default=None, help="trajectory file or dataset name (default: the embedded trajectories)")
    replay.add_argument("--policy", default="repeat-previous", choices=["repeat-previous", "oracle"], help="baseline policy: repeat the previous expert action, or the expert's own (the ceiling)")
    replay.add_argument("--metric", default=DEFAULT_METRIC, choices=METRICS, help="similarity metric of the reward")
    replay.add_argument("--context", default="last:2", help="full, or last:K (the issue plus the last K expert rounds)")
    replay.set_defaults(func=cmd_replay)
