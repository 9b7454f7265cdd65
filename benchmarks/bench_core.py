"""Core speed: reward calls/s per metric (ratio to paper-exact difflib) and replay-env steps/s.

Action pairs are realistic: every expert action of the shared SWE-Gym samples (or the
embedded data when ../shared is absent) against the next action of the same tool in the
same trajectory, i.e. a plausible near-miss by a policy. Run: `.venv/bin/python benchmarks/bench_core.py`.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import gymnasium as gym

import srl_swe  # noqa: F401
from srl_swe.actions import format_action, render_call
from srl_swe.baselines import repeat_previous
from srl_swe.data import default_dataset_path
from srl_swe.rewards import similarity, srl_reward
from srl_swe.trajectory import load_trajectories

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories"


def sources() -> list[Path]:
    files = sorted(SHARED.glob("*.json")) if SHARED.exists() else []
    return files or [default_dataset_path()]


def action_pairs(trajectories) -> list[tuple[str, object, object]]:
    pairs = []
    for t in trajectories:
        calls = [turn.action for turn in t.actions]
        for i, call in enumerate(calls):
            other = next((c for c in calls[i + 1:] if c.name == call.name), None)
            if other is not None:
                pairs.append((format_action("reasoning", other), render_call(call), call))
    return pairs


def rate(fn, n_items: int, min_seconds: float = 1.0) -> float:
    """Calls per second, repeating the whole workload until min_seconds have passed."""
    fn()  # warm-up
    loops, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        loops += 1
    return loops * n_items / (time.perf_counter() - start)


def main() -> None:
    trajectories = [t for f in sources() for t in load_trajectories(f).trajectories]
    pairs = action_pairs(trajectories)
    texts = [(c, e) for c, e, _ in pairs]
    print(f"{len(trajectories)} trajectories, {len(pairs)} realistic action pairs "
          f"(mean expert action length {statistics.mean(len(e) for _, e in texts):.0f} chars)")

    rows = {}
    for metric in ("difflib", "indel", "structured"):
        rows[metric] = rate(lambda m=metric: [srl_reward(c, e, metric=m) for c, e in texts], len(texts))
    print(f"\n{'metric':12} {'reward calls/s':>15} {'ratio to difflib':>18}")
    for metric, r in rows.items():
        print(f"{metric:12} {r:15,.0f} {r / rows['difflib']:17.1f}x")

    gaps = [abs(similarity(c.split('</think>\n', 1)[1], e, 'difflib') - similarity(c.split('</think>\n', 1)[1], e, 'indel')) for c, e in texts]
    long_gaps = [g for (c, e), g in zip(texts, gaps) if len(e) > 200]
    print(f"\n|difflib - indel| on these pairs: mean {statistics.mean(gaps):.3f}, max {max(gaps):.3f}; "
          f"on expert actions > 200 chars: mean {statistics.mean(long_gaps or [0]):.3f}, max {max(long_gaps or [0]):.3f} ({len(long_gaps)} pairs)")

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}) if hasattr(os, "sched_setaffinity") else None
    env = gym.make("srl_swe/Replay-v0", dataset=trajectories)
    ids = env.unwrapped.trajectory_ids

    def episodes():
        steps = 0
        for trajectory_id in ids:
            obs, info = env.reset(options={"trajectory_id": trajectory_id})
            done = False
            while not done:
                obs, _, done, _, info = env.step(repeat_previous(obs, info))
                steps += 1
        return steps

    n_steps = episodes()
    steps_per_s = rate(episodes, n_steps, min_seconds=2.0)
    print(f"\nreplay env (one core, repeat-previous policy, indel reward): {steps_per_s:,.0f} steps/s over {n_steps} steps/pass")
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
