"""Evaluation throughput: instances evaluated per minute, our engine vs ``--engine swebench``.

Gold predictions for the same K shipped tasks of one env, measured side by side in one run:

- our engine (``srl-swe evaluate``) with 1 worker and with N workers;
- the same rows through ``swebench.harness.run_evaluation`` (``--engine swebench``), N workers;

each on two copies of the task images that differ only in their stop signal:
``STOPSIGNAL SIGTERM`` (what the official SWE-bench instance images do: PID 1 ignores SIGTERM,
so the harness's ``docker stop`` waits its 15 s grace period) and ``STOPSIGNAL SIGKILL`` (what our
task images declare). Every run must give the same per-instance reports; the script checks it.
Whole ``evaluate()`` calls are timed (what a user waits for), each in a fresh output folder.

Run: ``.venv/bin/python benchmarks/bench_eval.py [--env inflection] [--tasks 6] [--workers 2]``.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.evaluation.engine import EvaluationConfig, ensure_images, evaluate, instance_reports  # noqa: E402
from srl_swe.images import docker_client  # noqa: E402
from srl_swe.registry import load_env  # noqa: E402


def derived_rows(rows: list[dict], signal: str, client) -> list[dict]:
    """Copies of the task images with the given stop signal (same layers, same tests)."""
    out = []
    for row in rows:
        tag = f"srl-swe-bench/eval-{signal.lower()}-" + row["image"].replace("/", "-").replace(":", "-") + ":latest"
        client.images.build(fileobj=io.BytesIO(f"FROM {row['image']}\nSTOPSIGNAL {signal}\n".encode()), tag=tag, rm=True)
        out.append({**row, "image": tag})
    return out


def timed(config: EvaluationConfig) -> tuple[float, dict, dict]:
    start = time.perf_counter()
    summary = evaluate(config)
    seconds = time.perf_counter() - start
    data = summary.to_dict()
    assert data["resolved"] == data["total"], f"gold must resolve every task: {data}"
    return seconds, data, instance_reports(summary)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="inflection")
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    client = docker_client()
    rows = load_env(args.env).load_tasks()[: args.tasks]
    problems = ensure_images(rows, pull=False, client=client, say=print)
    if problems:
        print(problems)
        return 1
    print(f"{datetime.date.today()} · {platform.node()} · {os.cpu_count()} CPUs · {args.tasks} {args.env} tasks, gold")
    results, reports = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for signal in ("SIGTERM", "SIGKILL"):
            variant = derived_rows(rows, signal, client)
            rows_file = Path(tmp, f"rows-{signal}.jsonl")
            rows_file.write_text("".join(json.dumps(r) + "\n" for r in variant))
            runs = [("srl-swe", 1), ("srl-swe", args.workers), ("swebench", args.workers)]
            for engine, workers in runs:
                out = Path(tmp, f"{signal}-{engine}-{workers}")
                seconds, data, per_instance = timed(EvaluationConfig(
                    instances=str(rows_file), predictions="gold", run_id="bench", engine=engine, workers=workers,
                    output_dir=str(out)))
                rate = 60 * data["total"] / seconds
                results.append((signal, engine, workers, seconds, rate))
                reports[(signal, engine, workers)] = per_instance
                print(f"  {signal:7s} {engine:8s} {workers} worker(s): {seconds:6.1f} s  {rate:6.2f} instances/min")
            for tag in {r["image"] for r in variant}:
                client.images.remove(tag, noprune=False)
    first = next(iter(reports.values()))
    identical = all(r == first for r in reports.values())
    print(f"identical per-instance reports across all runs: {identical}")
    rate = {(s, e, w): r for s, e, w, _, r in results}
    for signal in ("SIGTERM", "SIGKILL"):
        ours, theirs, one = rate[(signal, "srl-swe", args.workers)], rate[(signal, "swebench", args.workers)], rate[(signal, "srl-swe", 1)]
        print(f"{signal}: srl-swe / swebench, {args.workers} workers: {ours / theirs:.2f}x; "
              f"srl-swe {args.workers} workers / 1 worker: {ours / one:.2f}x")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
