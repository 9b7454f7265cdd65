"""Problem statements written from what the failing tests print, never from the fix.

The statement names the failing tests and shows, for a few of them, the test's own code
line, the exception type and message (pytest's ``E`` lines: expected vs actual), and the
chain of functions the error passed through. Frames outside the test files keep only their
file and function name: never their source line nor line number. Any line that repeats a
line the gold patch touches is dropped, so the statement cannot leak the mutated code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from ..globs import globs_of_test_files, literal, matches
from ..patches import changed_lines

_SECTION = re.compile(r"^_{3,} (?P<name>.+?) _{3,}$")
_BANNER = re.compile(r"^={5,} ?(?P<title>.*?) ?={5,}$")
_FRAME_SHORT = re.compile(r"^(?P<path>[^\s:]+\.py):(?P<line>\d+): in (?P<func>\S+)$")
_FRAME_LONG = re.compile(r"^(?P<path>[^\s:]+\.py):(?P<line>\d+): (?P<exc>[\w.]+)$")
_CARETS = re.compile(r"^[\^~\s]+$")
_DOCTEST_EXAMPLE = re.compile(r"^\d{3}\s+(>>> .*)$")
MAX_DETAILED = 3
MAX_FRAMES = 8
MAX_E_LINES = 14


@dataclass
class Failure:
    """What pytest printed for one failing test."""

    name: str
    """Section header (``test_x``, ``TestCls.test_y[param]``)."""
    frames: list[tuple[str, str, list[str]]] = field(default_factory=list)
    """(path, function, code lines) for each traceback frame, outermost first."""
    error_lines: list[str] = field(default_factory=list)
    """The ``E`` lines (exception and message, assertion introspection)."""
    exception: str = ""
    """Exception type from the long-traceback location line, when present."""


def parse_failures(output: str) -> dict[str, Failure]:
    """Failure sections of a pytest run (``--tb=short`` or ``--tb=long``), keyed by section name."""
    failures: dict[str, Failure] = {}
    current: Failure | None = None
    in_failures = doctest = in_block = False
    for raw in output.splitlines():
        line = raw.rstrip()
        banner = _BANNER.match(line)
        if banner:
            in_failures = banner.group("title").strip() in ("FAILURES", "ERRORS")
            current = None
            continue
        if not in_failures:
            continue
        section = _SECTION.match(line)
        if section:
            name = section.group("name").strip()
            if name.startswith("ERROR at setup of ") or name.startswith("ERROR at teardown of "):
                name = name.split(" of ", 1)[1]
            doctest = name.startswith("[doctest] ")  # its id is `file::name`, its section `[doctest] name`
            name = name.removeprefix("[doctest] ")
            current, in_block = failures.setdefault(name, Failure(name)), False
            continue
        if current is None:
            continue
        if doctest:  # no `E` lines: the example, then what it expected and what it got
            example = _DOCTEST_EXAMPLE.match(line)
            if example:
                current.error_lines.append(f"E   {example.group(1)}")
            elif line in ("Expected:", "Got:") or line.startswith("Expected nothing") or line.startswith("Got nothing"):
                current.error_lines.append(f"E   {line}")
                in_block = True
            elif in_block and line.startswith("    "):
                current.error_lines.append(f"E   {line}")
            else:
                in_block = False
        if line.startswith("E ") or line == "E":
            current.error_lines.append(line)
            continue
        short = _FRAME_SHORT.match(line)
        if short:
            current.frames.append((short.group("path"), short.group("func"), []))
            continue
        long = _FRAME_LONG.match(line)
        if long:
            current.exception = long.group("exc")
            continue
        if current.frames and line.startswith("    ") and line.strip():
            current.frames[-1][2].append(line.strip())
    return failures


def _section_key(test_id: str) -> str:
    """The pytest section name of a test id: ``a/b.py::Cls::test[x]`` -> ``Cls.test[x]``."""
    parts = test_id.split("::")
    return ".".join(parts[1:]) if len(parts) > 1 else test_id




def _leaks(line: str, secret: list[str]) -> bool:
    text = line.strip().lstrip("E>").strip()
    if not text:
        return False
    for s in secret:
        if len(s) >= 3 and (text == s or (len(s) >= 8 and s in text)):
            return True
    return False


def write_problem_statement(project: str, fail_to_pass: list[str], output: str, patch: str, *,
                            test_files: list[str] | None = None, total_tests: int | None = None,
                            cut_failing: Sequence[str] = ()) -> str:
    """An issue-style statement for a task whose ``fail_to_pass`` tests fail with ``output``.

    ``patch`` is the gold patch (or the bug patch: the same lines): every line it touches is
    kept out of the statement. ``output`` is the pytest output of a run of the buggy code
    (any ``--tb`` style); tests without a failure section are listed by name only.
    ``cut_failing``: ids the log parser cut at a space (``file::test[two``) of tests that fail
    with the bug and pass without it; they are in no ``FAIL_TO_PASS``, but their sections
    (found by that prefix) describe the bug too.
    """
    secret = sorted({line.strip() for line in changed_lines(patch) if line.strip()}, key=len, reverse=True)
    failures = parse_failures(output)
    test_globs = globs_of_test_files(literal(path) for path in test_files or ())
    n = len(fail_to_pass)
    first = fail_to_pass[0].split("::")[-1] if fail_to_pass else "tests"
    named = [(t, failures[_section_key(t)]) for t in fail_to_pass if _section_key(t) in failures]
    shown_names = {failure.name for _, failure in named}
    prefixes = tuple(_section_key(t) for t in cut_failing)
    unnamed = [(name, failure) for name, failure in failures.items()
               if prefixes and name.startswith(prefixes) and name not in shown_names]
    detailed = (named + unnamed)[:MAX_DETAILED]
    exc_names = []
    for _, f in detailed:
        exc = f.exception or _exception_from(f.error_lines)
        if exc and exc not in exc_names:
            exc_names.append(exc)
    what = f" ({', '.join(exc_names)})" if exc_names else ""
    lines = [f"`{first}` {'and other tests ' if n > 1 else ''}fail{'s' if n == 1 else ''}{what}", ""]
    files = sorted({t.split("::")[0] for t in fail_to_pass})
    suite = f" out of {total_tests}" if total_tests else ""
    cut = f" (and {len(unnamed)} whose ids contain spaces)" if unnamed else ""
    lines.append(f"Something in `{project}` is broken: {n} test{'s' if n != 1 else ''}{suite} in "
                 f"{', '.join(f'`{f}`' for f in files)}{cut} fail{'s' if n == 1 and not unnamed else ''} on the "
                 "current code. The tests describe the intended behaviour; the library code is wrong.")
    lines.append("")
    for test, failure in detailed:
        lines.append(f"`{test}`:")
        lines.append("```")
        for path, func, code, repeat in _compact_frames(failure.frames):
            if path == "...":
                lines.append("...")
                continue
            lines.append(f"{path}, in {func}" + (f"  [{repeat} times]" if repeat > 1 else ""))
            if matches(path, test_globs):
                lines += [f"    {c}" for c in code[-3:] if not _leaks(c, secret) and not _CARETS.match(c)]
        shown = [e for e in failure.error_lines if not _leaks(e, secret)]
        if len(shown) > MAX_E_LINES:
            shown = shown[:MAX_E_LINES] + ["E   ..."]
        lines += shown or [f"E   {failure.exception or 'the test fails'}"]
        lines.append("```")
        lines.append("")
    listed_in_detail = {test for test, _ in detailed}
    others = [t for t in [*fail_to_pass, *(name for name, _ in unnamed)] if t not in listed_in_detail]
    if others:
        listed = ", ".join(f"`{t}`" for t in others[:15])
        more = f" and {len(others) - 15} more" if len(others) > 15 else ""
        lines.append(f"{'Also failing' if detailed else 'Failing'}: {listed}{more}.")
        lines.append("")
    lines.append("Expected: these tests pass, without breaking any test that passes now.")
    # last line of defence: nothing that repeats a patched line survives, wherever it came from
    return "\n".join(line for line in lines if not _leaks(line, secret)).rstrip() + "\n"


def _compact_frames(frames: list[tuple[str, str, list[str]]]) -> list[tuple[str, str, list[str], int]]:
    """Runs of the same frame (recursion) folded into one with a count; long chains cut in the middle."""
    out: list[tuple[str, str, list[str], int]] = []
    for path, func, code in frames:
        if out and out[-1][0] == path and out[-1][1] == func and out[-1][2] == code:
            out[-1] = (path, func, code, out[-1][3] + 1)
        else:
            out.append((path, func, code, 1))
    if len(out) > MAX_FRAMES:
        out = out[:3] + [("...", "", [], 1)] + out[-(MAX_FRAMES - 4):]
    return out


def _exception_from(error_lines: list[str]) -> str:
    for line in error_lines:
        match = re.match(r"^E\s+([A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt))\b", line)
        if match:
            return match.group(1)
    if any(line.lstrip("E ").startswith("assert") for line in error_lines):
        return "AssertionError"
    return ""
