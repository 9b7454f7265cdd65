"""Host side of the agent's tools: run a :class:`ToolCall` in a sandbox and return what the agent sees.

The sandbox is anything with two methods (the Docker sandbox has them; so does the test double
in ``tests/test_tools.py``), and this module never imports the docker SDK:

* ``run(command: str, timeout: float)`` -> an object with ``.output`` (str or bytes) and
  ``.exit_code`` (int, or None when the command did not finish); on a timeout it may raise
  :class:`TimeoutError` or set ``.timed_out``;
* ``write_file(path: str, content: str)`` -> writes a text file inside the container.

Tools (names already normalised by :func:`srl_swe.actions.normalize_call`):

* ``execute_bash`` -- runs the command; the observation gets the OpenHands exit-code trailer.
  ``bash_style="swe-gym"`` (default) renders it as SWE-Gym's OpenHands did::

      <command>\\r
      <output, its lines ending in \\r\\n as a terminal wrote them>
      [Command finished with exit code N]

  (SWE-Gym's recordings also carry a shell prompt, ``[Python Interpreter: ...]`` and
  ``root@openhands-workspace:<cwd> #``, before the last line; this module cannot know it and
  leaves it out);
  ``bash_style="openhands"`` renders newer OpenHands' ``<output>\\n[The command completed
  with exit code N.]``. Text longer than 30,000 characters keeps its head and tail around
  OpenHands' ``[... Observation truncated due to length ...]`` marker (before the last line).
* ``str_replace_editor`` -- ships ``editor.py`` (next to this file) into the container once,
  then runs it there with the call's arguments as JSON; see that file for the semantics.
* ``think`` -- "Your thought has been logged."
* ``finish`` -- ends the episode (``finished=True``).

``ToolResult.error`` means the *call* failed (bad arguments, an editor error, a timeout); a
command that ran and exited non-zero is not an error: its exit code is in the observation
and in ``ToolResult.exit_code``.
"""
from __future__ import annotations

import json
import shlex
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..trajectory.model import ToolCall

EDITOR_SOURCE = Path(__file__).with_name("editor.py")
"""The in-container editor script shipped by :func:`execute_tool`."""
EDITOR_PATH = "/opt/srl-swe/editor.py"
"""Where the editor script lives inside the container."""
EDITOR_EXIT_OK, EDITOR_EXIT_TOOL_ERROR = 0, 1
ERROR_PREFIX = "ERROR:\n"
THINK_OBSERVATION = "Your thought has been logged."
MAX_BASH_OUTPUT_CHARS = 30_000
TRUNCATION_MARKER = "\n[... Observation truncated due to length ...]\n"
INLINE_ARGS_LIMIT = 100_000
"""Editor arguments up to this many characters travel inside the command; larger ones
(a long ``file_text``) go through ``write_file``, keeping the command under the kernel's
128 KiB limit on one exec argument."""
BASH_STYLES = ("swe-gym", "openhands")
TOOLS = ("execute_bash", "str_replace_editor", "think", "finish")


class CommandResult(Protocol):
    output: str | bytes
    exit_code: int


class SandboxLike(Protocol):
    """What the tools need from a sandbox."""

    def run(self, command: str, timeout: float) -> CommandResult: ...

    def write_file(self, path: str, content: str) -> None: ...


@dataclass(frozen=True)
class ToolResult:
    """What one tool call gave back."""

    observation: str
    """The text the agent sees next."""
    error: bool = False
    """The call failed: bad arguments, an editor error, a timeout."""
    finished: bool = False
    """The agent declared the episode over (``finish``)."""
    exit_code: int | None = None
    """The shell command's exit status (``execute_bash`` only)."""


def execute_tool(
    call: ToolCall,
    sandbox: SandboxLike,
    *,
    timeout: float = 120.0,
    bash_style: str = "swe-gym",
    editor_path: str = EDITOR_PATH,
    python: str = "python3",
) -> ToolResult:
    """Run ``call`` in ``sandbox`` and return the observation.

    ``timeout`` bounds every command in seconds; an ``execute_bash`` call's own ``timeout``
    argument may shorten it, never lengthen it. ``editor_path`` and ``python`` say where the
    editor script goes inside the container and which interpreter runs it.
    """
    args = dict(call.arguments or {})
    if call.name == "execute_bash":
        return _execute_bash(args, sandbox, timeout=timeout, style=bash_style)
    if call.name == "str_replace_editor":
        return _execute_editor(args, sandbox, timeout=timeout, editor_path=editor_path, python=python)
    if call.name == "think":
        return ToolResult(THINK_OBSERVATION)
    if call.name == "finish":
        return ToolResult("", finished=True)
    return ToolResult(
        f"{ERROR_PREFIX}Unknown tool `{call.name}`. The available tools are: {', '.join(TOOLS)}.", error=True
    )


# --------------------------------------------------------------------------- execute_bash


def truncate_middle(text: str, limit: int = MAX_BASH_OUTPUT_CHARS) -> str:
    """Keep the head and tail of an over-long output around the OpenHands truncation marker."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + TRUNCATION_MARKER + text[-half:]


def format_bash_observation(command: str, output: str, exit_code: int, style: str = "swe-gym") -> str:
    """The observation of a finished shell command, in one of :data:`BASH_STYLES`."""
    output = output.rstrip()
    if style == "swe-gym":
        body = _pty_lines(f"{command}\n{output}" if output else command)
        return f"{truncate_middle(body)}\n[Command finished with exit code {exit_code}]"
    if style == "openhands":
        return f"{truncate_middle(output)}\n[The command completed with exit code {exit_code}.]"
    raise ValueError(f"unknown bash_style {style!r}; expected one of {BASH_STYLES}")


def _pty_lines(text: str) -> str:
    """Line ends as SWE-Gym's terminal recorded them: the echoed command and output end in CRLF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _interrupted_observation(command: str, output: str, seconds: float | None, style: str) -> str:
    """A command that did not finish: timed out after ``seconds``, or its shell went away (None)."""
    if seconds is None:
        note = "[The command did not finish: the shell running it exited.]"
    else:
        note = (
            f"[The command timed out after {seconds:g} seconds and was interrupted. Run long commands "
            "in the background with their output redirected to a file.]"
        )
    output = output.rstrip()
    if style == "swe-gym":
        return "\n".join([truncate_middle(_pty_lines("\n".join([command] + ([output] if output else [])))), note])
    return "\n".join(([truncate_middle(output)] if output else []) + [note])


def _as_text(output: Any) -> str:
    if output is None:
        return ""
    if isinstance(output, bytes):
        return output.decode("utf-8", errors="replace")
    return str(output)


def _execute_bash(args: dict[str, Any], sandbox: SandboxLike, *, timeout: float, style: str) -> ToolResult:
    if style not in BASH_STYLES:
        raise ValueError(f"unknown bash_style {style!r}; expected one of {BASH_STYLES}")
    command = args.get("command")
    if not isinstance(command, str):
        return ToolResult(f"{ERROR_PREFIX}Parameter `command` is required for the execute_bash tool.", error=True)
    if str(args.get("is_input", "false")).strip().lower() == "true":
        return ToolResult(f"{ERROR_PREFIX}No previous running command to interact with.", error=True)
    if not command.strip():
        return ToolResult(f"{ERROR_PREFIX}No previous running command to retrieve logs from.", error=True)
    limit = float(timeout)
    requested = args.get("timeout")
    if isinstance(requested, (int, float)) and not isinstance(requested, bool) and requested > 0:
        limit = min(limit, float(requested))
    try:
        result = sandbox.run(command, timeout=limit)
    except TimeoutError as exc:
        partial = _as_text(getattr(exc, "output", None))
        return ToolResult(_interrupted_observation(command, partial, limit, style), error=True)
    output = _as_text(result.output)
    if getattr(result, "timed_out", False):
        return ToolResult(_interrupted_observation(command, output, limit, style), error=True)
    if result.exit_code is None:
        return ToolResult(_interrupted_observation(command, output, None, style), error=True)
    exit_code = int(result.exit_code)
    return ToolResult(format_bash_observation(command, output, exit_code, style), exit_code=exit_code)


# --------------------------------------------------------------------------- str_replace_editor

_shipped: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _is_shipped(sandbox: SandboxLike, editor_path: str) -> bool:
    try:
        return editor_path in _shipped.get(sandbox, ())
    except TypeError:  # not weak-referenceable: ship every time
        return False


def ship_editor(sandbox: SandboxLike, *, editor_path: str = EDITOR_PATH, timeout: float = 60.0) -> None:
    """Copy ``editor.py`` into the container at ``editor_path``."""
    folder = str(Path(editor_path).parent)
    result = sandbox.run(f"mkdir -p {shlex.quote(folder)}", timeout=timeout)
    if result.exit_code != 0:
        raise RuntimeError(f"could not create {folder} in the sandbox: {_as_text(result.output).strip()}")
    sandbox.write_file(editor_path, EDITOR_SOURCE.read_text(encoding="utf-8"))
    try:
        _shipped.setdefault(sandbox, set()).add(editor_path)
    except TypeError:
        pass


def _editor_missing(exit_code: int, output: str) -> bool:
    """The interpreter could not open the script (a fresh container, a wiped /opt)."""
    return exit_code in (2, 127) and ("can't open file" in output or "No such file" in output)


def _execute_editor(
    args: dict[str, Any], sandbox: SandboxLike, *, timeout: float, editor_path: str, python: str
) -> ToolResult:
    if not _is_shipped(sandbox, editor_path):
        ship_editor(sandbox, editor_path=editor_path, timeout=timeout)
    payload = json.dumps(args, ensure_ascii=True, default=str)
    program = f"{shlex.quote(python)} {shlex.quote(editor_path)}"
    for attempt in range(2):
        if len(payload) <= INLINE_ARGS_LIMIT:
            command = f"printf '%s' {shlex.quote(payload)} | {program}"
        else:
            args_file = f"{Path(editor_path).parent}/args-{uuid.uuid4().hex}.json"
            sandbox.write_file(args_file, payload)
            command = f"{program} --args-file {shlex.quote(args_file)}"
        try:
            result = sandbox.run(command, timeout=timeout)
        except TimeoutError:
            result = None
        if result is None or getattr(result, "timed_out", False):
            return ToolResult(f"{ERROR_PREFIX}The editor timed out after {timeout:g} seconds.", error=True)
        output = _as_text(result.output).rstrip()
        if result.exit_code in (EDITOR_EXIT_OK, EDITOR_EXIT_TOOL_ERROR):
            return ToolResult(output, error=result.exit_code == EDITOR_EXIT_TOOL_ERROR)
        if attempt == 0 and _editor_missing(result.exit_code, output):
            ship_editor(sandbox, editor_path=editor_path, timeout=timeout)
            continue
        break
    detail = output or f"the editor exited with status {result.exit_code}"
    return ToolResult(f"{ERROR_PREFIX}{detail}", error=True)
