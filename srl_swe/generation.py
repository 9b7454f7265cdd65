"""How srl-swe samples a policy: neutral decoding settings, and stopping outputs already scored -1.

Shared by step evaluation, SRL and RLVR rollouts and the transformers rollout policy, so all decode
under the same rules.
"""
from __future__ import annotations

import torch  # noqa: TID253 - only the paths that generate import this module
from transformers import GenerationConfig, StoppingCriteria  # noqa: TID253 - only the paths that generate import this module

from .actions import can_still_parse
from .scaffold import Scaffold, load_scaffold


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
