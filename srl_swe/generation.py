"""How srl-swe samples a policy: neutral decoding settings, and stopping outputs already scored -1.

Shared by step evaluation, SRL and RLVR rollouts and the transformers rollout policy, so all decode
under the same rules.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch  # noqa: TID253 - only the paths that generate import this module
from transformers import AttentionInterface, GenerationConfig, StoppingCriteria  # noqa: TID253 - only the paths that generate import this module
from transformers.cache_utils import Cache, DynamicLayer  # noqa: TID253
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask  # noqa: TID253

from .actions import can_still_parse
from .scaffold import Scaffold, load_scaffold

GQA_ATTENTION = "srl_swe_sdpa_gqa"
"""Our attention for decoding on the CPU: SDPA with grouped key/value heads passed as they are (``enable_gqa``)."""


def neutral_generation(tokenizer, max_new_tokens: int, temperature: float | None = None, top_p: float = 1.0) -> GenerationConfig:
    """Greedy (temperature None) or pure temperature sampling, every other knob set to neutral explicitly.

    Explicit because generate() fills each unset field from the model's own generation_config
    (Qwen's says top-k 20, top-p 0.8, repetition penalty 1.05): samples would be off-policy.
    """
    sampling = {"do_sample": False} if temperature is None else {"do_sample": True, "temperature": temperature, "top_k": 0,
                                                                 "top_p": top_p, "min_p": None}
    return GenerationConfig(max_new_tokens=max_new_tokens, num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0,
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **sampling)


class StopWhenMalformed(StoppingCriteria):
    """Stopping criterion: end a row once its text can no longer parse (:func:`srl_swe.actions.can_still_parse`).

    Exact for the SRL reward (-1 whatever follows) and much cheaper: a prose answer stops after
    a few tokens, a loop of closing tags after the first one, instead of at max_new_tokens.
    `stopped` maps each row it ended to the number of tokens the row had written.
    """

    def __init__(self, tokenizer, prompt_length: int, scaffold: Scaffold | None = None):
        self.tokenizer, self.prompt_length = tokenizer, prompt_length
        self.scaffold = scaffold or load_scaffold()
        self.stopped: dict[int, int] = {}

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        generated = input_ids[:, self.prompt_length:]
        done = torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)
        for row, ids in enumerate(generated.tolist()):
            if row in self.stopped:
                done[row] = True
            elif not can_still_parse(self.tokenizer.decode(ids, skip_special_tokens=True), self.scaffold):
                self.stopped[row] = len(ids)
                done[row] = True
        return done


class GrowingCacheLayer(DynamicLayer):
    """transformers' dynamic KV cache without its copy per token.

    ``DynamicLayer`` concatenates the whole cache with each new token (a quarter of a decode step on
    the CPU); this layer writes into a buffer whose capacity doubles and returns views of its used
    part, so the same keys and values reach attention. Anything that replaces the keys from outside
    (cropping, batch selection) is picked up at the next update.
    """

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._key_buffer = self._value_buffer = self._key_view = None
        self._used = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if self.keys is not self._key_view:  # first update, or keys replaced from outside: start from them
            self._key_buffer = self._value_buffer = None
            self._used = self.keys.shape[-2] if self.keys.numel() else 0
        needed = self._used + key_states.shape[-2]
        if self._key_buffer is None or needed > self._key_buffer.shape[-2]:
            self._key_buffer = self._grown(self.keys, key_states, needed)
            self._value_buffer = self._grown(self.values, value_states, needed)
        self._key_buffer[..., self._used:needed, :].copy_(key_states)
        self._value_buffer[..., self._used:needed, :].copy_(value_states)
        self._used = needed
        self.keys = self._key_view = self._key_buffer[..., :needed, :]
        self.values = self._value_buffer[..., :needed, :]
        return self.keys, self.values

    def _grown(self, held: torch.Tensor, new: torch.Tensor, needed: int) -> torch.Tensor:
        buffer = new.new_empty(*new.shape[:2], max(256, 2 * needed), new.shape[-1])
        if self._used:
            buffer[..., :self._used, :].copy_(held[..., :self._used, :])
        return buffer


def _gqa_sdpa(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """transformers' SDPA attention, but with ``enable_gqa`` whatever the mask (it copies the key/value heads on CPUs)."""
    causal = query.shape[2] > 1 and attention_mask is None and (is_causal if is_causal is not None else True)
    output = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout,
                                                              scale=scaling, is_causal=causal, enable_gqa=True)
    return output.transpose(1, 2).contiguous(), None


AttentionInterface.register(GQA_ATTENTION, _gqa_sdpa)
AttentionMaskInterface.register(GQA_ATTENTION, sdpa_mask)


@contextmanager
def fast_decoding(model):
    """Decode faster on the CPU, with the same tokens: yields extra keyword arguments for ``model.generate``.

    On a CPU, a model using SDPA with grouped key/value heads attends with them as they are for the
    duration (training forwards keep transformers' own path), and a :class:`GrowingCacheLayer` cache
    replaces the copying one (benchmarks/bench_decode.py measures both; greedy tokens identical).
    Elsewhere nothing changes: on a GPU transformers' paths were not measured against these.
    """
    config = model.config
    if model.device.type != "cpu":
        yield {}
        return
    heads = getattr(config, "num_attention_heads", None)
    grouped = heads is not None and getattr(config, "num_key_value_heads", heads) != heads
    switch = grouped and getattr(config, "_attn_implementation", None) == "sdpa"
    if switch:
        model.set_attn_implementation(GQA_ATTENTION)
    try:
        yield {"past_key_values": Cache(layer_class_to_replicate=GrowingCacheLayer)}
    finally:
        if switch:
            model.set_attn_implementation("sdpa")
