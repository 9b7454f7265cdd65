"""Pieces every trajectory parser shares: record errors, message access, tool-call
construction, problem-statement extraction and the turn builder.

Parsers raise :class:`RecordError` (a field and a reason); the format registry turns it
into :class:`srl_swe.errors.InvalidRecordError`, which also names the file and record.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .. import actions
from ..errors import InvalidRecordError
from ..scaffold import Scaffold
from .model import Task, ToolCall, Trajectory, Turn


class RecordError(Exception):
    """A parser's complaint about one field of one record (file and index added later)."""

    def __init__(self, field: str | None, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True)
class ParseContext:
    """Where a record comes from, and what a parser needs besides the record."""

    source: str = "<record>"
    index: int | None = None
    default_id: str = "trajectory"
    """Trajectory id to use when the record carries none (derived from file name and index)."""
    scaffold: Scaffold | None = None


@dataclass(frozen=True)
class TrajectoryFormat:
    """One source format: a cheap recogniser for auto-detection and the parser itself."""

    name: str
    detect: Callable[[dict[str, Any]], bool]
    """True when a record clearly is in this format (used to pick the format of a file)."""
    parse_record: Callable[[dict[str, Any], ParseContext], Trajectory]
    description: str = ""

    def parse(self, record: Any, ctx: ParseContext | None = None) -> Trajectory:
        """Parse one record; bad input raises InvalidRecordError naming source, record and field."""
        ctx = ctx or ParseContext()
        if not isinstance(record, dict):
            raise InvalidRecordError(ctx.source, ctx.index, None, f"record is a JSON {json_kind(record)}, not an object")
        try:
            return self.parse_record(record, ctx)
        except RecordError as exc:
            raise InvalidRecordError(ctx.source, ctx.index, exc.field, exc.reason) from None


def json_kind(value: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


# --------------------------------------------------------------------------- record access


def require(record: dict[str, Any], key: str, fmt: str) -> Any:
    """The value of a top-level key, or an 'unknown shape' error listing the keys there are."""
    if key not in record or record[key] is None:
        keys = ", ".join(sorted(map(str, record))) or "none"
        raise RecordError(key, f"record in an unknown shape for format {fmt!r}: no {key!r} (keys: {keys})")
    return record[key]


def decode_json_field(value: Any, field: str) -> Any:
    """Datasets such as SWE-smith-trajectories store message lists as JSON strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecordError(field, f"is a string but not valid JSON: {exc}") from None
    return value


def get_messages(record: dict[str, Any], fmt: str, key: str = "messages") -> list[dict[str, Any]]:
    """The chat messages of a record, decoded and checked to be a list of objects with a role."""
    messages = decode_json_field(require(record, key, fmt), key)
    if not isinstance(messages, list):
        raise RecordError(key, f"must be a list of messages, got a JSON {json_kind(messages)}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RecordError(f"{key}[{i}]", f"must be an object, got a JSON {json_kind(message)}")
    return messages


def peek_messages(record: dict[str, Any], key: str = "messages") -> list[dict[str, Any]] | None:
    """Messages for format detection: None instead of an error when they are not there."""
    value = record.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return value
    return None


def text_of(content: Any, field: str) -> str:
    """Message content as text: a string, None, or a list of `{type: text, text}` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for k, part in enumerate(content):
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict) and part.get("type") not in (None, "text"):
                continue  # images and other non-text parts carry nothing a text policy can use
            else:
                raise RecordError(f"{field}[{k}]", "content part has no 'text'")
        return "".join(parts)
    raise RecordError(field, f"content must be text or a list of text parts, got a JSON {json_kind(content)}")


def role_of(message: dict[str, Any], field: str, key: str = "role") -> str:
    role = message.get(key)
    if not isinstance(role, str):
        raise RecordError(f"{field}.{key}", "missing or not a string")
    return role.strip().lower()


def scalar_metadata(record: dict[str, Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Top-level JSON scalars of a record (ids, flags, model names, patches) for metadata."""
    skip = set(exclude)
    return {
        k: v
        for k, v in record.items()
        if k not in skip and (v is None or isinstance(v, (str, int, float, bool)))
    }


# --------------------------------------------------------------------------- tasks


_INSTANCE_RE = re.compile(r"^(?P<owner>[A-Za-z0-9][A-Za-z0-9_.\-]*?)__(?P<repo>[A-Za-z0-9_.\-]+?)-\d+(?:_\d+)?$")
_SMITH_RE = re.compile(r"^(?P<owner>[A-Za-z0-9][A-Za-z0-9_.\-]*?)__(?P<repo>[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*?)\.[0-9a-f]{8}(?:\.|$)")
_SAMPLE_SUFFIX_RE = re.compile(r"^(?P<task>.+-\d+)_\d+$")


def repo_from_instance_id(instance_id: str | None) -> str | None:
    """`python__mypy-15976_0` -> `python/mypy`; SWE-smith `pallets__jinja.ada0a9a6.x` -> `pallets/jinja`."""
    if not instance_id:
        return None
    for pattern in (_INSTANCE_RE, _SMITH_RE):
        match = pattern.match(instance_id)
        if match:
            return f"{match['owner']}/{match['repo']}"
    return None


def task_id_from_instance_id(instance_id: str) -> str:
    """SWE-Gym sampled runs suffix the task id with the sample number: `x__y-123_4` -> `x__y-123`."""
    match = _SAMPLE_SUFFIX_RE.match(instance_id)
    return match["task"] if match and _INSTANCE_RE.match(instance_id) else instance_id


_ISSUE_TAGS = ("pr_description", "issue_description", "issue", "problem_statement")
_ISSUE_SECTION_RE = re.compile(r"^ISSUE:[ \t]*\n(.*?)\n[ \t]*\nINSTRUCTIONS:", re.DOTALL | re.MULTILINE)
_LEAD_IN_RE = re.compile(r"\A\s*Consider the following PR description:[ \t]*\n")


def split_problem_statement(prompt: str) -> tuple[str, str | None]:
    """The issue inside an SWE-style instance prompt, and the whole prompt when it was trimmed.

    OpenHands, SWE-agent, SWE-smith and mini-swe-agent wrap the issue in `<pr_description>` (or
    `<issue_description>`/`<issue>`) between generic instructions, SWE-agent 0.x between
    `ISSUE:` and `INSTRUCTIONS:`; the issue alone is the problem statement (the scaffold adds its
    own instructions), and the full prompt is kept so nothing is lost. Prompts without such a
    marker are the problem statement as they are.
    """
    for tag in _ISSUE_TAGS:
        match = re.search(rf"<{tag}>(.*?)</{tag}>", prompt, re.DOTALL)
        if match and match.group(1).strip():
            return _LEAD_IN_RE.sub("", match.group(1)).strip() or match.group(1).strip(), prompt
    match = _ISSUE_SECTION_RE.search(prompt)
    if match and match.group(1).strip():
        return match.group(1).strip(), prompt
    return prompt.strip(), None


# --------------------------------------------------------------------------- tool calls


def make_call(name: Any, arguments: Any, ctx: ParseContext, field: str) -> ToolCall:
    """A normalized ToolCall (aliases mapped, typed params coerced) or a RecordError."""
    if not isinstance(name, str) or not name.strip():
        raise RecordError(f"{field}.name", "tool name missing or not a string")
    if not isinstance(arguments, dict):
        raise RecordError(f"{field}.arguments", f"must be a JSON object, got a JSON {json_kind(arguments)}")
    return actions.normalize_call(name, arguments, ctx.scaffold)


def json_arguments(raw: Any, field: str) -> dict[str, Any]:
    """Arguments of an OpenAI-style call: a JSON string (possibly empty) or an object."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RecordError(field, f"tool call arguments are not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RecordError(field, f"tool call arguments must be a JSON object, got a JSON {json_kind(raw)}")
    return raw


def json_tool_call(body: str, field: str) -> tuple[str, dict[str, Any]]:
    """`{"name": ..., "arguments": {...}}` (arguments may be a JSON string) -> name, arguments."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise RecordError(field, f"<tool_call> block is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("function"), dict):
        data = data["function"]
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise RecordError(field, "<tool_call> JSON needs a string 'name'")
    raw = data.get("arguments", data.get("parameters"))
    return data["name"], json_arguments(raw, field)


def openai_tool_calls(message: dict[str, Any], field: str, ctx: ParseContext) -> tuple[list[ToolCall], list[str | None]]:
    """The calls of an assistant message in OpenAI form (`tool_calls`, or the legacy `function_call`), and their ids."""
    raw_calls = message.get("tool_calls") or []
    if isinstance(raw_calls, dict):
        raw_calls = [raw_calls]
    if not isinstance(raw_calls, list):
        raise RecordError(f"{field}.tool_calls", "must be a list of tool calls")
    if not raw_calls and isinstance(message.get("function_call"), dict):
        raw_calls = [{"function": message["function_call"], "id": None}]
    calls, ids = [], []
    for j, raw in enumerate(raw_calls):
        where = f"{field}.tool_calls[{j}]"
        if not isinstance(raw, dict):
            raise RecordError(where, "must be an object")
        function = raw.get("function", raw)
        if not isinstance(function, dict):
            raise RecordError(f"{where}.function", "must be an object with 'name' and 'arguments'")
        args = json_arguments(function.get("arguments"), f"{where}.function.arguments")
        calls.append(make_call(function.get("name"), args, ctx, f"{where}.function"))
        ids.append(raw.get("id") if isinstance(raw.get("id"), str) else None)
    return calls, ids


_TOOL_CALL_TAG_RE = re.compile(r"</?tool_call>")


def parse_text_calls(text: str, ctx: ParseContext, field: str) -> tuple[str, list[ToolCall]]:
    """Split an assistant text into its reasoning and its tool calls, in order of appearance.

    Calls are `<function=NAME><parameter=K>V</parameter></function>` blocks (read leniently
    by :func:`srl_swe.actions.extract_function_calls`, also inside `<tool_call>` wrappers)
    and `<tool_call>{json}</tool_call>` blocks. The reasoning is the remaining text.
    """
    found: list[tuple[int, int, ToolCall]] = []
    masked = text
    for match in actions.TOOL_CALL_JSON_RE.finditer(text):
        if "<function=" in match.group(1):
            continue  # Qwen3-coder style wrapper around a text call: read below
        name, args = json_tool_call(match.group(1), field)
        found.append((match.start(), match.end(), make_call(name, args, ctx, f"{field}<tool_call>")))
        masked = masked[: match.start()] + " " * (match.end() - match.start()) + masked[match.end():]
    for match in actions.FUNCTION_RE.finditer(masked):
        for name, args in actions.extract_function_calls(match.group(0)):
            found.append((match.start(), match.end(), make_call(name, args, ctx, f"{field}<function={name}>")))
    found.sort(key=lambda item: item[0])
    pieces, pos = [], 0
    for start, end, _ in found:
        pieces.append(text[pos:start])
        pos = max(pos, end)
    pieces.append(text[pos:])
    thought = _TOOL_CALL_TAG_RE.sub("", "".join(pieces)).strip()
    return thought, [call for _, _, call in found]


# --------------------------------------------------------------------------- turns


@dataclass
class TurnBuilder:
    """Accumulates turns from chat messages under the project's one set of rules.

    * An assistant message with N tool calls becomes N consecutive turns, one per call, in
      order; the message's text is the first turn's thought, the others get "".
    * An assistant message without a tool call becomes one turn with ``action=None``.
    * Observations answer the calls of the latest assistant message in order (or by id,
      see :meth:`observe_id`); a call never answered keeps ``observation=None``.
    * Any other user message after the task (e.g. "Please continue...") is dropped and
      counted in ``dropped_user_messages``; an observation with no call waiting for it is
      dropped and counted in ``unanswered_observations``.
    """

    turns: list[Turn] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    pending_ids: dict[str, int] = field(default_factory=dict)
    dropped_user_messages: int = 0
    unanswered_observations: int = 0

    def assistant(self, thought: str, calls: list[ToolCall], ids: list[str | None] | None = None) -> None:
        self.pending, self.pending_ids = [], {}
        if not calls:
            self.turns.append(Turn(thought=thought, action=None, observation=None))
            return
        for k, call in enumerate(calls):
            self.turns.append(Turn(thought=thought if k == 0 else "", action=call, observation=None))
            self.pending.append(len(self.turns) - 1)
            if ids and ids[k]:
                self.pending_ids[ids[k]] = len(self.turns) - 1

    def observe(self, text: str) -> bool:
        """Give an observation to the first call still waiting; False if none waits."""
        if not self.pending:
            self.unanswered_observations += 1
            return False
        turn = self.pending.pop(0)
        self.pending_ids = {k: v for k, v in self.pending_ids.items() if v != turn}
        self.turns[turn].observation = text
        return True

    def observe_id(self, call_id: str) -> int | None:
        """Index of the waiting turn whose call has this id (removed from the waiting list)."""
        turn = self.pending_ids.pop(call_id, None)
        if turn is not None:
            self.pending.remove(turn)
        return turn

    def user(self) -> None:
        self.pending, self.pending_ids = [], {}
        self.dropped_user_messages += 1

    def counts(self) -> dict[str, int]:
        return {
            "dropped_user_messages": self.dropped_user_messages,
            "unanswered_observations": self.unanswered_observations,
        }


def strip_prefix(text: str, pattern: re.Pattern[str]) -> str:
    match = pattern.match(text)
    return text[match.end():] if match else text


def chat_trajectory(record: dict[str, Any], *, traj_id: Any, problem_statement: str, instance_prompt: str | None,
                    turns: list, source_format: str, metadata: dict[str, Any]) -> Trajectory:
    """The Trajectory of a chat-style record; task id and repo come from `instance_id` when it is a string."""
    instance_id = record.get("instance_id") if isinstance(record.get("instance_id"), str) else None
    if instance_prompt is not None:
        metadata["instance_prompt"] = instance_prompt
    task = Task(
        id=task_id_from_instance_id(instance_id) if instance_id else str(traj_id),
        problem_statement=problem_statement,
        repo=record.get("repo") or repo_from_instance_id(instance_id),
        base_commit=record.get("base_commit"),
    )
    return Trajectory(id=str(traj_id), task=task, turns=turns, source_format=source_format, metadata=metadata)
