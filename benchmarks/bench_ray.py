"""Evaluation on Ray against the local backend: instances per minute, and Ray's overhead per instance.

Gold predictions for the same K shipped tasks of one env, side by side in one run, each run in a
fresh output folder and timed whole (what a user waits for):

- ``--backend local`` with 1 and N workers (threads of this process);
- ``--backend ray`` with 1 and N workers (one Ray task per instance on a Ray runtime of this
  machine, started before the clock: a cluster is started once and serves many runs).

A Ray task asks its node for the container's CPUs (``--cpus``, default 1 here; ``evaluate``'s
default is 2): on a 2-CPU machine with 2-CPU containers Ray runs one instance at a time, where
the local thread pool runs two and oversubscribes the cores.

Every run must give the same per-instance reports; the script checks it. Ray's overhead per
instance is (ray seconds - local seconds) / K at the same worker count.

Run: ``.venv/bin/python benchmarks/bench_ray.py [--env inflection] [--tasks 6] [--workers 2]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.backend import BackendConfig, connect_ray  # noqa: E402
from srl_swe.evaluation.engine import EvaluationConfig, ensure_images, evaluate, instance_reports  # noqa: E402
from srl_swe.images import docker_client  # noqa: E402
from srl_swe.registry import load_env  # noqa: E402
from benchmarks.machine import machine_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="inflection")
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus", type=float, default=1.0,
                        help="CPUs of each eval container, which is also what a Ray task asks of its node (default 1: "
                             "2 instances at once on a 2-CPU machine, on both backends)")
    args = parser.parse_args()

    spec = load_env(args.env)
    rows = spec.load_tasks()[: args.tasks]
    problems = ensure_images(rows, pull=False, client=docker_client(), say=print)
    if problems:
        print(problems)
        return 1
    print(f"{machine_line()} · {len(rows)} {args.env} tasks, gold, "
          f"{args.cpus:g} CPU(s) per container")
    start = time.perf_counter()
    connect_ray(None)
    print(f"  ray runtime started in {time.perf_counter() - start:.1f} s (not counted below)")
    seconds, reports = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("local", "ray"):
            for workers in (1, args.workers):
                start = time.perf_counter()
                summary = evaluate(EvaluationConfig(
                    instances=str(spec.tasks_path), instance_ids=[row["instance_id"] for row in rows], predictions="gold",
                    run_id="bench", workers=workers, cpus=args.cpus, output_dir=str(Path(tmp, f"{backend}-{workers}")),
                    backend=BackendConfig(backend)))
                took = seconds[backend, workers] = time.perf_counter() - start
                data = summary.to_dict()
                assert data["resolved"] == data["total"] == len(rows), f"gold must resolve every task: {data}"
                reports[backend, workers] = instance_reports(summary)
                print(f"  {backend:5s} {workers} worker(s): {took:6.1f} s  {60 * len(rows) / took:6.2f} instances/min")
    identical = all(report == reports["local", 1] for report in reports.values())
    print(f"identical per-instance reports across all runs: {identical}")
    for workers in (1, args.workers):
        ray, local = seconds["ray", workers], seconds["local", workers]
        print(f"{workers} worker(s): ray / local throughput {local / ray:.2f}x; "
              f"ray overhead {(ray - local) / len(rows):+.2f} s per instance")
    print(f"ray {args.workers} workers / 1 worker: {seconds['ray', 1] / seconds['ray', args.workers]:.2f}x; "
          f"local: {seconds['local', 1] / seconds['local', args.workers]:.2f}x")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
