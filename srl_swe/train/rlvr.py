"""`srl-swe train rlvr`: GRPO over multi-turn episodes in the live SWE environment.

Each rollout is one episode in its own Docker sandbox: the policy writes a turn, the
environment runs its tool call and answers, until `finish` or the step limit; the episode's
reward is 1.0 when the task's tests resolve (RL from verifiable rewards). Observation tokens
are in the sequence for context but masked out of the loss (TRL's `env_mask`).
Infrastructure failures (sandbox or grading errors) give no reward at all (None), so they are
masked instead of being scored as failed solutions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..agent.recorder import record_episode
from ..backend import BackendConfig
from ..evaluation.convert import load_task_rows
from ..files import write_atomic
from ..gym.live import LiveConfig, SWEEnv, task_messages
from ..gym.remote import open_env
from ..models import resolve_model
from ..rollout.policies import GenerationConfig, TransformersPolicy
from ..scaffold import load_scaffold
from ..distributed import bf16_is_fast, cuda_available
from .configs import RLVRRunConfig
from .run_dir import MetricsCallback, RunDir
from .srl import latest_checkpoint




def rlvr_reward(prompts, completions, resolved, reward_valid, **_):
    """1.0 when the episode's patch resolved its task, 0.0 when not, None (masked) after an infrastructure failure."""
    return [None if not valid else (1.0 if ok else 0.0) for ok, valid in zip(resolved, reward_valid)]


class EpisodeRollout:
    """TRL `rollout_func`: one live episode per prompt; turn tokens are trained, observation tokens masked."""

    def __init__(self, tasks_by_issue: dict[str, dict[str, Any]], config: RLVRRunConfig):
        self.tasks_by_issue, self.config = tasks_by_issue, config

    def __call__(self, prompts: list[list[dict[str, str]]], trainer) -> dict[str, Any]:
        episodes = [self.episode(prompt, trainer) for prompt in prompts]
        mode = "train" if trainer.model.training else "eval"  # counted per generation round, as TRL's own metrics
        trainer._metrics[mode]["rlvr/tampering_attempts"].append(float(sum(e[3].get("tampering_attempts", 0)
                                                                               for e in episodes)))
        return {
            "prompt_ids": [e[0] for e in episodes],
            "completion_ids": [e[1] for e in episodes],
            "env_mask": [e[2] for e in episodes],
            "logprobs": None,  # TRL recomputes the old policy's log-probs itself
            "resolved": [bool(e[3].get("resolved")) for e in episodes],
            "reward_valid": [bool(e[3].get("reward_valid")) for e in episodes],
        }

    def episode(self, prompt: list[dict[str, str]], trainer) -> tuple[list[int], list[int], list[int], dict[str, Any]]:
        """One live episode through the one episode loop (agent.recorder.record_episode), with its token bookkeeping."""
        tokenizer = trainer.processing_class
        policy = TransformersPolicy.of_model(trainer.accelerator.unwrap_model(trainer.model), tokenizer,  # on-policy
                                             GenerationConfig(max_new_tokens=self.config.max_turn_tokens,
                                                              temperature=self.config.temperature, seed=None))
        prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
        completion: list[int] = []
        mask: list[int] = []
        env = open_env(SWEEnv, BackendConfig(self.config.backend, ray_address=self.config.ray_address),
                       task=self.tasks_by_issue[prompt[-1]["content"]],
                       config=LiveConfig(max_steps=self.config.max_turns, scaffold=self.config.scaffold))

        def turns():
            """The policy's turns; it stops when the episode's token budget is spent (the loop then grades)."""
            nonlocal completion, mask
            ids = list(prompt_ids)
            while True:
                turn = policy.continue_tokens(ids)
                ids, completion, mask = ids + turn, completion + turn, mask + [1] * len(turn)
                yield tokenizer.decode(turn, skip_special_tokens=True)
                if len(completion) >= self.config.max_completion_length:
                    return
                messages = [dict(m) for m in env.messages]
                before = tokenizer.apply_chat_template(messages[:-1], tokenize=False)
                after = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
                observation = tokenizer(after[len(before):], add_special_tokens=False)["input_ids"]
                if not turn or turn[-1] != tokenizer.eos_token_id:  # the turn was cut: close it as the template does
                    observation = tokenizer(tokenizer.eos_token, add_special_tokens=False)["input_ids"] + observation
                ids, completion, mask = ids + observation, completion + observation, mask + [0] * len(observation)

        try:
            info = record_episode(env, turns(), source_format="rlvr").info
        except Exception as exc:  # noqa: BLE001 - an infrastructure failure must not end the training step
            info = {"reward_valid": False, "infra_error": str(exc)}
        finally:
            env.close()
        if not completion:
            completion, mask = [tokenizer.eos_token_id], [0]
        limit = self.config.max_completion_length
        return list(prompt_ids), completion[:limit], mask[:limit], info


def train_rlvr(config: RLVRRunConfig) -> Path:
    """Run RLVR; returns the directory of the final model."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from .dynamic_sampling import DynamicSamplingGRPOTrainer  # noqa: PLC0415 - pulls trl, datasets

    run = RunDir(config.output_dir)
    run.write_config(config)
    scaffold = load_scaffold(config.scaffold)
    rows = load_task_rows(config.tasks, config.envs)
    prompts = [task_messages(row, scaffold) for row in rows]
    tasks_by_issue = {p[-1]["content"]: row for p, row in zip(prompts, rows)}
    dataset = Dataset.from_list([{"prompt": p, "instance_id": r["instance_id"]} for p, r in zip(prompts, rows)])
    model_path = resolve_model(config.model)
    checkpoint = latest_checkpoint(config.output_dir) if config.resume else None
    if checkpoint is not None:
        run.truncate_after(int(checkpoint.name.split("-")[-1]))
    args = GRPOConfig(**{  # SRL's objective (grpo_arguments), over whole episodes
        **config.grpo_arguments(),
        "output_dir": config.output_dir, "max_steps": config.max_steps, "learning_rate": config.learning_rate,
        "logging_steps": config.logging_steps, "gradient_checkpointing": config.gradient_checkpointing,
        "save_steps": config.save_steps, "seed": config.seed, "report_to": "none", "remove_unused_columns": False,
        "bf16": bf16_is_fast(), "use_cpu": not cuda_available(), "disable_tqdm": False,
        **config.trainer_args,
    })
    trainer = DynamicSamplingGRPOTrainer(
        model=model_path, reward_funcs=[rlvr_reward], args=args, train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_path), callbacks=[MetricsCallback(run)],
        rollout_func=EpisodeRollout(tasks_by_issue, config), **config.dynamic_sampling_arguments(),
    )
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final = Path(config.output_dir) / "final"
    trainer.model.save_pretrained(final)
    trainer.processing_class.save_pretrained(final)
    write_atomic(run.path / "tasks.json", json.dumps([r["instance_id"] for r in rows]) + "\n")
    run.plot()
    return final
