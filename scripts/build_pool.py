"""Build the shipped pool of registered environments from PyPI, one package at a time, and time each phase.

For each `NAME==VERSION` of the list file: `envs add pypi:...`, `envs build`, `tasks synthesize`,
`envs build --tasks`, `envs validate`, `trajectories record`. A task ships only when the harness
validates it (gold resolves, empty and no-patch do not) and the scripted expert records it; the rows of
the others are removed and counted. Every phase runs the CLI a user runs, so a package that needs a
hand edit fails here as it would for them; its error is kept in the state file and the next package goes on.

State (phases done, seconds, counts, errors) is `--state` (JSON, replaced atomically after every phase):
rerunning the same command skips what is done, so a killed build resumes. `--table` prints the
per-environment table (tests, tasks, mutation kinds, image size, build and synthesis time).

Run: ``.venv/bin/python scripts/build_pool.py scripts/pool_packages.txt --envs-dir DIR --trajectories FILE``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srl_swe.data import POOL_TRAJECTORIES  # noqa: E402
from srl_swe.evaluation.convert import write_rows  # noqa: E402
from srl_swe.files import write_atomic  # noqa: E402
from srl_swe.registry import read_tasks, tasks_file  # noqa: E402
from srl_swe.resources import resource  # noqa: E402
from srl_swe.trajectory import load_trajectories, write_jsonl  # noqa: E402

PHASES = ("add", "build", "synthesize", "task_images", "validate", "record")
CLI = [sys.executable, "-m", "srl_swe.cli"]


def run_cli(args: list[str], envs_dir: Path) -> tuple[int, str, float]:
    """(exit code, stdout + stderr tail, seconds) of one `srl-swe` command against ``envs_dir``."""
    start = time.monotonic()
    proc = subprocess.run(CLI + args, env={**os.environ, "SRL_SWE_ENVS_DIR": str(envs_dir)},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.returncode, proc.stdout, time.monotonic() - start


def last_json(output: str) -> dict:
    """The JSON object a `--json` command printed last (progress lines may come before it)."""
    start = output.rfind("\n{")
    return json.loads(output[start + 1 if start >= 0 else output.index("{"):])


def drop_rows(envs_dir: Path, name: str, instance_ids: set[str]) -> int:
    """Remove these tasks from the env's rows file; returns how many went."""
    if not instance_ids:
        return 0
    path = tasks_file(envs_dir, name)
    rows = read_tasks(path)
    kept = [row for row in rows if row["instance_id"] not in instance_ids]
    write_rows(kept, path)
    return len(rows) - len(kept)


def image_mb(image: str) -> float:
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image],
                         capture_output=True, text=True)
    return round(int(out.stdout.strip()) / 1e6, 1) if out.returncode == 0 and out.stdout.strip() else 0.0


def package_name(requirement: str) -> str:
    """The env name `envs add pypi:` writes: the project name, lower case."""
    return requirement.split("==")[0].strip().lower()


def build_one(requirement: str, entry: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    name = package_name(requirement)
    envs_dir, seconds = Path(args.envs_dir), entry.setdefault("seconds", {})
    steps = {
        "add": ["envs", "add", f"pypi:{requirement}", "--envs-dir", str(envs_dir), "--json"],
        "build": ["envs", "build", name],
        "synthesize": ["tasks", "synthesize", name, "--max-tasks", str(args.max_tasks), "--seed", str(args.seed),
                       "--workers", str(args.workers), "--max-seconds", str(args.max_synthesis_seconds), "--json"],
        "task_images": ["envs", "build", name, "--tasks"],
        "validate": ["envs", "validate", name, "--workers", str(args.workers), "--json"],
        "record": ["trajectories", "record", "--env", name, "--out", str(args.trajectories),
                   "--workers", str(args.workers), "--json"],
    }
    if (envs_dir / f"{name}.yaml").exists() and "add" not in entry.setdefault("done", []):
        entry["done"].append("add")  # a run killed before it saved its state: the spec is there
    for phase in PHASES:
        if phase in entry["done"]:
            continue
        print(f"[{name}] {phase} ...", flush=True)
        code, output, took = run_cli(steps[phase], envs_dir)
        seconds[phase] = round(seconds.get(phase, 0.0) + took, 1)
        if code != 0:
            entry["error"] = f"{phase} exited {code}:\n{output[-3000:]}"
            print(f"[{name}] {phase} FAILED ({took:.0f} s):\n{output[-3000:]}", flush=True)
            save()
            return
        if phase == "synthesize":
            report = last_json(output)
            entry.update(tests=report["baseline_tests"], tried=report["tried"], rejected=report["rejected"],
                         unnamed_tests=report["unnamed_tests"])
        elif phase == "validate":
            report = last_json(output)
            failing = {iid for run in report["runs"].values() for iid in run["mismatches"]}
            entry["dropped_by_validation"] = drop_rows(envs_dir, name, failing)
        elif phase == "record":
            report = last_json(output)
            failed = {line.split(":", 1)[0] for line in report["failed"]}  # "instance_id: why"
            entry["dropped_by_recording"] = drop_rows(envs_dir, name, failed)
        entry["done"].append(phase)
        entry.pop("error", None)
        save()
        print(f"[{name}] {phase} done in {took:.0f} s", flush=True)
    rows = read_tasks(tasks_file(envs_dir, name))
    entry.update(tasks=len(rows), kinds=dict(Counter(row["mutation"]["kind"] for row in rows)),
                 image_mb=image_mb(f"srl-swe/env.{name}:latest"))


def ship(state: dict, args: argparse.Namespace) -> list[str]:
    """Copy each finished env (every phase done, tasks left) into the package's registry, and write
    srl-swe:pool as exactly their recorded trajectories; returns the names shipped."""
    envs_dir, shipped, names = Path(args.envs_dir), resource("envs"), []
    for requirement, entry in state.items():
        name = package_name(requirement)
        if set(PHASES) <= set(entry.get("done", [])) and entry.get("tasks"):
            for source, target in ((envs_dir / f"{name}.yaml", shipped / f"{name}.yaml"),
                                   (tasks_file(envs_dir, name), tasks_file(shipped, name))):
                write_atomic(target, source.read_text())
            names.append(name)
    ids = {row["instance_id"] for name in names for row in read_tasks(tasks_file(envs_dir, name))}
    episodes = [t for t in load_trajectories(args.trajectories).trajectories if t.id in ids]
    write_jsonl(sorted(episodes, key=lambda t: t.id), POOL_TRAJECTORIES)
    print(f"shipped {len(names)} envs ({', '.join(names)}), {len(episodes)} trajectories of {len(ids)} tasks "
          f"-> {POOL_TRAJECTORIES}")
    return names


def table(state: dict) -> str:
    lines = ["| env | tests | tasks | mutation kinds | image MB | build s | synthesis s | images + validation + recording s |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for requirement, e in state.items():
        s = e.get("seconds", {})
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(e.get("kinds", {}).items()))
        later = sum(s.get(p, 0.0) for p in ("task_images", "validate", "record"))
        status = "" if "error" not in e else f" (stopped at {e['error'].split(' ')[0]})"
        lines.append(f"| {requirement}{status} | {e.get('tests', '')} | {e.get('tasks', '')} | {kinds} | "
                     f"{e.get('image_mb', '')} | {s.get('build', '')} | {s.get('synthesize', '')} | {round(later, 1)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", type=Path, help="one NAME==VERSION per line (# comments)")
    parser.add_argument("--envs-dir", required=True, help="registry the specs and rows are written to")
    parser.add_argument("--trajectories", required=True, type=Path, help="JSONL the expert episodes are appended to")
    parser.add_argument("--state", type=Path, default=None, help="progress file (default ENVS_DIR/pool-state.json)")
    parser.add_argument("--max-tasks", type=int, default=30)
    parser.add_argument("--max-synthesis-seconds", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", nargs="+", default=None, help="only these names")
    parser.add_argument("--table", action="store_true", help="print the table of the state file and stop")
    parser.add_argument("--ship", action="store_true",
                        help="copy the finished envs into the package's registry and write srl-swe:pool, then stop")
    args = parser.parse_args()
    state_path = args.state or Path(args.envs_dir) / "pool-state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if args.table or args.ship:
        if args.ship:
            ship(state, args)
        print(table(state))
        return 0

    def save() -> None:
        write_atomic(state_path, json.dumps(state, indent=2) + "\n")

    requirements = [line.split("#")[0].strip() for line in args.packages.read_text().splitlines()]
    for requirement in filter(None, requirements):
        if not args.only or package_name(requirement) in args.only:
            build_one(requirement, state.setdefault(requirement, {}), args, save)
            save()
    print(table(state))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
