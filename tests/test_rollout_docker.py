"""Rollouts on a registered task in Docker: every mode, with the oracle (graded: resolved) and the tiny model.

Uses the first shipped inflection task; its env and task images are built when missing.
The oracle's prediction must resolve the task when graded with ``grade_patch`` (the harness's
apply, eval script and grading); the untrained tiny model must still produce a well-formed
prediction line in every mode, whatever its patch.
"""
from __future__ import annotations

import argparse
import json

import pytest
from helpers import read_jsonl

from srl_swe.evaluation.grader import grade_patch
from srl_swe.rollout import MODES, GenerationConfig, OraclePolicy, RolloutConfig, TransformersPolicy, run_rollout
from srl_swe.cli.rollout import register

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def task(inflection_tasks):
    return inflection_tasks[0]


@pytest.fixture(scope="module")
def tiny_policy():
    from srl_swe.tiny_model import default_tiny_model

    return TransformersPolicy(str(default_tiny_model()), GenerationConfig(max_new_tokens=16))


@pytest.mark.parametrize("mode", MODES)
def test_the_oracle_resolves_a_registered_task_in_every_mode(task, tmp_path, mode):
    out = tmp_path / "preds.jsonl"
    summary = run_rollout([task], OraclePolicy([task]), RolloutConfig(mode=mode), out, progress=False)
    assert (summary.written, summary.failed) == (1, [])
    prediction = read_jsonl(out)[0]
    assert prediction["instance_id"] == task["instance_id"] and prediction["model_name_or_path"] == "oracle"
    assert prediction["model_patch"].startswith("diff --git a/inflection/__init__.py b/inflection/__init__.py")
    grade = grade_patch(task, prediction["model_patch"])
    assert grade.applied and grade.resolved, grade.log[-2000:]
    details = read_jsonl(tmp_path / "preds.details.jsonl")[0]
    if mode == "agentic":
        assert details["finished"] and details["format_errors"] == 0 and details["trajectory"]["turns"]
    else:
        assert details["repo"] == f"image {task['image']}" and details["edits"]["applied"] == details["edits"]["edits"] >= 1


@pytest.mark.parametrize("mode", MODES)
def test_the_tiny_model_writes_a_well_formed_prediction_in_every_mode(task, tiny_policy, tmp_path, mode):
    out = tmp_path / "preds.jsonl"
    summary = run_rollout([task], tiny_policy, RolloutConfig(mode=mode, max_steps=2), out, progress=False)
    assert (summary.written, summary.failed) == (1, [])
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    prediction = json.loads(lines[0])
    assert set(prediction) == {"instance_id", "model_name_or_path", "model_patch"}
    assert prediction["instance_id"] == task["instance_id"] and isinstance(prediction["model_patch"], str)
    assert prediction["model_name_or_path"] == tiny_policy.name
    details = read_jsonl(tmp_path / "preds.details.jsonl")[0]
    if mode == "agentic":
        assert details["steps"] == 2 and not details["finished"]
    elif mode == "end-to-end":
        assert details["localized"] and details["localized_by"] in ("model", "retrieval")


def test_cli_rollout_with_grade_reports_the_resolution(task, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="srl-swe")
    register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "preds.jsonl"
    args = parser.parse_args(["rollout", "--model", "oracle", "--mode", "oracle-file", "--env", "inflection",
                              "--instance-ids", task["instance_id"], "--out", str(out), "--grade", "--json"])
    args.func(args)
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["graded"], summary["resolved"]) == (1, 1, 1)
    assert read_jsonl(tmp_path / "preds.details.jsonl")[0]["grade"]["resolved"] is True


def test_agentic_episodes_of_a_batch_run_concurrently(inflection_tasks, tmp_path):
    rows = inflection_tasks
    out = tmp_path / "preds.jsonl"
    summary = run_rollout(rows, OraclePolicy(rows), RolloutConfig(mode="agentic"), out, batch_size=2, progress=False)
    assert (summary.written, summary.failed) == (2, [])
    predictions = {p["instance_id"]: p["model_patch"] for p in read_jsonl(out)}
    assert predictions == {r["instance_id"]: r["patch"] for r in rows}  # the expert's edits, diffed by git: the gold patch
