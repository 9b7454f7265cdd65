"""The one precision rule (`auto` = bf16 only where the hardware computes it) and our LM-head override of TRL."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from srl_swe import distributed  # noqa: E402
from srl_swe.tiny_model import build_tiny_model  # noqa: E402


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, "float32"), (True, False, "bfloat16"),
                                                        (False, True, "bfloat16")])
def test_auto_dtype_on_the_cpu_follows_native_bf16(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert distributed.auto_dtype("cpu") == expected
    assert distributed.bf16_is_fast("cpu") is (expected == "bfloat16")


@pytest.mark.parametrize("bf16, expected", [(True, "bfloat16"), (False, "float16")])
def test_auto_dtype_on_a_gpu(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert distributed.auto_dtype("cuda:0") == expected


def test_a_cpu_without_native_bf16_gets_fp32_weights_from_the_policy(monkeypatch, tmp_path):
    from srl_swe.rollout.policies import TransformersPolicy

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    policy = TransformersPolicy(str(build_tiny_model(tmp_path / "tiny")), device="cpu")
    assert next(policy.model.parameters()).dtype == torch.float32


def test_the_lm_head_override_scores_labelled_positions_only_with_the_same_log_probs(tmp_path, monkeypatch):
    import trl.trainer.utils as trl_utils
    from transformers import AutoModelForCausalLM
    from trl.kernels import chunked_logprob

    monkeypatch.setattr(trl_utils, "_use_triton", chunked_logprob._use_triton)  # TRL's own, whatever ran before

    from srl_swe.train.lm_head import score_labelled_positions_only

    model = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "tiny"))
    trl_utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    torch.manual_seed(0)
    input_ids = torch.randint(5, model.config.vocab_size, (2, 24))
    labels = input_ids.clone()
    labels[0, :17] = -100  # a prompt of 17 tokens, then the completion
    labels[1, :9] = -100
    projected: list[int] = []
    original_apply = trl_utils._ChunkedLogProbFunction.apply

    def counting_apply(hidden, *rest):
        projected.append(hidden.shape[0])
        return original_apply(hidden, *rest)

    trl_utils._ChunkedLogProbFunction.apply = counting_apply
    decide = trl_utils._use_triton
    try:
        full = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
        score_labelled_positions_only()
        score_labelled_positions_only()  # idempotent: one wrapper, not two
        compact = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
        assert trl_utils._use_triton(torch.device("cpu")) is True
        assert trl_utils._use_triton.__closure__[0].cell_contents is decide
    finally:
        trl_utils._ChunkedLogProbFunction.apply = original_apply
        trl_utils._use_triton = decide
    assert projected == [2 * 23, int((labels[:, 1:] != -100).sum())]
    for field in ("log_probs", "entropy", "is_top1"):
        assert torch.allclose(getattr(full, field), getattr(compact, field), atol=1e-5), field
    assert torch.allclose(full.loss, compact.loss, atol=1e-6)
