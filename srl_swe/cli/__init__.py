"""`srl-swe` command line: one thin module per command group in this package, this one joins them.

JSON outputs (`--json`) are stable: keys are only ever added, never renamed or removed.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import SRLSweError
from ..sandbox.engines import ENGINE_ENV, ENGINES, select_engine
from ..sandbox.runtime import install_exit_hooks
from . import data, envs, evaluate, models, replay, rollout, tasks, train, trajectories


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srl-swe", description=__doc__.splitlines()[0])
    parser.add_argument("--container-engine", choices=ENGINES, default=None,
                        help=f"the engine of every container this command starts or builds (default: ${ENGINE_ENV}, "
                             "else docker); podman: start its API service with `make podman`")
    sub = parser.add_subparsers(dest="command", required=True)

    data.register(sub)
    envs.register_list(sub)  # `envs list`, `envs add|build|validate` and `images …`
    trajectories.register(sub)
    train.register(sub)  # `train sft|srl|rlvr|pipeline`, `score steps`
    train.register_demo(sub)
    tasks.register(sub)  # `tasks synthesize|restate`
    evaluate.register(sub)  # `evaluate [regrade|convert]`, `report`
    rollout.register(sub)
    models.register(sub)
    replay.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        select_engine(args.container_engine)
    except SRLSweError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_exit_hooks()  # here, in the main thread: rollouts and evaluations start their sandboxes in worker threads
    try:
        args.func(args)
    except SRLSweError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

