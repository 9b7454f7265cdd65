"""Decoding on the CPU without transformers' per-token cache copy and key/value head copy: same tokens, same cache."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import Qwen2Config, Qwen2ForCausalLM  # noqa: E402
from transformers.cache_utils import DynamicLayer  # noqa: E402

from srl_swe.generation import GQA_ATTENTION, GrowingCacheLayer, fast_decoding  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=1024, pad_token_id=0, eos_token_id=1)
    return Qwen2ForCausalLM(config).eval()


def _left_padded(lengths: list[int]) -> dict:
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, width - n:] = torch.randint(2, 300, (n,))
        mask[row, width - n:] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _generate(model, inputs: dict, **extra):
    return model.generate(**inputs, max_new_tokens=300, min_new_tokens=300, do_sample=False, top_k=None, top_p=None,
                          temperature=None, pad_token_id=0, **extra)


def test_fast_decoding_gives_the_same_tokens_and_restores_the_attention(model):
    torch.manual_seed(1)
    inputs = _left_padded([40, 23, 7, 40])  # padding rows: the mask reaches the grouped attention
    with torch.no_grad():
        plain = _generate(model, inputs)
        with fast_decoding(model) as fast:
            assert model.config._attn_implementation == GQA_ATTENTION
            ours = _generate(model, inputs, **fast)  # 340 tokens: the buffer grows past its first 256
        assert {type(layer) for layer in fast["past_key_values"].layers} == {GrowingCacheLayer}
    assert torch.equal(plain, ours)
    assert model.config._attn_implementation == "sdpa"
    with pytest.raises(RuntimeError), fast_decoding(model):
        raise RuntimeError("generation failed")
    assert model.config._attn_implementation == "sdpa"  # restored after an error too


def test_growing_layer_holds_what_the_dynamic_layer_holds_through_growth_crop_and_selection():
    torch.manual_seed(2)
    ours, theirs = GrowingCacheLayer(), DynamicLayer()

    def step(n: int) -> None:
        keys, values = torch.randn(3, 2, n, 4), torch.randn(3, 2, n, 5)  # values may have their own head size
        got, want = ours.update(keys, values), theirs.update(keys, values)
        assert all(torch.equal(a, b) for a, b in zip(got, want))

    step(200)
    for _ in range(100):  # past the first capacity (2 x 200)
        step(1)
    assert ours.get_seq_length() == theirs.get_seq_length() == 300
    ours.crop(-20), theirs.crop(-20)
    step(3)
    selection = torch.tensor([2, 0])
    ours.batch_select_indices(selection), theirs.batch_select_indices(selection)
    keys, values = torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 5)
    got, want = ours.update(keys, values), theirs.update(keys, values)
    assert all(torch.equal(a, b) for a, b in zip(got, want)) and ours.get_seq_length() == 284
