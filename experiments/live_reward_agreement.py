"""Where the textual step reward and the execution reward agree, on the recorded expert trajectories.

At each step k (before ``finish``) of each trajectory, the candidates are the expert's own action
and the expert actions of the trajectory's other steps (real actions, at a state they were not
taken in). Each is scored from the snapshot after the first k actions with
:class:`srl_swe.gym.execution.StepRewards`. A pair *agrees* when both rewards are on the same side
of 0.9 (both say "the same action" or both say "a different one"). Writes agreement.json (every
score) and agreement.md (counts, rate, and the disagreements with their actions) to OUT.

Run: ``.venv/bin/python experiments/live_reward_agreement.py OUT [--trajectories 5]``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.actions import format_action  # noqa: E402
from srl_swe.evaluation.engine import ensure_images  # noqa: E402
from srl_swe.files import write_atomic  # noqa: E402
from srl_swe.gym.execution import StepRewards  # noqa: E402
from srl_swe.gym.live import SWEEnv  # noqa: E402
from srl_swe.gym.prefix import task_of  # noqa: E402
from srl_swe.trajectory import load_trajectories  # noqa: E402

SAME = 0.9


def short(call) -> str:
    text = json.dumps(call.arguments, ensure_ascii=False)
    return f"{call.name} {text[:110]}{'…' if len(text) > 110 else ''}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--trajectories", type=int, default=5, help="the first N recordings, one per environment first")
    args = parser.parse_args()
    recorded = load_trajectories("srl-swe:default").trajectories
    by_env: dict[str, list] = {}
    for trajectory in recorded:
        by_env.setdefault(trajectory.id.split("__")[1].rsplit("-", 1)[0], []).append(trajectory)
    chosen = [t for round_ in range(max(map(len, by_env.values()))) for group in by_env.values()
              if round_ < len(group) for t in [group[round_]]][: args.trajectories]
    rows, start = [], time.monotonic()
    for trajectory in chosen:
        task = task_of(trajectory)
        if ensure_images([task]):
            print(f"skipping {trajectory.id}: no image")
            continue
        actions = [turn.action for turn in trajectory.actions]
        env = SWEEnv(task=task)
        try:
            for k, expert in enumerate(actions):
                if expert.name == "finish":
                    break
                env.reset(options={"trajectory": trajectory, "step": k})
                snapshot = env.snapshot()
                try:
                    rewards = StepRewards(snapshot, expert)
                    for j, candidate in enumerate(actions):
                        if candidate.name == "finish":
                            continue
                        scores = rewards(format_action("", candidate))
                        rows.append({"trajectory": trajectory.id, "step": k, "candidate_step": j,
                                     "expert": short(expert), "candidate": short(candidate), **scores})
                finally:
                    env.close()
                    snapshot.remove()
        finally:
            env.close()
        print(f"{trajectory.id}: {len(rows)} pairs so far ({time.monotonic() - start:.0f} s)", flush=True)
    agree = [r for r in rows if (r["similarity"] >= SAME) == (r["execution"] >= SAME)]
    counts = {f"text {'>=' if a else '<'} {SAME}, execution {'>=' if b else '<'} {SAME}":
              sum(1 for r in rows if (r["similarity"] >= SAME) == a and (r["execution"] >= SAME) == b)
              for a in (True, False) for b in (True, False)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    header = (f"{datetime.date.today()} · {cpu} · {os.cpu_count()} CPUs · {len(chosen)} trajectories · "
              f"{len(rows)} pairs · {time.monotonic() - start:.0f} s")
    write_atomic(out / "agreement.json", json.dumps({"header": header, "threshold": SAME, "pairs": rows}, indent=1))
    lines = ["# Textual vs execution step rewards on the recorded trajectories", "", header, "",
             f"Agreement (both rewards on the same side of {SAME}): **{len(agree)}/{len(rows)}"
             f" = {len(agree) / max(1, len(rows)):.3f}**", "", "| | pairs |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in counts.items()]
    lines += ["", "## Disagreements", "", "| trajectory | step | candidate from step | text | execution | expert | candidate |",
              "|---|---:|---:|---:|---:|---|---|"]
    lines += [f"| {r['trajectory']} | {r['step']} | {r['candidate_step']} | {r['similarity']:.3f} | {r['execution']:.3f} | "
              f"`{r['expert']}` | `{r['candidate']}` |".replace("\n", " ") for r in rows if r not in agree]
    write_atomic(out / "agreement.md", "\n".join(lines) + "\n")
    print("\n".join(lines[:12]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
