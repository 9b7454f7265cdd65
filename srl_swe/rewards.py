"""SRL step rewards: similarity of the policy's action to the expert's, or -1 if malformed.

R = 2M/T, where M is the number of matched characters between the two canonical action
texts and T their total length (Deng et al., SRL, 2025).
"""
from __future__ import annotations

import difflib
import json
from typing import Any, Callable, NamedTuple, Sequence

from rapidfuzz.distance import Indel

from .actions import parse_action, render_call
from .errors import FormatError
from .scaffold import Scaffold, load_scaffold
from .trajectory.model import ToolCall

METRICS = ("difflib", "indel", "structured")
DEFAULT_METRIC = "indel"
STEP_REWARD_KINDS = ("similarity", "execution", "combined")
"""The step rewards of live SRL (:mod:`srl_swe.gym.execution`): how the action reads, what it does, their mean."""
FORMAT_PENALTY = -1.0


def _difflib(a: str, b: str) -> float:
    """Paper-exact: difflib's ratio, autojunk heuristic included (2M/T over matching blocks)."""
    return difflib.SequenceMatcher(None, a, b).ratio()


def _indel(a: str, b: str) -> float:
    """Exact 2*LCS/T (normalized Indel similarity), computed by rapidfuzz."""
    if not a and not b:
        return 1.0
    return Indel.normalized_similarity(a, b)


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def structured_similarity(policy: ToolCall, expert: ToolCall) -> float:
    """0 when the tool differs; else the mean Indel similarity over the union of argument names."""
    if policy.name != expert.name:
        return 0.0
    keys = set(policy.arguments) | set(expert.arguments)
    if not keys:
        return 1.0
    total = 0.0
    for key in keys:
        if key in policy.arguments and key in expert.arguments:
            total += _indel(_value_text(policy.arguments[key]), _value_text(expert.arguments[key]))
    return total / len(keys)


_TEXT_METRICS: dict[str, Callable[[str, str], float]] = {"difflib": _difflib, "indel": _indel}


def similarity(a: str | ToolCall, b: str | ToolCall, metric: str = DEFAULT_METRIC, scaffold: Scaffold | None = None) -> float:
    """Similarity in [0, 1] of two actions, given as canonical texts or as ToolCalls.

    `structured` needs calls: texts are parsed as bare `<function=...>` blocks.
    """
    if metric == "structured":
        return structured_similarity(_as_call(a, scaffold), _as_call(b, scaffold))
    try:
        fn = _TEXT_METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}") from None
    return fn(_as_text(a, scaffold), _as_text(b, scaffold))


def _as_text(action: str | ToolCall, scaffold: Scaffold | None) -> str:
    return action if isinstance(action, str) else render_call(action, scaffold)


def _as_call(action: str | ToolCall, scaffold: Scaffold | None) -> ToolCall:
    if isinstance(action, ToolCall):
        return action
    return parse_action("<think></think>" + action, scaffold).call


def _completion_text(completion: Any) -> str | None:
    """Text of a TRL completion: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content")
        return content if isinstance(content, str) else None
    return None


class ScoredAction(NamedTuple):
    """A completion's step reward, with the call it parsed to or the reason it is malformed."""

    reward: float
    call: ToolCall | None
    error: str | None


def score_action(completion: Any, expert_action: str | ToolCall, metric: str = DEFAULT_METRIC,
                 scaffold: Scaffold | None = None) -> ScoredAction:
    """The step reward of one completion: similarity of its action to the expert's, -1 if malformed.

    Never raises on bad model output (anything that is not a well-formed completion is -1); the
    replay env, step evaluation and the TRL reward functions all score through here.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    scaffold = scaffold or load_scaffold()
    text = _completion_text(completion)
    if text is None:
        return ScoredAction(FORMAT_PENALTY, None, f"completion is {type(completion).__name__}, not text")
    try:
        call = parse_action(text, scaffold).call
    except FormatError as exc:
        return ScoredAction(FORMAT_PENALTY, None, str(exc))
    except Exception as exc:  # noqa: BLE001 - anything else is malformed too: a reward must never crash a training step
        return ScoredAction(FORMAT_PENALTY, None, f"unparseable ({type(exc).__name__})")
    if metric == "structured":
        return ScoredAction(structured_similarity(call, _as_call(expert_action, scaffold)), call, None)
    return ScoredAction(_TEXT_METRICS[metric](render_call(call, scaffold), _as_text(expert_action, scaffold)), call, None)


def srl_reward(completion: Any, expert_action: str | ToolCall, metric: str = DEFAULT_METRIC, scaffold: Scaffold | None = None) -> float:
    """Reward of one completion (:func:`score_action`'s reward)."""
    return score_action(completion, expert_action, metric, scaffold).reward


class SRLReward:
    """TRL reward function: `f(prompts, completions, expert_action, **columns) -> list[float]`.

    The dataset must carry an `expert_action` column (canonical text of the expert's call).
    """

    def __init__(self, metric: str = DEFAULT_METRIC, scaffold: Scaffold | str | None = None):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
        self.metric = metric
        self.scaffold = load_scaffold(scaffold) if isinstance(scaffold, str) else (scaffold or load_scaffold())
        self.__name__ = f"srl_{metric}"  # TRL logs rewards under the function's name

    def __call__(self, prompts: list[Any], completions: list[Any], expert_action: list[str], **columns: Any) -> list[float]:
        return [srl_reward(c, e, self.metric, self.scaffold) for c, e in zip(completions, expert_action)]


def srl_reward_func(prompts: list[Any], completions: list[Any], expert_action: list[str], **columns: Any) -> list[float]:
    """Ready-made TRL reward function with the default metric."""
    return [srl_reward(c, e) for c, e in zip(completions, expert_action)]
