"""Tool calls as text: the canonical rendering and the parser for policy outputs.

The same rendering is used for the expert's and the policy's action, so the similarity
reward compares like with like. A policy output must be `<think>...</think>` followed by
exactly one tool call, written either in the OpenHands/SWE-agent text form
`<function=NAME><parameter=K>V</parameter></function>` or as a JSON
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` block.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import FormatError
from .scaffold import Scaffold, load_scaffold
from .core import ToolCall

FUNCTION_RE = re.compile(r"<function=([^>\n]*)>(.*?)(?:</function>|(?=<function=)|\Z)", re.DOTALL)
PARAMETER_RE = re.compile(r"<parameter=([^>\n]*)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|\Z)", re.DOTALL)
STRICT_FUNCTION_RE = re.compile(r"<function=([A-Za-z0-9_.\-]+)>(.*?)</function>", re.DOTALL)
STRICT_PARAMETER_RE = re.compile(r"<parameter=([A-Za-z0-9_.\-]+)>(.*?)</parameter>", re.DOTALL)
TOOL_CALL_JSON_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
THINK_RE = re.compile(r"\A\s*<think>(.*?)</think>", re.DOTALL)


def _strip_one_newline(value: str) -> str:
    """Drop one leading and one trailing newline, as the text tool-call format adds them."""
    if value.startswith("\n"):
        value = value[1:]
    if value.endswith("\n"):
        value = value[:-1]
    return value


def _render_value(value: Any) -> str:
    """A parameter value as text; values with an edge newline are wrapped so parsing restores them exactly."""
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value.startswith("\n") or value.endswith("\n"):
        return f"\n{value}\n"
    return value


def render_call(call: ToolCall, scaffold: Scaffold | None = None) -> str:
    """Canonical text of a tool call: parameters in schema order, then the rest sorted."""
    scaffold = scaffold or load_scaffold()
    order = scaffold.parameter_order(call.name)
    keys = [k for k in order if k in call.arguments] + sorted(k for k in call.arguments if k not in order)
    params = "".join(f"<parameter={k}>{_render_value(call.arguments[k])}</parameter>\n" for k in keys)
    return f"<function={call.name}>\n{params}</function>"


def normalize_call(name: str, arguments: dict[str, Any], scaffold: Scaffold | None = None) -> ToolCall:
    """Map aliases onto scaffold names and give textual arguments their schema types."""
    scaffold = scaffold or load_scaffold()
    name = scaffold.canonical_name(name.strip())
    return ToolCall(name, {k: scaffold.coerce(name, k, v) for k, v in arguments.items()})


def extract_function_calls(text: str) -> list[tuple[str, dict[str, str]]]:
    """Every `<function=...>` block of a text, leniently (a missing closing tag ends at the text's end).

    Used to read expert trajectories, whose last call is sometimes cut off.
    """
    calls = []
    for match in FUNCTION_RE.finditer(text):
        params = {k.strip(): _strip_one_newline(v) for k, v in PARAMETER_RE.findall(match.group(2))}
        calls.append((match.group(1).strip(), params))
    return calls


@dataclass(frozen=True)
class ParsedAction:
    """A well-formed policy output: its reasoning and its one tool call."""

    thought: str
    call: ToolCall

    def render(self, scaffold: Scaffold | None = None) -> str:
        return render_call(self.call, scaffold)


def _parse_json_call(body: str) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise FormatError(f"tool_call is not valid JSON: {exc}") from None
    except RecursionError:  # a policy can write JSON nested deeper than the parser recurses: malformed, never a crash
        raise FormatError("tool_call JSON is nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise FormatError("tool_call JSON needs a string 'name'")
    args = data.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except (json.JSONDecodeError, RecursionError):
            raise FormatError("tool_call 'arguments' is not a JSON object") from None
    if not isinstance(args, dict):
        raise FormatError("tool_call 'arguments' is not a JSON object")
    return data["name"], args


_FUNCTION_OPEN_RE = re.compile(r"<function=([A-Za-z0-9_.\-]+)>")
_PARAMETER_OPEN_RE = re.compile(r"<parameter=([A-Za-z0-9_.\-]+)>")
_TOOL_CALL_OPEN_RE = re.compile(r"<tool_call>()")


def _strict_blocks(text: str, opening: re.Pattern[str], closing: str) -> list[tuple[int, int, str, str]]:
    """`(start, end, name, body)` of every block `opening body closing` of a text.

    Exactly the matches of `re.finditer` with STRICT_FUNCTION_RE, STRICT_PARAMETER_RE or
    TOOL_CALL_JSON_RE (name ""), but the body is found with `str.find` instead of a lazy `.*?`,
    which steps through the text one character at a time. An opening with no closing after it
    ends the search: no later opening can start inside it (it holds no `<` past its first
    character), so none has a closing after it either.
    """
    blocks = []
    pos = 0
    while (tag := opening.search(text, pos)) is not None:
        body_start = tag.end()
        close = text.find(closing, body_start)
        if close < 0:
            break
        pos = close + len(closing)
        blocks.append((tag.start(), pos, tag.group(1), text[body_start:close]))
    return blocks


def parse_action(text: str, scaffold: Scaffold | None = None) -> ParsedAction:
    """Parse a policy output strictly; raise :class:`FormatError` saying what is wrong."""
    if not isinstance(text, str):
        raise FormatError(f"output is {type(text).__name__}, not text")
    scaffold = scaffold or load_scaffold()
    # THINK_RE, without its lazy scan: `\s` and str.strip agree on what is whitespace
    stripped = text.lstrip()
    think_end = stripped.find("</think>", 7) if stripped.startswith("<think>") else -1
    if think_end < 0:
        raise FormatError("output must start with <think>...</think>")
    rest = stripped[think_end + 8:]
    functions = _strict_blocks(rest, _FUNCTION_OPEN_RE, "</function>")
    json_calls = _strict_blocks(rest, _TOOL_CALL_OPEN_RE, "</tool_call>") if "<tool_call>" in rest else []
    if len(functions) + len(json_calls) != 1:
        raise FormatError(f"expected exactly one tool call after </think>, found {len(functions) + len(json_calls)}")
    start, end, name, body = (functions or json_calls)[0]
    if rest[:start].strip():
        raise FormatError("text between </think> and the tool call")
    if rest[end:].strip():
        raise FormatError("text after the tool call")
    if "<think>" in rest or "</think>" in rest:
        raise FormatError("more than one <think> block")
    if functions:
        args: dict[str, Any] = {}
        gaps, pos, twice = [], 0, None
        for p_start, p_end, key, value in _strict_blocks(body, _PARAMETER_OPEN_RE, "</parameter>"):
            gaps.append(body[pos:p_start])
            pos = p_end
            if key not in args:
                args[key] = _strip_one_newline(value)
            elif twice is None:
                twice = key
        gaps.append(body[pos:])
        leftover = "".join(gaps).strip()  # what STRICT_PARAMETER_RE.sub("", body) leaves
        if leftover:  # reported before a repeated parameter
            raise FormatError(f"unexpected text inside <function=...>: {leftover[:40]!r}")
        if twice is not None:
            raise FormatError(f"parameter {twice!r} given twice")
    else:
        name, args = _parse_json_call(body)
    call = normalize_call(name, args, scaffold)
    if call.name not in scaffold.tools:
        raise FormatError(f"unknown tool {call.name!r}")
    missing = [key for key in scaffold.tools[call.name].get("required", []) if key not in call.arguments]
    if missing:  # the tool cannot run it; an empty call must not earn the similarity of the shared call syntax
        raise FormatError(f"tool {call.name!r} is missing required parameter(s) {', '.join(map(repr, missing))}")
    return ParsedAction(stripped[7:think_end].strip(), call)


_OPENINGS = ("<function=", "<tool_call>")
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]*")


def _open_gap_can_close(gap: str) -> bool:
    """Whether text after a function's last closed parameter can still be whitespace, a parameter or the close."""
    head = gap.lstrip()
    if not head or "<parameter=".startswith(head) or "</function>".startswith(head):
        return True
    if not head.startswith("<parameter="):
        return False
    name = _NAME_RE.match(head, 11).end()
    return name == len(head) or (head[name] == ">" and name > 11)


def can_still_parse(prefix: str, scaffold: Scaffold | None = None) -> bool:
    """False only when no continuation of `prefix` can pass :func:`parse_action`.

    Lets generation stop a sequence the moment its reward is sure to be -1 (a prose answer, a
    second call, text after the call, a broken tag, an unknown tool) instead of writing to the
    token limit: the reward is unchanged, and degenerate loops cost a few tokens instead of
    hundreds. Conservative: when unsure it answers True.
    """
    scaffold = scaffold or load_scaffold()
    text = prefix.rstrip("\ufffd").lstrip()  # a trailing U+FFFD is a multi-byte character still being decoded
    if not text.startswith("<think>"):
        return "<think>".startswith(text)
    think_end = text.find("</think>", 7)
    if think_end < 0:
        return True
    rest = text[think_end + 8:]
    if "<think>" in rest or "</think>" in rest:
        return False
    call = rest.lstrip()
    if not call.startswith(_OPENINGS):
        return any(opening.startswith(call) for opening in _OPENINGS)
    closing = "</function>" if call.startswith("<function=") else "</tool_call>"
    close = call.find(closing)
    if close >= 0:  # only whitespace may follow, and whitespace does not change the verdict
        closed = text[:len(text) - len(call) + close + len(closing)]
        if call[close + len(closing):].strip():
            return False
        try:
            parse_action(closed, scaffold)
        except FormatError:
            return False
        return True
    if closing == "</tool_call>":
        return True
    name_end = _NAME_RE.match(call, 10).end()
    if name_end == len(call):
        return True
    if call[name_end] != ">" or name_end == 10 or scaffold.canonical_name(call[10:name_end]) not in scaffold.tools:
        return False
    body = call[name_end + 1:]
    blocks = _strict_blocks(body, _PARAMETER_OPEN_RE, "</parameter>")
    pos = 0
    for start, end, _, _ in blocks:
        if body[pos:start].strip():
            return False
        pos = end
    return _open_gap_can_close(body[pos:])


def format_action(thought: str, call: ToolCall, scaffold: Scaffold | None = None) -> str:
    """The text a perfect policy would write for a step: `<think>` then the canonical call."""
    return f"<think>\n{thought.strip()}\n</think>\n{render_call(call, scaffold)}"
