"""A tiny Qwen2-shaped causal LM with a byte-level BPE tokenizer, built offline in seconds.

No weights can be downloaded here, so the default policy for tests, demos and CPU smoke
runs is built from a config: `Qwen2ForCausalLM` with random weights and a tokenizer trained
with the `tokenizers` library on local text (by default the embedded trajectories' step
prompts and expert completions plus the scaffold YAML).

The BPE is trained with exactly the normalizer and pre-tokenizer that `Qwen2Tokenizer`
uses. `AutoTokenizer` rebuilds a qwen2 tokenizer from `vocab`/`merges` with its own
pre-tokenizer, so a BPE trained with another pre-tokenizer would give different ids after
a save/load; this one round-trips exactly.

The chat template is ChatML with `{% generation %}...{% endgeneration %}` around each
assistant message (including its `<|im_end|>`), so TRL's SFT `assistant_only_loss=True`
masks everything but assistant tokens and the model learns to stop.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from .actions import format_action
from .data import default_dataset_path
from .resources import cache_dir
from .scaffold import AGENTS_DIR
from .steps import StepBuilder
from .trajectory import load_trajectories

BUILD_VERSION = 1
"""Bumped whenever the build changes in a way that must invalidate cached models."""

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
"""ChatML; assistant content and its `<|im_end|>` are inside `{% generation %}` (the trailing newline is not)."""


def default_corpus(data: str | None = None) -> list[str]:
    """Tokenizer training text: every step's prompt messages and expert completion, plus the scaffold YAML.

    `data` is the trajectory source the model will be trained on (default: the embedded default set).
    """
    builder = StepBuilder()
    texts: list[str] = []
    for trajectory in load_trajectories(data or default_dataset_path()).trajectories:
        for step, turn in zip(builder.steps(trajectory), trajectory.actions):
            texts.extend(message["content"] for message in step.prompt)
            texts.append(format_action(turn.thought, turn.action, builder.scaffold))
    texts.extend(path.read_text() for path in sorted(AGENTS_DIR.glob("*.yaml")))
    return texts


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A Qwen2Tokenizer whose BPE was trained on `texts` with Qwen2's own pre-tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    model = json.loads(backend.to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]],
        unk_token=ENDOFTEXT,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    output_dir: str | Path,
    *,
    texts: Iterable[str] | None = None,
    vocab_size: int = 4096,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    seed: int = 0,
) -> Path:
    """Write a random-init Qwen2ForCausalLM and its trained tokenizer to `output_dir`; return the path.

    `vocab_size` is the BPE target: a small corpus saturates below it, and the model's
    embedding matrix is sized to the tokenizer actually trained. `texts` defaults to
    :func:`default_corpus`. Deterministic for fixed arguments.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(default_corpus() if texts is None else list(texts), vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 3,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2) if num_heads % 2 == 0 else num_heads,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    if not (output_dir / "config.json").is_file():  # save_pretrained writes weights on rank 0 only
        raise RuntimeError(f"{output_dir}: no model was written; in a distributed run, build it on the main process first "
                           "(srl_swe.models.resolve_model does)")
    return output_dir


def _cache_root() -> Path:
    return cache_dir("tiny-qwen2")


def default_tiny_model(**params) -> Path:
    """The tiny model built with `params` (see :func:`build_tiny_model`), built once and cached.

    The cache lives in `tiny-qwen2/` of the srl-swe cache (`srl_swe.resources.cache_dir`), one
    folder per hash of the build parameters, corpus and library versions. The model is built in
    a temporary folder and renamed into place, so concurrent callers never see a partial
    model; a loser of the race discards its copy and uses the winner's.
    """
    import tokenizers
    import transformers

    texts = list(params.pop("texts", None) or default_corpus())
    digest = hashlib.sha256()
    key = {"build": BUILD_VERSION, "params": params, "transformers": transformers.__version__,
           "tokenizers": tokenizers.__version__}
    digest.update(json.dumps(key, sort_keys=True).encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    root = _cache_root()
    target = root / digest.hexdigest()[:16]
    if (target / "config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        build_tiny_model(staging, texts=texts, **params)
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
