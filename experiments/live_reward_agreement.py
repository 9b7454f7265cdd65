"""Where the textual step reward and the execution reward agree, on the recorded expert trajectories.

At each step k (before ``finish``) of each trajectory, the candidates are the expert's own action
and the expert actions of the trajectory's other steps (real actions, at a state they were not
taken in). Each is scored from the snapshot after the first k actions with
:class:`srl_swe.gym.execution.StepRewards`. A pair *agrees* when both rewards are on the same side
of 0.9 (both say "the same action" or both say "a different one"). Writes agreement.json (every
score) and agreement.md (counts, rate, and the disagreements with their actions) to OUT.

With ``--policy MODEL`` the candidates are that model's own samples instead (``--samples`` per step at
``--temperature``, the demo's step prompts), at every step of the held-out trajectories of the demo's
split: actions written by a policy, which may read differently and do the same. Each group is
scored as live SRL scores it (:func:`srl_swe.gym.execution.score_step_group`).

Run: ``.venv/bin/python experiments/live_reward_agreement.py OUT [--trajectories 5]``, or
``… OUT --policy runs/demo/01-sft/final [--trajectories 4 --samples 4]`` (the same command goes on after the
trajectories a stopped run finished). agreement.json keeps malformed samples too (execution -1).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.actions import format_action  # noqa: E402
from srl_swe.evaluation.engine import ensure_images  # noqa: E402
from srl_swe.files import write_atomic  # noqa: E402
from srl_swe.gym.execution import BranchSettings, StepRewards, score_step_group  # noqa: E402
from srl_swe.gym.live import SWEEnv  # noqa: E402
from srl_swe.gym.prefix import task_of  # noqa: E402
from srl_swe.rewards import score_action  # noqa: E402
from srl_swe.rollout.policies import GenerationConfig, TransformersPolicy  # noqa: E402
from srl_swe.scaffold import load_scaffold  # noqa: E402
from srl_swe.steps import StepBuilder, StepConfig  # noqa: E402
from srl_swe.train.config_io import load_yaml  # noqa: E402
from srl_swe.train.data import select_split  # noqa: E402
from srl_swe.trajectory import load_trajectories  # noqa: E402
from benchmarks.machine import machine_line  # noqa: E402

SAME = 0.9


def short(call) -> str:
    text = json.dumps(call.arguments, ensure_ascii=False)
    return f"{call.name} {text[:110]}{'…' if len(text) > 110 else ''}"


def interleaved(trajectories: list) -> list:
    """The trajectories one per environment first, then the second of each, …"""
    by_env: dict[str, list] = {}
    for trajectory in trajectories:
        by_env.setdefault(trajectory.id.split("__")[1].rsplit("-", 1)[0], []).append(trajectory)
    return [t for round_ in range(max(map(len, by_env.values()))) for group in by_env.values()
            if round_ < len(group) for t in [group[round_]]]


def policy_rows(chosen: list, args, start: float) -> list[dict]:
    """Each step's ``--samples`` completions of ``--policy`` (demo prompts), scored in branches of the step's snapshot."""
    demo = load_yaml("demo")
    shared = demo["shared"]
    steps_config = StepConfig(context=shared["context"], max_observation_chars=shared["max_observation_chars"],
                              max_problem_chars=shared["max_problem_chars"], scaffold=shared["scaffold"])
    policy = TransformersPolicy(args.policy, GenerationConfig(max_new_tokens=demo["max_new_tokens"],
                                                              temperature=args.temperature, seed=0))
    rows, finished = finished_rows(Path(args.out), chosen, args)
    for trajectory in chosen:
        if trajectory.id in finished:
            continue
        for step in StepBuilder(steps_config).steps(trajectory):
            expert = trajectory.actions[step.step_index].action
            if expert.name == "finish":
                break
            samples = policy.generate([step.prompt] * args.samples)
            print(f"  {trajectory.id} step {step.step_index}: {args.samples} samples "
                  f"({time.monotonic() - start:.0f} s)", flush=True)
            group = score_step_group(trajectory, step.step_index, samples, BranchSettings(scaffold=shared["scaffold"]))
            for text, score in zip(samples, group.scores or []):
                call = score_action(text, expert, scaffold=load_scaffold(shared["scaffold"])).call
                rows.append({"trajectory": trajectory.id, "step": step.step_index, "candidate_step": None,
                             "expert": short(expert), "candidate": short(call) if call else "(malformed)",
                             **score.rewards, "tampering": score.tampering})
        print(f"{trajectory.id}: {len(rows)} samples so far ({time.monotonic() - start:.0f} s)", flush=True)
        report(rows, chosen[: chosen.index(trajectory) + 1], start, args)  # what finished survives a stop
    return rows


def arguments(args) -> dict:
    """What makes two runs the same run (to go on after a stop)."""
    return {"policy": args.policy, "samples": args.samples, "temperature": args.temperature}


def finished_rows(out: Path, chosen: list, args) -> tuple[list[dict], set[str]]:
    """The rows of the trajectories a stopped run of the same command finished (its agreement.json), to go on."""
    path = out / "agreement.json"
    if not path.is_file():
        return [], set()
    done = json.loads(path.read_text())
    if done.get("arguments") != arguments(args):
        raise SystemExit(f"{path} holds a run with other arguments ({done.get('arguments')}): choose another OUT")
    finished = set(done.get("finished", [])) & {t.id for t in chosen}
    return [r for r in done["pairs"] if r["trajectory"] in finished], finished


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--trajectories", type=int, default=5, help="the first N recordings, one per environment first")
    parser.add_argument("--policy", default=None, help="candidates are this model's samples on held-out trajectories")
    parser.add_argument("--samples", type=int, default=4, help="with --policy: samples per step")
    parser.add_argument("--temperature", type=float, default=1.0, help="with --policy: sampling temperature")
    args = parser.parse_args()
    recorded = load_trajectories("srl-swe:default").trajectories
    start = time.monotonic()
    if args.policy:
        heldout = select_split(recorded, "heldout", 0.2, 0, 0.1)  # the demo's split: never trained on
        chosen = interleaved(heldout)[: args.trajectories]
        for trajectory in chosen:
            if ensure_images([task_of(trajectory)]):
                raise SystemExit(f"{trajectory.id}: its task image cannot be built")
        return report(policy_rows(chosen, args, start), chosen, start, args)
    chosen = interleaved(recorded)[: args.trajectories]
    rows = []
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
    return report(rows, chosen, start, args)


def report(rows: list[dict], chosen: list, start: float, args) -> int:
    """agreement.json and agreement.md (counts, agreement, disagreements) in ``args.out``."""
    every = rows
    rows = [r for r in rows if r["execution"] > -1]  # malformed samples run nothing: no execution to compare
    malformed = len(every) - len(rows)
    agree = [r for r in rows if (r["similarity"] >= SAME) == (r["execution"] >= SAME)]
    counts = {f"text {'>=' if a else '<'} {SAME}, execution {'>=' if b else '<'} {SAME}":
              sum(1 for r in rows if (r["similarity"] >= SAME) == a and (r["execution"] >= SAME) == b)
              for a in (True, False) for b in (True, False)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = (f"candidates: {args.samples} samples per step of {args.policy} at T={args.temperature} on held-out "
              f"trajectories ({malformed} malformed samples left out)" if args.policy else
              "candidates: the trajectory's own actions of every step")
    header = (f"{machine_line()} · {len(chosen)} trajectories · "
              f"{len(rows)} pairs · {time.monotonic() - start:.0f} s · {source}")
    write_atomic(out / "agreement.json", json.dumps({"header": header, "threshold": SAME, "arguments": arguments(args),
                                                     "finished": [t.id for t in chosen],
                                                     "pairs": every}, indent=1))
    tampered = [r for r in rows if r.get("tampering")]
    lines = ["# Textual vs execution step rewards on the recorded trajectories", "", header, "",
             *([f"Test files or machinery changed (execution scored 0): {len(tampered)}", ""] if args.policy else []),
             f"Agreement (both rewards on the same side of {SAME}): **{len(agree)}/{len(rows)}"
             f" = {len(agree) / max(1, len(rows)):.3f}**", "", "| | pairs |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in counts.items()]
    lines += ["", "## Disagreements", "", "| trajectory | step | candidate from step | text | execution | expert | candidate |",
              "|---|---:|---:|---:|---:|---|---|"]
    lines += [f"| {r['trajectory']} | {r['step']} | {'sample' if r['candidate_step'] is None else r['candidate_step']} | {r['similarity']:.3f} | {r['execution']:.3f} | "
              f"`{r['expert']}` | `{r['candidate']}` |".replace("\n", " ") for r in rows if r not in agree]
    write_atomic(out / "agreement.md", "\n".join(lines) + "\n")
    print("\n".join(lines[:12]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
