"""`mini_swe_agent`: mini-swe-agent trajectory files (``<instance_id>.traj.json``).

``{"info": {"exit_status", "submission", "model_stats", "config", "mini_version"}, "messages",
"trajectory_format": "mini-swe-agent-1" | "mini-swe-agent-1.1", "instance_id"}``. Messages: a
system prompt, the task (the first user message), then per step one assistant message and the
answers to its commands:

* text-based models (v1; v2's ``*_textbased``/``*_backticks`` configs): the command is the one
  ```` ```bash ```` (v1) or ```` ```mswea_bash_command ```` (v2) block of the assistant text, read
  with the run's own ``info.config.model.action_regex`` when it was saved; v2 also stores it in
  ``extra.actions``. Its observation is the next user message (``<returncode>..</returncode>
  <output>..</output>``, kept as the model saw it, or v1's timeout notice);
* tool-calling models (v2's default): ``tool_calls`` of the ``bash`` tool, answered by
  ``role: tool`` messages with the matching ``tool_call_id``;
* the end: v2 adds a message with role ``exit`` (``extra.exit_status``); v1 a user message with
  the submission.

Every command is a ``bash`` call (``execute_bash`` under the OpenHands scaffold) except the one
that ended a ``Submitted`` run (``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && ...``): that is
mini-swe-agent's submit, so ``submit`` (``finish``), its command kept in
``metadata["submit_command"]``. An assistant message with no block or several was rejected by
mini-swe-agent and never executed (v1 keeps it): a turn with ``action=None``. User messages with
no command waiting (format errors) are dropped and counted in ``metadata["dropped_user_messages"]``.
Problem statement: the task message, narrowed to its ``<pr_description>`` when it has one.
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
    make_call,
    openai_tool_calls,
    peek_messages,
    role_of,
    scalar_metadata,
    split_problem_statement,
    text_of,
)
from .model import ToolCall, Trajectory

NAME = "mini_swe_agent"
DEFAULT_ACTION_RE = re.compile(r"```(?:bash|mswea_bash_command)\s*\n(.*?)\n```", re.DOTALL)
SUBMIT_MARKERS = ("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "MINI_SWE_AGENT_FINAL_OUTPUT")
ROLES = ("system", "user", "assistant", "tool", "exit")


def detect(record: dict[str, Any]) -> bool:
    messages = peek_messages(record)
    if messages is None:
        return False
    version = record.get("trajectory_format")
    info = record.get("info")
    return (
        (isinstance(version, str) and version.startswith("mini-swe-agent"))
        or (isinstance(info, dict) and "mini_version" in info)
        or any(m.get("role") == "exit" for m in messages)
    )


def _config_model(record: dict[str, Any]) -> dict[str, Any]:
    info = record.get("info")
    config = info.get("config") if isinstance(info, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    return model if isinstance(model, dict) else {}


def _action_re(record: dict[str, Any]) -> re.Pattern[str]:
    pattern = _config_model(record).get("action_regex")
    if not isinstance(pattern, str):
        return DEFAULT_ACTION_RE
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error as exc:
        raise RecordError("info.config.model.action_regex", f"is not a valid regular expression: {exc}") from None


def _commands(message: dict[str, Any], text: str, action_re: re.Pattern[str], ctx: ParseContext,
              field: str) -> tuple[list[ToolCall], list[str | None]]:
    """The commands an assistant message ran: its tool calls, else v2's `extra.actions`, else its one code block."""
    if message.get("tool_calls"):
        return openai_tool_calls(message, field, ctx)
    extra = message.get("extra") if isinstance(message.get("extra"), dict) else {}
    actions = extra.get("actions")
    if isinstance(actions, list) and actions:
        calls, ids = [], []
        for k, action in enumerate(actions):
            where = f"{field}.extra.actions[{k}]"
            if not isinstance(action, dict) or not isinstance(action.get("command"), str):
                raise RecordError(where, "must be an object with a string 'command'")
            calls.append(make_call("bash", {"command": action["command"]}, ctx, where))
            ids.append(action.get("tool_call_id") if isinstance(action.get("tool_call_id"), str) else None)
        return calls, ids
    blocks = [b.strip() for b in action_re.findall(text)]
    if len(blocks) != 1:
        return [], []  # mini-swe-agent's format error: nothing was executed
    return [make_call("bash", {"command": blocks[0]}, ctx, f"{field}.content")], [None]


def _exit_status(record: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    info = record.get("info")
    if isinstance(info, dict) and isinstance(info.get("exit_status"), str):
        return info["exit_status"]
    for message in reversed(messages):
        extra = message.get("extra")
        if message.get("role") == "exit" and isinstance(extra, dict) and isinstance(extra.get("exit_status"), str):
            return extra["exit_status"]
    return None


def _is_submit(call: ToolCall) -> bool:
    first = str(call.arguments.get("command", "")).lstrip().split("\n", 1)[0].split()
    return len(first) >= 2 and first[0] == "echo" and first[1] in SUBMIT_MARKERS


def parse(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    messages = get_messages(record, NAME)
    action_re = _action_re(record)
    submitted = _exit_status(record, messages) == "Submitted"
    builder = TurnBuilder()
    prompt: str | None = None
    submit_command: str | None = None
    for i, message in enumerate(messages):
        field = f"messages[{i}]"
        role = role_of(message, field)
        if role not in ROLES:
            raise RecordError(f"{field}.role", f"unknown role {role!r}; mini-swe-agent writes {', '.join(ROLES)}")
        if role in ("system", "exit"):
            continue
        text = text_of(message.get("content"), f"{field}.content")
        if role == "assistant":
            calls, ids = _commands(message, text, action_re, ctx, field)
            thought = action_re.sub("", text).strip() if calls and not message.get("tool_calls") else text.strip()
            builder.assistant(thought, calls, ids)
            continue
        if role == "tool":
            call_id = message.get("tool_call_id")
            turn = builder.observe_id(call_id) if isinstance(call_id, str) else None
            if turn is not None:
                builder.turns[turn].observation = text
            elif not builder.observe(text):
                raise RecordError(f"{field}.tool_call_id", f"tool message (id {call_id!r}) answers no command of the preceding assistant message")
            continue
        if prompt is None:
            prompt = text
        elif builder.pending and submitted and i == len(messages) - 1 and _is_submit(builder.turns[builder.pending[-1]].action):
            builder.pending = []  # v1: the last user message holds the submission, not an output
        elif builder.pending:
            builder.observe(text)
        else:
            builder.user()
    if prompt is None:
        raise RecordError("messages", "no user message with the task")
    acted = [t for t in builder.turns if t.action is not None]
    if submitted and acted and _is_submit(acted[-1].action) and acted[-1].observation is None:
        submit_command = acted[-1].action.arguments["command"]
        acted[-1].action = make_call("submit", {}, ctx, "messages")
    problem_statement, instance_prompt = split_problem_statement(prompt)

    info = record.get("info") if isinstance(record.get("info"), dict) else {}
    metadata = scalar_metadata(info)
    metadata.update(scalar_metadata(record, exclude=("messages", "info")))
    stats = info.get("model_stats")
    if isinstance(stats, dict):
        metadata.update(scalar_metadata(stats))
    if isinstance(_config_model(record).get("model_name"), str):
        metadata["model_name"] = _config_model(record)["model_name"]
    if submit_command is not None:
        metadata["submit_command"] = submit_command
    metadata.update(builder.counts())
    traj_id = record.get("instance_id") or ctx.default_id
    return chat_trajectory(record, traj_id=traj_id, problem_statement=problem_statement, instance_prompt=instance_prompt,
                           turns=builder.turns, source_format=NAME, metadata=metadata)


FORMAT = TrajectoryFormat(NAME, detect, parse, "mini-swe-agent .traj.json (bash code blocks or tool calls, an `exit` message)")
