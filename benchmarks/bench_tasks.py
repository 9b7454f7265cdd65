"""Task validation throughput: tasks validated per minute by the real SWE-bench harness, N workers vs 1.

Runs ``swebench.harness.run_evaluation -p gold`` (a container per task: apply the gold patch, run
the eval script, grade) over the same K shipped tasks of one env, first with 1 worker, then
with N, and prints both rates and their ratio. Task images are built (or checked) before the
clock starts, so only the harness is timed. Needs a Docker daemon and the env image.

``--sigkill`` also times N workers on copies of the task images that declare ``STOPSIGNAL SIGKILL``
(tagged ``srl-swe-bench/...``, removed afterwards): the harness stops every container with
``docker stop --time=15``, and the images' PID 1 (``tail -f /dev/null``) ignores SIGTERM, so each
task otherwise waits the full 15 s grace period.

Run: ``.venv/bin/python benchmarks/bench_tasks.py [--env inflection] [--tasks 6] [--workers 2] [--sigkill]``.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.registry import load_env  # noqa: E402
from srl_swe.tasks.validate import ensure_task_images, validate_env  # noqa: E402


def sigkill_rate(spec, rows, args, tmp: Path) -> float:
    """Tasks/min with N workers on derived images that stop on SIGKILL (same tests, same grading)."""
    from srl_swe.images import docker_client

    client = docker_client()
    copies, tags = [], []
    for row in rows:
        tag = "srl-swe-bench/" + row["image"].replace("/", "-")
        client.images.build(fileobj=io.BytesIO(f"FROM {row['image']}\nSTOPSIGNAL SIGKILL\n".encode()), tag=tag, rm=True)
        copies.append({**row, "image": tag})
        tags.append(tag)
    path = tmp / "tasks-sigkill.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in copies))
    try:
        report = validate_env(args.env, workers=args.workers, tasks_path=path, modes=[args.mode], build=False,
                              work_dir=tmp / "sigkill")
    finally:
        for tag in tags:
            client.images.remove(tag, noprune=False)
    run = report.runs[args.mode]
    print(f"  {args.workers} worker(s), STOPSIGNAL SIGKILL: {run.seconds:6.1f} s, {run.tasks_per_minute:5.2f} tasks/min, "
          f"{len(run.resolved)}/{run.total} resolved, ok={run.ok}")
    return run.tasks_per_minute


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="inflection")
    parser.add_argument("--tasks", type=int, default=6, help="shipped tasks to validate (the first K)")
    parser.add_argument("--workers", type=int, default=2, help="N of the N-vs-1 comparison")
    parser.add_argument("--mode", default="gold", choices=["gold", "no-patch"])
    parser.add_argument("--sigkill", action="store_true", help="also time images with STOPSIGNAL SIGKILL")
    args = parser.parse_args()

    spec = load_env(args.env)
    rows = spec.load_tasks()[:args.tasks]
    if not rows:
        print(f"{spec.tasks_path} holds no tasks: run `srl-swe tasks synthesize {args.env}` first")
        return 2
    built, problems = ensure_task_images(spec, rows, jobs=args.workers)
    if problems:
        print(f"task image problems: {problems}")
        return 1
    ids = [r["instance_id"] for r in rows]
    print(f"{args.env}: {len(ids)} tasks, harness mode '{args.mode}' ({len(built)} task images built first)")
    rates = {}
    with tempfile.TemporaryDirectory(prefix="srl-swe-bench-tasks-") as tmp:
        for workers in (1, args.workers):
            report = validate_env(args.env, workers=workers, instance_ids=ids, modes=[args.mode], build=False,
                                  work_dir=Path(tmp) / f"w{workers}")
            run = report.runs[args.mode]
            rates[workers] = run.tasks_per_minute
            print(f"  {workers} worker(s): {run.seconds:6.1f} s, {run.tasks_per_minute:5.2f} tasks/min, "
                  f"{len(run.resolved)}/{run.total} resolved, ok={run.ok}")
        if args.sigkill:
            rates["sigkill"] = sigkill_rate(spec, rows, args, Path(tmp))
    ratio = rates[args.workers] / rates[1] if rates[1] else float("nan")
    print(f"\nratio {args.workers} workers / 1 worker: {ratio:.2f}x")
    if args.sigkill and rates[args.workers]:
        print(f"ratio STOPSIGNAL SIGKILL / as built ({args.workers} workers): {rates['sigkill'] / rates[args.workers]:.2f}x")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {datetime.date.today().isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
