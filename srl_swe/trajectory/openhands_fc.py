"""`openhands_fc`: chat messages with OpenAI function calling (SWE-Gym / OpenHands).

Records look like the rows of SWE-Gym/OpenHands-Sampled-Trajectories:
``{instance_id, run_id, resolved, messages, tools, test_result}``. Assistant messages carry
``tool_calls: [{id, function: {name, arguments: "<JSON string>"}}]``; each call is answered
by a ``role: tool`` message with the matching ``tool_call_id`` whose content starts with
``OBSERVATION:\\n`` (the prefix is stripped). The same shape from other producers (the
``tool`` split of SWE-smith-trajectories, whose ``messages`` is a JSON string, and whose
tools are SWE-agent's ``bash``/``submit``) parses here too; the legacy single
``function_call`` field and ``role: function`` answers are accepted as well.

Decisions (the same for every chat format of this package):

* An assistant message with several tool calls becomes several consecutive turns, one per
  call, in order (the calls were executed sequentially). The message's text is the first
  turn's thought; the other turns get ``""``. Each turn's observation is the tool message
  whose ``tool_call_id`` matches its call (tool messages without an id answer the calls
  still waiting, in order); a call nobody answered (``finish``) has ``observation=None``.
* An assistant message without a tool call becomes one turn with ``action=None`` and the
  message as thought: a message to the user, kept for fidelity, never an SRL step.
* User messages after the task prompt (OpenHands' "Please continue working on the task..."
  nudges) are dropped; ``metadata["dropped_user_messages"]`` counts them.
* A tool message that answers no call of the preceding assistant message is an error.
* Problem statement: the first user message; when it wraps the issue in
  ``<pr_description>`` (or ``<issue_description>``/``<issue>``) the problem statement is
  that inner text and the whole message is kept in ``metadata["instance_prompt"]``.
* Task id: ``instance_id`` without SWE-Gym's ``_<sample>`` suffix; repo from the id
  (``python__mypy-15976_0`` -> ``python/mypy``). metadata: the record's scalar columns
  (``resolved``, ``run_id``, ``model``, ...) and ``git_patch`` from ``test_result``.
"""
from __future__ import annotations

import re
from typing import Any

from .common import (
    chat_trajectory,
    ParseContext,
    RecordError,
    TrajectoryFormat,
    TurnBuilder,
    get_messages,
    openai_tool_calls,
    peek_messages,
    role_of,
    scalar_metadata,
    split_problem_statement,
    strip_prefix,
    text_of,
)
from .model import Trajectory

NAME = "openhands_fc"
OBSERVATION_PREFIX = re.compile(r"\AOBSERVATION:[ \t]*\n?")
TOOL_ROLES = ("tool", "function")


def detect(record: dict[str, Any]) -> bool:
    messages = peek_messages(record)
    if not messages or ("response" in record and "kwargs" in record):
        return False  # OpenHands' llm_completions logs: one LLM call each, not a trajectory
    return any(m.get("tool_calls") or m.get("function_call") or m.get("role") in TOOL_ROLES for m in messages)


def parse(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    messages = get_messages(record, NAME)
    builder = TurnBuilder()
    prompt: str | None = None
    for i, message in enumerate(messages):
        field = f"messages[{i}]"
        role = role_of(message, field)
        if role == "system":
            continue
        if role == "user":
            if prompt is None:
                prompt = text_of(message.get("content"), f"{field}.content")
            else:
                builder.user()
            continue
        if role == "assistant":
            calls, ids = openai_tool_calls(message, field, ctx)
            builder.assistant(text_of(message.get("content"), f"{field}.content").strip(), calls, ids)
            continue
        if role in TOOL_ROLES:
            observation = strip_prefix(text_of(message.get("content"), f"{field}.content"), OBSERVATION_PREFIX)
            call_id = message.get("tool_call_id")
            turn = builder.observe_id(call_id) if isinstance(call_id, str) and call_id else None
            if turn is not None:
                builder.turns[turn].observation = observation
            elif (call_id and builder.pending_ids) or not builder.observe(observation):
                raise RecordError(
                    f"{field}.tool_call_id",
                    f"tool message (id {call_id!r}) answers no tool call of the preceding assistant message",
                )
            continue
        raise RecordError(f"{field}.role", f"unknown role {role!r}")
    if prompt is None:
        raise RecordError("messages", "no user message with the task")
    problem_statement, instance_prompt = split_problem_statement(prompt)

    instance_id = record.get("instance_id")
    traj_id = record.get("traj_id") or record.get("id") or instance_id or ctx.default_id
    metadata = scalar_metadata(record, exclude=("messages", "tools"))
    test_result = record.get("test_result")
    if isinstance(test_result, dict) and "git_patch" in test_result:
        metadata["git_patch"] = test_result["git_patch"]
    metadata["dropped_user_messages"] = builder.dropped_user_messages  # an unanswerable tool message is an error here
    return chat_trajectory(record, traj_id=traj_id, problem_statement=problem_statement, instance_prompt=instance_prompt,
                           turns=builder.turns, source_format=NAME, metadata=metadata)


FORMAT = TrajectoryFormat(NAME, detect, parse, "chat messages with OpenAI tool_calls (SWE-Gym/OpenHands)")
