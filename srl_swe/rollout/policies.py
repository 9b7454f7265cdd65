"""Policies that write the model's turns: one small interface, several backends.

``Policy.generate(conversations) -> texts`` takes a batch of chat conversations (lists of
``{"role", "content"}`` messages) and returns one completion each. Decoding is greedy by
default (temperature 0, as in the SRL paper's evaluation). Backends:

- :class:`TransformersPolicy`: a local model through ``AutoModelForCausalLM`` and its chat template.
- :class:`VLLMPolicy`: vLLM's offline engine (the optional ``vllm`` extra; a clear error without it).
- :class:`OpenAIPolicy`: any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, SGLang,
  ``transformers serve``, hosted APIs) over httpx, with retries and timeouts.

The oracle that answers from a task's gold patch is :class:`srl_swe.rollout.oracle.OraclePolicy`.
A prompt that does not fit the model's context raises :class:`ContextLengthError` (retrying
cannot help); any other failure to get an answer raises :class:`PolicyError`.
"""
from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from tqdm import tqdm

from ..core import Conversation
from ..distributed import auto_dtype
from ..errors import SRLSweError
from ..models import resolve_model
from ..scaffold import DEFAULT_SCAFFOLD
from .oracle import OraclePolicy



class PolicyError(SRLSweError):
    """The policy could not answer (endpoint down, bad response, backend missing)."""


class ContextLengthError(PolicyError):
    """The prompt does not fit the model's context window."""


@dataclass
class GenerationConfig:
    """How completions are decoded."""

    max_new_tokens: int = 2048
    """Most tokens of one completion."""
    temperature: float = 0.0
    """0 = greedy decoding (the default, as in the SRL paper); above 0 samples."""
    top_p: float = 1.0
    """Nucleus sampling mass (only when sampling)."""
    seed: int | None = 0
    """Sampling seed (None: not fixed)."""


class Policy(Protocol):
    """Writes one completion per conversation."""

    name: str
    """Shown as ``model_name_or_path`` in predictions."""
    thread_safe: bool
    """Whether concurrent agentic episodes may call :meth:`generate` at once (else they take turns)."""

    def generate(self, conversations: Sequence[Conversation]) -> list[str]: ...

    def close(self) -> None: ...


def _batches(items: Sequence[Any], size: int):
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + max(1, size)]


# --------------------------------------------------------------------------- transformers

class TransformersPolicy:
    """A local causal LM through transformers: the one local generation backend (rollouts and step evaluation).

    Chat template, batches of similar prompt length (left-padded; answers come back in the order
    asked), neutral decoding (greedy, or pure temperature sampling: the model's own sampling
    defaults never apply), and with ``stop_malformed`` (a scaffold) a row stops as soon as its text
    can no longer parse as one of its tool calls. ``dtype="auto"`` loads the weights in bf16 where the
    hardware computes it natively (a GPU, or a CPU with AVX512-BF16 or AMX), else fp16 on a GPU and fp32
    on a CPU. In bf16 padding can flip a near-tie: a batched greedy answer may differ from the unbatched
    one (seen on an H200 with a random model: 3 of 4 identical; in fp32 on CPU all were). Keep
    ``batch_size=1`` for exact greedy answers.
    """

    thread_safe = False

    def __init__(self, model: str, generation: GenerationConfig | None = None, *, name: str | None = None,
                 device: str = "auto", dtype: str = "auto", batch_size: int = 1, stop_malformed: Any = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = name or str(model)
        self.generation = generation or GenerationConfig()
        self.batch_size = batch_size
        self.stop_malformed = stop_malformed
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        torch_dtype = getattr(torch, auto_dtype(self.device) if dtype == "auto" else dtype)
        model = resolve_model(model)  # a registered name (e.g. smollm2-135m) becomes its prepared folder
        try:
            tokenizer = AutoTokenizer.from_pretrained(model)
            loaded = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).to(self.device).eval()
        except OSError as exc:
            raise PolicyError(f"cannot load model {model!r}: {exc}") from None
        self._use(loaded, tokenizer)

    @classmethod
    def of_model(cls, model, tokenizer, generation: GenerationConfig, *, name: str = "training policy") -> TransformersPolicy:
        """The backend over a model already in memory (RLVR's policy as it trains), on that model's device."""
        policy = cls.__new__(cls)
        policy.name, policy.generation, policy.batch_size, policy.stop_malformed = name, generation, 1, None
        policy.device = str(model.device)
        policy._use(model, tokenizer)
        return policy

    def _use(self, model, tokenizer) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not getattr(self.tokenizer, "chat_template", None):
            raise PolicyError(f"model {self.name!r} has no chat template (the rollout prompts are chat conversations)")
        self.context_length = getattr(self.model.config, "max_position_embeddings", None)

    def continue_tokens(self, ids: Sequence[int]) -> list[int]:
        """The token ids one completion adds after `ids`, decoded as `generate` decodes (for callers that keep
        exact token bookkeeping, as RLVR does for the tokens it trains on)."""
        import torch

        from ..generation import fast_decoding, neutral_generation  # noqa: PLC0415 - pulls torch, transformers

        sample = self.generation.temperature > 0
        decoding = neutral_generation(self.tokenizer, self.generation.max_new_tokens,
                                      self.generation.temperature if sample else None, top_p=self.generation.top_p)
        with torch.no_grad(), fast_decoding(self.model) as fast:
            output = self.model.generate(torch.tensor([list(ids)], device=self.model.device), generation_config=decoding,
                                         **fast)
        return output[0][len(ids):].tolist()

    def generate(self, conversations: Sequence[Conversation], progress: str | None = None, *,
                 done: dict[int, str] | None = None, on_batch: Callable[[dict[int, str]], None] | None = None) -> list[str]:
        """One completion per conversation, in their order; `progress` names a progress bar (None: no bar).

        `done`: completions already made (by index), not generated again; `on_batch` gets each batch's new ones
        as it ends (what a resumable caller saves)."""
        import torch
        from transformers import StoppingCriteriaList

        from ..generation import StopWhenMalformed, fast_decoding, neutral_generation  # noqa: PLC0415 - pulls torch, transformers

        texts = [self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        sample = self.generation.temperature > 0
        if sample and self.generation.seed is not None:
            torch.manual_seed(self.generation.seed)
        completions: dict[int, str] = dict(done or {})
        bar = tqdm(total=len(texts), initial=len(completions), desc=progress, disable=progress is None)
        todo = sorted((i for i in range(len(texts)) if i not in completions), key=lengths.__getitem__)
        for batch in _batches(todo, self.batch_size):
            encoded = self.tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True,
                                     add_special_tokens=False).to(self.device)
            prompt_length = encoded["input_ids"].shape[1]
            max_new = self.generation.max_new_tokens
            if self.context_length:
                if prompt_length >= self.context_length:
                    raise ContextLengthError(f"prompt of {prompt_length} tokens does not fit the context of "
                                             f"{self.context_length} tokens of {self.name}")
                max_new = min(max_new, self.context_length - prompt_length)
            decoding = neutral_generation(self.tokenizer, max_new, self.generation.temperature if sample else None,
                                          top_p=self.generation.top_p)
            stop = StoppingCriteriaList([StopWhenMalformed(self.tokenizer, prompt_length, self.stop_malformed)]
                                        if self.stop_malformed is not None else [])
            with torch.no_grad(), fast_decoding(self.model) as fast:
                ids = self.model.generate(**encoded, generation_config=decoding, stopping_criteria=stop, **fast)
            new = dict(zip(batch, self.tokenizer.batch_decode(ids[:, prompt_length:], skip_special_tokens=True)))
            completions.update(new)
            if on_batch is not None:
                on_batch(new)
            bar.update(len(batch))
        bar.close()
        return [completions[i] for i in range(len(texts))]

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- vLLM

class VLLMPolicy:
    """vLLM's offline engine (``pip install 'srl-swe[vllm]'`` on a CUDA machine)."""

    thread_safe = False

    def __init__(self, model: str, generation: GenerationConfig | None = None, *, name: str | None = None,
                 tensor_parallel_size: int = 1, max_model_len: int | None = None, dtype: str = "auto",
                 engine_args: dict[str, Any] | None = None):
        try:
            import vllm
        except ImportError as exc:
            raise PolicyError("the vllm backend needs vLLM, which is not installed: pip install 'srl-swe[vllm]' "
                              "(a CUDA machine; it replaces the CPU torch build). Or serve the model with any "
                              f"OpenAI-compatible server and use --base-url. ({exc})") from None
        self.vllm = vllm
        self.name = name or str(model)
        self.generation = generation or GenerationConfig()
        args = {"model": model, "tensor_parallel_size": tensor_parallel_size, "dtype": dtype,
                "seed": self.generation.seed or 0, **(engine_args or {})}
        if max_model_len:
            args["max_model_len"] = max_model_len
        self.llm = vllm.LLM(**args)
        self.context_length = max_model_len or getattr(self.llm.llm_engine.model_config, "max_model_len", None)

    def generate(self, conversations: Sequence[Conversation]) -> list[str]:
        g = self.generation
        params = self.vllm.SamplingParams(temperature=g.temperature, top_p=g.top_p if g.temperature > 0 else 1.0,
                                          max_tokens=g.max_new_tokens, seed=g.seed)
        try:
            results = self.llm.chat(list(conversations), params, use_tqdm=False)
        except ValueError as exc:  # vLLM rejects prompts longer than max_model_len with a ValueError
            if "longer than" in str(exc) or "max_model_len" in str(exc) or "context" in str(exc):
                raise ContextLengthError(str(exc)) from None
            raise PolicyError(f"vLLM failed: {exc}") from None
        return [r.outputs[0].text if r.outputs else "" for r in results]

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- OpenAI-compatible HTTP

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too long", "max_model_len", "longer than")


class OpenAIPolicy:
    """An OpenAI-compatible chat endpoint: ``POST {base_url}/chat/completions``.

    ``base_url`` ends with the API root, as for the OpenAI SDK (``http://localhost:8000/v1``).
    The API key comes from an environment variable (never the command line). Requests of a
    batch run concurrently; timeouts, connection errors, 429 and 5xx answers are retried with
    exponential backoff (honouring ``Retry-After``).
    """

    thread_safe = True

    def __init__(self, model: str, base_url: str, generation: GenerationConfig | None = None, *,
                 name: str | None = None, api_key: str | None = None, timeout: float = 600.0, max_retries: int = 5,
                 concurrency: int = 8, backoff: float = 1.0, extra_body: dict[str, Any] | None = None):
        import httpx

        self.model, self.name = model, name or model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.generation = generation or GenerationConfig()
        self.max_retries, self.concurrency, self.backoff = max_retries, max(1, concurrency), backoff
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=min(30.0, timeout)))

    def request_body(self, messages: Conversation) -> dict[str, Any]:
        g = self.generation
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": g.max_new_tokens,
                                "temperature": g.temperature}
        if g.temperature > 0:
            body["top_p"] = g.top_p
        if g.seed is not None:
            body["seed"] = g.seed
        return {**body, **self.extra_body}

    def complete(self, messages: Conversation) -> str:
        """One completion, retried on transient failures."""
        import httpx

        body = self.request_body(messages)
        problem = ""
        for attempt in range(self.max_retries + 1):
            wait = None
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._text(response)
                problem = f"HTTP {response.status_code}: {response.text[:500]}"
                if response.status_code not in RETRY_STATUS:
                    if response.status_code in (400, 413) and any(h in response.text.lower() for h in CONTEXT_HINTS):
                        raise ContextLengthError(f"{self.url}: {problem}")
                    raise PolicyError(f"{self.url}: {problem}")
                retry_after = response.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    wait = float(retry_after)
            if attempt < self.max_retries:
                time.sleep(wait if wait is not None else min(30.0, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2))
        raise PolicyError(f"{self.url}: no answer after {self.max_retries + 1} attempts ({problem})")

    def _text(self, response) -> str:
        try:
            message = response.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise PolicyError(f"{self.url}: not a chat completion ({type(exc).__name__}): {response.text[:300]}") from None
        content = message.get("content") or ""
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning and "<think>" not in content:  # servers that split the reasoning out: put it back where we parse it
            content = f"<think>\n{reasoning.strip()}\n</think>\n{content.lstrip()}"
        return content

    def generate(self, conversations: Sequence[Conversation]) -> list[str]:
        conversations = list(conversations)
        if len(conversations) <= 1 or self.concurrency == 1:
            return [self.complete(c) for c in conversations]
        with ThreadPoolExecutor(min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(self.complete, conversations))

    def close(self) -> None:
        self.client.close()


# --------------------------------------------------------------------------- factory

BACKENDS = ("auto", "transformers", "vllm", "openai", "oracle")


@dataclass
class PolicyConfig:
    """Which policy answers and how (the ``rollout`` command's model flags)."""

    model: str
    """Model path or id (local weights for transformers/vLLM, the served name for an endpoint; ``oracle`` for the oracle)."""
    backend: str = "auto"
    """transformers, vllm, openai, oracle; auto = oracle for model 'oracle', openai with a base_url, else transformers."""
    name: str | None = None
    """``model_name_or_path`` written in the predictions (default: ``model``)."""
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    """Decoding."""
    base_url: str | None = None
    """OpenAI-compatible API root, e.g. http://localhost:8000/v1."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the endpoint's API key (unset: no key sent)."""
    timeout: float = 600.0
    """Seconds one HTTP request may take."""
    max_retries: int = 5
    """Retries of a failed HTTP request."""
    concurrency: int = 8
    """HTTP requests in flight at once."""
    device: str = "auto"
    """transformers: cpu, cuda, cuda:1, auto."""
    dtype: str = "auto"
    """transformers/vLLM weights dtype (auto: bf16 where the hardware computes it natively, else fp16 on a GPU and fp32
    on a CPU)."""
    batch_size: int = 1
    """transformers: conversations per generate call."""
    tensor_parallel_size: int = 1
    """vLLM: GPUs per model."""
    max_model_len: int | None = None
    """vLLM: context length."""

    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        if self.model == "oracle":
            return "oracle"
        return "openai" if self.base_url else "transformers"


def make_policy(config: PolicyConfig, rows: Sequence[dict[str, Any]] = (), *, prompts_dir: str | None = None,
                scaffold: str | None = None) -> Policy:
    """The policy ``config`` describes. The oracle alone needs ``rows`` (the tasks) and the prompts it will be sent."""
    backend = config.resolved_backend()
    name = config.name or config.model
    if backend == "oracle":
        return OraclePolicy(rows, name=config.name or "oracle", prompts_dir=prompts_dir, scaffold=scaffold or DEFAULT_SCAFFOLD)
    if backend == "transformers":
        return TransformersPolicy(config.model, config.generation, name=name, device=config.device, dtype=config.dtype,
                                  batch_size=config.batch_size)
    if backend == "vllm":
        return VLLMPolicy(config.model, config.generation, name=name, tensor_parallel_size=config.tensor_parallel_size,
                          max_model_len=config.max_model_len, dtype=config.dtype)
    if backend == "openai":
        if not config.base_url:
            raise PolicyError("the openai backend needs --base-url (e.g. http://localhost:8000/v1)")
        return OpenAIPolicy(config.model, config.base_url, config.generation, name=name,
                            api_key=os.environ.get(config.api_key_env) or None, timeout=config.timeout,
                            max_retries=config.max_retries, concurrency=config.concurrency)
    raise PolicyError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
