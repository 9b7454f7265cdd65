"""Which tests reach which lines of an env's code: screening a mutant needs only those tests.

Built once per env commit by running the whole suite under coverage.py with one context per
test (``resources/synthesis/pytest_line_map.py``, a pytest plugin loaded into the sandbox with a
copy of the host's coverage package), then cached as JSON beside the synthesis cache. A mutant
whose lines no test executed cannot make a test fail; one whose lines run at import or collection
time (module level, class bodies, decorators, default arguments) can break any test of a file that
imports the module, so it is screened with the whole suite. Each test's seconds (under coverage,
so an overestimate) bound how long a screen of a few tests may run before it counts as a timeout.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SRLSweError
from ..files import write_atomic
from ..resources import resource

SANDBOX_DIR = "/srl-swe-line-map"
IMPORT_TIME = -1
"""Test index of the empty context: lines that ran while modules were imported or tests collected."""


@dataclass
class LineMap:
    """Node ids of the tests that executed each line, per file (paths relative to /testbed)."""

    tests: list[str]
    files: dict[str, dict[int, set[int]]]
    seconds: dict[str, float] = field(default_factory=dict)
    """Node id -> seconds its setup, call and teardown took in the measured run (empty in maps cached before)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LineMap":
        tests = list(data["tests"])
        return cls(tests, {path: {int(line): set(ids) for line, ids in lines.items()} for path, lines in data["files"].items()},
                   dict(zip(tests, map(float, data.get("seconds", [])))))

    def to_json(self) -> dict[str, Any]:
        return {"tests": self.tests, "files": {path: {str(line): sorted(ids) for line, ids in lines.items()}
                                               for path, lines in self.files.items()},
                "seconds": [self.seconds.get(test, 0.0) for test in self.tests]}

    def seconds_of(self, tests: set[str]) -> float | None:
        """Seconds ``tests`` took in the measured run; None when one of them was not timed."""
        if not all(test in self.seconds for test in tests):
            return None
        return sum(self.seconds[test] for test in tests)

    def tests_reaching(self, path: str, first: int, last: int) -> set[str] | None:
        """Tests that executed any of lines ``first..last`` of ``path``; None when one of them runs at import time."""
        lines = self.files.get(path, {})
        reached: set[int] = set()
        for line in range(first, last + 1):
            reached |= lines.get(line, set())
        if IMPORT_TIME in reached:
            return None
        return {self.tests[i] for i in reached}


def can_map(test_command: str) -> bool:
    """Whether the env's tests run under pytest (the plugin needs it)."""
    words = shlex.split(test_command)
    return bool(words) and (words[0] == "pytest" or words[:3] == ["python", "-m", "pytest"]
                            or words[:3] == ["python3", "-m", "pytest"])


def install(sandbox: Any) -> None:
    """Copy coverage.py (the host's, same CPython minor version as the env images) and the plugin into ``sandbox``."""
    import coverage  # noqa: PLC0415 - the `sandbox` extra: the CLI starts without it

    package = Path(coverage.__file__).parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            sandbox.write_file(f"{SANDBOX_DIR}/coverage/{path.relative_to(package)}", path.read_bytes())
    for script in ("pytest_line_map.py", "dump_line_map.py"):
        sandbox.write_file(f"{SANDBOX_DIR}/{script}", resource("synthesis", script).read_bytes())


def command(test_command: str) -> str:
    """The env's test command, measured: run in /testbed, it leaves the map in /tmp/srl-line-map.json."""
    env = f"PYTHONPATH={SANDBOX_DIR}${{PYTHONPATH:+:$PYTHONPATH}} SRL_SWE_LINE_MAP=/tmp/srl-line-map"
    return (f"rm -f /tmp/srl-line-map /tmp/srl-line-map.seconds.json /tmp/srl-line-map.json; env {env} {test_command} -p pytest_line_map; "
            f"PYTHONPATH={SANDBOX_DIR} python {SANDBOX_DIR}/dump_line_map.py /tmp/srl-line-map /tmp/srl-line-map.json")


def load_cached(path: Path) -> LineMap | None:
    try:
        return parse(path.read_text())
    except (OSError, SRLSweError):
        return None  # absent or cut by a kill: measured again


def save(line_map: LineMap, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(line_map.to_json()))


def parse(text: str) -> LineMap:
    try:
        return LineMap.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SRLSweError(f"the line map the sandbox wrote is not readable ({exc})") from None
