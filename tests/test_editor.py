"""The in-container `str_replace_editor` (srl_swe/sandbox/editor.py): OpenHands semantics and texts.

The script runs inside the sandbox container with the container's python3, so it is loaded
here from its path (no package import) and, for the CLI contract, run as a subprocess.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EDITOR_FILE = Path(__file__).resolve().parent.parent / "srl_swe" / "sandbox" / "editor.py"
SAMPLE = "trajectories/swe-gym-openhands-sampled.json"
"""The SWE-Gym OpenHands sample, under the `shared_data` fixture's folder."""

_spec = importlib.util.spec_from_file_location("srl_swe_editor_under_test", EDITOR_FILE)
editor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(editor)

SNIPPET_TAIL = "Review the changes and make sure they are as expected. Edit the file again if necessary."
INSERT_TAIL = (
    "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). "
    "Edit the file again if necessary."
)


@pytest.fixture
def ed(tmp_path):
    """Run one editor call (in-process, history under tmp_path): returns (observation, is_error)."""
    state = str(tmp_path / "state")
    return lambda **args: editor.run(args, state_dir=state)


@pytest.fixture
def work(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def cat_n(path, lines, first=1):
    body = "\n".join(f"{n:6}\t{line}" for n, line in enumerate(lines, start=first))
    return f"Here's the result of running `cat -n` on {path}:\n{body}"


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --------------------------------------------------------------------------- view


def test_view_file_numbers_lines_like_cat_n(ed, work):
    f = write(work / "a.py", "import os\n\nprint(os.sep)\n")
    obs, err = ed(command="view", path=str(f))
    assert not err
    # OpenHands split on "\n", so the final newline shows as an empty last line (its tab stripped).
    assert obs == cat_n(f, ["import os", "", "print(os.sep)", ""]).rstrip()


def test_view_file_without_trailing_newline(ed, work):
    f = write(work / "a.py", "x = 1\ny = 2")
    assert ed(command="view", path=str(f)) == (cat_n(f, ["x = 1", "y = 2"]), False)


@pytest.mark.parametrize(
    "view_range, lines, first",
    [([2, 3], ["l2", "l3"], 2), ([4, -1], ["l4", "l5", ""], 4), ([1, 1], ["l1"], 1), ("[5, 5]", ["l5"], 5)],
)
def test_view_range(ed, work, view_range, lines, first):
    f = write(work / "r.txt", "l1\nl2\nl3\nl4\nl5\n")
    obs, err = ed(command="view", path=str(f), view_range=view_range)
    assert not err
    assert obs == cat_n(f, lines, first).rstrip()


@pytest.mark.parametrize(
    "view_range, message",
    [
        ([0, 3], "Invalid `view_range`: [0, 3]. It's first element `0` should be within the range of lines of the file: [1, 6]"),
        ([7, 8], "Invalid `view_range`: [7, 8]. It's first element `7` should be within the range of lines of the file: [1, 6]"),
        ([2, 9], "Invalid `view_range`: [2, 9]. It's second element `9` should be smaller than the number of lines in the file: `6`"),
        ([4, 2], "Invalid `view_range`: [4, 2]. It's second element `2` should be larger or equal than its first `4`"),
        ([1], "Invalid `view_range`. It should be a list of two integers."),
        (["a", 2], "Invalid `view_range`. It should be a list of two integers."),
        ("1-3", "Invalid `view_range`. It should be a list of two integers."),
    ],
)
def test_view_range_errors(ed, work, view_range, message):
    f = write(work / "r.txt", "l1\nl2\nl3\nl4\nl5\n")
    assert ed(command="view", path=str(f), view_range=view_range) == ("ERROR:\n" + message, True)


def test_view_directory_two_levels_sorted_without_hidden(ed, work):
    (work / "pkg" / "sub" / "deep").mkdir(parents=True)
    write(work / "pkg" / "sub" / "deep" / "too_deep.py", "")
    write(work / "pkg" / "b.py", "")
    write(work / "pkg" / "a.py", "")
    write(work / "setup.py", "")
    write(work / ".env", "")
    (work / ".git").mkdir()
    write(work / ".git" / "HEAD", "")
    write(work / "pkg" / ".hidden", "")
    obs, err = ed(command="view", path=str(work) + "/")
    assert not err
    assert obs == "\n".join(
        [
            f"Here's the files and directories up to 2 levels deep in {work}, excluding hidden items:",
            f"{work}",
            f"{work}/pkg",
            f"{work}/pkg/a.py",
            f"{work}/pkg/b.py",
            f"{work}/pkg/sub",
            f"{work}/setup.py",
        ]
    )


def test_view_directory_rejects_view_range(ed, work):
    assert ed(command="view", path=str(work), view_range=[0, -1]) == (
        "ERROR:\nThe `view_range` parameter is not allowed when `path` points to a directory.",
        True,
    )


def test_large_view_is_truncated_with_visible_marker(ed, work):
    f = write(work / "big.py", "".join(f"line_{i:05d} = {i}\n" for i in range(3000)))
    obs, err = ed(command="view", path=str(f))
    assert not err
    assert obs.endswith(editor.TRUNCATED_NOTICE)
    assert "<response clipped><NOTE>To save on context only part of this file has been shown to you." in obs
    # OpenHands clipped the file text at 16,000 characters, then numbered the lines.
    assert "   888\t" in obs and "  1000\t" not in obs


def test_view_shows_tabs_expanded(ed, work):
    f = write(work / "Makefile", "all:\n\tcc -o x x.c")
    assert ed(command="view", path=str(f))[0] == cat_n(f, ["all:", "        cc -o x x.c"])


# --------------------------------------------------------------------------- path checks


@pytest.mark.parametrize("command", ["view", "create", "str_replace", "insert", "undo_edit"])
def test_relative_path_is_refused_with_a_suggestion(ed, command):
    obs, err = ed(command=command, path="src/a.py", file_text="x", old_str="x", new_str="y", insert_line=0)
    assert err
    assert obs == (
        "ERROR:\nThe path src/a.py is not an absolute path, it should start with `/`. "
        f"Maybe you meant {os.path.abspath('src/a.py')}?"
    )


@pytest.mark.parametrize("command", ["view", "str_replace", "insert", "undo_edit"])
def test_missing_path(ed, work, command):
    missing = work / "nope.py"
    obs, err = ed(command=command, path=str(missing), old_str="x", new_str="y", insert_line=0)
    assert (obs, err) == (f"ERROR:\nThe path {missing} does not exist. Please provide a valid path.", True)


@pytest.mark.parametrize("command", ["create", "str_replace", "insert", "undo_edit"])
def test_directory_only_viewable(ed, work, command):
    obs, err = ed(command=command, path=str(work), file_text="x", old_str="x", new_str="y", insert_line=0)
    assert err
    if command == "create":
        assert obs == f"ERROR:\nFile already exists at: {work}. Cannot overwrite files using command `create`."
    else:
        assert obs == (
            f"ERROR:\nThe path {work} is a directory and only the `view` command can be used on directories"
        )


def test_unknown_and_missing_command(ed, work):
    f = write(work / "t.txt", "x")
    assert ed(command="delete", path=str(f)) == (
        "ERROR:\nUnrecognized command delete. The allowed commands for the str_replace_editor tool are: "
        "view, create, str_replace, insert, undo_edit",
        True,
    )
    assert ed(path=str(work)) == ("ERROR:\nParameter `command` is required for the str_replace_editor tool.", True)
    assert ed(command="view") == ("ERROR:\nParameter `path` is required for command: view", True)


def test_binary_file_is_refused(ed, work):
    f = write(work / "x.pyc", b"\x00\x01\x02abc")
    obs, err = ed(command="view", path=str(f))
    assert err and obs.startswith(f"ERROR:\nThe file {f} appears to be binary")


# --------------------------------------------------------------------------- create


def test_create(ed, work):
    f = work / "new.py"
    assert ed(command="create", path=str(f), file_text="print('hi')\n") == (
        f"File created successfully at: {f}",
        False,
    )
    assert f.read_bytes() == b"print('hi')\n"


def test_create_refuses_existing_file(ed, work):
    f = write(work / "a.py", "keep me")
    assert ed(command="create", path=str(f), file_text="x") == (
        f"ERROR:\nFile already exists at: {f}. Cannot overwrite files using command `create`.",
        True,
    )
    assert f.read_text() == "keep me"


def test_create_needs_file_text_but_accepts_empty(ed, work):
    assert ed(command="create", path=str(work / "a.py")) == (
        "ERROR:\nParameter `file_text` is required for command: create",
        True,
    )
    assert not ed(command="create", path=str(work / "__init__.py"), file_text="")[1]
    assert (work / "__init__.py").read_bytes() == b""


def test_create_in_missing_folder_reports_the_os_error(ed, work):
    target = work / "no" / "such" / "dir.py"
    obs, err = ed(command="create", path=str(target), file_text="x")
    assert err
    assert obs.startswith("ERROR:\nRan into [Errno 2] No such file or directory")
    assert obs.endswith(f"while trying to write to {target}")


# --------------------------------------------------------------------------- str_replace

TEN = "".join(f"line {i}\n" for i in range(1, 11))


def test_str_replace_shows_a_four_line_snippet(ed, work):
    f = write(work / "t.txt", TEN)
    obs, err = ed(command="str_replace", path=str(f), old_str="line 6\n", new_str="line six\nline 6.5\n")
    assert not err
    assert f.read_text() == TEN.replace("line 6\n", "line six\nline 6.5\n")
    snippet = cat_n(f"a snippet of {f}", ["line 2", "line 3", "line 4", "line 5", "line six", "line 6.5",
                                        "line 7", "line 8", "line 9", "line 10", ""], 2)
    assert obs == f"The file {f} has been edited. {snippet}\n{SNIPPET_TAIL}"


def test_str_replace_multiline_old_str_at_top(ed, work):
    f = write(work / "t.txt", TEN)
    obs, err = ed(command="str_replace", path=str(f), old_str="line 1\nline 2\n", new_str="first\n")
    assert not err
    assert f.read_text().startswith("first\nline 3\n")
    assert obs.startswith(f"The file {f} has been edited. Here's the result of running `cat -n` on a snippet of {f}:\n"
                          "     1\tfirst\n     2\tline 3\n")


def test_str_replace_without_new_str_deletes(ed, work):
    f = write(work / "t.txt", "keep\ndrop me\nkeep too\n")
    assert not ed(command="str_replace", path=str(f), old_str="drop me\n")[1]
    assert f.read_text() == "keep\nkeep too\n"


def test_str_replace_not_found(ed, work):
    f = write(work / "t.txt", TEN)
    assert ed(command="str_replace", path=str(f), old_str="line 99", new_str="x") == (
        f"ERROR:\nNo replacement was performed, old_str `line 99` did not appear verbatim in {f}.",
        True,
    )
    assert f.read_text() == TEN


def test_str_replace_ambiguous_lists_lines(ed, work):
    f = write(work / "t.txt", "x = 1\ny = 2\nx = 1\ny = 2\n")
    assert ed(command="str_replace", path=str(f), old_str="x = 1", new_str="x = 3") == (
        "ERROR:\nNo replacement was performed. Multiple occurrences of old_str `x = 1` in lines [1, 3]. "
        "Please ensure it is unique",
        True,
    )
    obs, _ = ed(command="str_replace", path=str(f), old_str="x = 1\ny = 2", new_str="z")
    assert "in lines [1, 3]." in obs  # a multi-line old_str: the lines where each occurrence starts
    assert f.read_text() == "x = 1\ny = 2\nx = 1\ny = 2\n"


def test_str_replace_needs_old_str(ed, work):
    f = write(work / "t.txt", TEN)
    for old in (None, ""):
        args = {"command": "str_replace", "path": str(f), "new_str": "x"}
        if old is not None:
            args["old_str"] = old
        assert ed(**args) == ("ERROR:\nParameter `old_str` is required for command: str_replace", True)


def test_str_replace_ignores_extra_arguments(ed, work):
    # SWE-Gym experts sometimes sent view_range with str_replace; OpenHands ignored it.
    f = write(work / "t.txt", TEN)
    assert not ed(command="str_replace", path=str(f), old_str="line 3\n", new_str="", view_range=[1, 2])[1]


def test_unicode_round_trips(ed, work):
    f = write(work / "u.py", "greeting = 'héllo wörld'\nemoji = '🐍'\n")
    obs, err = ed(command="str_replace", path=str(f), old_str="'🐍'", new_str="'🦀 ✓'")
    assert not err and "     2\temoji = '🦀 ✓'" in obs
    assert f.read_bytes() == "greeting = 'héllo wörld'\nemoji = '🦀 ✓'\n".encode()


def test_undecodable_bytes_survive_an_edit(ed, work):
    f = write(work / "latin1.py", b"# caf\xe9\nx = 1\n")
    assert not ed(command="str_replace", path=str(f), old_str="x = 1", new_str="x = 2")[1]
    assert f.read_bytes() == b"# caf\xe9\nx = 2\n"


def test_tabs_kept_when_old_str_has_them(ed, work):
    f = write(work / "Makefile", "all:\n\tcc -o x x.c\n\trm -f x.o\n")
    obs, err = ed(command="str_replace", path=str(f), old_str="\tcc -o x x.c", new_str="\tcc -O2 -o x x.c")
    assert not err
    assert f.read_text() == "all:\n\tcc -O2 -o x x.c\n\trm -f x.o\n"
    assert "     2\t        cc -O2 -o x x.c" in obs  # shown expanded, as OpenHands showed it


def test_old_str_copied_from_expanded_view_still_matches(ed, work):
    f = write(work / "Makefile", "all:\n\tcc -o x x.c\n\trm -f x.o\n")
    assert not ed(command="str_replace", path=str(f), old_str="        cc -o x x.c", new_str="        cc -g x.c")[1]
    # Only the spanned line is rewritten; the other tabs stay.
    assert f.read_text() == "all:\n        cc -g x.c\n\trm -f x.o\n"


def test_no_trailing_newline_is_preserved(ed, work):
    f = write(work / "n.py", "a = 1\nb = 2")
    assert not ed(command="str_replace", path=str(f), old_str="b = 2", new_str="b = 3")[1]
    assert f.read_bytes() == b"a = 1\nb = 3"
    assert not ed(command="insert", path=str(f), insert_line=1, new_str="c = 0")[1]
    assert f.read_bytes() == b"a = 1\nc = 0\nb = 3"


def test_crlf_is_preserved(ed, work):
    f = write(work / "w.bat", b"@echo off\r\nset A=1\r\necho %A%\r\n")
    obs, err = ed(command="str_replace", path=str(f), old_str="set A=1\necho", new_str="set A=2\necho")
    assert not err and "\r" not in obs
    assert f.read_bytes() == b"@echo off\r\nset A=2\r\necho %A%\r\n"
    assert not ed(command="insert", path=str(f), insert_line=1, new_str="rem hi\nrem there")[1]
    assert f.read_bytes() == b"@echo off\r\nrem hi\r\nrem there\r\nset A=2\r\necho %A%\r\n"
    assert ed(command="view", path=str(f), view_range=[2, 3])[0] == cat_n(f, ["rem hi", "rem there"], 2)


# --------------------------------------------------------------------------- insert


def test_insert_after_a_line_with_snippet(ed, work):
    f = write(work / "t.txt", TEN)
    obs, err = ed(command="insert", path=str(f), insert_line=6, new_str="NEW A\nNEW B")
    assert not err
    lines = f.read_text().split("\n")
    assert lines[5:8] == ["line 6", "NEW A", "NEW B"]
    snippet = cat_n("a snippet of the edited file",
                    ["line 3", "line 4", "line 5", "line 6", "NEW A", "NEW B", "line 7", "line 8", "line 9", "line 10"], 3)
    assert obs == f"The file {f} has been edited. {snippet}\n{INSERT_TAIL}"


def test_insert_at_top_and_end(ed, work):
    f = write(work / "t.txt", "a\nb")
    assert not ed(command="insert", path=str(f), insert_line=0, new_str="top")[1]
    assert f.read_text() == "top\na\nb"
    assert not ed(command="insert", path=str(f), insert_line=3, new_str="end")[1]
    assert f.read_text() == "top\na\nb\nend"


def test_insert_line_as_text_is_accepted(ed, work):
    f = write(work / "t.txt", "a\nb\n")
    assert not ed(command="insert", path=str(f), insert_line="1", new_str="x")[1]
    assert f.read_text() == "a\nx\nb\n"


@pytest.mark.parametrize("line", [-1, 4])
def test_insert_line_out_of_range(ed, work, line):
    f = write(work / "t.txt", "a\nb\n")
    assert ed(command="insert", path=str(f), insert_line=line, new_str="x") == (
        f"ERROR:\nInvalid `insert_line` parameter: {line}. It should be within the range of lines of the file: [0, 3]",
        True,
    )


def test_insert_parameter_errors(ed, work):
    f = write(work / "t.txt", "a\n")
    assert ed(command="insert", path=str(f), new_str="x") == (
        "ERROR:\nParameter `insert_line` is required for command: insert", True)
    assert ed(command="insert", path=str(f), insert_line=0) == (
        "ERROR:\nParameter `new_str` is required for command: insert", True)
    assert ed(command="insert", path=str(f), insert_line="two", new_str="x") == (
        "ERROR:\nInvalid `insert_line` parameter: two. It should be an integer.", True)


# --------------------------------------------------------------------------- undo_edit


def test_undo_edit_walks_back_one_edit_at_a_time(ed, work):
    f = write(work / "t.txt", "v1\n")
    ed(command="str_replace", path=str(f), old_str="v1", new_str="v2")
    ed(command="insert", path=str(f), insert_line=1, new_str="v3")
    assert f.read_text() == "v2\nv3\n"
    assert ed(command="undo_edit", path=str(f)) == (
        f"Last edit to {f} undone successfully. " + cat_n(f, ["v2", ""]).rstrip(), False)
    assert f.read_text() == "v2\n"
    assert not ed(command="undo_edit", path=str(f))[1]
    assert f.read_text() == "v1\n"
    assert ed(command="undo_edit", path=str(f)) == (f"ERROR:\nNo edit history found for {f}.", True)


def test_undo_without_history(ed, work):
    f = write(work / "t.txt", "x\n")
    assert ed(command="undo_edit", path=str(f)) == (f"ERROR:\nNo edit history found for {f}.", True)


def test_undo_restores_exact_bytes(ed, work):
    original = b"a\r\n\tb\r\nc"
    f = write(work / "t.txt", original)
    ed(command="str_replace", path=str(f), old_str="c", new_str="d")
    ed(command="undo_edit", path=str(f))
    assert f.read_bytes() == original


def test_failed_edit_leaves_no_history(ed, work):
    f = write(work / "t.txt", "x\n")
    ed(command="str_replace", path=str(f), old_str="nope", new_str="y")
    assert ed(command="undo_edit", path=str(f))[1]


def test_undo_after_create_keeps_the_file_like_openhands(ed, work):
    f = work / "c.py"
    ed(command="create", path=str(f), file_text="a\n")
    assert ed(command="undo_edit", path=str(f)) == (
        f"Last edit to {f} undone successfully. " + cat_n(f, ["a", ""]).rstrip(), False)
    assert f.read_text() == "a\n"


def test_history_is_keyed_by_normalised_path(ed, work):
    f = write(work / "t.txt", "1\n")
    ed(command="str_replace", path=f"{work}//./t.txt", old_str="1", new_str="2")
    assert not ed(command="undo_edit", path=str(f))[1]
    assert f.read_text() == "1\n"


def test_history_is_capped(tmp_path, work, monkeypatch):
    monkeypatch.setattr(editor, "MAX_HISTORY_PER_FILE", 3)
    f = write(work / "t.txt", "0")
    for i in range(5):
        editor.run({"command": "str_replace", "path": str(f), "old_str": str(i), "new_str": str(i + 1)},
                   state_dir=str(tmp_path / "s"))
    undone = [editor.run({"command": "undo_edit", "path": str(f)}, state_dir=str(tmp_path / "s"))[1]
              for _ in range(4)]
    assert undone == [False, False, False, True]
    assert f.read_text() == "2"


# --------------------------------------------------------------------------- the script


SCRIPT_PYTHON = os.environ.get("SRL_SWE_EDITOR_PYTHON", sys.executable)
"""Interpreter for the script tests; point it at an old python3 to check compatibility."""


def run_script(args, state, *, extra=()):
    proc = subprocess.run(
        [SCRIPT_PYTHON, str(EDITOR_FILE), *extra],
        input=args if isinstance(args, bytes) else json.dumps(args).encode(),
        capture_output=True,
        env={**os.environ, "SRL_SWE_EDITOR_STATE": str(state)},
        timeout=60,
    )
    return proc.stdout.decode(), proc.returncode


def test_script_undo_persists_across_invocations(tmp_path, work):
    state = tmp_path / "state"
    f = work / "p.py"
    assert run_script({"command": "create", "path": str(f), "file_text": "a = 1\n"}, state) == (
        f"File created successfully at: {f}", 0)
    out, code = run_script({"command": "str_replace", "path": str(f), "old_str": "a = 1", "new_str": "a = 2"}, state)
    assert code == 0 and "     1\ta = 2" in out
    out, code = run_script({"command": "undo_edit", "path": str(f)}, state)
    assert (code, f.read_text()) == (0, "a = 1\n")
    assert out.startswith(f"Last edit to {f} undone successfully.")
    assert any(state.iterdir())  # the history lives on disk, in the state folder


def test_script_exit_codes(tmp_path, work):
    state = tmp_path / "state"
    assert run_script({"command": "view", "path": str(work)}, state)[1] == 0
    out, code = run_script({"command": "view", "path": str(work / "missing")}, state)
    assert code == 1 and out.startswith("ERROR:\nThe path ")
    out, code = run_script(b"not json", state)
    assert code == 3 and "could not read its arguments" in out
    assert run_script(b"[1, 2]", state)[1] == 3


def test_script_reads_an_args_file_and_deletes_it(tmp_path, work):
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"command": "create", "path": str(work / "big.txt"), "file_text": "x" * 200_000}))
    assert run_script(b"", tmp_path / "s", extra=["--args-file", str(args_file)])[1] == 0
    assert (work / "big.txt").stat().st_size == 200_000
    assert not args_file.exists()


def test_script_is_stdlib_only_and_python36_syntax():
    tree = ast.parse(EDITOR_FILE.read_text(), feature_version=(3, 6))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names)


# --------------------------------------------------------------------------- fidelity


def test_replays_swe_gym_editor_observations_verbatim(tmp_path, shared_data):
    """Every recorded editor call on a file the expert created reproduces its observation exactly."""
    compared = 0
    for index, record in enumerate(json.loads((shared_data / SAMPLE).read_text())):
        folder = tmp_path / f"t{index}"
        folder.mkdir()
        calls, created = {}, set()
        for message in record["messages"]:
            for call in message.get("tool_calls") or []:
                calls[call["id"]] = call["function"]
            if message["role"] != "tool" or calls[message["tool_call_id"]]["name"] != "str_replace_editor":
                continue
            args = json.loads(calls[message["tool_call_id"]]["arguments"])
            if args["command"] == "create":
                created.add(args["path"])
            if args["path"] not in created:
                continue  # a repository file we do not have
            workspace = args["path"].rsplit("/", 1)[0]
            args["path"] = args["path"].replace(workspace, str(folder))
            expected = message["content"].removeprefix("OBSERVATION:\n").replace(workspace, str(folder))
            assert editor.run(args, state_dir=str(folder / ".state"))[0] == expected, (record["instance_id"], args)
            compared += 1
    assert compared >= 20


# --------------------------------------------------------------------------- in a real container

BASE_IMAGE = os.environ.get("SRL_SWE_BASE_IMAGE", "srl-swe/base:bookworm")


def _image_available() -> bool:
    try:
        return subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.docker
@pytest.mark.skipif(not _image_available(), reason=f"docker or the image {BASE_IMAGE} is not available")
def test_script_in_the_base_image_keeps_undo_across_invocations():
    """The container's own python3 runs the script; history survives between separate runs."""
    calls = [
        {"command": "create", "path": "/testbed/w.txt", "file_text": "a\r\nb\r\n"},
        {"command": "str_replace", "path": "/testbed/w.txt", "old_str": "b", "new_str": "é"},
        {"command": "undo_edit", "path": "/testbed/w.txt"},
        {"command": "undo_edit", "path": "/testbed/w.txt"},
        {"command": "undo_edit", "path": "/testbed/w.txt"},
    ]
    script = "mkdir -p /testbed\n" + "".join(
        f"printf '%s' '{json.dumps(c)}' | python3 /opt/srl-swe/editor.py; echo \"<rc=$?>\"\n" for c in calls
    ) + "od -An -c /testbed/w.txt\n"
    proc = subprocess.run(
        ["docker", "run", "--rm", "-i", "--network", "none", "-v", f"{EDITOR_FILE}:/opt/srl-swe/editor.py:ro",
         BASE_IMAGE, "bash", "-s"],
        input=script.encode(), capture_output=True, timeout=120,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert [int(code) for code in re.findall(r"<rc=(\d+)>", out)] == [0, 0, 0, 0, 1]
    assert "     2\té" in out and "No edit history found for /testbed/w.txt." in out
    assert out.split("<rc=1>")[1].split() == ["a", "\\r", "\\n", "b", "\\r", "\\n"]
