"""Host-side tool dispatch (srl_swe/sandbox/tools.py): ToolCall -> observation.

`FakeSandbox` is a test double for the Docker sandbox, whose real path (docker exec in a
container) is tested elsewhere: it runs each command with `bash -c` in a temporary folder
on this machine and writes files there, which is all `execute_tool` relies on.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from srl_swe.sandbox import tools
from srl_swe.sandbox.tools import ToolResult, execute_tool, format_bash_observation
from srl_swe.trajectory.model import ToolCall

SAMPLE = "trajectories/swe-gym-openhands-sampled.json"
"""The SWE-Gym OpenHands sample, under the `shared_data` fixture's folder."""


class FakeSandbox:
    """Test double for the Docker sandbox: `bash -c` in a host folder instead of a container."""

    def __init__(self, root: Path):
        self.root = root
        self.commands: list[str] = []
        self.writes: list[str] = []
        self.env = {"PATH": "/usr/bin:/bin", "SRL_SWE_EDITOR_STATE": str(root / ".editor-state")}

    def run(self, command: str, timeout: float):
        self.commands.append(command)
        try:
            proc = subprocess.run(
                ["bash", "-c", command], cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"timed out after {timeout}s") from exc
        return SimpleNamespace(output=proc.stdout.decode("utf-8", "replace"), exit_code=proc.returncode)

    def write_file(self, path: str, content: str) -> None:
        self.writes.append(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content, encoding="utf-8")


@pytest.fixture
def box(tmp_path):
    root = tmp_path / "box"
    root.mkdir()
    return FakeSandbox(root)


@pytest.fixture
def call(box, tmp_path):
    editor_path = str(tmp_path / "opt" / "srl-swe" / "editor.py")

    def _call(name, limit=30.0, **arguments):
        return execute_tool(ToolCall(name, arguments), box, timeout=limit, editor_path=editor_path,
                            python=sys.executable)

    _call.editor_path = editor_path
    return _call


# --------------------------------------------------------------------------- execute_bash


def test_bash_swe_gym_style(call):
    assert call("execute_bash", command="echo hi") == ToolResult(
        "echo hi\r\nhi\n[Command finished with exit code 0]", exit_code=0)


def test_bash_nonzero_exit_is_not_a_tool_error(call):
    result = call("execute_bash", command="echo oops >&2; exit 3")
    assert result == ToolResult("echo oops >&2; exit 3\r\noops\n[Command finished with exit code 3]", exit_code=3)


def test_bash_swe_gym_style_ends_output_lines_like_a_terminal(call):
    assert call("execute_bash", command="printf 'a\\nb\\r\\nc\\n'").observation == (
        "printf 'a\\nb\\r\\nc\\n'\r\na\r\nb\r\nc\n[Command finished with exit code 0]")


def test_bash_without_output(call):
    assert call("execute_bash", command="true").observation == "true\n[Command finished with exit code 0]"


def test_bash_openhands_style(box):
    def run(command):
        return execute_tool(ToolCall("execute_bash", {"command": command}), box, bash_style="openhands")
    assert run("echo hi").observation == "hi\n[The command completed with exit code 0.]"
    assert run("exit 1").observation == "\n[The command completed with exit code 1.]"


def test_bash_unknown_style(box):
    with pytest.raises(ValueError, match="bash_style"):
        execute_tool(ToolCall("execute_bash", {"command": "true"}), box, bash_style="zsh")


def test_bash_timeout(call):
    result = call("execute_bash", limit=0.3, command="sleep 3")
    assert result.error and not result.finished
    assert result.observation.startswith("sleep 3\n[The command timed out after 0.3 seconds and was interrupted.")


def test_bash_timeout_argument_shortens_never_lengthens(call, box):
    assert call("execute_bash", limit=30.0, command="sleep 3", timeout=0.3).error
    seen = []
    box.run = lambda command, timeout: seen.append(timeout) or SimpleNamespace(output="", exit_code=0)
    call("execute_bash", limit=5.0, command="true", timeout=500)
    assert seen == [5.0]


def test_bash_sandbox_reporting_timeout_on_the_result(box):
    box.run = lambda command, timeout: SimpleNamespace(output="partial\n", exit_code=-1, timed_out=True)
    result = execute_tool(ToolCall("execute_bash", {"command": "make"}), box, timeout=7)
    assert result.error
    assert result.observation.startswith("make\r\npartial\n[The command timed out after 7 seconds")


def test_bash_command_that_never_finished(box):
    box.run = lambda command, timeout: SimpleNamespace(output=b"bye\n", exit_code=None, timed_out=False)
    assert execute_tool(ToolCall("execute_bash", {"command": "exit"}), box) == ToolResult(
        "exit\r\nbye\n[The command did not finish: the shell running it exited.]", error=True)


def test_editor_timeout(call, box):
    call("str_replace_editor", command="view", path=str(box.root))
    box.run = lambda command, timeout: SimpleNamespace(output="", exit_code=None, timed_out=True)
    assert call("str_replace_editor", limit=9, command="view", path=str(box.root)) == ToolResult(
        "ERROR:\nThe editor timed out after 9 seconds.", error=True)


def test_bash_bytes_output_is_decoded(box):
    box.run = lambda command, timeout: SimpleNamespace(output="é ok\n".encode(), exit_code=0)
    assert execute_tool(ToolCall("execute_bash", {"command": "x"}), box).observation == (
        "x\r\né ok\n[Command finished with exit code 0]")


def test_bash_long_output_keeps_head_and_tail(call):
    # As recorded in SWE-Gym: 15,000 characters, the marker, the last 15,000, then the exit-code line.
    result = call("execute_bash", command="python3 -c \"print('a' * 20000 + 'b' * 20000)\"")
    marker, trailer = tools.TRUNCATION_MARKER, "\n[Command finished with exit code 0]"
    assert result.observation.index(marker) == 15_000
    assert result.observation.endswith("b" * 15_000 + trailer)
    assert len(result.observation) == 30_000 + len(marker) + len(trailer)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"command": "y", "is_input": "true"}, "ERROR:\nNo previous running command to interact with."),
        ({"command": ""}, "ERROR:\nNo previous running command to retrieve logs from."),
        ({}, "ERROR:\nParameter `command` is required for the execute_bash tool."),
    ],
)
def test_bash_bad_arguments(call, box, arguments, message):
    assert call("execute_bash", **arguments) == ToolResult(message, error=True)
    assert box.commands == []


def test_bash_layout_matches_swe_gym_recordings(shared_data):
    """Recorded observations, less the shell prompt this module cannot know, have our layout."""
    prompt = re.compile(r"\[Python Interpreter: [^\]]*\]\nroot@openhands-workspace:[^\n]* # (?=\n\[Command finished)")
    checked = 0
    for record in json.loads((shared_data / SAMPLE).read_text()):
        calls = {}
        for message in record["messages"]:
            for tool_call in message.get("tool_calls") or []:
                calls[tool_call["id"]] = tool_call["function"]
            if message["role"] != "tool" or calls[message["tool_call_id"]]["name"] != "execute_bash":
                continue
            command = json.loads(calls[message["tool_call_id"]]["arguments"])["command"]
            recorded = prompt.sub("", message["content"].removeprefix("OBSERVATION:\n"))
            head, _, trailer = recorded.rpartition("\n[Command finished with exit code ")
            output = head.removeprefix(command + "\r\n").replace("\r\n", "\n") if head != command else ""
            if tools.TRUNCATION_MARKER in recorded:
                continue  # cut with the prompt inside its tail; see test_bash_long_output_keeps_head_and_tail
            assert format_bash_observation(command, output, int(trailer.rstrip("]"))) == recorded
            checked += 1
    assert checked >= 10


# --------------------------------------------------------------------------- str_replace_editor


def test_editor_round_trip_ships_the_script_once(call, box):
    f = box.root / "mod.py"
    assert call("str_replace_editor", command="create", path=str(f), file_text="x = 1\n") == ToolResult(
        f"File created successfully at: {f}")
    edited = call("str_replace_editor", command="str_replace", path=str(f), old_str="x = 1", new_str="x = 'é'")
    assert not edited.error and "     1\tx = 'é'" in edited.observation
    undone = call("str_replace_editor", command="undo_edit", path=str(f))
    assert undone.observation == (
        f"Last edit to {f} undone successfully. Here's the result of running `cat -n` on {f}:\n     1\tx = 1\n     2")
    assert f.read_text() == "x = 1\n"
    assert box.writes == [call.editor_path]
    assert (box.root / ".editor-state").is_dir()  # history on the sandbox's disk


def test_editor_errors_are_tool_errors(call, box):
    result = call("str_replace_editor", command="view", path="relative/a.py")
    assert result.error and result.observation.startswith("ERROR:\nThe path relative/a.py is not an absolute path")
    result = call("str_replace_editor", command="view", path=str(box.root), view_range=[1, 2])
    assert result == ToolResult(
        "ERROR:\nThe `view_range` parameter is not allowed when `path` points to a directory.", error=True)


def test_editor_arguments_with_shell_metacharacters(call, box):
    nasty = "it's $(rm -rf /) `x` \"q\" \\n EOF\n'\nEOF\n"
    f = box.root / "nasty.txt"
    assert not call("str_replace_editor", command="create", path=str(f), file_text=nasty).error
    assert f.read_text() == nasty


def test_large_arguments_travel_through_a_file(call, box, monkeypatch):
    monkeypatch.setattr(tools, "INLINE_ARGS_LIMIT", 1000)
    f = box.root / "big.txt"
    assert not call("str_replace_editor", command="create", path=str(f), file_text="z" * 5000).error
    assert f.read_text() == "z" * 5000
    args_files = [p for p in box.writes if p.endswith(".json")]
    assert len(args_files) == 1 and not Path(args_files[0]).exists()


def test_editor_is_shipped_again_when_the_container_lost_it(call, box):
    f = box.root / "a.txt"
    call("str_replace_editor", command="create", path=str(f), file_text="a")
    Path(call.editor_path).unlink()
    assert call("str_replace_editor", command="view", path=str(f)).observation.endswith("     1\ta")
    assert box.writes == [call.editor_path, call.editor_path]


def test_unweakrefable_sandbox_gets_the_editor_every_time(tmp_path):
    class SlottedSandbox:
        __slots__ = ("inner",)

        def __init__(self, inner):
            self.inner = inner

        def run(self, command, timeout):
            return self.inner.run(command, timeout)

        def write_file(self, path, content):
            self.inner.write_file(path, content)

    inner = FakeSandbox(tmp_path)
    sandbox = SlottedSandbox(inner)
    editor_path = str(tmp_path / "ed" / "editor.py")
    for _ in range(2):
        result = execute_tool(ToolCall("str_replace_editor", {"command": "view", "path": str(tmp_path)}), sandbox,
                              editor_path=editor_path, python=sys.executable)
        assert not result.error
    assert inner.writes == [editor_path, editor_path]


def test_editor_crash_is_reported(call, box):
    call("str_replace_editor", command="view", path=str(box.root))
    Path(call.editor_path).write_text("import sys\nprint('boom')\nsys.exit(5)\n")
    assert call("str_replace_editor", command="view", path=str(box.root)) == ToolResult("ERROR:\nboom", error=True)


# --------------------------------------------------------------------------- think, finish, unknown


def test_think_finish_and_unknown(call, box):
    assert call("think", thought="hmm") == ToolResult("Your thought has been logged.")
    assert call("finish", message="done", task_completed="true") == ToolResult("", finished=True)
    unknown = call("browse", url="x")
    assert unknown.error and unknown.observation.startswith("ERROR:\nUnknown tool `browse`.")
    assert box.commands == []
