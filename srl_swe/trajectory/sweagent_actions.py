"""SWE-agent action strings (what SWE-agent ran) as tool calls, under SWE-agent's own tool names.

SWE-agent 0.x ran each action in a shell where its tools were functions; 1.x renders a tool call
into the same command line (string arguments shell-quoted unless the tool ends in
``end_of_edit``). Either way the line is read back by the signatures of SWE-agent's
``tools/*/config.yaml``:

* ``str_replace_editor <command> <path> [--file_text X] [--old_str X] [--new_str X]
  [--insert_line N] [--view_range A B]`` (edit_anthropic);
* ``open <path> [<line_number>]``, ``goto <line_number>``, ``scroll_up``, ``scroll_down``,
  ``create <filename>`` (windowed); ``find_file <file_name> [<dir>]``, ``search_dir
  <search_term> [<dir>]``, ``search_file <search_term> [<file>]`` (search);
* ``edit <start_line>:<end_line>`` + the replacement lines + ``end_of_edit``
  (windowed_edit_linting), or ``edit <search> <replace> [<replace-all>]`` and ``insert <text>
  [<line>]`` (windowed_edit_replace);
* ``submit`` (flags such as ``-f`` ignored);
* ``exit_cost``/``exit_context``/... (SWE-agent's own terminations) and an empty action: no call;
* any other line is a shell command: ``bash`` with the whole action as ``command``.

Arguments get their schema types (``agents/sweagent.yaml``). A tool line that breaks its
signature (a missing or extra argument, ``goto abc``, an ``edit`` without ``end_of_edit``) is
a RecordError: the record is invalid, never read as a shorter or different action.
"""
from __future__ import annotations

import re
import shlex
from typing import Any

from .common import ParseContext, RecordError, make_call
from .model import ToolCall

EDITOR = "str_replace_editor"
EDITOR_FLAGS = ("file_text", "old_str", "new_str", "insert_line", "view_range")
SPECIAL_ACTIONS = ("exit_cost", "exit_context", "exit_format", "exit_error", "exit_api", "exit_forfeit", "exit_command")

#: tool -> its positional arguments as (name, type, required), in signature order
LINE_TOOLS: dict[str, tuple[tuple[str, type, bool], ...]] = {
    "open": (("path", str, True), ("line_number", int, False)),
    "goto": (("line_number", int, True),),
    "scroll_up": (),
    "scroll_down": (),
    "create": (("filename", str, True),),
    "find_file": (("file_name", str, True), ("dir", str, False)),
    "search_dir": (("search_term", str, True), ("dir", str, False)),
    "search_file": (("search_term", str, True), ("file", str, False)),
    "insert": (("text", str, True), ("line", int, False)),
}
REPLACE_EDIT = (("search", str, True), ("replace", str, True), ("replace-all", bool, False))
LINE_RANGE_RE = re.compile(r"\Aedit[ \t]+(-?\d+)[ \t]*:[ \t]*(-?\d+)[ \t]*\Z")
END_OF_EDIT = "end_of_edit"


def _split(text: str, tool: str, field: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise RecordError(field, f"cannot split {tool} action: {exc}") from None


def _typed(value: str, kind: type, tool: str, name: str, field: str) -> Any:
    if kind is int:
        try:
            return int(value)
        except ValueError:
            raise RecordError(field, f"{tool}: <{name}> must be an integer, got {value!r}") from None
    if kind is bool:
        if value.lower() not in ("true", "false"):
            raise RecordError(field, f"{tool}: <{name}> must be True or False, got {value!r}")
        return value.lower() == "true"
    return value


def _positional(tool: str, tokens: list[str], spec: tuple[tuple[str, type, bool], ...], field: str) -> dict[str, Any]:
    signature = " ".join([tool] + [f"<{n}>" if req else f"[<{n}>]" for n, _, req in spec])
    required = sum(req for _, _, req in spec)
    if not required <= len(tokens) <= len(spec):
        raise RecordError(field, f"{tool} takes {signature!r}, got {len(tokens)} argument(s): {tokens!r}")
    return {name: _typed(tokens[k], kind, tool, name, field) for k, (name, kind, _) in enumerate(spec) if k < len(tokens)}


def _edit(action: str, ctx: ParseContext, field: str) -> ToolCall:
    first, _, rest = action.partition("\n")
    line_range = LINE_RANGE_RE.match(first.strip())
    if line_range is None:  # windowed_edit_replace: one shell line (quoted strings may span lines)
        return make_call("edit", _positional("edit", _split(action, "edit", field)[1:], REPLACE_EDIT, field), ctx, field)
    lines = rest.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or lines[-1].strip() != END_OF_EDIT:
        raise RecordError(field, f"{first.strip()!r} is not closed by a line {END_OF_EDIT!r}")
    if any(line.strip() == END_OF_EDIT for line in lines[:-1]):
        raise RecordError(field, f"text after {END_OF_EDIT!r}: one action holds more than one edit")
    args = {"start_line": int(line_range[1]), "end_line": int(line_range[2]), "replacement_text": "\n".join(lines[:-1])}
    return make_call("edit", args, ctx, field)


def _editor(action: str, ctx: ParseContext, field: str) -> ToolCall:
    tokens = _split(action, EDITOR, field)
    if len(tokens) < 3:
        raise RecordError(field, "str_replace_editor action needs <command> <path>")
    args: dict[str, Any] = {"command": tokens[1], "path": tokens[2]}
    k = 3
    while k < len(tokens):
        flag = tokens[k]
        name = flag[2:] if flag.startswith("--") else None
        if name not in EDITOR_FLAGS:
            raise RecordError(field, f"unexpected str_replace_editor argument {flag!r}")
        k += 1
        if name == "view_range":
            values = []
            while k < len(tokens) and not tokens[k].startswith("--"):
                values.append(_typed(tokens[k], int, EDITOR, "view_range", field))
                k += 1
            args[name] = values
        else:
            if k >= len(tokens):
                raise RecordError(field, f"{flag} has no value")
            args[name] = tokens[k]
            k += 1
    return make_call(EDITOR, args, ctx, field)


def parse_action(action: str, ctx: ParseContext, field: str) -> ToolCall | None:
    """A SWE-agent action string as a tool call (None for an empty or special action)."""
    stripped = action.strip()
    if not stripped or stripped in SPECIAL_ACTIONS:
        return None
    first = stripped.split(None, 1)[0]
    if first == "submit":
        return make_call("submit", {}, ctx, field)
    if first == EDITOR:
        return _editor(stripped, ctx, field)
    if first == "edit":
        return _edit(stripped, ctx, field)
    if first in LINE_TOOLS:
        return make_call(first, _positional(first, _split(stripped, first, field)[1:], LINE_TOOLS[first], field), ctx, field)
    return make_call("bash", {"command": stripped}, ctx, field)
