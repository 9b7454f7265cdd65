"""`swe_agent_backticks`: SWE-agent 0.x conversations whose commands sit in ``` code blocks.

Rows like nebius/SWE-agent-trajectories: ``{instance_id, model_name, target, exit_status,
generated_patch, eval_logs, trajectory: [{role, text, system_prompt, mask, cutoff_date}]}`` with
roles ``system`` (its prompt in ``system_prompt``), ``user`` and ``ai``; dumps that keep
``messages`` with ``content`` (roles ``assistant`` or ``ai``) read the same way.

* An ``ai`` message is SWE-agent's "thought_action" output: the action is its last top-level
  ``` block (SWE-agent's own ThoughtActionParser), the thought the text around it. The action
  string is read by :mod:`.sweagent_actions`, so ``open``, ``goto``, ``edit N:M ... end_of_edit``,
  ``find_file``, ``submit`` ... are calls of SWE-agent's tools under their own names and other
  commands ``bash`` calls; a tool line it cannot read makes the record invalid.
* The user message after an action is its observation, whatever it starts with (SWE-agent writes
  "Your command ran successfully and did not produce any output." for silent commands), with
  SWE-agent's ``(Open file: ..) (Current directory: ..) bash-$`` state lines as the model saw them.
* An ``ai`` message without a block was rejected by SWE-agent (nothing ran): a turn with
  ``action=None``, and the format-error message after it is dropped and counted in
  ``metadata["dropped_user_messages"]``.
* Task: the first user message, narrowed to its ``ISSUE:`` section. ``target`` (the tests passed)
  is kept as ``metadata["resolved"]``, ``generated_patch`` and ``exit_status`` as they are.
"""
from __future__ import annotations

import re
from typing import Any

from .common import (
    ParseContext,
    RecordError,
    TrajectoryFormat,
    TurnBuilder,
    chat_trajectory,
    get_messages,
    peek_messages,
    role_of,
    scalar_metadata,
    split_problem_statement,
    text_of,
)
from .model import Trajectory
from .sweagent_actions import parse_action

NAME = "swe_agent_backticks"
ASSISTANT_ROLES = ("ai", "assistant")
CODE_FENCE_RE = re.compile(r"^```(\S*)\s*\n|^```\s*$", re.MULTILINE)


def _key(record: dict[str, Any]) -> str:
    return "trajectory" if isinstance(record.get("trajectory"), (list, str)) else "messages"


def detect(record: dict[str, Any]) -> bool:
    messages = peek_messages(record, _key(record))
    return bool(messages) and any(m.get("role") == "ai" for m in messages)


def split_action(text: str) -> tuple[str, str | None]:
    """(thought, action) of a thought_action output: the last top-level ``` block is the action."""
    stack, last = [], None
    for match in CODE_FENCE_RE.finditer(text):
        if stack and not match.group(1):
            start = stack.pop()
            if not stack:
                last = (start, match)
        elif match.group(1) is not None:
            stack.append(match)
    if last is None:
        return text.strip(), None
    start, end = last
    return (text[: start.start()] + text[end.end():]).strip(), text[start.end(): end.start()]


def _text(message: dict[str, Any], role: str, field: str) -> str:
    if role == "system":
        return text_of(message.get("system_prompt") or message.get("text") or message.get("content"), f"{field}.system_prompt")
    key = "text" if "text" in message else "content"
    return text_of(message.get(key), f"{field}.{key}")


def parse(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    key = _key(record)
    messages = get_messages(record, NAME, key=key)
    builder = TurnBuilder()
    prompt: str | None = None
    for i, message in enumerate(messages):
        field = f"{key}[{i}]"
        role = role_of(message, field)
        if role == "system":
            continue
        text = _text(message, role, field)
        if role in ASSISTANT_ROLES:
            thought, action = split_action(text)
            call = parse_action(action, ctx, f"{field}.text") if action is not None else None
            builder.assistant(thought if call is not None else text.strip(), [call] if call is not None else [])
        elif role == "user":
            if prompt is None:
                prompt = text
            elif builder.pending:
                builder.observe(text)
            else:
                builder.user()
        else:
            raise RecordError(f"{field}.role", f"unknown role {role!r}; SWE-agent writes system, user, ai")
    if prompt is None:
        raise RecordError(key, "no user message with the task")
    problem_statement, instance_prompt = split_problem_statement(prompt)

    metadata = scalar_metadata(record, exclude=(key, "eval_logs"))
    if isinstance(record.get("target"), bool):
        metadata["resolved"] = record["target"]
    metadata.update(builder.counts())
    traj_id = record.get("traj_id") or record.get("instance_id") or ctx.default_id
    return chat_trajectory(record, traj_id=traj_id, problem_statement=problem_statement, instance_prompt=instance_prompt,
                           turns=builder.turns, source_format=NAME, metadata=metadata)


FORMAT = TrajectoryFormat(NAME, detect, parse, "SWE-agent 0.x conversations (roles system/user/ai, commands in ``` blocks)")
