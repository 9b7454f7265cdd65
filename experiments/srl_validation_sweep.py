"""Choose SRL settings on the validation split: SRL variants from one starting model, each scored there.

The starting model is usually the demo's SFT stage (`runs/demo/01-sft/final`). Every variant
is a set of `train srl --set` overrides on top of the demo's SRL stage; each run and score is
cached under OUT/NAME, so the script resumes. Only validation trajectories are scored: the
held-out split stays untouched until the settings are chosen.

    python experiments/srl_validation_sweep.py --start runs/demo/01-sft/final --out experiments/results/sweep \\
        --variant lr1e-5 learning_rate=1e-5 --variant lr5e-5 learning_rate=5e-5
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from srl_comparison import SPLIT, cli, demo_config, evaluate, run, shared_options, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", required=True, help="the model SRL starts from")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"), required=True,
                        help="a name and its overrides of the demo's SRL stage")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "commands.log"
    srl = demo_config()["stage_options"]["srl"]
    rows = [{"variant": "start", **_scores(evaluate(args.start, "validation", args.out / "start", log, args, sample=True))}]
    for name, *overrides in args.variant:
        folder = args.out / name
        if not (folder / "final" / "config.json").exists():
            run(cli() + ["train", "srl", "--model", args.start, "--data", "srl-swe:default", "--output-dir", str(folder),
                         "--set", "eval_heldout=false", "resume=true", *SPLIT, *shared_options(),
                         *[f"{k}={v}" for k, v in srl.items()], *overrides], log)
        report = evaluate(str(folder / "final"), "validation", folder / "validation", log, args, sample=True)
        metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        train = [m for m in metrics if m.get("reward_mean") is not None]
        rows.append({"variant": name, "overrides": overrides, **_scores(report),
                     "train_reward_first": train[0]["reward_mean"] if train else None,
                     "train_reward_last": train[-1]["reward_mean"] if train else None,
                     "filter_rate_mean": sum(m["filter_rate"] for m in train) / len(train) if train else None})
        write_json(args.out / "sweep.json", rows)
    lines = ["| variant | overrides | validation reward (greedy) | sampled (T=1) | format | tool match | train reward first → last |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        trend = f"{r['train_reward_first']:+.3f} → {r['train_reward_last']:+.3f}" if r.get("train_reward_first") is not None else "–"
        lines.append(f"| {r['variant']} | {' '.join(r.get('overrides', []))} | {r['mean_reward']:+.3f} | "
                     f"{r['sampled_mean_reward']:+.3f} | {r['format_rate']:.2f} | {r['tool_match_rate']:.2f} | {trend} |")
    (args.out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _scores(report: dict) -> dict:
    return {k: report.get(k) for k in ("mean_reward", "sampled_mean_reward", "format_rate", "tool_match_rate", "count")}


if __name__ == "__main__":
    main()
