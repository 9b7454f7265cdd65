"""`srl-swe tasks …`: make validated bug-fix tasks for a registered repository environment.

::

    srl-swe tasks synthesize NAME [--max-tasks N] [--seed S] [--workers W] [--repeats R] [--screen coverage|suite]
                                  [--kinds K,K] [--max-candidates N] [--max-seconds S] [--out FILE] [--no-cache] [--json]
                                  [--backend ray [--ray-address HOST:PORT]]
    srl-swe tasks restate NAME [--out FILE] [--json]

:func:`register` adds the group to the top-level parser (called by :func:`srl_swe.cli.build_parser`).
Validation through the SWE-bench harness is ``srl-swe envs validate NAME``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from ..errors import SRLSweError
from ..tasks.mutations import MUTATION_KINDS
from ..registry import load_env
from ..tasks.synthesize import SynthesisConfig, SynthesisReport, Synthesizer, restate_tasks
from .options import add_backend_options, backend_config


def cmd_tasks_synthesize(args: argparse.Namespace) -> None:
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip()) if args.kinds else None
    if kinds:
        unknown = sorted(set(kinds) - set(MUTATION_KINDS))
        if unknown:
            raise SRLSweError(f"unknown mutation kind(s) {', '.join(unknown)}; known: {', '.join(MUTATION_KINDS)}")
    config = SynthesisConfig(max_tasks=args.max_tasks, seed=args.seed, workers=args.workers, repeats=args.repeats,
                             max_candidates=args.max_candidates, kinds=kinds, use_cache=not args.no_cache,
                             eval_scope=args.eval_scope, screen=args.screen, max_seconds=args.max_seconds,
                             backend=backend_config(args))
    spec = load_env(args.name)  # a bad spec is an error line of its own, before any progress bar
    bar = None if args.json else tqdm(total=args.max_tasks, desc=f"{args.name} tasks", unit="task", file=sys.stderr,
                                      dynamic_ncols=True)

    def say(line: str) -> None:
        if bar is not None:
            bar.write(line, file=sys.stderr)

    def update(report: SynthesisReport) -> None:
        if bar is not None:
            bar.n = min(args.max_tasks, report.existing + len(report.kept))
            bar.set_postfix(tried=report.tried, left=max(0, report.candidates - report.tried), refresh=False)
            bar.refresh()

    synthesizer = Synthesizer(spec, config, tasks_path=Path(args.out) if args.out else None, progress=say, on_update=update)
    try:
        with stop_on_signals(synthesizer.request_stop):
            report = synthesizer.run()
    finally:
        if bar is not None:
            bar.close()  # ends the bar's line: an error goes on a line of its own
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    total = report.existing + len(report.kept)
    rejected = ", ".join(f"{reason} {count}" for reason, count in report.rejected.most_common()) or "none"
    screens = ", ".join(f"{how} {count}" for how, count in report.screens.most_common()) or "none"
    print(f"{args.name}: kept {len(report.kept)} new task(s) ({total} in {report.path}); tried {report.tried} "
          f"of {report.candidates} untried candidates in {report.seconds:.0f}s; rejected: {rejected}; screened: {screens}"
          + (f"; stopped early ({report.stopped}): run the same command again to go on" if report.stopped else ""))


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """SIGINT and SIGTERM ask ``stop`` to end the run cleanly (no traceback); a second one is not caught."""
    previous = {}

    def handler(signum: int, frame) -> None:
        stop(signal.Signals(signum).name)
        for sig, old in previous.items():  # a second signal acts at once
            signal.signal(sig, old)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def cmd_tasks_restate(args: argparse.Namespace) -> None:
    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    changed = restate_tasks(args.name, tasks_path=args.out, progress=progress)
    if args.json:
        print(json.dumps(changed, indent=2))
        return
    print(f"{args.name}: {changed['rows']} task(s); rewritten: {changed['problem_statement']} problem statement(s), "
          f"{changed['eval_script']} eval script(s)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tasks`` command group to the top-level ``srl-swe`` subparsers."""
    tasks = subparsers.add_parser("tasks", help="synthesize validated bug-fix tasks for an env").add_subparsers(
        dest="tasks_command", required=True)
    synth = tasks.add_parser("synthesize", help="inject bugs, keep those the tests catch and the fix repairs; "
                                                 "append SWE-bench rows to envs/tasks/NAME.jsonl")
    synth.add_argument("name", help="registered env (envs/NAME.yaml); its image must be built")
    synth.add_argument("--max-tasks", type=int, default=12, help="stop when the tasks file holds this many (default 12)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the candidate order (default 0)")
    synth.add_argument("--workers", type=int, default=1, help="sandboxes screening candidates in parallel (default 1)")
    add_backend_options(synth)
    synth.add_argument("--repeats", type=int, default=3,
                       help="runs of the clean and of the buggy code; flaky tests are dropped (default 3)")
    synth.add_argument("--kinds", default=None, help="comma-separated mutation kinds (default: all)")
    synth.add_argument("--max-candidates", type=int, default=None, help="try at most this many candidates")
    synth.add_argument("--eval-scope", choices=["files", "all"], default="files",
                       help="eval scripts run the failing tests' files (default) or the whole suite")
    synth.add_argument("--screen", choices=["coverage", "suite"], default="coverage",
                       help="screen a mutant with the tests that reach its lines (default; measured once per env) "
                            "or with the whole suite")
    synth.add_argument("--max-seconds", type=float, default=None,
                       help="stop taking candidates after this many seconds (kept tasks stay; rerun to go on)")
    synth.add_argument("--out", default=None, help="tasks file (default envs/tasks/NAME.jsonl)")
    synth.add_argument("--no-cache", action="store_true", help="retry candidates rejected by earlier runs")
    synth.add_argument("--json", action="store_true", help="print the run's report as JSON")
    synth.set_defaults(func=cmd_tasks_synthesize)
    restate = tasks.add_parser("restate", help="rewrite the tasks' problem statements and eval scripts from the env as "
                                                "it is now (ids, commits and test lists stay)")
    restate.add_argument("name", help="registered env (envs/NAME.yaml); its image must be built")
    restate.add_argument("--out", default=None, help="tasks file (default envs/tasks/NAME.jsonl)")
    restate.add_argument("--json", action="store_true", help="print the counts as JSON")
    restate.set_defaults(func=cmd_tasks_restate)
