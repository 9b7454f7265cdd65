"""Branching live rollouts from a snapshot against re-executing the expert's prefix, per branch.

For prefixes of 5, 10 and 20 expert actions, in one run on the same task and machine:

- **replay**: ``env.reset(options={"trajectory": T, "step": k})``: a fresh container of the task
  image, then the k actions re-executed and their observations compared (what every rollout would
  cost without snapshots);
- **branch**: ``env.reset(options={"snapshot": S})``: a fresh container of the snapshot's image and
  the shell state restored (what each of K rollouts costs once the prefix is saved); the snapshot
  itself (one ``commit``) is timed apart and shared by the K branches;
- **pooled branch**: the same reset with ``LiveConfig(branch_pool=1)``: the next branch's sandbox
  starts in the background while the current branch runs.

Each branch is a rollout: after its reset, the recording's remaining actions before ``finish`` are
executed in it (the expert's edit and test run; a policy would also generate between actions, so
real rollouts last longer and hide more of the start). The resets are timed, and each whole branch
(*rollout s*: reset and actions; the pool's start runs beside the actions and shares the CPU with them).

The shipped recordings have 7 actions (5 before the fix's test run), so the 10- and 20-action
prefixes are the recording's own first four read and test actions repeated before its edit: the
same kinds of commands an agent repeats, re-executed for real. Median of ``--repeats`` of each.

Run: ``.venv/bin/python benchmarks/bench_branching.py [--trajectory ID] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.evaluation.engine import ensure_images  # noqa: E402
from srl_swe.gym.live import LiveConfig, SWEEnv  # noqa: E402
from srl_swe.gym.prefix import find_trajectory, task_of  # noqa: E402
from srl_swe.sandbox.engines import engine_name  # noqa: E402
from srl_swe.sandbox.tools import execute_tool  # noqa: E402
from benchmarks.machine import machine_line  # noqa: E402


def extended(trajectory, length: int):
    """The recording with its first four (read and test) actions repeated so that its edit is action ``length - 1``."""
    actions = trajectory.actions
    reads = [actions[i % 4] for i in range(length - 1)]
    return replace(trajectory, turns=[*reads, actions[4], *actions[5:]])


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectory", default="srl-swe__inflection-0001")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = find_trajectory(args.trajectory)
    task = task_of(base)
    if ensure_images([task]):
        print(f"cannot make the image of {task['instance_id']}")
        return 1
    print(f"{machine_line()} · {engine_name()} · {args.trajectory} · "
          f"median of {args.repeats}")
    print(f"{'prefix':>6} {'replay s':>9} {'snapshot s':>11} {'branch s':>9} {'pooled s':>9} "
          f"{'replay / branch':>16} {'replay / pooled':>16} {'rollout s':>11} {'pooled ro s':>11} reproduced")
    env, pooled = SWEEnv(task=task), SWEEnv(task=task, config=LiveConfig(branch_pool=1))
    try:
        for steps in (5, 10, 20):
            trajectory = base if steps == 5 else extended(base, steps)
            replays, reproduced = [], True
            for _ in range(args.repeats):
                info = {}
                replays.append(timed(lambda: info.update(env.reset(options={"trajectory": trajectory, "step": steps})[1])))
                reproduced &= info["prefix"]["reproduced"]
            start = time.perf_counter()
            snapshot = env.snapshot()
            saved = time.perf_counter() - start
            rest = [turn.action for turn in trajectory.actions[steps:] if turn.action.name != "finish"]
            try:
                branches, wholes = branch_resets(env, snapshot, rest, args.repeats)
                pooled_branches, pooled_wholes = branch_resets(pooled, snapshot, rest, args.repeats)
            finally:
                env.close()  # the last branch's container (and the pool's), then the snapshot's image
                pooled.close()
                snapshot.remove()
            replay, branch, pooled_branch = (statistics.median(replays), statistics.median(branches),
                                             statistics.median(pooled_branches))
            whole, pooled_whole = statistics.median(wholes), statistics.median(pooled_wholes)
            print(f"{steps:6d} {replay:9.2f} {saved:11.2f} {branch:9.2f} {pooled_branch:9.2f} "
                  f"{replay / branch:15.1f}x {replay / max(pooled_branch, 1e-3):15.1f}x {whole:11.2f} "
                  f"{pooled_whole:11.2f} {reproduced}")
    finally:
        env.close()
        pooled.close()
    return 0


def branch_resets(env, snapshot, rest, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of each of ``repeats`` resets from ``snapshot``, and of each whole branch (the reset, then the
    actions ``rest`` run in it)."""
    resets, wholes = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        resets.append(timed(lambda: env.reset(options={"snapshot": snapshot})))
        for call in rest:
            execute_tool(call, env.sandbox, timeout=120)
        wholes.append(time.perf_counter() - start)
    return resets, wholes


if __name__ == "__main__":
    raise SystemExit(main())
