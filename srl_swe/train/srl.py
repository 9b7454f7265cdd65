"""`srl-swe train srl`: Supervised RL on expert step instances with GRPO and dynamic sampling.

Defaults follow the paper (Deng et al., SRL): 8 rollouts per prompt, temperature 1.0, no
KL term, PPO-style clipping (epsilon 0.2), per-group advantage normalisation, dynamic
sampling of groups with non-zero reward spread. The reward is `srl_reward`: similarity of
the completion's tool call to the expert's, -1 when malformed.
"""
from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import DEFAULT_MODEL, resolve_model
from ..rewards import DEFAULT_METRIC, SRLReward
from ..scaffold import DEFAULT_SCAFFOLD, load_scaffold
from ..steps import StepConfig
from ..distributed import cuda_available, distributed_state
from .data import completions_over_budget, load_data, select_split, step_config_of, step_dataset
from .evaluate_steps import evaluate_steps
from .run_dir import MetricsCallback, RunDir

logger = logging.getLogger(__name__)


@dataclass
class SRLRunConfig:
    """Everything one SRL run needs; every field can be set from YAML or the command line."""

    output_dir: str = "runs/srl"
    """Run directory: config.json, metrics.jsonl, plots, checkpoints, final/."""
    model: str = DEFAULT_MODEL
    """A registered model name (`srl-swe models list`), Hugging Face model id or local path."""
    data: str | None = None
    """Trajectory file or dataset name (None = the embedded trajectories)."""
    max_steps: int = 20
    """Optimizer steps."""
    metric: str = DEFAULT_METRIC
    """Reward similarity metric: indel, difflib (paper-exact) or structured."""
    context: str = StepConfig.context
    """Step context: `last:K` expert rounds (paper: 2) or `full`."""
    max_observation_chars: int = StepConfig.max_observation_chars
    """Observation budget in step prompts (the same default as `score steps`, so both build identical prompts)."""
    max_problem_chars: int = StepConfig.max_problem_chars
    """Issue-text budget in step prompts (0 = no limit)."""
    scaffold: str = DEFAULT_SCAFFOLD
    """Agent scaffold (tools and prompts) under agents/ or a YAML path."""
    num_generations: int = 8
    """Rollouts per prompt (the GRPO group size)."""
    prompts_per_step: int = 2
    """Prompt groups per optimizer step (per device); the batch is prompts_per_step * num_generations completions."""
    max_completion_length: int = 384
    """Longest completion, in tokens; it must cover the expert's (the embedded data's longest is 338 tokens), or
    copies of the expert's longest actions are cut, scored -1, and SRL learns to avoid them."""
    temperature: float = 1.0
    """Sampling temperature of rollouts."""
    learning_rate: float = 1e-6
    """Learning rate (the paper uses 5e-7 at 7B)."""
    beta: float = 0.0
    """KL coefficient (the paper uses none)."""
    clip_epsilon: float = 0.2
    """PPO-style clipping range."""
    scale_rewards: str = "group"
    """Advantage scaling: group (divide by each group's reward std, as in GRPO and the paper), batch, or none
    (Dr. GRPO: keep the reward's own scale, so a group whose samples differ by 0.01 in similarity barely moves
    the policy)."""
    dynamic_sampling: bool = True
    """Drop prompt groups whose reward std <= dynamic_sampling_epsilon and refill the batch."""
    dynamic_sampling_epsilon: float = 1e-4
    """Reward-spread threshold of dynamic sampling."""
    max_refill_rounds: int = 4
    """Extra generation rounds allowed to refill a batch with informative groups."""
    stop_malformed: bool = True
    """Stop a rollout once it can no longer parse: its reward is -1 whatever follows, so rewards are unchanged and a
    degenerate loop stops holding the batch to max_completion_length; its loss covers the tokens up to the break."""
    lora_r: int = 0
    """LoRA rank (0 = full fine-tuning)."""
    lora_alpha: int = 32
    """LoRA alpha."""
    heldout_fraction: float = 0.2
    """Fraction of trajectories held out for step-level evaluation (split by trajectory)."""
    validation_fraction: float = 0.0
    """Fraction of trajectories kept out of training for choosing settings (never the held-out ones)."""
    split_seed: int = 0
    """Seed of the train/validation/held-out split; separate from `seed`, so every stage and training seed of a
    pipeline is evaluated on the same held-out trajectories."""
    eval_heldout: bool = True
    """Evaluate the held-out steps greedily before and after training."""
    eval_limit: int | None = None
    """Evaluate at most this many held-out steps (None = all of them)."""
    save_steps: int = 10
    """Checkpoint every N steps."""
    logging_steps: int = 1
    """Log metrics every N steps."""
    seed: int = 0
    """Seed of data order, sampling and initialisation."""
    use_vllm: bool | None = None
    """Generate with vLLM (None = when the `vllm` extra is installed and a GPU is present)."""
    bf16: bool | None = None
    """bf16 training (None = when a GPU is present)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory (TRL's default is on; it costs a second forward)."""
    resume: bool = False
    """Resume from the newest checkpoint in output_dir."""


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    checkpoints = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return checkpoints[-1] if checkpoints else None


def load_step_splits(config: SRLRunConfig, step_config: StepConfig):
    """(train step dataset, all trajectories) for the run's trajectory source, split by trajectory."""
    trajectories = load_data(config.data)
    train = select_split(trajectories, "train", config.heldout_fraction, config.split_seed, config.validation_fraction)
    return step_dataset(train, step_config), trajectories


def train_srl(config: SRLRunConfig) -> Path:
    """Run SRL; returns the directory of the final model."""
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from .dynamic_sampling import DynamicSamplingGRPOTrainer  # noqa: PLC0415 - pulls trl, datasets
    main_process = distributed_state().is_main_process  # with torchrun/accelerate, only rank 0 writes run files
    run = RunDir(config.output_dir)
    model_path = resolve_model(config.model)
    step_config = step_config_of(config)
    train_dataset, trajectories = load_step_splits(config, step_config)
    checkpoint = latest_checkpoint(config.output_dir) if config.resume else None
    if main_process:
        run.write_config(config)
        if checkpoint is not None:
            run.truncate_after(int(checkpoint.name.split("-")[-1]))
        elif config.eval_heldout:
            _heldout_eval(run, model_path, trajectories, step_config, config, step=0)

    cuda = cuda_available()
    use_vllm = config.use_vllm if config.use_vllm is not None else (cuda and importlib.util.find_spec("vllm") is not None)
    args = GRPOConfig(
        output_dir=config.output_dir,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.prompts_per_step * config.num_generations,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        learning_rate=config.learning_rate,
        beta=config.beta,
        epsilon=config.clip_epsilon,
        scale_rewards=config.scale_rewards,
        loss_type="grpo",
        top_p=1.0, top_k=0, repetition_penalty=1.0,  # on-policy: pure temperature sampling
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_strategy="steps",
        seed=config.seed,
        bf16=config.bf16 if config.bf16 is not None else cuda,
        gradient_checkpointing=config.gradient_checkpointing,
        use_cpu=not cuda,  # without it, torchrun on CPU starts independent processes instead of a gloo group
        use_vllm=use_vllm,
        report_to="none",
        disable_tqdm=False,
        remove_unused_columns=False,
    )
    peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, task_type="CAUSAL_LM", target_modules="all-linear") if config.lora_r else None
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    budget = completions_over_budget(train_dataset["expert_completion"], tokenizer, config.max_completion_length)
    if budget["over"] and main_process:
        logger.warning("%d of %d expert completions are longer than max_completion_length=%d tokens (the longest has %d): "
                       "a rollout that copies the expert there is cut and scored -1", budget["over"], budget["steps"],
                       config.max_completion_length, budget["longest"])
    trainer = DynamicSamplingGRPOTrainer(
        model=model_path,
        reward_funcs=[SRLReward(config.metric, config.scaffold)],
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[MetricsCallback(run)],
        dynamic_sampling=config.dynamic_sampling,
        dynamic_sampling_epsilon=config.dynamic_sampling_epsilon,
        max_refill_rounds=config.max_refill_rounds,
        stop_malformed=load_scaffold(config.scaffold) if config.stop_malformed else None,
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
    (run.path / f"heldout_step{step}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
