"""`srl-swe trajectories record|verify`: expert trajectories recorded and re-executed in live sandboxes."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..agent.recorder import record_trajectories
from ..agent.verify import verify_trajectory
from ..errors import SRLSweError
from ..evaluation.convert import load_task_rows
from ..trajectory import load_trajectories
from .options import add_backend_options, add_env_option, add_instances_option, backend_config

def _task_index(env_names: list[str] | None, instances: str | None) -> dict[str, dict[str, Any]]:
    """instance_id -> SWE-bench row (``--instances`` or ``--env``)."""
    return {row["instance_id"]: row for row in load_task_rows(instances, env_names)}


def cmd_trajectories_record(args: argparse.Namespace) -> None:
    tasks = list(_task_index((args.env or []) + args.env_names, args.instances).values())
    summary = record_trajectories(tasks, args.out, workers=args.workers, max_steps=args.max_steps, backend=backend_config(args),
                                  say=lambda line: print(line, file=sys.stderr if args.json else sys.stdout))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['trajectories']} resolved trajectories in {summary['out']}; {len(summary['failed'])} failed")
        for failure in summary["failed"]:
            print(f"  {failure}", file=sys.stderr)
    if summary["failed"]:
        raise SRLSweError(f"{len(summary['failed'])} task(s) could not be recorded")


def cmd_trajectories_verify(args: argparse.Namespace) -> None:
    index = _task_index(args.env, args.instances)
    results = []
    for trajectory in load_trajectories(args.file).trajectories:
        if trajectory.id not in index:
            raise SRLSweError(f"{args.file}: no task {trajectory.id!r} among the registered environments' tasks (use --instances)")
        results.append(verify_trajectory(trajectory, index[trajectory.id]).to_dict())
        if not args.json:
            r = results[-1]
            print(f"{r['trajectory_id']}: resolved={r['resolved']} mean observation similarity {r['mean_similarity']:.3f} "
                  f"(min {min(r['step_similarity'], default=1):.3f})")
    summary = {"trajectories": len(results), "resolved": sum(r["resolved"] for r in results),
               "mean_similarity": round(sum(r["mean_similarity"] for r in results) / max(1, len(results)), 4), "results": results}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['resolved']}/{summary['trajectories']} resolved; mean observation similarity {summary['mean_similarity']:.3f}")
    if summary["resolved"] != summary["trajectories"]:
        raise SRLSweError("some trajectories do not resolve their task when re-executed")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command group to the top-level ``srl-swe`` subparsers."""
    traj = sub.add_parser("trajectories", help="record and verify expert trajectories in live sandboxes").add_subparsers(
        dest="trajectories_command", required=True)
    record = traj.add_parser("record", help="run the scripted expert on every task of the environments")
    record.add_argument("env_names", nargs="*", metavar="ENV", help="the same as --env (its older spelling)")
    add_env_option(record, "registered environments whose tasks to record (default: all)")
    add_instances_option(record, "a SWE-bench rows file instead of the registered environments")
    record.add_argument("--out", required=True, help="canonical trajectory JSONL (resumable: recorded tasks are skipped)")
    record.add_argument("--workers", type=int, default=2, help="episodes recorded in parallel sandboxes")
    record.add_argument("--max-steps", type=int, default=30, help="actions per episode before it is cut off")
    record.add_argument("--json", action="store_true", help="print {out, tasks, already_recorded, recorded, trajectories, failed} as JSON")
    add_backend_options(record)
    record.set_defaults(func=cmd_trajectories_record)
    verify = traj.add_parser("verify", help="re-execute trajectories and compare observations")
    verify.add_argument("file", help="trajectory file (canonical JSONL) to replay and check")
    add_env_option(verify, "environments whose tasks the trajectories solve (default: all)")
    add_instances_option(verify, "a SWE-bench rows file holding the tasks")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_trajectories_verify)
