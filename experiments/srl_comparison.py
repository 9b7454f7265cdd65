"""The paper's comparison at small scale: base, SFT, SRL and SFT->SRL on the embedded expert data.

Every arm trains the default model (SmolLM2-135M-Instruct) on the same training trajectories
with the same step prompts (the shipped `demo` config's shared options), for 3 training
seeds; the split (`split_seed`) is fixed, so every arm and seed is scored on the same
held-out and validation trajectories. Budget: each training stage makes `--steps` optimizer
updates of `--batch` expert steps (SFT: batch_size; SRL: prompts_per_step x num_generations
rollouts; `--sft-steps` can give SFT its own count); SFT->SRL continues the SFT arm's final model of the
same seed with SRL (the SFT stage is trained once and shared), and `sft-long` (SFT for as many updates
as SFT->SRL makes in all) is its matched-update control.
SRL's learning rate and advantage scaling default to the demo's (chosen on validation).

Each run is a `srl-swe train pipeline` command; checkpoints are scored with `srl-swe eval
steps` (greedy held-out, validation, and one sample per step at the training temperature).
Results land in OUT/runs/ARM-seedS/ as JSON written atomically, so the script resumes where
it stopped; the summary (OUT/results.md, OUT/heldout_vs_step.png, OUT/results.json) is
rebuilt from whatever finished. The live arms (`sft-srl-live-execution`, `sft-srl-live-combined`) are SFT->SRL
with live SRL's execution or combined reward instead of the textual one (Docker). `--resolve` also rolls out each final model on the
registered tasks (oracle-file and agentic, needs Docker) and records the resolve rates.

    python experiments/srl_comparison.py --out experiments/results/2026-12-02
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

from srl_swe.data import DEFAULT_ENVS
from srl_swe.train.config_io import load_yaml

REPO = Path(__file__).resolve().parents[1]
ARMS = {"base": [], "sft": ["sft"], "srl": ["srl"], "sft-srl": ["sft", "srl"], "sft-long": ["sft"],
        "sft-srl-live-execution": ["sft", "srl"], "sft-srl-live-combined": ["sft", "srl"]}
CONTINUES = {"sft-srl": "sft", "sft-srl-live-execution": "sft", "sft-srl-live-combined": "sft"}
"""An arm that starts from another arm's final model of the same seed."""
ARM_OPTIONS = {"sft-srl-live-execution": ["srl.live=true", "srl.live_reward=execution"],
               "sft-srl-live-combined": ["srl.live=true", "srl.live_reward=combined"]}
"""Live SRL (needs Docker): the same SRL stage, rewarded by running each completion in a branch of the expert
prefix's snapshot (srl_swe.train.live_srl); every other setting is the offline arm's."""
SPLIT = ["heldout_fraction=0.2", "validation_fraction=0.1", "split_seed=0"]


def cli() -> list[str]:
    return [sys.executable, "-m", "srl_swe.cli"]  # works from a venv and from PYTHONPATH alone (the GPU machine)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def run(command: list[str], log: Path) -> None:
    print("$", shlex.join(command), flush=True)
    with log.open("a") as handle:
        handle.write("$ " + shlex.join(command) + "\n")
        handle.flush()
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True, cwd=REPO)


@cache
def demo_config() -> dict[str, Any]:
    """The shipped demo config, whose prompts, budget and SRL settings every arm shares."""
    return load_yaml("demo")


def own_stages(arm: str) -> list[str]:
    """The stages an arm trains itself: those after the arm it continues, if any."""
    start = CONTINUES.get(arm)
    return ARMS[arm][len(ARMS[start]):] if start else ARMS[arm]


def shared_options() -> list[str]:
    demo = demo_config()
    keep = ("scaffold", "context", "max_observation_chars", "max_problem_chars", "bf16")
    return [f"{k}={demo['shared'][k]}" for k in keep if k in demo["shared"]]


def generation_budget() -> str:
    """The demo's token budget, used for every rollout and evaluation (it covers the longest expert completion)."""
    return str(demo_config()["max_new_tokens"])


def step_flags() -> list[str]:
    """The `score steps` flags that rebuild the training prompts and split."""
    shared = demo_config()["shared"]
    return ["--scaffold", shared["scaffold"], "--context", shared["context"],
            "--max-observation-chars", str(shared["max_observation_chars"]), "--max-problem-chars", str(shared["max_problem_chars"]),
            "--heldout-fraction", "0.2", "--validation-fraction", "0.1", "--split-seed", "0"]


def evaluate(model: str, split: str, out: Path, log: Path, args, sample: bool) -> dict[str, Any]:
    """`score steps` of one model on one split (cached in `out`)."""
    report = out / "report.json"
    if not report.exists():
        command = cli() + ["score", "steps", "--model", model, "--split", split, "--out", str(out), "--data", "srl-swe:default",
                           "--max-new-tokens", generation_budget(), "--batch-size", str(args.eval_batch), "--json"] + step_flags()
        if sample:
            command += ["--sample-temperature", "1.0"]
        run(command, log)
    return json.loads(report.read_text())


def train(arm: str, seed: int, run_dir: Path, log: Path, args) -> dict[str, str]:
    """Train one arm (resumable); return {stage: final model folder}.

    An arm in CONTINUES trains only its own stages, from the other arm's final model of the
    same seed (the same command would train the same model again).
    """
    stages = own_stages(arm)
    if not stages:
        return {}
    start: dict[str, str] = {}
    if arm in CONTINUES:
        start = {ARMS[CONTINUES[arm]][-1]: one_run(CONTINUES[arm], seed, args)["model"]}
    sft_steps = args.sft_steps + (args.steps if arm == "sft-long" else 0)  # sft-long: as many updates as sft-srl
    command = cli() + ["train", "pipeline", ",".join(stages), "--data", "srl-swe:default", "--output-dir", str(run_dir),
                       "--set", "eval_heldout=false", "resume=true", f"seed={seed}", *SPLIT, *shared_options(),
                       f"model={start['sft'] if start else args.model}",
                       f"sft.max_steps={sft_steps}", f"sft.batch_size={args.batch}", f"sft.learning_rate={args.sft_lr}",
                       f"sft.save_steps={max(1, sft_steps // args.points)}", "sft.save_total_limit=null",
                       f"srl.max_steps={args.steps}", f"srl.prompts_per_step={args.batch}",
                       f"srl.num_generations={args.generations}", f"srl.learning_rate={args.srl_lr}",
                       f"srl.save_steps={max(1, args.steps // args.points)}", f"srl.max_completion_length={generation_budget()}",
                       f"srl.max_refill_rounds={args.refill_rounds}", f"srl.scale_rewards={args.srl_scale_rewards}",
                       "srl.eval_heldout=false", *ARM_OPTIONS.get(arm, [])]
    if not (run_dir / "pipeline.json").exists():
        run(command, log)
    return {**start, **{s["stage"]: s["model"] for s in json.loads((run_dir / "pipeline.json").read_text())["stages"]}}


def curve(arm: str, seed: int, run_dir: Path, final: dict[str, Any], log: Path, args) -> list[dict[str, Any]]:
    """Held-out greedy reward at each saved checkpoint, with a global step counted across stages.

    The last checkpoint holds the final model, whose report is `final`; an arm in CONTINUES
    begins with the other arm's curve.
    """
    points, offset = [], 0
    stages = own_stages(arm)
    if arm in CONTINUES:
        points = one_run(CONTINUES[arm], seed, args)["curve"]
        offset = max(p["step"] for p in points)
    for index, stage in enumerate(stages, 1):
        folder = run_dir / f"{index:02d}-{stage}"
        checkpoints = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        for checkpoint in checkpoints:
            step = int(checkpoint.name.split("-")[1])
            last = index == len(stages) and checkpoint == checkpoints[-1]
            report = final if last else evaluate(str(checkpoint), "heldout", run_dir / "eval" / f"{stage}-{step}", log, args,
                                                 sample=False)
            points.append({"stage": stage, "step": offset + step, "heldout_reward": report["mean_reward"]})
        offset += max((int(c.name.split("-")[1]) for c in checkpoints), default=0)
    return points


def resolve_rates(model: str, run_dir: Path, log: Path, args) -> dict[str, float]:
    rates = {}
    for mode in ("oracle-file", "agentic"):
        predictions = run_dir / "resolve" / f"{mode}.jsonl"
        predictions.parent.mkdir(parents=True, exist_ok=True)
        command = cli() + ["rollout", "--model", model, "--mode", mode, "--env", *DEFAULT_ENVS, "--out", str(predictions), "--grade",
                           "--max-new-tokens", "512", "--max-steps", "10"]
        if args.resolve_limit:
            command += ["--limit", str(args.resolve_limit)]
        run(command, log)
        details = [json.loads(line) for line in predictions.with_suffix(".details.jsonl").read_text().splitlines() if line]
        rates[mode] = sum(bool(d.get("grade", {}).get("resolved")) for d in details) / max(1, len(details))
    return rates


def one_run(arm: str, seed: int, args) -> dict[str, Any]:
    run_dir = args.out / "runs" / f"{arm}-seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    result_path = run_dir / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    log = run_dir / "commands.log"
    start = time.time()
    stages = train(arm, seed, run_dir, log, args)
    model = stages[ARMS[arm][-1]] if stages else args.model
    heldout = evaluate(model, "heldout", run_dir / "eval" / "final-heldout", log, args, sample=True)
    validation = (None if args.skip_validation else
                  evaluate(model, "validation", run_dir / "eval" / "final-validation", log, args, sample=False))
    result = {"arm": arm, "seed": seed, "model": model, "wall_s": round(time.time() - start, 1),
              **{f"heldout_{k}": heldout[k] for k in ("mean_reward", "format_rate", "tool_match_rate", "count")},
              "heldout_sampled_reward": heldout.get("sampled_mean_reward"),
              "validation_reward": validation["mean_reward"] if validation else None,
              "curve": curve(arm, seed, run_dir, heldout, log, args) if stages else []}
    if args.resolve:
        result["resolve"] = resolve_rates(model, run_dir, log, args)
    write_json(result_path, result)
    return result


def baseline() -> dict[str, Any]:
    from srl_swe.baselines import copy_from_train
    from srl_swe.steps import StepConfig
    from srl_swe.train.data import load_data, select_split

    shared = demo_config()["shared"]
    config = StepConfig(context=shared["context"], max_observation_chars=shared["max_observation_chars"],
                        max_problem_chars=shared["max_problem_chars"], scaffold=shared["scaffold"])
    trajectories = load_data("srl-swe:default")
    train = select_split(trajectories, "train", 0.2, 0, 0.1)
    return {split: copy_from_train(train, select_split(trajectories, split, 0.2, 0, 0.1), config)
            for split in ("heldout", "validation")}


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:+.3f}"
    return f"{statistics.mean(values):+.3f} ± {statistics.stdev(values):.3f}"


def summarise(results: list[dict[str, Any]], args) -> None:
    floor = baseline()
    lines = [f"# SRL comparison at small scale ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {args.machine or f'{platform.node()} ({os.cpu_count()} CPUs), {platform.platform()}'}; model {args.model}; "
             f"data srl-swe:default (42 train / 6 validation / 12 held-out trajectories, split_seed 0).",
             f"Budget: SFT {args.sft_steps} updates, SRL {args.steps} (sft-long {args.sft_steps + args.steps}), each of "
             f"{args.batch} expert steps; SRL group size "
             f"{args.generations}; lr SFT {args.sft_lr}, SRL {args.srl_lr} (scale_rewards {args.srl_scale_rewards}). "
             "Mean ± std over training seeds.", "",
             "| arm | seeds | held-out reward (greedy) | held-out reward (sampled, T=1) | format rate | tool match "
             "| validation reward |" + (" resolved oracle-file | resolved agentic |" if args.resolve else ""),
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.resolve else "")]
    for arm in ARMS:
        rows = [r for r in results if r["arm"] == arm]
        if not rows:
            continue
        cells = [spread([r["heldout_mean_reward"] for r in rows]),
                 spread([r["heldout_sampled_reward"] for r in rows if r["heldout_sampled_reward"] is not None]),
                 spread([r["heldout_format_rate"] for r in rows]), spread([r["heldout_tool_match_rate"] for r in rows]),
                 spread([r["validation_reward"] for r in rows if r["validation_reward"] is not None])]
        if args.resolve:
            cells += [spread([r["resolve"][m] for r in rows if "resolve" in r]) for m in ("oracle-file", "agentic")]
        lines.append(f"| {arm} | {len(rows)} | " + " | ".join(cells) + " |")
    lines.append(f"| copy-from-train (no model) | – | {floor['heldout']['mean_reward']:+.3f} | – | "
                 f"{floor['heldout']['format_rate']:.3f} | {floor['heldout']['tool_match_rate']:.3f} | "
                 f"{floor['validation']['mean_reward']:+.3f} |" + (" – | – |" if args.resolve else ""))
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    write_json(args.out / "results.json", {"results": results, "copy_from_train": floor, "args": {k: str(v) for k, v in vars(args).items()}})
    _plot(results, args.out / "heldout_vs_step.png")
    print("\n".join(lines))


def _plot(results: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for index, arm in enumerate(a for a in ARMS if a != "base"):
        for r in (r for r in results if r["arm"] == arm and r["curve"]):
            ax.plot([p["step"] for p in r["curve"]], [p["heldout_reward"] for p in r["curve"]], marker="o", color=f"C{index}",
                    alpha=0.7, label=arm if r["seed"] == min(x["seed"] for x in results if x["arm"] == arm) else None)
    ax.set(xlabel="optimizer step (stages chained)", ylabel="held-out step reward (greedy)", title="held-out reward vs step")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--model", default="smollm2-135m", help="the model every arm starts from (tiny-random: a quick dry run)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20, help="optimizer updates per training stage")
    parser.add_argument("--sft-steps", type=int, default=None, help="optimizer updates of the SFT stage (default: --steps)")
    parser.add_argument("--batch", type=int, default=2, help="expert steps per update")
    parser.add_argument("--generations", type=int, default=4, help="SRL rollouts per prompt")
    parser.add_argument("--sft-lr", type=float, default=1e-4)
    parser.add_argument("--srl-lr", type=float, default=demo_config()["stage_options"]["srl"]["learning_rate"])
    parser.add_argument("--srl-scale-rewards", default=demo_config()["stage_options"]["srl"]["scale_rewards"], choices=["group", "batch", "none"])
    parser.add_argument("--refill-rounds", type=int, default=1)
    parser.add_argument("--points", type=int, default=2, help="checkpoints scored per stage for the curve")
    parser.add_argument("--resolve", action="store_true", help="also measure resolve rates on the registered tasks (Docker)")
    parser.add_argument("--resolve-limit", type=int, default=None, help="at most N registered tasks per mode")
    parser.add_argument("--eval-batch", type=int, default=8, help="steps decoded together in each evaluation (a GPU takes all at once)")
    parser.add_argument("--machine", default=None, help="machine description for the table (default: this host's)")
    parser.add_argument("--summary-only", action="store_true",
                        help="rebuild the summary from the finished runs under OUT (e.g. seeds run as parallel processes)")
    parser.add_argument("--skip-validation", action="store_true", help="score final models held out only (saves one evaluation per run)")
    args = parser.parse_args()
    args.sft_steps = args.sft_steps or args.steps
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summary_only:
        finished = [args.out / "runs" / f"{arm}-seed{seed}" / "result.json" for seed in args.seeds for arm in args.arms]
        summarise([json.loads(path.read_text()) for path in finished if path.exists()], args)
        return
    results = []
    for seed in args.seeds:
        for arm in args.arms:
            if arm == "base" and seed != args.seeds[0]:
                continue  # the base model has no training seed; its sampled score uses the first seed
            results.append(one_run(arm, seed, args))
            summarise(results, args)


if __name__ == "__main__":
    main()
