"""Reward integrity: what an agent does to the test machinery never earns reward, and is counted.

A policy trained on a test-based reward finds every way to make the tests *report* success. Three lines of
defence, used by guarded grading (the live env, RLVR; :func:`srl_swe.evaluation.grader.grade_run` with
``integrity=True``) and reported, without changing the verdict, by ``srl-swe evaluate``:

1. **Test machinery is not the agent's to change.** Patch sections on files that configure or extend the test run
   (every ``conftest.py``, ``pytest.ini``, ``sitecustomize.py``, ``.pth`` files, package metadata with entry
   points) are dropped, and a ``setup.cfg``/``tox.ini``/``pyproject.toml`` whose pytest section changed is
   restored, before the tests run (:data:`MACHINERY_FILES`, :func:`pytest_section`).
2. **The framing is the host's.** The guarded eval script stops after the test command; the end marker and the
   exit code are appended by the host from Docker's own exit status, so nothing printed inside the run can end
   the parsed region early or forge the exit code (:func:`guarded_script`, :func:`framed_log`).
3. **The log must agree with itself and with pytest** (:func:`inspect_log`): exactly one start and one end
   marker; no status line outside pytest's short summary that changes a test's status; never more status lines
   of a kind than pytest's final counts; an exit status that matches those counts; and, in guarded runs, exactly
   one clean line of the in-process guard (``resources/guard/srl_swe_guard.py``: hooks registered from the
   repository, pytest's own functions replaced).
A finding of (2)/(3) scores the run 0. What is not guarded: code written against these checks in particular (it
runs in pytest's process and can, with enough knowledge of srl-swe, forge a consistent log), and test runners
other than pytest, for which only (1), (2) and the marker check apply.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..globs import matches
from ..pytest_config import pytest_section
from ..patches import split_patch
from ..resources import resource


MACHINERY_FILES = ("**/conftest.py", "**/pytest.ini", "**/.pytest.ini", "**/sitecustomize.py", "**/usercustomize.py",
                   "**/*.pth", "**/*.egg-info/**", "**/*.dist-info/**")
"""Files that configure, extend or preload the test run wherever they sit (entry points in package metadata load
pytest plugins; ``sitecustomize`` and ``.pth`` files run at interpreter start)."""

CONFIG_FILES = ("**/setup.cfg", "**/tox.ini", "**/pyproject.toml")
"""Files that hold a pytest section beside other settings: restored only when that section changes."""

GUARD_DIR = "/opt/srl-swe-guard"
GUARD_LINE = "srl-swe-guard: "
GUARD_SOURCE = resource("guard", "srl_swe_guard.py")

FINAL_COUNTS = re.compile(r"^=*\s*(?P<counts>\d+ \w+(?:, \d+ \w+)*) in [\d.]+s(?: \([^)]*\))?\s*=*$")
"""pytest's last line: ``==== 1 failed, 454 passed in 0.23s ====`` (``-q`` drops the rulers)."""
SHORT_SUMMARY = re.compile(r"^=+ short test summary info =+$")
SUMMARY_KINDS = {"PASSED": "passed", "FAILED": "failed", "ERROR": "errors", "XFAIL": "xfailed", "XPASS": "xpassed",
                 "SKIPPED": "skipped"}
"""A status word of the short summary, and the name pytest's final line gives its count."""


@dataclass
class IntegrityReport:
    """What grading found the agent doing to the test machinery."""

    reverted: list[str] = field(default_factory=list)
    """Test-machinery files the patch changed: left out (or restored) before the tests ran."""
    tampering: list[str] = field(default_factory=list)
    """What the test run's log or the in-process guard showed: each one scores the run 0 in guarded grading."""

    @property
    def attempts(self) -> int:
        """Tampering attempts counted: each reverted file and each finding."""
        return len(self.reverted) + len(self.tampering)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "attempts": self.attempts}


def split_machinery(patch: str) -> tuple[str, list[str]]:
    """The patch without its sections on :data:`MACHINERY_FILES`, and the paths of those sections."""
    kept, dropped = [], []
    for path, section in split_patch(patch):
        if matches(path, MACHINERY_FILES):
            dropped.append(path)
        else:
            kept.append(section)
    return "".join(kept), dropped


def config_files(patch: str) -> list[str]:
    """Paths of :data:`CONFIG_FILES` the patch touches."""
    return [path for path, _ in split_patch(patch) if matches(path, CONFIG_FILES)]


def changed_pytest_configs(paths: list[str], read_base: Callable[[str], str | None],
                           read_now: Callable[[str], str | None]) -> list[str]:
    """Of ``paths``, those whose pytest section differs between the base commit and the working tree."""
    return [path for path in paths if pytest_section(path, read_base(path)) != pytest_section(path, read_now(path))]


def guarded_script(eval_script: str) -> str:
    """The eval script with the guard loaded into pytest and everything from the end marker on cut: the host
    appends the end marker and the exit status itself (:func:`framed_log`)."""
    from swebench.harness.constants import END_TEST_OUTPUT, TEST_EXIT_CODE_VAR

    lines = eval_script.rstrip("\n").split("\n")
    end = next((i for i, line in enumerate(lines)  # the harness records the exit status just before the marker
                if END_TEST_OUTPUT in line or line.startswith(f"{TEST_EXIT_CODE_VAR}=")), None)
    if end is None:
        raise ValueError("the eval script has no end-of-test-output marker: it cannot be graded under guard")
    head = 2 if lines[1:2] == ["set -uxo pipefail"] else 1
    guard = [f"export PYTHONPATH={GUARD_DIR}${{PYTHONPATH:+:$PYTHONPATH}}",
             'export PYTEST_ADDOPTS="-p srl_swe_guard${PYTEST_ADDOPTS:+ $PYTEST_ADDOPTS}"']
    return "\n".join([*lines[:head], *guard, *lines[head:end]]) + "\n"


def framed_log(output: str, exit_code: int, markers: int = 1) -> str:
    """The guarded run's log as the harness reads it: the script's output, then the host's end marker (in the
    script's own form, :func:`markers_per_log`) and the exit status Docker reported for the test command."""
    from swebench.harness.constants import END_TEST_OUTPUT, TEST_EXIT_CODE

    end = f"+ : '{END_TEST_OUTPUT}'\n" if markers == 1 else f"+ echo '{END_TEST_OUTPUT}'\n{END_TEST_OUTPUT}\n"
    return f"{output}{'' if output.endswith(chr(10)) else chr(10)}{end}{TEST_EXIT_CODE}: {exit_code}\n"


def _final_counts(line: str) -> dict[str, int]:
    counts = {}
    for part in FINAL_COUNTS.match(line).group("counts").split(", "):
        number, kind = part.split(" ", 1)
        counts[{"error": "errors", "warning": "warnings"}.get(kind, kind)] = int(number)
    return counts


def _summary_line_counts(lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        word = line.split(" ", 1)[0]
        if word not in SUMMARY_KINDS:
            continue
        grouped = re.match(r"SKIPPED \[(\d+)\]", line)
        counts[SUMMARY_KINDS[word]] = counts.get(SUMMARY_KINDS[word], 0) + (int(grouped.group(1)) if grouped else 1)
    return counts


def markers_per_log(eval_script: str) -> int:
    """How often each marker appears in an honest log of ``eval_script``: once for a ``:`` marker (its trace under
    ``set -x``), twice for an ``echo`` one (trace and output), as older harness scripts wrote them."""
    from swebench.harness.constants import START_TEST_OUTPUT

    return 2 if re.search(rf"^echo .*{re.escape(START_TEST_OUTPUT)}", eval_script, re.M) else 1


def restored_files(eval_script: str, base_commit: str) -> list[str]:
    """The test files the eval script restores from the base commit before the tests (its ``git checkout`` line)."""
    from swebench.harness.constants import START_TEST_OUTPUT

    prefix = f"git checkout {base_commit} "
    files: list[str] = []
    for line in eval_script.split(START_TEST_OUTPUT)[0].split("\n"):
        if line.startswith(prefix):
            files += [name for name in shlex.split(line)[3:] if name != "--"]
    return files


def inspect_log(log: str, *, log_parser: str, exit_code: int | None, guarded: bool, markers: int = 1,
                test_blobs: dict[str, str] | None = None) -> list[str]:
    """Every sign in a test log that something other than the tests decided what it reports (empty: none).

    ``markers``: how often each marker appears in an honest log (:func:`markers_per_log`); ``test_blobs``: the git
    blob id of each restored test file at the base commit, which the test modules pytest collected must match."""
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT, TEST_EXIT_CODE
    from swebench.harness.log_parsers import PARSER_REGISTRY

    findings = []
    for marker, name in ((START_TEST_OUTPUT, "start"), (END_TEST_OUTPUT, "end")):
        if log.count(marker) != markers:
            findings.append(f"the {name}-of-output marker appears {log.count(marker)} times, not {markers} (forged)")
    if findings:
        return findings
    start, end = log.index(START_TEST_OUTPUT), log.rindex(END_TEST_OUTPUT)
    if start > end or TEST_EXIT_CODE in log[:end]:
        return ["an exit-status line inside the test output (a forged exit status)"]
    if not log_parser.startswith("parse_log_pytest"):
        return findings
    region = log[start:end].split("\n")[1:-1]
    finals = [i for i, line in enumerate(region) if FINAL_COUNTS.match(line)]
    statuses = PARSER_REGISTRY[log_parser]
    everywhere = statuses("\n".join(region), None)
    if not finals:  # pytest did not reach its end (an import error, a crash): nothing it reports may count
        if everywhere:
            findings.append(f"{len(everywhere)} test status lines but no final counts line from pytest")
        return findings
    if len(finals) > 1:
        findings.append(f"pytest's final counts line appears {len(finals)} times")
    last = finals[-1]
    heads = [i for i, line in enumerate(region[:last]) if SHORT_SUMMARY.match(line)]
    summary = region[heads[-1] + 1:last] if heads else []
    in_summary = statuses("\n".join(summary), None)
    moved = sorted(test for test, status in everywhere.items() if in_summary.get(test) != status)
    if moved:
        findings.append(f"{len(moved)} test status lines outside pytest's short summary (e.g. {moved[0]})")
    counts = _final_counts(region[last])
    for kind, seen in _summary_line_counts(summary).items():
        if seen > counts.get(kind, 0):
            findings.append(f"{seen} {kind} lines in the short summary, pytest counted {counts.get(kind, 0)}")
    failing = counts.get("failed", 0) + counts.get("errors", 0)
    if exit_code == 0 and failing:
        findings.append(f"exit status 0 with {failing} failed or erroring tests")
    elif exit_code == 1 and not failing:
        findings.append("exit status 1 (tests failed) while pytest counted no failure")
    return findings + (_guard_findings(region[last + 1:], test_blobs or {}) if guarded else [])


def _guard_findings(lines: list[str], test_blobs: dict[str, str]) -> list[str]:
    reports = [line[len(GUARD_LINE):] for line in lines if line.startswith(GUARD_LINE)]
    if len(reports) != 1:
        return [f"the grading guard reported {len(reports)} times after pytest's final line (expected once)"]
    try:
        report = json.loads(reports[0])
        findings = [f"guard: {finding}" for finding in report["findings"]]
        modules = dict(report["modules"])
    except (ValueError, KeyError, TypeError):
        return ["the grading guard's report is unreadable"]
    return findings + [f"test module {path} is not the one restored from the base commit (changed during the run)"
                       for path, blob in sorted(modules.items()) if path in test_blobs and test_blobs[path] != blob]
