"""`srl-swe rollout`: a policy writes patches for SWE tasks; SWE-bench predictions JSONL out.

::

    srl-swe rollout --model PATH_OR_ID --mode {oracle-file,end-to-end,agentic} --out PREDS.jsonl
                    [--instances ROWS.jsonl | --env NAME ...] [--instance-ids ID ...] [--limit N]
                    [--backend auto|transformers|vllm|openai|oracle] [--base-url URL --api-key-env VAR]
                    [--max-new-tokens N] [--temperature T] [--batch-size N] [--grade] [--json] ...

Resumable: tasks already in --out are skipped. Grade the predictions with the swebench harness
(``python -m swebench.harness.run_evaluation -d ROWS -p PREDS.jsonl -id RUN``) or with ``--grade``.
:func:`register` adds the command to the top-level parser.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import SRLSweError
from ..evaluation.convert import load_task_rows
from ..models import DEFAULT_MODEL
from ..rollout.modes import MODES, RolloutConfig
from ..rollout.policies import BACKENDS, GenerationConfig, PolicyConfig, make_policy
from ..rollout.runner import run_rollout, select_rows
from .options import add_backend_options, add_env_option, add_instance_ids_option, add_instances_option, backend_config, instance_ids


def cmd_rollout(args: argparse.Namespace) -> None:
    ids = instance_ids(args.instance_ids)
    rows = select_rows(load_task_rows(args.instances, args.env, args.split), ids, args.limit)
    if not rows:
        raise SRLSweError("no tasks selected (check --instances/--env/--instance-ids)")
    config = RolloutConfig(mode=args.mode, prompts_dir=args.prompts, repo_dir=args.repo_dir, max_files=args.max_files,
                           snippets=args.snippets, max_steps=args.max_steps, command_timeout=args.command_timeout,
                           scaffold=args.scaffold, test_globs=tuple(args.test_globs),
                           backend=backend_config(args))
    generation = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                                  seed=args.seed)
    policy_config = PolicyConfig(model=args.model, backend=args.backend, name=args.model_name, generation=generation,
                                 base_url=args.base_url, api_key_env=args.api_key_env, timeout=args.request_timeout,
                                 max_retries=args.max_retries, concurrency=args.concurrency, device=args.device,
                                 dtype=args.dtype, batch_size=args.batch_size,
                                 tensor_parallel_size=args.tensor_parallel_size, max_model_len=args.max_model_len)
    policy = make_policy(policy_config, rows, prompts_dir=args.prompts, scaffold=args.scaffold)
    try:
        summary = run_rollout(rows, policy, config, args.out, details=args.details, batch_size=args.batch_size,
                              grade=args.grade, max_consecutive_failures=args.max_consecutive_failures,
                              progress=not args.json)
    finally:
        policy.close()
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        graded = (f"; resolved {summary.resolved}/{summary.graded}, {summary.tampering_attempts} tampering attempt(s)"
                  if summary.graded else "")
        print(f"{summary.mode} rollout of {summary.model}: {summary.selected} task(s), {summary.already_done} already done, "
              f"{summary.written} written ({summary.empty_patches} empty){graded}, {len(summary.failed)} failed, "
              f"{summary.seconds:.0f}s\npredictions: {summary.predictions}\ndetails: {summary.details}")
    for failure in summary.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    if summary.failed:
        raise SRLSweError(f"{len(summary.failed)} task(s) have no prediction; rerun the same command to retry them")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``rollout`` command to the top-level ``srl-swe`` subparsers; return its parser."""
    p = subparsers.add_parser("rollout", help="a policy writes patches for tasks (SWE-bench predictions JSONL)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"registered model name, path or id (served name with --base-url); 'oracle' = the gold answers "
                        f"(default: {DEFAULT_MODEL})")
    p.add_argument("--mode", required=True, choices=MODES, help="oracle-file: issue + gold files, one pass; end-to-end: "
                   "localize then repair; agentic: multi-turn in the live sandbox")
    p.add_argument("--out", required=True, help="predictions JSONL (appended; tasks already in it are skipped)")
    p.add_argument("--details", default=None, help="per-task details JSONL (default: OUT with .details.jsonl)")
    src = p.add_mutually_exclusive_group()
    add_instances_option(src, "SWE-bench rows to roll out on: .json/.jsonl/.parquet or a Hugging Face dataset "
                              "(classic rows are converted)")
    add_env_option(src, "registered environments whose tasks to use (default: all)")
    p.add_argument("--split", default="test", help="split of a Hugging Face dataset given to --instances")
    add_instance_ids_option(p, "only these tasks")
    p.add_argument("--limit", type=int, default=None, help="at most N tasks (after --instance-ids, before skipping done ones)")

    policy = p.add_argument_group("policy")
    policy.add_argument("--backend", choices=BACKENDS, default=PolicyConfig.backend,
                        help="auto: oracle for --model oracle, openai with --base-url, else transformers")
    policy.add_argument("--model-name", default=None, help="model_name_or_path written in the predictions (default: --model)")
    policy.add_argument("--base-url", default=None, help="OpenAI-compatible API root, e.g. http://localhost:8000/v1")
    policy.add_argument("--api-key-env", default=PolicyConfig.api_key_env, help="environment variable holding the API key (default %(default)s)")
    policy.add_argument("--request-timeout", type=float, default=PolicyConfig.timeout, help="seconds per HTTP request (default %(default)s)")
    policy.add_argument("--max-retries", type=int, default=PolicyConfig.max_retries, help="retries of a failed HTTP request (default %(default)s)")
    policy.add_argument("--concurrency", type=int, default=PolicyConfig.concurrency, help="HTTP requests in flight (default %(default)s)")
    policy.add_argument("--device", default=PolicyConfig.device, help="transformers device (auto, cpu, cuda, cuda:1)")
    policy.add_argument("--dtype", default=PolicyConfig.dtype, help="weights dtype (auto, bfloat16, float16, float32)")
    policy.add_argument("--tensor-parallel-size", type=int, default=PolicyConfig.tensor_parallel_size, help="vLLM: GPUs per model")
    policy.add_argument("--max-model-len", type=int, default=None, help="vLLM: context length")

    decoding = p.add_argument_group("decoding (greedy by default, as in the SRL paper)")
    decoding.add_argument("--max-new-tokens", type=int, default=GenerationConfig.max_new_tokens, help="tokens per answer/turn (default %(default)s)")
    decoding.add_argument("--temperature", type=float, default=GenerationConfig.temperature, help="0 = greedy (default %(default)s)")
    decoding.add_argument("--top-p", type=float, default=GenerationConfig.top_p, help="nucleus sampling mass (1.0: off)")
    decoding.add_argument("--seed", type=int, default=GenerationConfig.seed, help="sampling seed")
    decoding.add_argument("--batch-size", type=int, default=PolicyConfig.batch_size,
                          help="tasks in flight: prompts per generate call (single-pass), concurrent episodes (agentic)")

    mode = p.add_argument_group("modes")
    mode.add_argument("--repo-dir", default=None, help="checkouts for rows without a local task image "
                      "(a checkout, or a folder of owner__name / name checkouts)")
    mode.add_argument("--prompts", default=None, help="directory whose repair.yaml/localize.yaml replace the shipped prompts")
    mode.add_argument("--max-files", type=int, default=RolloutConfig.max_files, help="end-to-end: most files localized (default %(default)s)")
    mode.add_argument("--snippets", type=int, default=RolloutConfig.snippets, help="end-to-end: retrieved snippets shown (default %(default)s)")
    mode.add_argument("--test-globs", nargs="+", default=RolloutConfig.test_globs,
                      help="globs of test files (`**` spans directories; default: tests/**, **/test_*.py, ...; conftest.py always "
                      "counts): kept out of end-to-end retrieval, dropped from agentic patches")
    mode.add_argument("--max-steps", type=int, default=RolloutConfig.max_steps, help="agentic: tool calls per episode (default %(default)s)")
    mode.add_argument("--command-timeout", type=float, default=RolloutConfig.command_timeout, help="agentic: seconds per tool call (default %(default)s)")
    mode.add_argument("--scaffold", default=RolloutConfig.scaffold, help="agentic: agent scaffold under agents/ or a YAML path (default %(default)s)")
    add_backend_options(mode, "--env-backend")

    p.add_argument("--grade", action="store_true", help="also grade each patch with the task's tests (into the details)")
    p.add_argument("--max-consecutive-failures", type=int, default=5,
                   help="stop after this many tasks in a row fail without a prediction (default 5; 0 = never)")
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    p.set_defaults(func=cmd_rollout)
    return p
