"""A scripted expert that solves a task the way an engineer would, knowing the gold fix.

It explores first (views the repository, runs the failing tests, greps for the symbols the
failure names, views the code around them), then applies the fix with `str_replace_editor`,
re-runs the failing tests and finishes. Every observation it sees is real container output;
only its decisions are scripted. Used to record the embedded expert trajectories.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterator

from ..actions import format_action
from ..patches import hunks
from ..trajectory.model import ToolCall

FRAME_RE = re.compile(r"^(\S+\.py):(\d+): in (\w+)", re.M)
CALL_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(")
IGNORED_NAMES = {"assert", "print", "len", "list", "dict", "set", "tuple", "int", "str", "float", "isinstance", "raises",
                 "range", "sorted", "type", "repr", "getattr", "hasattr", "super", "next", "iter", "map", "filter", "zip"}


def failing_tests(task: dict[str, Any]) -> list[str]:
    tests = task["FAIL_TO_PASS"]
    return json.loads(tests) if isinstance(tests, str) else list(tests)


def symbols_from_failure(output: str, test_ids: list[str]) -> list[str]:
    """Names an engineer would grep for: non-test frames of the traceback, then names the test calls."""
    names = [func for path, _, func in FRAME_RE.findall(output) if "test" not in path.split("/")[-1] and not func.startswith("test")]
    names += [n for n in CALL_RE.findall(output) if n not in IGNORED_NAMES and not n.startswith(("test", "_"))]
    for test_id in test_ids:
        names += [part for part in re.split(r"[_\W]+", test_id.split("::")[-1]) if len(part) > 3 and part != "test"]
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


class ScriptedExpert:
    """Yields completions (`<think>` + one tool call); `send` it each step's observation."""

    def __init__(self, task: dict[str, Any], *, workdir: str = "/testbed", test_command: str = "python -m pytest -q -p no:cacheprovider -o addopts="):
        self.task, self.workdir, self.test_command = task, workdir, test_command
        self.edits = hunks(task["patch"])
        if not self.edits:
            raise ValueError(f"{task['instance_id']}: the gold patch has no hunks")

    def _act(self, thought: str, tool: str, **arguments: Any) -> str:
        return format_action(thought, ToolCall(tool, arguments))

    def actions(self) -> Iterator[str]:
        """Generator protocol: `obs = yield completion` for every step."""
        tests = failing_tests(self.task)
        test_args = " ".join(sorted({t.split("::")[0] for t in tests}))
        run_failing = f"cd {self.workdir} && {self.test_command} {test_args} 2>&1 | tail -n 40"
        yield self._act("Let me look at the layout of the repository first.", "str_replace_editor", command="view", path=self.workdir)
        output = yield self._act("Let me run the tests that exercise the reported behaviour.", "execute_bash", command=run_failing)
        target = self.edits[0]
        symbols = symbols_from_failure(output or "", tests)
        symbol = next((s for s in symbols if re.search(rf"\bdef {re.escape(s)}\b|\bclass {re.escape(s)}\b", target.context + target.old)), None)
        symbol = symbol or (re.findall(r"(?:def|class) (\w+)", target.context) or symbols or [target.path.rsplit("/", 1)[-1].removesuffix(".py")])[0]
        yield self._act(f"The failure points at `{symbol}`. Let me find where it is defined.", "execute_bash",
                        command=f"grep -rn -E '(def|class) {symbol}\\b' {self.workdir} --include=*.py | head -n 20")
        for edit in self.edits:
            path = f"{self.workdir}/{edit.path}"
            start = max(1, edit.line - 10)
            yield self._act(f"Let me read the code around line {edit.line} of {edit.path}.", "str_replace_editor",
                            command="view", path=path, view_range=[start, edit.line + 25])
            yield self._act("I see the problem; let me fix it.", "str_replace_editor",
                            command="str_replace", path=path, old_str=edit.old, new_str=edit.new)
        yield self._act("Now let me re-run the failing tests to confirm the fix.", "execute_bash", command=run_failing)
        yield self._act("The tests pass now; the fix is complete.", "finish",
                        message=f"Fixed the behaviour reported in the issue ({', '.join(sorted({e.path for e in self.edits}))}).",
                        task_completed="true")
