"""RLVR: GRPO over live episodes in Docker sandboxes (tiny model, CPU, one shipped task)."""
from __future__ import annotations

import json

import pytest

from srl_swe.train.rlvr import RLVRRunConfig, rlvr_reward, train_rlvr


def test_reward_is_resolution_and_infrastructure_failures_are_masked():
    assert rlvr_reward(None, [None] * 3, resolved=[True, False, False], reward_valid=[True, True, False]) == [1.0, 0.0, None]


@pytest.fixture(scope="module")
def inflection_task(inflection_tasks):
    return inflection_tasks[0]


@pytest.mark.docker
def test_two_step_cpu_run_on_a_live_task(inflection_task, tmp_path):
    row = inflection_task
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(row) + "\n")
    config = RLVRRunConfig(model="tiny-random", output_dir=str(tmp_path / "run"), tasks=str(tasks), max_steps=2, num_generations=2,
                           max_turns=1, max_turn_tokens=16, max_completion_length=512, save_steps=1)
    final = train_rlvr(config)
    assert (final / "config.json").exists()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(r["reward_mean"] == 0.0 for r in records)  # an untrained model does not resolve the task


@pytest.mark.docker
def test_pipeline_srl_then_rlvr_starts_each_stage_from_the_previous_model(inflection_task, tmp_path):
    import yaml

    from srl_swe.cli import main

    row = inflection_task
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(row) + "\n")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "stages": ["srl", "rlvr"], "output_dir": str(tmp_path / "pipe"), "eval_heldout": False, "model": "tiny-random",
        "shared": {"max_steps": 1, "num_generations": 2, "save_steps": 1},
        "stage_options": {"srl": {"prompts_per_step": 1, "max_completion_length": 8, "context": "last:0", "eval_heldout": False,
                                  "max_refill_rounds": 0},
                          "rlvr": {"tasks": str(tasks), "max_turns": 1, "max_turn_tokens": 8, "max_completion_length": 256}},
    }))
    assert main(["train", "pipeline", "--config", str(config)]) == 0
    summary = json.loads((tmp_path / "pipe" / "pipeline.json").read_text())
    assert [s["stage"] for s in summary["stages"]] == ["srl", "rlvr"]
    assert json.loads((tmp_path / "pipe" / "02-rlvr" / "config.json").read_text())["model"] == summary["stages"][0]["model"]
