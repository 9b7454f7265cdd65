"""Rollout runner on a local git checkout (no Docker): predictions format, resume, failures, CLI.

The checkout is a tiny package with two bugs; its rows carry no image, so the repository is
read from ``--repo-dir`` with git at the base commit. The oracle's patch must be the gold fix.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import pytest

from srl_swe.errors import SRLSweError
from srl_swe.rollout import OraclePolicy, PolicyError, RolloutConfig, done_ids, run_rollout, select_rows
from srl_swe.cli.rollout import register
from srl_swe.rollout.modes import TurnBatcher
from srl_swe.rollout.policies import GenerationConfig, PolicyConfig

from helpers import git, make_local_tasks, read_jsonl

@pytest.fixture()
def local(tmp_path):
    return make_local_tasks(tmp_path / "checkouts")


def apply_in_checkout(repo_dir: Path, patch: str) -> dict[str, str]:
    """Apply a patch to the checkout (then undo it); return the files it changed, as patched."""
    repo = repo_dir / "calc"
    (repo_dir / "p.diff").write_text(patch)
    git(repo, "apply", str(repo_dir / "p.diff"))
    changed = {p: (repo / p).read_text() for p in git(repo, "status", "--porcelain", "-uall").split() if p.endswith(".py")}
    git(repo, "reset", "-q", "--hard")
    git(repo, "clean", "-qfd")
    return changed


@pytest.mark.parametrize("mode", ["oracle-file", "end-to-end"])
def test_oracle_writes_the_gold_fix_as_a_prediction(local, tmp_path, mode):
    repo_dir, rows = local
    out = tmp_path / "preds.jsonl"
    summary = run_rollout(rows, OraclePolicy(rows), RolloutConfig(mode=mode, repo_dir=str(repo_dir)), out, progress=False)
    assert (summary.written, summary.failed, summary.empty_patches) == (2, [], 0)
    predictions = read_jsonl(out)
    assert [set(p) for p in predictions] == [{"instance_id", "model_name_or_path", "model_patch"}] * 2
    assert [p["instance_id"] for p in predictions] == ["local__calc-1", "local__calc-2"]
    for row, prediction in zip(rows, predictions):
        assert prediction["model_name_or_path"] == "oracle"
        assert apply_in_checkout(repo_dir, prediction["model_patch"]) == apply_in_checkout(repo_dir, row["patch"])
    details = read_jsonl(tmp_path / "preds.details.jsonl")
    assert [d["mode"] for d in details] == [mode, mode] and all(d["written"] and d["error"] is None for d in details)
    assert [o["how"] for o in details[1]["edits"]["outcomes"]] == ["new-file", "exact"]  # git orders calc/extra.py first
    if mode == "end-to-end":
        assert [d["localized_by"] for d in details] == ["model", "model"]
        assert details[1]["localized"] == ["calc/text.py"]  # calc/extra.py does not exist yet: created by the repair
        assert details[0]["retrieval_top"][0] == "calc/ops.py"


def test_end_to_end_falls_back_to_retrieval_when_the_answer_names_no_file(local, tmp_path):
    repo_dir, rows = local

    class Vague:
        name, thread_safe = "vague", True

        def generate(self, conversations):
            return ["```\nthe bug is somewhere in the math code\n```" for _ in conversations]

        def close(self):
            pass

    summary = run_rollout(rows[:1], Vague(), RolloutConfig(mode="end-to-end", repo_dir=str(repo_dir), max_files=2),
                          tmp_path / "p.jsonl", progress=False)
    assert summary.written == 1 and summary.empty_patches == 1
    detail = read_jsonl(tmp_path / "p.details.jsonl")[0]
    assert detail["localized_by"] == "retrieval" and detail["localized"][0] == "calc/ops.py" and len(detail["localized"]) == 2
    assert "tests/test_calc.py" not in detail["localized"]


def test_resume_skips_done_instances_and_repairs_a_cut_last_line(local, tmp_path):
    repo_dir, rows = local
    out = tmp_path / "preds.jsonl"
    config = RolloutConfig(mode="oracle-file", repo_dir=str(repo_dir))
    first = run_rollout(select_rows(rows, limit=1), OraclePolicy(rows), config, out, progress=False)
    assert (first.selected, first.written) == (1, 1) and done_ids(out) == {"local__calc-1"}
    with out.open("a") as handle:  # a run killed in the middle of a line
        handle.write('{"instance_id": "local__calc-2", "model_na')

    class Counting(OraclePolicy):
        calls = 0

        def generate(self, conversations):
            Counting.calls += len(conversations)
            return super().generate(conversations)

    second = run_rollout(rows, Counting(rows), config, out, progress=False)
    assert (second.selected, second.already_done, second.written, Counting.calls) == (2, 1, 1, 1)
    assert [p["instance_id"] for p in read_jsonl(out)] == ["local__calc-1", "local__calc-2"]
    third = run_rollout(rows, Counting(rows), config, out, progress=False)
    assert (third.already_done, third.written, Counting.calls) == (2, 0, 1)


def test_a_transient_failure_writes_no_prediction_and_is_retried(local, tmp_path):
    repo_dir, rows = local
    out = tmp_path / "preds.jsonl"
    config = RolloutConfig(mode="oracle-file", repo_dir=str(repo_dir))

    class Flaky(OraclePolicy):
        def generate(self, conversations):
            if any("subtraction" in m["content"] for c in conversations for m in c):
                raise PolicyError("endpoint down")
            return super().generate(conversations)

    summary = run_rollout(rows, Flaky(rows), config, out, batch_size=2, progress=False)
    assert summary.written == 1 and summary.failed == ["local__calc-1: PolicyError: endpoint down"]
    assert done_ids(out) == {"local__calc-2"}  # the failing item was isolated from its batch
    retry = run_rollout(rows, OraclePolicy(rows), config, out, progress=False)
    assert (retry.already_done, retry.written) == (1, 1) and done_ids(out) == {"local__calc-1", "local__calc-2"}


def test_the_run_stops_after_consecutive_failures(local, tmp_path):
    _, rows = local
    config = RolloutConfig(mode="oracle-file", repo_dir=str(tmp_path / "nowhere"))
    with pytest.raises(SRLSweError, match="2 tasks in a row failed"):
        run_rollout(rows, OraclePolicy(rows), config, tmp_path / "p.jsonl", max_consecutive_failures=2, progress=False)
    assert read_jsonl(tmp_path / "p.jsonl") == []
    assert "no git checkout" in read_jsonl(tmp_path / "p.details.jsonl")[0]["error"]


def test_a_prompt_too_long_for_the_model_writes_an_empty_prediction(local, tmp_path):
    from srl_swe.rollout import ContextLengthError

    repo_dir, rows = local

    class Small:
        name, thread_safe = "small", True

        def generate(self, conversations):
            raise ContextLengthError("prompt of 9000 tokens does not fit")

        def close(self):
            pass

    summary = run_rollout(rows[:1], Small(), RolloutConfig(mode="oracle-file", repo_dir=str(repo_dir)),
                          tmp_path / "p.jsonl", progress=False)
    assert (summary.written, summary.empty_patches, summary.failed) == (1, 1, [])
    assert "ContextLengthError" in read_jsonl(tmp_path / "p.details.jsonl")[0]["error"]


def test_select_rows_by_ids_and_limit(local):
    _, rows = local
    assert [r["instance_id"] for r in select_rows(rows, ["local__calc-2"])] == ["local__calc-2"]
    with pytest.raises(SRLSweError, match=r"appear more than once.*local__calc-1 \(records 0, 2\)"):
        select_rows(rows + rows[:1], ["local__calc-2"])  # rejected, as evaluate rejects them: not "the first wins"
    assert [r["instance_id"] for r in select_rows(rows, limit=1)] == ["local__calc-1"]
    with pytest.raises(SRLSweError, match="unknown instance id"):
        select_rows(rows, ["nope"])


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="srl-swe")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def cli(argv: list[str]):
    args = parse(argv)
    args.func(args)


def test_cli_rollout_writes_predictions_and_a_json_summary(local, tmp_path, capsys):
    repo_dir, rows = local
    instances = tmp_path / "rows.jsonl"
    instances.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out" / "preds.jsonl"
    argv = ["rollout", "--model", "oracle", "--mode", "end-to-end", "--instances", str(instances), "--repo-dir", str(repo_dir),
            "--out", str(out), "--instance-ids", "local__calc-2,local__calc-1", "--limit", "1", "--json"]
    cli(argv)
    summary = json.loads(capsys.readouterr().out)
    assert (summary["selected"], summary["written"], summary["mode"], summary["model"]) == (1, 1, "end-to-end", "oracle")
    assert [p["instance_id"] for p in read_jsonl(out)] == ["local__calc-1"]
    cli(argv[:-5] + ["--json"])
    summary = json.loads(capsys.readouterr().out)
    assert (summary["selected"], summary["already_done"], summary["written"]) == (2, 1, 1)


def test_cli_exits_with_an_error_when_tasks_fail(local, tmp_path):
    _, rows = local
    instances = tmp_path / "rows.jsonl"
    instances.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(SRLSweError, match="have no prediction; rerun"):
        cli(["rollout", "--model", "oracle", "--mode", "oracle-file", "--instances", str(instances),
             "--repo-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "p.jsonl")])


def test_rows_a_mode_cannot_use_fail_with_a_clear_reason(local, tmp_path):
    repo_dir, rows = local
    no_patch = {**rows[0], "patch": ""}
    summary = run_rollout([no_patch], OraclePolicy(rows), RolloutConfig(mode="oracle-file", repo_dir=str(repo_dir)),
                          tmp_path / "a.jsonl", progress=False)
    assert summary.written == 0 and "has no 'patch'" in summary.failed[0]
    summary = run_rollout(rows[:1], OraclePolicy(rows), RolloutConfig(mode="agentic"), tmp_path / "b.jsonl", progress=False)
    assert summary.written == 0 and "has no 'image'" in summary.failed[0]


def test_a_cut_details_line_is_dropped_before_appending(local, tmp_path):
    repo_dir, rows = local
    (tmp_path / "p.details.jsonl").write_text('{"instance_id": "x", "mo')
    run_rollout(rows[:1], OraclePolicy(rows), RolloutConfig(mode="oracle-file", repo_dir=str(repo_dir)), tmp_path / "p.jsonl",
                progress=False)
    assert [d["instance_id"] for d in read_jsonl(tmp_path / "p.details.jsonl")] == ["local__calc-1"]


def test_cli_oracle_follows_custom_prompts(local, tmp_path, capsys):
    repo_dir, rows = local
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shipped = (Path(__file__).resolve().parent.parent / "srl_swe" / "rollout" / "prompts" / "repair.yaml").read_text()
    (prompts / "repair.yaml").write_text(shipped.replace("You are an expert software engineer.", "You are a careful engineer."))
    instances = tmp_path / "rows.jsonl"
    instances.write_text(json.dumps(rows[0]) + "\n")
    cli(["rollout", "--model", "oracle", "--mode", "oracle-file", "--instances", str(instances), "--repo-dir", str(repo_dir),
         "--prompts", str(prompts), "--out", str(tmp_path / "p.jsonl"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["empty_patches"]) == (1, 0)  # the oracle knew the changed system prompt


def test_rollout_reads_classic_instances_as_evaluate_does(shared_data):
    from srl_swe.evaluation.convert import load_task_rows

    rows = load_task_rows(str(shared_data / "swebench" / "lite-dev.jsonl"), None)
    assert len(rows) == 23
    row = next(r for r in rows if r["instance_id"] == "pvlib__pvlib-python-1072")
    assert row["image"] == "swebench/sweb.eval.x86_64.pvlib_1776_pvlib-python-1072:latest" and row["eval_script"]


def test_cli_defaults_are_the_config_defaults():
    args = parse(["rollout", "--mode", "agentic", "--out", "p.jsonl"])
    config, policy, generation = RolloutConfig(), PolicyConfig(model=args.model), GenerationConfig()
    assert (args.max_files, args.snippets, tuple(args.test_globs), args.max_steps, args.command_timeout, args.scaffold) == (
        config.max_files, config.snippets, config.test_globs, config.max_steps, config.command_timeout, config.scaffold)
    assert (args.backend, args.api_key_env, args.request_timeout, args.max_retries, args.concurrency, args.device, args.dtype,
            args.batch_size, args.tensor_parallel_size) == (
        policy.backend, policy.api_key_env, policy.timeout, policy.max_retries, policy.concurrency, policy.device, policy.dtype,
        policy.batch_size, policy.tensor_parallel_size)
    assert (args.max_new_tokens, args.temperature, args.top_p, args.seed) == (
        generation.max_new_tokens, generation.temperature, generation.top_p, generation.seed)


def test_turns_of_concurrent_episodes_are_answered_in_batched_calls():
    """Episode threads each ask for one turn at a time; a one-call-at-a-time model answers them in rounds."""
    calls: list[list[str]] = []

    class OneAtATime:
        name, thread_safe = "local", False
        busy = threading.Lock()

        def generate(self, conversations):
            assert self.busy.acquire(blocking=False), "two calls at once"
            try:
                calls.append([c[-1]["content"] for c in conversations])
                time.sleep(0.05)
                if any(c[-1]["content"].endswith("bad") for c in conversations):
                    raise PolicyError("one prompt is bad")
                return [f"answer to {c[-1]['content']}" for c in conversations]
            finally:
                self.busy.release()

    batcher = TurnBatcher(OneAtATime())
    results: dict[tuple[int, int], str] = {}

    def episode(index: int) -> None:
        for turn in range(3):
            prompt = f"e{index} t{turn}" + (" bad" if (index, turn) == (2, 1) else "")
            try:
                results[index, turn] = batcher.generate([[{"role": "user", "content": prompt}]])[0]
            except PolicyError as exc:
                results[index, turn] = f"error: {exc}"

    threads = [threading.Thread(target=episode, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results[2, 1] == "error: one prompt is bad"  # isolated: the rest of its batch was answered
    assert {k: v for k, v in results.items() if k != (2, 1)} == {
        (i, t): f"answer to e{i} t{t}" for i in range(6) for t in range(3) if (i, t) != (2, 1)}
    assert max(len(c) for c in calls) > 1 and len(calls) < 18  # fewer calls than turns, even with the bad batch retried one by one
