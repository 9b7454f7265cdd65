"""SRL training: the dynamic-sampling filter, reward wiring, run files, resume (tiny model, CPU)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srl_swe.actions import can_still_parse
from srl_swe.errors import SRLSweError
from srl_swe.rewards import SRLReward
from srl_swe.scaffold import load_scaffold
from srl_swe.steps import StepConfig
from srl_swe.train.dynamic_sampling import DynamicSamplingGRPOTrainer, group_std, informative_groups, merge_batches
from srl_swe.train.srl import SRLRunConfig, latest_checkpoint, train_srl

SMALL = dict(context="last:0", max_observation_chars=200)


def test_group_spread_and_filter():
    rewards = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.1, 0.9, -1.0, -1.0])
    assert torch.allclose(group_std(rewards, 2), torch.tensor([0.0, 0.0, 0.4, 0.0]))
    assert informative_groups(rewards, 2, 1e-4).tolist() == [False, False, True, False]
    assert informative_groups(rewards, 4, 1e-4).tolist() == [False, True]


def test_merge_repads_prompts_left_and_completions_right():
    a = {"prompt_ids": torch.tensor([[9, 1, 2]]), "prompt_mask": torch.tensor([[0, 1, 1]]),
         "completion_ids": torch.tensor([[5, 9]]), "completion_mask": torch.tensor([[1, 0]]), "advantages": torch.tensor([1.0])}
    b = {"prompt_ids": torch.tensor([[3, 4, 5, 6]]), "prompt_mask": torch.tensor([[1, 1, 1, 1]]),
         "completion_ids": torch.tensor([[7, 8, 6]]), "completion_mask": torch.tensor([[1, 1, 1]]), "advantages": torch.tensor([-1.0])}
    merged = merge_batches([a, b], pad_token_id=9)
    assert merged["prompt_ids"].tolist() == [[9, 9, 1, 2], [3, 4, 5, 6]]
    assert merged["prompt_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    assert merged["completion_ids"].tolist() == [[5, 9, 9], [7, 8, 6]]
    assert merged["completion_mask"].tolist() == [[1, 0, 0], [1, 1, 1]]
    assert merged["advantages"].tolist() == [1.0, -1.0]


def rigged_reward(prompts, completions, step_index, **_):
    """Zero spread for even steps, random spread for odd ones."""
    return [0.5 if s % 2 == 0 else float(torch.rand(1)) for s in step_index]


@pytest.fixture(scope="module")
def tiny_trainer(tmp_path_factory):
    from trl import GRPOConfig

    from srl_swe.train.data import load_data, step_dataset
    from srl_swe.tiny_model import default_tiny_model

    dataset = step_dataset(load_data(None)[:2], StepConfig(**SMALL))
    args = GRPOConfig(output_dir=str(tmp_path_factory.mktemp("grpo")), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=6, max_steps=1, report_to="none", bf16=False, remove_unused_columns=False, seed=0)
    trainer = DynamicSamplingGRPOTrainer(model=str(default_tiny_model()), reward_funcs=[rigged_reward], args=args,
                                         train_dataset=dataset, max_refill_rounds=20)
    trainer.model.train()
    return trainer, dataset


def test_zero_spread_groups_never_reach_the_loss_and_the_batch_is_refilled(tiny_trainer):
    trainer, dataset = tiny_trainer
    even = [dict(r) for r in dataset if r["step_index"] % 2 == 0][:2]
    inputs = [row for row in even for _ in range(2)]  # two zero-spread groups
    batch = trainer._generate_and_score_completions(inputs)
    assert len(batch["advantages"]) == len(inputs)
    assert batch["completion_mask"].sum() > 0 and (batch["advantages"] != 0).all()
    tokenizer = trainer.processing_class
    odd_prompts = {r["prompt"][-1]["content"][-60:] for r in dataset if r["step_index"] % 2 == 1}
    decoded = tokenizer.batch_decode(batch["prompt_ids"], skip_special_tokens=True)
    assert all(any(p in text for p in odd_prompts) for text in decoded)  # every kept row comes from an odd step
    rate = trainer._metrics["train"]["dynamic_sampling/filter_rate"][-1]
    assert 0 < rate < 1


def test_when_refill_is_exhausted_filtered_rows_are_masked_out(tiny_trainer):
    trainer, dataset = tiny_trainer
    trainer.max_refill_rounds = 0
    even = [dict(r) for r in dataset if r["step_index"] % 2 == 0][:2]
    batch = trainer._generate_and_score_completions([row for row in even for _ in range(2)])
    assert batch["completion_mask"].sum() == 0 and batch["num_items_in_batch"] == 0
    assert (batch["advantages"] == 0).all()
    assert trainer._metrics["train"]["dynamic_sampling/unfilled_rows"][-1] == 4
    trainer.max_refill_rounds = 20


def always_malformed(prompts, completions, **_):
    return [-1.0] * len(completions)


def test_a_first_step_of_only_malformed_rollouts_says_to_warm_up_first(tiny_trainer, caplog):
    trainer, dataset = tiny_trainer
    trainer.reward_funcs, trainer.max_refill_rounds = [always_malformed], 1
    rows = [dict(r) for r in dataset][:2]
    try:
        with caplog.at_level("WARNING", logger="srl_swe.train.dynamic_sampling"):
            trainer._generate_and_score_completions([row for row in rows for _ in range(2)])
    finally:
        trainer.reward_funcs, trainer.max_refill_rounds = [rigged_reward], 20
    assert "every rollout of the first step was malformed" in caplog.text and "train pipeline sft,srl" in caplog.text
    caplog.clear()
    trainer._generate_and_score_completions([row for row in rows for _ in range(2)])  # informative rows: no such warning
    assert "malformed" not in caplog.text


def test_rollouts_that_cannot_parse_stop_at_the_token_that_broke_them(tiny_trainer):
    trainer, dataset = tiny_trainer
    tokenizer = trainer.processing_class
    prompt_ids, images, fields = trainer._tokenize_prompts([dict(r)["prompt"] for r in dataset][:4])
    trainer.stop_malformed = load_scaffold()
    try:
        completions, _ = trainer._generate_single_turn(prompt_ids, images, fields, 2)
    finally:
        trainer.stop_malformed = None
    stopped = [ids for ids in completions if len(ids) < trainer.max_completion_length and ids[-1] != tokenizer.eos_token_id]
    assert stopped  # the random model's outputs break at once
    for ids in stopped:
        assert not can_still_parse(tokenizer.decode(ids, skip_special_tokens=True))
        assert can_still_parse(tokenizer.decode(ids[:-1], skip_special_tokens=True))
    assert trainer._metrics["train"]["completions/stopped_malformed_ratio"][-1] >= len(stopped) / len(completions)
    assert "generate" not in vars(trainer.accelerator.unwrap_model(trainer.model))  # TRL's own generate is back
    assert SRLReward()([[]] * len(stopped), tokenizer.batch_decode(stopped, skip_special_tokens=True),
                       expert_action=[dataset[0]["expert_action"]] * len(stopped)) == [-1.0] * len(stopped)


def test_reward_wiring_scores_expert_one_and_garbage_minus_one(tiny_trainer):
    _, dataset = tiny_trainer
    row = dataset[0]
    reward = SRLReward()
    assert reward([row["prompt"]] * 2, [row["expert_completion"], "garbage"], expert_action=[row["expert_action"]] * 2) == [1.0, -1.0]


def test_two_step_run_writes_metrics_and_plots_then_resumes_to_the_same_step_count(tmp_path):
    config = SRLRunConfig(model="tiny-random", output_dir=str(tmp_path / "run"), max_steps=2, num_generations=2, prompts_per_step=1,
                          max_completion_length=8, eval_limit=2, save_steps=1, max_refill_rounds=0, **SMALL)
    final = train_srl(config)
    assert (final / "config.json").exists() and latest_checkpoint(config.output_dir).name == "checkpoint-2"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "reward_mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert {"reward_mean", "reward_std", "filter_rate", "format_failure_rate"} <= set(steps[0])
    assert [r["step"] for r in records if "heldout_reward" in r] == [0, 2]
    for name in ("reward", "filter_rate", "format_failure_rate", "heldout_reward"):
        assert (tmp_path / "run" / f"{name}.png").stat().st_size > 0
    resumed = SRLRunConfig(**{**config.__dict__, "max_steps": 3, "resume": True})
    train_srl(resumed)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "reward_mean" in r] == [1, 2, 3]
    assert latest_checkpoint(config.output_dir).name == "checkpoint-3"


def test_the_demo_config_builds_every_stage_and_resumes_them():
    """`make demo` must be rerunnable: every stage of the shipped demo config resumes from its checkpoints."""
    from srl_swe.train.config_io import build_config, load_yaml
    from srl_swe.train.pipeline import PipelineConfig, _stage_config

    config = build_config(PipelineConfig, load_yaml("demo"),
                          origin="shipped config demo")
    assert config.stages == ["sft", "srl"]
    for name in config.stages:
        _, stage = _stage_config(name, config, "model", Path("runs/x") / name)
        assert stage.resume is True and stage.scaffold == "openhands_compact"


def test_config_values_are_checked_against_the_field_types():
    """YAML reads `5e-5` as a string: it must still train at 5e-5, and a value of the wrong kind must name its field."""
    from srl_swe.train.config_io import build_config, parse_overrides

    config = build_config(SRLRunConfig, parse_overrides(["learning_rate=5e-5", "max_steps=3", "eval_limit=null"]))
    assert config.learning_rate == 5e-5 and isinstance(config.learning_rate, float)
    assert config.max_steps == 3 and config.eval_limit is None
    for bad, field_name in ((["learning_rate=abc"], "learning_rate"), (["max_steps=2.5"], "max_steps"),
                            (["resume=1"], "resume"), (["eval_limit=many"], "eval_limit")):
        with pytest.raises(SRLSweError, match=f"--set: {field_name} must be"):
            build_config(SRLRunConfig, parse_overrides(bad), origin="--set")


def test_pipeline_overrides_go_to_a_stage_the_pipeline_or_every_stage(monkeypatch, tmp_path):
    """`--set eval_heldout=false` must turn off the pipeline's own evaluation, not reach SFT as an unknown field."""
    from srl_swe.cli import main
    from srl_swe.train import pipeline

    seen = []
    monkeypatch.setattr(pipeline, "run_pipeline", seen.append)
    assert main(["train", "pipeline", "sft,srl", "--output-dir", str(tmp_path), "--set", "eval_heldout=false",
                 "model=tiny-random", "seed=3", "sft.max_steps=2"]) == 0
    (config,) = seen
    assert config.eval_heldout is False and config.model == "tiny-random"
    assert config.shared == {"seed": 3} and config.stage_options == {"sft": {"max_steps": 2}}


def test_loss_aggregation_is_one_field_that_reaches_trl_for_srl_and_rlvr(tmp_path):
    from trl import GRPOConfig

    from srl_swe.train.config_io import build_config, parse_overrides
    from srl_swe.train.configs import RLVRRunConfig

    for config_class in (SRLRunConfig, RLVRRunConfig):
        assert config_class().grpo_arguments()["loss_type"] == "grpo"  # the paper's per-sequence mean by default
        config = build_config(config_class, parse_overrides(["loss_type=dapo"]))
        args = GRPOConfig(**config.grpo_arguments(), output_dir=str(tmp_path), use_cpu=True, report_to="none")
        assert args.loss_type == "dapo"
