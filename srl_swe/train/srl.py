"""`srl-swe train srl`: Supervised RL on expert step instances with GRPO and dynamic sampling.

Defaults follow the paper (Deng et al., SRL): 8 rollouts per prompt, temperature 1.0, no
KL term, PPO-style clipping (epsilon 0.2), per-group advantage normalisation, dynamic
sampling of groups with non-zero reward spread. The reward is `srl_reward`: similarity of
the completion's tool call to the expert's, -1 when malformed; with ``live`` the completions run
in branches of the expert prefix's snapshot and are rewarded by what they do as well
(:mod:`srl_swe.train.live_srl`).
"""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from ..errors import SRLSweError
from ..files import write_atomic
from ..models import resolve_model
from ..rewards import SRLReward
from ..scaffold import load_scaffold
from ..steps import StepConfig
from ..distributed import bf16_is_fast, cuda_available, distributed_state
from .configs import SRLRunConfig
from .data import completions_over_budget, load_data, select_split, step_dataset
from .evaluate_steps import evaluate_steps
from .run_dir import MetricsCallback, RunDir

logger = logging.getLogger(__name__)




def latest_checkpoint(output_dir: str | Path) -> Path | None:
    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return checkpoints[-1] if checkpoints else None


def load_step_splits(config: SRLRunConfig, step_config: StepConfig):
    """(train step dataset, train trajectories, all trajectories) for the run's trajectory source, split by trajectory."""
    trajectories = load_data(config.data)
    train = select_split(trajectories, "train", config.heldout_fraction, config.split_seed, config.validation_fraction)
    return step_dataset(train, step_config), train, trajectories


def reward_setup(config: SRLRunConfig, train: list) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """(reward functions, GRPOConfig arguments, trainer arguments) of offline SRL, or of live SRL (``config.live``)."""
    if not config.live:
        return [SRLReward(config.metric, config.scaffold)], {}, {}
    from ..backend import BackendConfig  # noqa: PLC0415 - live SRL only
    from ..gym.execution import BranchSettings  # noqa: PLC0415
    from .live_srl import LiveSettings, LiveStepScorer, check_live_data, live_reward_functions  # noqa: PLC0415

    backend = BackendConfig(config.backend, ray_address=config.ray_address)
    scorer = LiveStepScorer(train, LiveSettings(
        BranchSettings(config.scaffold, config.metric, config.live_command_timeout, config.live_branches),
        backend, config.live_workers))
    rewards, weights = live_reward_functions(scorer, config.live_reward)
    # under torchrun one process per node builds missing task images; the others wait, then find them there (an
    # error is raised after the barrier, so that no process waits for one that has failed)
    failure = None
    with distributed_state().local_main_process_first():
        try:
            check_live_data(train, backend)
        except SRLSweError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return rewards, {"reward_weights": weights}, {"reward_metrics": scorer.pop_metrics}


def train_srl(config: SRLRunConfig) -> Path:
    """Run SRL; returns the directory of the final model."""
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from .dynamic_sampling import DynamicSamplingGRPOTrainer  # noqa: PLC0415 - pulls trl, datasets
    main_process = distributed_state().is_main_process  # with torchrun/accelerate, only rank 0 writes run files
    run = RunDir(config.output_dir)
    model_path = resolve_model(config.model)
    step_config = config.step_config
    train_dataset, train, trajectories = load_step_splits(config, step_config)
    reward_funcs, reward_arguments, trainer_arguments = reward_setup(config, train)
    checkpoint = latest_checkpoint(config.output_dir) if config.resume else None
    if main_process:
        run.write_config(config)
        if checkpoint is not None:
            run.truncate_after(int(checkpoint.name.split("-")[-1]))
        elif config.eval_heldout:
            _heldout_eval(run, model_path, trajectories, step_config, config, step=0)

    cuda = cuda_available()
    use_vllm = config.use_vllm if config.use_vllm is not None else (cuda and importlib.util.find_spec("vllm") is not None)
    args = GRPOConfig(**{
        **config.grpo_arguments(),
        "output_dir": config.output_dir,
        "max_steps": config.max_steps,
        "learning_rate": config.learning_rate,
        "logging_steps": config.logging_steps,
        "save_steps": config.save_steps,
        "save_strategy": "steps",
        "seed": config.seed,
        "bf16": config.bf16 if config.bf16 is not None else bf16_is_fast(),
        "gradient_checkpointing": config.gradient_checkpointing,
        "use_cpu": not cuda,  # without it, torchrun on CPU starts independent processes instead of a gloo group
        "use_vllm": use_vllm,
        "report_to": "none",
        "disable_tqdm": False,
        "remove_unused_columns": False,
        **reward_arguments,
        **config.trainer_args,
    })
    peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, task_type="CAUSAL_LM", target_modules="all-linear") if config.lora_r else None
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    budget = completions_over_budget(train_dataset["expert_completion"], tokenizer, config.max_completion_length)
    if budget["over"] and main_process:
        logger.warning("%d of %d expert completions are longer than max_completion_length=%d tokens (the longest has %d): "
                       "a rollout that copies the expert there is cut and scored -1", budget["over"], budget["steps"],
                       config.max_completion_length, budget["longest"])
    trainer = DynamicSamplingGRPOTrainer(
        model=model_path,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[MetricsCallback(run)],
        **config.dynamic_sampling_arguments(),
        stop_malformed=load_scaffold(config.scaffold) if config.stop_malformed else None,
        **trainer_arguments,
    )
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final = Path(config.output_dir) / "final"
    trainer.accelerator.wait_for_everyone()
    if main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        model = model.merge_and_unload() if peft_config else model
        model.save_pretrained(final)
        trainer.processing_class.save_pretrained(final)
        if config.eval_heldout:
            _heldout_eval(run, str(final), trajectories, step_config, config, step=trainer.state.global_step)
        run.plot()
    trainer.accelerator.wait_for_everyone()
    return final


def _heldout_eval(run: RunDir, model_path: str, trajectories, step_config: StepConfig, config: SRLRunConfig, step: int) -> dict[str, Any]:
    """Greedy step-level evaluation on the held-out trajectories, recorded in metrics.jsonl."""
    report = evaluate_steps(model_path, trajectories, split="heldout", heldout_fraction=config.heldout_fraction,
                            split_seed=config.split_seed, validation_fraction=config.validation_fraction,
                            step_config=step_config, metric=config.metric, limit=config.eval_limit,
                            max_new_tokens=config.max_completion_length, progress=False)
    run.append({"step": step, "heldout_reward": report["mean_reward"], "heldout_format_rate": report["format_rate"]})
    write_atomic(run.path / f"heldout_step{step}.json", json.dumps(report, indent=2) + "\n")
    return report
