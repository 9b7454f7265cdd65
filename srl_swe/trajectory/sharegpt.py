"""`sharegpt`: `{"conversations": [{"from": ..., "value": ...}]}` records.

Roles: ``system``; ``human``/``user``; ``gpt``/``assistant`` (calls written in the text as
``<function=NAME>...</function>`` or ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``);
``function_call`` (LLaMA-Factory: the value is the call as JSON, one object or a list);
``observation``/``tool``/``function`` (the answer to the calls). Messages may also use
``role``/``content`` keys. A ``human`` message right after an assistant message with calls
is their observation (ShareGPT dumps of agent runs often have no observation role).

Decisions are those of every chat format of this package: one turn per call (the text goes
to the first), an assistant message without a call is a turn with ``action=None``, other
human messages after the task are dropped and counted in ``metadata["dropped_user_messages"]``.
The first human message is the task (narrowed to its ``<pr_description>``/``<issue>`` when
present, the full message then kept in ``metadata["instance_prompt"]``). Id: the record's
``id`` (or ``instance_id``), else the file name and record index.
"""
from __future__ import annotations

import json
from typing import Any

from .common import (
    chat_trajectory,
    ParseContext,
    RecordError,
    TrajectoryFormat,
    TurnBuilder,
    get_messages,
    json_tool_call,
    make_call,
    parse_text_calls,
    scalar_metadata,
    split_problem_statement,
    text_of,
)
from .model import ToolCall, Trajectory

NAME = "sharegpt"
USER_ROLES = ("human", "user")
ASSISTANT_ROLES = ("gpt", "assistant", "chatgpt", "bing", "bard")
OBSERVATION_ROLES = ("observation", "tool", "function", "ipython")


def detect(record: dict[str, Any]) -> bool:
    conversations = record.get("conversations")
    return isinstance(conversations, (list, str)) and bool(conversations)


def _role_and_text(message: dict[str, Any], field: str) -> tuple[str, str]:
    role = message.get("from", message.get("role"))
    if not isinstance(role, str):
        raise RecordError(f"{field}.from", "missing or not a string")
    value = message.get("value", message.get("content"))
    return role.strip().lower(), text_of(value, f"{field}.value")


def _function_call_message(text: str, ctx: ParseContext, field: str) -> list[ToolCall]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        thought, calls = parse_text_calls(text, ctx, field)
        if not calls:
            raise RecordError(field, "function_call message holds neither JSON nor a <function=...> call") from None
        return calls
    items = data if isinstance(data, list) else [data]
    calls = []
    for k, item in enumerate(items):
        name, args = json_tool_call(json.dumps(item), f"{field}[{k}]")
        calls.append(make_call(name, args, ctx, f"{field}[{k}]"))
    return calls


def parse(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    messages = get_messages(record, NAME, key="conversations")
    builder = TurnBuilder()
    prompt: str | None = None
    for i, message in enumerate(messages):
        field = f"conversations[{i}]"
        role, text = _role_and_text(message, field)
        if role == "system":
            continue
        if role in USER_ROLES:
            if prompt is None:
                prompt = text
            elif builder.pending:
                builder.observe(text)
            else:
                builder.user()
        elif role in ASSISTANT_ROLES:
            thought, calls = parse_text_calls(text, ctx, f"{field}.value")
            builder.assistant(thought, calls)
        elif role == "function_call":
            builder.assistant("", _function_call_message(text, ctx, f"{field}.value"))
        elif role in OBSERVATION_ROLES:
            builder.observe(text)
        else:
            raise RecordError(f"{field}.from", f"unknown role {role!r}")
    if prompt is None:
        raise RecordError("conversations", "no human message with the task")
    problem_statement, instance_prompt = split_problem_statement(prompt)

    instance_id = record.get("instance_id")
    traj_id = record.get("id") or record.get("traj_id") or instance_id or ctx.default_id
    metadata = scalar_metadata(record, exclude=("conversations", "tools", "system"))
    metadata.update(builder.counts())
    return chat_trajectory(record, traj_id=traj_id, problem_statement=problem_statement, instance_prompt=instance_prompt,
                           turns=builder.turns, source_format=NAME, metadata=metadata)


FORMAT = TrajectoryFormat(NAME, detect, parse, "ShareGPT conversations (from/value), calls in text or <tool_call> JSON")
