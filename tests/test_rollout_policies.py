"""Policies: the OpenAI-compatible client against real HTTP servers, the local transformers policy,
the vLLM guard, and the oracle's answers.

The client is tested against ``transformers serve`` (a real OpenAI-compatible server, started
here on a free port serving the tiny model; needs the dev extra's fastapi/uvicorn/openai) and,
for retries and error handling, against a scripted ``http.server`` on a real socket.
"""
from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from helpers import make_local_tasks, read_jsonl

from srl_swe.rollout import (
    ContextLengthError,
    GenerationConfig,
    OpenAIPolicy,
    OraclePolicy,
    PolicyConfig,
    PolicyError,
    RolloutConfig,
    TransformersPolicy,
    make_policy,
    parse_edits,
    run_rollout,
)
from srl_swe.rollout.modes import repair_messages
from srl_swe.rollout.oracle import gold_edits
from srl_swe.tiny_model import default_tiny_model

CONVERSATIONS = [
    [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": "def add(a, b): return a - b"}],
    [{"role": "user", "content": "<think>hello</think> run the tests"}],
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """The tiny model with its weights redrawn at unit scale, so greedy decoding writes varied text (not only newlines)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, target = str(default_tiny_model()), tmp_path_factory.mktemp("varied-tiny")
    model = AutoModelForCausalLM.from_pretrained(source)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) if param.dim() > 1 else 1 + 0.5 * torch.randn(param.shape, generator=generator))
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return str(target)


@pytest.fixture(scope="module")
def local_policy(tiny_model):
    # fp32, as `transformers serve` loads this checkpoint: exact greedy comparisons need it (auto picks bf16 on a CPU
    # with AMX, where a random model's near-ties break differently between batch shapes)
    return TransformersPolicy(tiny_model, GenerationConfig(max_new_tokens=12), dtype="float32")


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    """`transformers serve` of the tiny model on a free local port: (API root, served model name)."""
    missing = [m for m in ("fastapi", "uvicorn", "openai") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"transformers serve needs {', '.join(missing)}: pip install -e '.[dev]'")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", tiny_model, "--host",
                                    "127.0.0.1", "--port", str(port), "--device", "cpu"], stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not answer in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/v1", tiny_model
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- against transformers serve

@pytest.mark.slow
def test_openai_client_against_transformers_serve_decodes_like_the_local_model(served, local_policy):
    base_url, model = served
    policy = OpenAIPolicy(model, base_url, GenerationConfig(max_new_tokens=12), max_retries=0, timeout=120)
    try:
        texts = policy.generate(CONVERSATIONS)  # two requests in flight at once
    finally:
        policy.close()
    assert len(texts) == 2 and all(t.strip() for t in texts) and texts[0] != texts[1]
    # greedy on both sides, max_tokens honoured: the same 12 tokens (transformers serve strips surrounding whitespace)
    assert texts == [t.strip() for t in local_policy.generate(CONVERSATIONS)]


@pytest.mark.slow
def test_rollout_through_the_endpoint_writes_predictions(served, tmp_path):
    base_url, model = served
    repo_dir, rows = make_local_tasks(tmp_path / "checkouts")
    policy = make_policy(PolicyConfig(model=model, base_url=base_url, name="tiny-served",
                                      generation=GenerationConfig(max_new_tokens=16), max_retries=1))
    assert isinstance(policy, OpenAIPolicy)
    summary = run_rollout(rows, policy, RolloutConfig(mode="end-to-end", repo_dir=str(repo_dir)), tmp_path / "p.jsonl",
                          batch_size=2, progress=False)
    policy.close()
    assert (summary.written, summary.failed) == (2, [])
    predictions = read_jsonl(tmp_path / "p.jsonl")
    assert [(p["instance_id"], p["model_name_or_path"]) for p in predictions] == [(r["instance_id"], "tiny-served") for r in rows]
    assert all(isinstance(p["model_patch"], str) for p in predictions)


@pytest.mark.slow
def test_a_request_the_server_rejects_is_not_retried(served):
    base_url, _ = served
    policy = OpenAIPolicy("not-the-served-model", base_url, max_retries=3, backoff=5)
    start = time.monotonic()
    with pytest.raises(PolicyError, match="HTTP 4"):
        policy.generate(CONVERSATIONS[:1])
    assert time.monotonic() - start < 5  # no backoff: a 4xx is final
    policy.close()


# --------------------------------------------------------------------------- retries, on a scripted real server

class Scripted:
    """A real HTTP server on a free port answering POSTs from a script of (status, body, headers)."""

    def __init__(self, script: list[tuple[int, object, dict]]):
        self.script, self.requests = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length))})
                status, body, headers = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                for key, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def completion(content, **message):
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message}}]}


def test_transient_errors_are_retried_and_reasoning_is_put_back(monkeypatch):
    monkeypatch.setenv("SRL_SWE_TEST_KEY", "sk-test")
    server = Scripted([(503, {"error": "busy"}, {"retry-after": "0"}), (429, "slow down", {}),
                       (200, completion("<function=finish>\n</function>", reasoning_content="The fix is done."), {})])
    policy = make_policy(PolicyConfig(model="m", base_url=server.url, api_key_env="SRL_SWE_TEST_KEY",
                                      generation=GenerationConfig(max_new_tokens=7)))
    policy.backoff = 0.01
    try:
        assert policy.generate(CONVERSATIONS[:1]) == ["<think>\nThe fix is done.\n</think>\n<function=finish>\n</function>"]
    finally:
        policy.close()
        server.close()
    assert len(server.requests) == 3 and server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test"
    body = server.requests[0]["body"]
    assert (body["model"], body["messages"], body["max_tokens"], body["temperature"]) == ("m", CONVERSATIONS[0], 7, 0.0)
    assert "top_p" not in body  # greedy


def test_persistent_failures_raise_after_the_retries():
    server = Scripted([(500, {"error": "boom"}, {})])
    policy = OpenAIPolicy("m", server.url, max_retries=2, backoff=0.01)
    try:
        with pytest.raises(PolicyError, match="no answer after 3 attempts .*HTTP 500"):
            policy.generate(CONVERSATIONS[:1])
    finally:
        policy.close()
        server.close()
    assert len(server.requests) == 3


def test_context_overflow_and_malformed_answers_are_distinguished():
    server = Scripted([(400, {"error": {"message": "This model's maximum context length is 8192 tokens"}}, {}),
                       (200, {"choices": []}, {})])
    policy = OpenAIPolicy("m", server.url, max_retries=3, backoff=0.01)
    try:
        with pytest.raises(ContextLengthError):
            policy.generate(CONVERSATIONS[:1])
        with pytest.raises(PolicyError, match="not a chat completion"):
            policy.generate(CONVERSATIONS[:1])
    finally:
        policy.close()
        server.close()
    assert len(server.requests) == 2  # neither was retried


def test_an_endpoint_that_is_down_raises_a_policy_error():
    policy = OpenAIPolicy("m", f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff=0.01, timeout=5)
    with pytest.raises(PolicyError, match="ConnectError"):
        policy.generate(CONVERSATIONS[:1])
    policy.close()


# --------------------------------------------------------------------------- local backends

def test_transformers_policy_is_greedy_and_batches_like_single_calls(tiny_model, local_policy):
    batched = TransformersPolicy(tiny_model, GenerationConfig(max_new_tokens=12), batch_size=2, dtype="float32")
    both = batched.generate(CONVERSATIONS)
    assert both == [local_policy.generate([c])[0] for c in CONVERSATIONS] == local_policy.generate(CONVERSATIONS)


def test_transformers_policy_decodes_neutrally_whatever_the_models_own_defaults(tiny_model, local_policy):
    """Greedy means greedy: a repetition penalty or sampling in the model's generation_config never applies."""
    skewed = TransformersPolicy(tiny_model, GenerationConfig(max_new_tokens=12), dtype="float32")
    skewed.model.generation_config.repetition_penalty = 5.0
    skewed.model.generation_config.do_sample = True
    assert skewed.generate(CONVERSATIONS) == local_policy.generate(CONVERSATIONS)


def test_transformers_policy_stops_a_row_that_can_no_longer_parse(tiny_model):
    """With stop_malformed the tiny model's gibberish ends at once instead of running to max_new_tokens."""
    from srl_swe.scaffold import load_scaffold

    free = TransformersPolicy(tiny_model, GenerationConfig(max_new_tokens=40))
    stopped = TransformersPolicy(tiny_model, GenerationConfig(max_new_tokens=40), stop_malformed=load_scaffold())
    long, short = free.generate(CONVERSATIONS), stopped.generate(CONVERSATIONS)
    assert all(len(s) < len(f) and f.startswith(s) for f, s in zip(long, short))


def test_the_token_level_call_continues_exactly_as_generate(local_policy):
    """RLVR's token-level use of the backend (`continue_tokens`, `of_model`) decodes like `generate`."""
    live = TransformersPolicy.of_model(local_policy.model, local_policy.tokenizer, local_policy.generation)
    for conversation in CONVERSATIONS:
        ids = local_policy.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                                         return_dict=False)
        text = local_policy.tokenizer.decode(live.continue_tokens(ids), skip_special_tokens=True)
        assert text == local_policy.generate([conversation])[0]


def test_transformers_policy_refuses_a_prompt_longer_than_its_context(local_policy):
    long = [{"role": "user", "content": "word " * (local_policy.context_length + 10)}]
    with pytest.raises(ContextLengthError, match="does not fit"):
        local_policy.generate([long])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_backend_without_vllm_says_how_to_get_it():
    with pytest.raises(PolicyError, match=r"srl-swe\[vllm\]"):
        make_policy(PolicyConfig(model="any", backend="vllm"))


def test_backend_resolution():
    assert PolicyConfig(model="oracle").resolved_backend() == "oracle"
    assert PolicyConfig(model="m", base_url="http://x/v1").resolved_backend() == "openai"
    assert PolicyConfig(model="m").resolved_backend() == "transformers"
    with pytest.raises(PolicyError, match="needs --base-url"):
        make_policy(PolicyConfig(model="m", backend="openai"))
    with pytest.raises(PolicyError, match="cannot load model"):
        make_policy(PolicyConfig(model=str(Path("/nonexistent/model"))))


# --------------------------------------------------------------------------- the oracle

def test_oracle_answers_each_stage_in_its_format(tmp_path):
    _, rows = make_local_tasks(tmp_path)
    oracle = OraclePolicy(rows)
    repair = repair_messages(rows[1], {"calc/text.py": "..."}, RolloutConfig())
    edits, errors = parse_edits(oracle.generate([repair])[0])
    assert not errors and edits == gold_edits(rows[1]) and {e.path for e in edits} == {"calc/text.py", "calc/extra.py"}
    assert oracle.generate([[{"role": "system", "content": "something else"}, repair[1]]]) == [""]  # unknown stage
    assert oracle.generate([[repair[0], {"role": "user", "content": "an unknown issue"}]]) == [""]  # unknown task


def test_oracle_replays_the_scripted_expert_turn_by_turn(tmp_path):
    from srl_swe.actions import parse_action
    from srl_swe.gym.live import task_messages
    from srl_swe.scaffold import load_scaffold

    _, rows = make_local_tasks(tmp_path)
    oracle = OraclePolicy(rows)
    conversation = task_messages(rows[0], load_scaffold())
    first = oracle.generate([conversation])[0]
    assert parse_action(first).call.arguments == {"command": "view", "path": "/testbed"}
    conversation += [{"role": "assistant", "content": first}, {"role": "user", "content": "OBSERVATION:\ncalc/ tests/"}]
    second = parse_action(oracle.generate([conversation])[0]).call
    assert second.name == "execute_bash" and "pytest" in second.arguments["command"]
