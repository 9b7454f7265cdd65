"""Supervised fine-tuning on SRL step instances with TRL's SFTTrainer.

Every expert action becomes one conversational example: the step prompt, then the expert's
`<think>` + canonical call as the assistant answer; the loss covers the final answer only
by default, or every assistant message (see `data.sft_dataset`). Training uses the train
side of `select_split(heldout_fraction, split_seed, validation_fraction)`, so
`evaluate_steps` with the same values scores trajectories the model never saw. The run
directory (`output_dir`) holds `config.json` (the resolved config), `metrics.jsonl` (one
JSON object per logged step), `loss.png`, `checkpoint-N/` folders and the final model +
tokenizer in `final/`.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import TrainerCallback  # noqa: TID253 - a training module: only the heavy paths import it

from ..errors import SRLSweError
from ..files import append_line, drop_torn_line, write_atomic
from ..models import resolve_model
from ..distributed import bf16_is_fast, cuda_available
from .configs import SFTRunConfig
from .data import load_data, sft_dataset, split_by_trajectory
from .shared_prefix import SharedPrefixSFTTrainer

logger = logging.getLogger(__name__)





class MetricsCallback(TrainerCallback):
    """Appends every trainer log event to `metrics.jsonl` as one JSON object (step, loss, learning_rate, ...)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.start = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch}
        record.update({k: v for k, v in logs.items() if v is None or isinstance(v, (int, float, str, bool))})
        record["elapsed_s"] = round(time.time() - self.start, 3)
        with self.path.open("a") as handle:
            append_line(handle, json.dumps(record))


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep only the records of steps up to `step` (and drop a line torn by a kill), replacing the file atomically."""
    if path.exists():
        drop_torn_line(path)
        kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
        write_atomic(path, "".join(line + "\n" for line in kept))


def plot_loss(run_dir: str | Path) -> Path | None:
    """`loss.png` of the training loss in a run's metrics.jsonl; None when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    points = [(r["step"], r["loss"]) for r in records if isinstance(r.get("loss"), (int, float))]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(*zip(*points), marker="o" if len(points) < 50 else None)
    ax.set(title="SFT loss (assistant tokens)", xlabel="step", ylabel="loss")
    fig.tight_layout()
    out = run_dir / "loss.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _filter_long(dataset, tokenizer, max_length: int):
    """Drop examples whose chat-formatted prompt + completion exceeds `max_length` tokens."""
    def length(example) -> dict[str, int]:
        messages = example["messages"] if "messages" in example else example["prompt"] + example["completion"]
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        return {"_length": len(ids)}

    with_len = dataset.map(length, desc="Measuring examples")
    kept = with_len.filter(lambda ex: ex["_length"] <= max_length).remove_columns("_length")
    return kept, len(dataset) - len(kept)


def build_sft_trainer(config: SFTRunConfig):
    """The configured TRL `SFTTrainer` and the checkpoint to resume from (or None); writes config.json.

    Exposed so callers (and tests) can inspect the prepared dataset before training.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = get_last_checkpoint(str(out)) if out.is_dir() else None
    if checkpoint and not (config.resume or config.overwrite):
        raise SRLSweError(f"{out} already has {Path(checkpoint).name}: pass --resume to continue it, "
                          "or --overwrite to start over")
    if config.resume and checkpoint is None:
        logger.warning("resume requested but %s has no checkpoint: starting from scratch", out)
    resume_from = checkpoint if config.resume else None

    set_seed(config.seed)
    model_path = resolve_model(config.model)
    trajectories = load_data(config.data)
    train, heldout = split_by_trajectory(trajectories, config.heldout_fraction, config.split_seed, config.validation_fraction)
    if not train:
        raise SRLSweError(f"{config.data or 'embedded data'}: no training trajectories")

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset, dropped = _filter_long(sft_dataset(train, config.step_config, loss_on=config.loss_on), tokenizer, config.max_length)
    if dropped:
        logger.warning("dropped %d of %d examples longer than max_length=%d tokens", dropped, dropped + len(dataset), config.max_length)
    if len(dataset) == 0:
        raise SRLSweError(f"every example is longer than max_length={config.max_length} tokens")

    bf16 = bf16_is_fast() if config.bf16 is None else config.bf16
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=config.dtype)
    peft_config = None
    if config.lora_r > 0:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                 target_modules=config.lora_target_modules, task_type="CAUSAL_LM")

    resolved = {
        **asdict(config),
        "resolved": {
            "model_path": model_path,
            "data": str(config.data) if config.data else "embedded",
            "train_trajectories": [t.id for t in train],
            "heldout_trajectories": [t.id for t in heldout],
            "train_examples": len(dataset),
            "dropped_too_long": dropped,
            "bf16": bf16,
            "resume_from": resume_from,
        },
    }
    write_atomic(out / "config.json", json.dumps(resolved, indent=2) + "\n")
    metrics = out / "metrics.jsonl"
    if resume_from is None:
        metrics.write_text("")
    else:  # steps logged after the checkpoint are logged again by the resumed run
        _truncate_metrics(metrics, int(Path(resume_from).name.rsplit("-", 1)[-1]))

    args = SFTConfig(**{
        "output_dir": str(out),
        "max_steps": config.max_steps,
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": config.lr_scheduler_type,
        "warmup_steps": config.warmup_steps,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_length": config.max_length,
        # prompt/completion rows train on the completion alone; `assistant` needs {% generation %} in the template
        "assistant_only_loss": config.loss_on == "assistant",
        "bf16": bf16,
        "fp16": False,
        "gradient_checkpointing": config.gradient_checkpointing,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "seed": config.seed,
        "data_seed": config.seed,
        "report_to": config.report_to,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": cuda_available(),
        "use_cpu": not cuda_available(),  # torchrun on CPU: one gloo group, not independent processes
        **config.trainer_args,
    })
    trainer = SharedPrefixSFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                                     peft_config=peft_config, callbacks=[MetricsCallback(metrics)],
                                     group_by_trajectory=config.group_by_trajectory)
    return trainer, resume_from


def train_sft(config: SFTRunConfig) -> Path:
    """Run SFT as configured; return the path of the final model (`output_dir/final`).

    With LoRA the adapter is merged, so `final/` is always a plain model + tokenizer that
    `from_pretrained` loads.
    """
    trainer, resume_from = build_sft_trainer(config)
    trainer.train(resume_from_checkpoint=resume_from)
    final = Path(config.output_dir) / "final"
    trained = trainer.model
    if hasattr(trained, "merge_and_unload"):
        trained = trained.merge_and_unload()
    trained.save_pretrained(final)
    trainer.processing_class.save_pretrained(final)
    plot_loss(config.output_dir)
    return final
