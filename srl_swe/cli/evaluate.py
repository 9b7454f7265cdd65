"""`srl-swe evaluate …` and `srl-swe report …`.

::

    srl-swe evaluate --instances FILE|HF_DATASET --predictions PREDS.jsonl|gold|empty --run-id ID
                     [--workers N] [--engine srl-swe|swebench] [--output-dir DIR] [--instance-ids ID ...]
                     [--timeout S] [--namespace NS] [--no-pull] [--skip-missing-images] [--network]
                     [--setting LABEL] [--json]
    srl-swe evaluate regrade --instances FILE --instance-id ID --log test_output.txt [--patch patch.diff]
    srl-swe evaluate regrade --instances FILE --run-dir logs/run_evaluation/RUN/MODEL [--out DIR]
    srl-swe evaluate convert --instances FILE|HF_DATASET --out ROWS.jsonl [--namespace NS]
    srl-swe report RUN_DIR ... [--out DIR]

``evaluate --json`` prints the summary object (also written to ``DIR/MODEL.RUN_ID.summary.json``);
``regrade`` prints the instance's report in the harness's report.json shape.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import SRLSweError
from ..evaluation.convert import convert_file, load_instances, write_rows
from ..evaluation.engine import ENGINES, EvaluationConfig, evaluate
from ..evaluation.regrade import regrade, regrade_run, regrade_warnings
from ..evaluation.report import collect, write_report
from ..records import read_text
from .options import add_backend_options, add_instance_ids_option, add_instances_option, backend_config, instance_ids


def cmd_evaluate(args: argparse.Namespace) -> None:
    if not args.instances or not args.run_id:
        raise SRLSweError("evaluate needs --instances and --run-id (and --predictions, default gold)")
    config = EvaluationConfig(
        instances=args.instances, predictions=args.predictions, run_id=args.run_id, workers=args.workers,
        engine=args.engine, output_dir=args.output_dir, instance_ids=instance_ids(args.instance_ids), split=args.split,
        timeout=args.timeout, namespace=args.namespace or None, pull=not args.no_pull,
        skip_missing_images=args.skip_missing_images, network=args.network, setting=args.setting, cpus=args.cpus,
        memory=args.memory,
        backend=backend_config(args))
    quiet = args.json
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    progress = (lambda o: None) if quiet else (
        lambda o: print(f"  {o.instance_id}: {o.status}" + (f" ({o.detail})" if o.detail else "") + f" [{o.seconds:.1f}s]",
                        file=sys.stderr, flush=True))
    summary = evaluate(config, say=say, progress=progress)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(summary.to_markdown())


def cmd_regrade(args: argparse.Namespace) -> None:
    if args.run_dir:
        if not args.instances:
            raise SRLSweError("evaluate regrade --run-dir needs --instances")
        summary = regrade_run(args.run_dir, args.instances, out=args.out, namespace=args.namespace or None)
        for iid, found in summary["warnings"].items():
            for warning in found:
                print(f"warning: {iid}: {warning}", file=sys.stderr)
        print(json.dumps({k: v for k, v in summary.items() if k != "reports" or not args.out}, indent=2))
        return
    if not (args.instances and args.instance_id and args.log):
        raise SRLSweError("evaluate regrade needs --instances and either --run-dir, or --instance-id and --log")
    rows = [row for row in load_instances(args.instances, split=args.split) if row.get("instance_id") == args.instance_id]
    if not rows:
        raise SRLSweError(f"{args.instances}: no instance {args.instance_id}")
    log = Path(args.log)
    if not log.is_file():
        raise SRLSweError(f"log not found: {log}")
    patch = read_text(args.patch) if args.patch else None
    report = regrade(rows[0], log, patch, namespace=args.namespace or None, source=str(args.instances))
    for warning in regrade_warnings(rows[0], log, namespace=args.namespace or None, source=str(args.instances)):
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(report, indent=4))


def cmd_convert(args: argparse.Namespace) -> None:
    if not (args.instances and args.out):
        raise SRLSweError("evaluate convert needs --instances and --out")
    rows = convert_file(args.instances, namespace=args.namespace or None, split=args.split)
    path = write_rows(rows, args.out)
    if args.json:
        print(json.dumps({"out": str(path), "rows": len(rows)}, indent=2))
        return
    print(f"wrote {len(rows)} swebench 5.x row(s) to {path}")


def cmd_report(args: argparse.Namespace) -> None:
    table, chart = write_report(args.run_dirs, args.out, title=args.title)
    if args.json:
        cells = [{"model": model, "setting": setting, "resolved": cell.resolved, "total": cell.total,
                  "resolved_rate": cell.rate / 100} for (model, setting), cell in sorted(collect(args.run_dirs).items())]
        print(json.dumps({"table": str(table), "chart": str(chart), "cells": cells}, indent=2))
        return
    print(table.read_text())
    print(f"wrote {table} and {chart}", file=sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` (with ``regrade`` and ``convert``) and ``report`` to the top-level parser."""
    def common(p: argparse.ArgumentParser) -> None:
        add_instances_option(p)
        p.add_argument("--split", default="test", help="split of a Hugging Face dataset")
        p.add_argument("--namespace", default="swebench", help="image namespace for classic rows: 'swebench' = each dataset's publisher (SWE-bench, SWE-Gym), "
                                                            "another = a mirror, '' = locally built names")

    evaluate = sub.add_parser("evaluate", help="score predictions with the SWE-bench harness's steps (our containers or swebench's)")
    common(evaluate)
    evaluate.add_argument("--predictions", default="gold", help="predictions .jsonl/.json, 'gold' or 'empty'")
    evaluate.add_argument("--run-id", help="names the run: its logs go to OUTPUT/logs/run_evaluation/RUN_ID (required to evaluate)")
    evaluate.add_argument("--workers", type=int, default=2, help="instances evaluated in parallel containers")
    evaluate.add_argument("--engine", choices=ENGINES, default="srl-swe", help="srl-swe (ours, same grading) or swebench (python -m swebench.harness.run_evaluation)")
    evaluate.add_argument("--output-dir", default=".", help="where logs/run_evaluation/... and the reports go")
    add_instance_ids_option(evaluate)
    evaluate.add_argument("--timeout", type=float, default=1800.0, help="seconds the eval script may run")
    evaluate.add_argument("--no-pull", action="store_true", help="never pull a missing image")
    evaluate.add_argument("--skip-missing-images", action="store_true", help="evaluate the rest when images are missing")
    evaluate.add_argument("--network", action="store_true", help="give eval containers network access (off by default)")
    evaluate.add_argument("--cpus", type=float, default=EvaluationConfig.cpus,
                          help="CPU limit of each eval container (default %(default)s); on Ray also what each instance "
                               "asks of its node, so a node runs CPUS_OF_NODE / CPUS instances at once")
    evaluate.add_argument("--memory", default=EvaluationConfig.memory,
                          help="memory limit of each eval container (default %(default)s); on Ray also asked of the node")
    evaluate.add_argument("--setting", default="", help="label for results tables (default: the rollout mode, if recorded)")
    evaluate.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_backend_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)
    actions = evaluate.add_subparsers(dest="evaluate_command", metavar="[regrade | convert]",
                                      help="instead of evaluating: grade a saved log again, or convert classic rows")
    regrade = actions.add_parser("regrade", help="grade an existing test_output.txt again; print its report.json "
                                                 "(always JSON: the harness's own report format)")
    common(regrade)
    regrade.add_argument("--instance-id", help="the instance whose log this is (required)")
    regrade.add_argument("--log", help="the harness's test_output.txt (required)")
    regrade.add_argument("--patch", help="the evaluated patch (patch.diff), if known")
    regrade.add_argument("--run-dir", help="instead of one log: a whole run's model folder (RUN/MODEL with "
                                           "<instance_id>/test_output.txt below), graded in one process")
    regrade.add_argument("--out", help="with --run-dir: write <instance_id>/report.json and summary.json here")
    regrade.set_defaults(func=cmd_regrade)
    convert = actions.add_parser("convert", help="write classic instances as swebench 5.x rows (image, eval_script, log_parser)")
    common(convert)
    convert.add_argument("--out", help="5.x rows JSONL file to write (required)")
    convert.add_argument("--json", action="store_true", help="print {out, rows} as JSON")
    convert.set_defaults(func=cmd_convert)

    report = sub.add_parser("report", help="Table 5 layout (model x setting resolve rates) as Markdown and PNG")
    report.add_argument("run_dirs", nargs="+", help="evaluate --output-dir folders (or summary files)")
    report.add_argument("--out", default="evaluation/tables/latest", help="folder for the table and chart (table.md, table.png)")
    report.add_argument("--title", default="SWE-bench", help="what the instances are, for the table heading and chart title")
    report.add_argument("--json", action="store_true", help="print the cells (model, setting, resolved, total, resolved_rate) as JSON")
    report.set_defaults(func=cmd_report)
