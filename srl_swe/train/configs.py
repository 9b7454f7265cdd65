"""The run configs of every training stage, composed from the parts they share (no torch: the CLI reads their defaults).

A stage's config is its own fields on top of shared parts, each declared once:
``RunConfig`` (model, output, length, seed, checkpoints, TRL pass-through), ``StepDataConfig``
(expert steps and their prompts, SFT and SRL), ``LoRAConfig`` and ``GRPOConfigFields``
(the GRPO objective and dynamic sampling, SRL and RLVR). A stage redeclares a shared field only
to give it its own default. Configs are never changed after they are built: code that needs
another value builds another config (``dataclasses.replace``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import DEFAULT_MODEL
from ..rewards import DEFAULT_METRIC
from ..scaffold import DEFAULT_SCAFFOLD
from ..steps import StepConfig


@dataclass
class RunConfig:
    """What every training run has."""

    model: str = DEFAULT_MODEL
    """A registered model name (`srl-swe models list`), Hugging Face model id or local path."""
    output_dir: str = "runs/train"
    """Run directory: config.json, metrics.jsonl, checkpoint-N/, final/."""
    max_steps: int = 20
    """Optimizer steps (counted from the start of the run, also when resuming)."""
    learning_rate: float = 1e-6
    """Peak learning rate."""
    seed: int = 0
    """Seed of data order, sampling and initialisation."""
    save_steps: int = 10
    """Write a checkpoint every this many steps."""
    logging_steps: int = 1
    """Log (to metrics.jsonl) every this many steps."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory (TRL's default is on; it costs a second forward)."""
    resume: bool = False
    """Continue from the newest checkpoint-N in output_dir (start fresh if there is none)."""
    trainer_args: dict[str, Any] = field(default_factory=dict)
    """Further arguments of TRL's config for this stage (SFTConfig, GRPOConfig), passed through as given and
    applied last, e.g. {weight_decay: 0.01, lr_scheduler_type: constant}."""


@dataclass
class StepDataConfig:
    """Where the expert steps come from, how they are split and how their prompts are built."""

    data: str | None = None
    """Trajectory file or dataset name (any format `load_trajectories` reads); None = the embedded trajectories."""
    context: str = StepConfig.context
    """Step prompt history: 'last:K' (issue + last K expert rounds; the paper's K=2) or 'full'."""
    max_observation_chars: int = StepConfig.max_observation_chars
    """Observations longer than this are cut to head + tail in prompts (0 = no limit; the same default as
    `score steps`, so both build identical prompts)."""
    max_problem_chars: int = StepConfig.max_problem_chars
    """Issue texts longer than this are cut to head + tail in prompts (0 = no limit)."""
    scaffold: str = DEFAULT_SCAFFOLD
    """Agent scaffold (name under agents/ or a YAML path) giving the system prompt and tools."""
    heldout_fraction: float = 0.2
    """Fraction of trajectories held out for step-level evaluation (split by trajectory); 0 trains on all."""
    validation_fraction: float = 0.0
    """Fraction of trajectories kept out of training for choosing settings (never the held-out ones)."""
    split_seed: int = 0
    """Seed of the train/validation/held-out split; separate from `seed`, so every stage and training seed of a
    pipeline is evaluated on the same held-out trajectories."""

    @property
    def step_config(self) -> StepConfig:
        """The step-prompt settings as the step builder takes them."""
        return StepConfig(context=self.context, max_observation_chars=self.max_observation_chars,
                          max_problem_chars=self.max_problem_chars, scaffold=self.scaffold)


@dataclass
class LoRAConfig:
    """A LoRA adapter instead of full fine-tuning."""

    lora_r: int = 0
    """LoRA rank; 0 trains all weights, >0 trains a peft LoRA adapter (merged into final/)."""
    lora_alpha: int = 32
    """LoRA scaling alpha."""


@dataclass
class GRPOConfigFields:
    """The GRPO objective and dynamic sampling, as SRL and RLVR share them."""

    num_generations: int = 8
    """Rollouts per prompt (the GRPO group size)."""
    prompts_per_step: int = 2
    """Prompt groups per optimizer step (per device); the batch is prompts_per_step * num_generations completions."""
    max_completion_length: int = 384
    """Longest completion, in tokens."""
    temperature: float = 1.0
    """Sampling temperature of rollouts (pure temperature sampling: no top-k, top-p or repetition penalty)."""
    beta: float = 0.0
    """KL coefficient (the paper uses none)."""
    clip_epsilon: float = 0.2
    """PPO-style clipping range."""
    scale_rewards: str = "group"
    """Advantage scaling: group (divide by each group's reward std, as in GRPO and the paper), batch, or none
    (Dr. GRPO: keep the reward's own scale, so a group whose samples differ by 0.01 in similarity barely moves
    the policy)."""
    loss_type: str = "grpo"
    """How token losses are aggregated (TRL's loss_type): grpo (each sequence's mean, as in GRPO and the paper), dapo
    (over all tokens of the batch) or dr_grpo (over a constant). With grpo a long rollout's tokens weigh less than a
    short one's, so the tokens a group's rollouts share do not cancel out (benchmarks/RESULTS.md)."""
    dynamic_sampling: bool = True
    """Drop prompt groups whose reward std <= dynamic_sampling_epsilon and refill the batch."""
    dynamic_sampling_epsilon: float = 1e-4
    """Reward-spread threshold of dynamic sampling."""
    max_refill_rounds: int = 4
    """Extra generation rounds allowed to refill a batch with informative groups."""

    def grpo_arguments(self) -> dict[str, Any]:
        """The GRPOConfig arguments these fields set (the same mapping for SRL and RLVR)."""
        return {"per_device_train_batch_size": self.prompts_per_step * self.num_generations,
                "num_generations": self.num_generations, "max_completion_length": self.max_completion_length,
                "temperature": self.temperature, "beta": self.beta, "epsilon": self.clip_epsilon,
                "scale_rewards": self.scale_rewards, "loss_type": self.loss_type,
                "top_p": 1.0, "top_k": 0, "repetition_penalty": 1.0}  # on-policy: pure temperature sampling

    def dynamic_sampling_arguments(self) -> dict[str, Any]:
        """The keyword arguments of DynamicSamplingGRPOTrainer these fields set."""
        return {"dynamic_sampling": self.dynamic_sampling, "dynamic_sampling_epsilon": self.dynamic_sampling_epsilon,
                "max_refill_rounds": self.max_refill_rounds}


@dataclass
class BackendFields:
    """Where a stage's sandboxes run (RLVR's episodes, live SRL's groups)."""

    backend: str = "local"
    """``local`` (this machine's container engine) or ``ray`` (Ray tasks or actors on the nodes of a cluster,
    each declaring its container's CPUs and memory; the policy stays here)."""
    ray_address: str | None = None
    """With ``backend: ray``: a running cluster (``HOST:PORT``); None starts a Ray runtime for this run."""


@dataclass
class SFTRunConfig(LoRAConfig, StepDataConfig, RunConfig):
    """One SFT run on expert step completions."""

    output_dir: str = "runs/sft"
    """Run directory: config.json, metrics.jsonl, checkpoint-N/, final/."""
    max_steps: int = 100
    """Optimizer steps (counted from the start of the run, also when resuming)."""
    learning_rate: float = 1e-4
    """Peak AdamW learning rate."""
    save_steps: int = 50
    """Write a checkpoint every this many steps."""
    lr_scheduler_type: str = "cosine"
    """transformers scheduler name (linear, cosine, constant, ...)."""
    warmup_steps: int = 0
    """Linear warmup steps."""
    batch_size: int = 4
    """Examples per device per forward pass."""
    group_by_trajectory: bool = False
    """Each batch holds up to batch_size consecutive steps of one trajectory (batches shuffled per epoch), so the
    system prompt and issue they share are computed once (`train/shared_prefix.py`); off: random steps."""
    gradient_accumulation_steps: int = 1
    """Forward passes accumulated per optimizer step."""
    max_length: int = 4096
    """Token limit of prompt + completion; longer examples are dropped (truncation would cut off the target)."""
    loss_on: str = "final"
    """'final': loss on the step's expert completion only; 'assistant': on every assistant message (see data.sft_dataset)."""
    lora_dropout: float = 0.05
    """Dropout on LoRA inputs."""
    lora_target_modules: list[str] | str = "all-linear"
    """Modules LoRA adapts: 'all-linear' or a list of module names (e.g. q_proj, v_proj)."""
    save_total_limit: int | None = 2
    """Keep at most this many checkpoints (None keeps all)."""
    overwrite: bool = False
    """Allow a fresh run in an output_dir that already has checkpoints (they are overwritten as training proceeds)."""
    dtype: str = "float32"
    """dtype the weights are loaded in (float32, bfloat16, auto); bf16 autocast is separate (see bf16)."""
    bf16: bool | None = None
    """bf16 mixed precision; None = where the hardware computes bf16 natively (a GPU, or a CPU with AVX512-BF16 or
    AMX; elsewhere CPU bf16 is emulated and many times slower than fp32)."""
    report_to: str = "none"
    """transformers integrations to log to (none, tensorboard, wandb, ...)."""


@dataclass
class SRLRunConfig(BackendFields, GRPOConfigFields, LoRAConfig, StepDataConfig, RunConfig):
    """One SRL run: GRPO with dynamic sampling on expert step instances, rewarded by similarity to the expert."""

    output_dir: str = "runs/srl"
    """Run directory: config.json, metrics.jsonl, plots, checkpoints, final/."""
    max_completion_length: int = 384
    """Longest completion, in tokens; it must cover the expert's (the embedded data's longest is 338 tokens), or
    copies of the expert's longest actions are cut, scored -1, and SRL learns to avoid them."""
    learning_rate: float = 1e-6
    """Learning rate (the paper uses 5e-7 at 7B)."""
    metric: str = DEFAULT_METRIC
    """Reward similarity metric: indel, difflib (paper-exact) or structured."""
    stop_malformed: bool = True
    """Stop a rollout once it can no longer parse: its reward is -1 whatever follows, so rewards are unchanged and a
    degenerate loop stops holding the batch to max_completion_length; its loss covers the tokens up to the break."""
    eval_heldout: bool = True
    """Evaluate the held-out steps greedily before and after training."""
    eval_limit: int | None = None
    """Evaluate at most this many held-out steps (None = all of them)."""
    use_vllm: bool | None = None
    """Generate with vLLM (None = when the `vllm` extra is installed and a GPU is present)."""
    bf16: bool | None = None
    """bf16 training (None = where the hardware computes bf16 natively: a GPU, or a CPU with AVX512-BF16 or AMX)."""
    live: bool = False
    """Live SRL (srl_swe.train.live_srl): reward each completion by running it in a branch of the expert prefix's
    snapshot, in a sandbox of the trajectory's registered task (the data must be recordings of registered tasks)."""
    live_reward: str = "combined"
    """With live: the trained reward, ``execution`` (what the action did against the expert's), ``combined`` (the
    mean of execution and textual similarity) or ``similarity``; all three are logged."""
    live_workers: int = 2
    """With live: GRPO groups scored at once (each re-executes its prefix, then runs its branches)."""
    live_branches: int = 4
    """With live: branches of one group's snapshot run at once."""
    live_command_timeout: float = 60.0
    """With live: seconds one action (prefix, expert or policy) may run in its sandbox."""


@dataclass
class RLVRRunConfig(BackendFields, GRPOConfigFields, RunConfig):
    """One RLVR run: GRPO over live episodes in Docker sandboxes, rewarded when the task's tests pass."""

    output_dir: str = "runs/rlvr"
    """Run directory: config.json, metrics.jsonl, plots, checkpoints, final/."""
    max_steps: int = 10
    """Optimizer steps."""
    envs: list[str] | None = None
    """Registered environments whose tasks are trained on (None = all)."""
    tasks: str | None = None
    """A SWE-bench rows file instead of the registered environments."""
    scaffold: str = DEFAULT_SCAFFOLD
    """Agent scaffold (tools, prompts)."""
    num_generations: int = 4
    """Episodes per task (the GRPO group size)."""
    prompts_per_step: int = 1
    """Tasks per optimizer step."""
    max_turns: int = 8
    """Tool calls per episode before it is truncated and graded."""
    max_turn_tokens: int = 256
    """Tokens the policy may write per turn."""
    max_completion_length: int = 4096
    """Tokens of a whole episode (turns and observations) before it stops."""
    dynamic_sampling: bool = False
    """Drop groups whose episodes all scored the same and refill with fresh tasks (each refill round costs a
    whole group of live episodes, so it is off by default)."""
    max_refill_rounds: int = 2
    """Extra generation rounds allowed to refill a batch with informative groups."""
