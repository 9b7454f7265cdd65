"""What a live SRL step's rewards cost: one GRPO group scored live against the same group scored offline.

A group is K completions at step k of a recorded expert trajectory: the expert's own action and
actions the recording takes at other steps (distinct actions, so each runs in a branch of its own).
In one run on the same machine:

- **offline**: the paper's textual reward of each completion (``score_action``), what offline SRL pays;
- **live, one branch at a time** / **live, 4 at a time**: ``score_step_group`` (the expert's prefix
  re-executed once, one snapshot, the expert's action and each distinct completion in a branch, the
  snapshot removed), with ``BranchSettings.branches`` 1 and 4.

Median of ``--repeats``; every live group's scores are checked to be the same (all runs, 1 and 4 branches).

Run: ``.venv/bin/python benchmarks/bench_live_step.py [--trajectory ID] [--step 4] [--group 4] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.actions import format_action, render_call  # noqa: E402
from srl_swe.evaluation.engine import ensure_images  # noqa: E402
from srl_swe.gym.execution import BranchSettings, score_step_group  # noqa: E402
from srl_swe.gym.prefix import find_trajectory, task_of  # noqa: E402
from srl_swe.rewards import score_action  # noqa: E402
from srl_swe.sandbox.engines import engine_name  # noqa: E402
from benchmarks.machine import machine_line  # noqa: E402


def group_of(trajectory, step: int, size: int) -> list[str]:
    """The expert's completion at ``step`` and ``size - 1`` distinct actions the recording takes elsewhere."""
    own = trajectory.actions[step]
    seen, completions = {render_call(own.action)}, [format_action(own.thought, own.action)]
    for turn in trajectory.actions:
        key = render_call(turn.action)
        if len(completions) < size and turn.action.name != "finish" and key not in seen:
            seen.add(key)
            completions.append(format_action(turn.thought, turn.action))
    if len(completions) < size:
        raise SystemExit(f"{trajectory.id} has only {len(completions)} distinct actions for a group of {size}")
    return completions


def timed(call):
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectory", default="srl-swe__inflection-0001")
    parser.add_argument("--step", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trajectory = find_trajectory(args.trajectory)
    if ensure_images([task_of(trajectory)]):
        print(f"cannot make the image of {trajectory.task.id}")
        return 1
    completions = group_of(trajectory, args.step, args.group)
    expert = trajectory.actions[args.step].action
    print(f"{machine_line()} · {engine_name()} · {args.trajectory} step "
          f"{args.step} · group of {args.group} · median of {args.repeats}")
    offline = [timed(lambda: [score_action(c, expert).reward for c in completions]) for _ in range(args.repeats)]
    live, scores = {}, set()
    for branches in (1, 4):
        runs = [timed(lambda: score_step_group(trajectory, args.step, completions, BranchSettings(branches=branches)))
                for _ in range(args.repeats)]
        if any(group.masked for _, group in runs):
            print(f"branches={branches}: a group was masked: {[group.masked for _, group in runs]}")
            return 1
        scores |= {tuple(s.rewards["combined"] for s in group.scores) for _, group in runs}
        live[branches] = (statistics.median(seconds for seconds, _ in runs), runs[0][1])
    if len(scores) != 1:
        print(f"the groups' scores differ between runs: {scores}")
        return 1
    offline_s = statistics.median(seconds for seconds, _ in offline)
    (one, group), (four, _) = live[1], live[4]
    print(f"{'scoring':<28} {'s per group':>12} {'vs offline':>12}")
    print(f"{'offline (text)':<28} {offline_s:12.6f} {1:11.0f}x")
    print(f"{'live, 1 branch at a time':<28} {one:12.2f} {one / offline_s:11.0f}x")
    print(f"{'live, 4 branches at a time':<28} {four:12.2f} {four / offline_s:11.0f}x")
    print(f"4 at a time against 1: {one / four:.2f}x faster")
    print("scores (similarity / execution / combined):",
          "; ".join(f"{s.similarity:.2f}/{s.execution:.2f}/{s.combined:.2f}" for s in group.scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
