"""SEARCH/REPLACE edit blocks (Agentless/Aider style): parse a model's answer, apply it, write a git diff.

A block names a file on the line before it, then the text to find and its replacement::

    ### src/pkg/module.py
    <<<<<<< SEARCH
        return a - b
    =======
        return a + b
    >>>>>>> REPLACE

The path line may be bare, start with ``###``, or sit just above a code fence; a block with
no path line edits the previous block's file. An empty SEARCH creates a file (or appends to an
existing one). Matching is tried in order: the exact lines, the exact text (an edit inside a
line), then whitespace-tolerant lines (indentation, inner spacing and blank lines ignored; the
replacement is re-indented by the same offset). An edit that matches nothing, or names a file
that does not exist, is reported and skipped; it never raises. The result is a unified diff
(``diff --git a/... b/...``) that ``git apply`` accepts.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..patches import unified_diff

SEARCH_RE = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
DIVIDER_RE = re.compile(r"^\s*={5,9}\s*$")
REPLACE_RE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
THINK_RE = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
PATH_PREFIX_RE = re.compile(r"^(?:#+\s*|//\s*|(?:file(?:name)?|path)\s*:\s*)", re.IGNORECASE)


@dataclass(frozen=True)
class SearchReplace:
    """One edit: replace ``search`` by ``replace`` in ``path`` (an empty ``search`` creates or appends)."""

    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class EditOutcome:
    """What happened to one edit: ``how`` it matched (exact, substring, whitespace, new-file, append) or why not."""

    edit: SearchReplace
    applied: bool
    how: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        return {"path": self.edit.path, "applied": self.applied, "how": self.how, "reason": self.reason}


@dataclass
class EditResult:
    """The files an answer's edits produced and the diff against the originals."""

    patch: str
    outcomes: list[EditOutcome] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    """New content of every file an applied edit touched."""
    parse_errors: list[str] = field(default_factory=list)
    """Blocks that could not be read (a SEARCH without its divider or end marker, a missing path)."""

    @property
    def applied(self) -> int:
        return sum(o.applied for o in self.outcomes)

    @property
    def failed(self) -> list[EditOutcome]:
        return [o for o in self.outcomes if not o.applied]

    def to_dict(self) -> dict:
        return {"edits": len(self.outcomes), "applied": self.applied, "outcomes": [o.to_dict() for o in self.outcomes],
                "parse_errors": list(self.parse_errors), "files": sorted(self.files)}


# --------------------------------------------------------------------------- parsing

def _clean_path(line: str) -> str:
    text = PATH_PREFIX_RE.sub("", line.strip()).strip()
    return text.strip("`'\"*:").strip()


def _looks_like_path(text: str) -> bool:
    return bool(text) and " " not in text and ("/" in text or "." in text) and not text.startswith(("<", "=", ">"))


def parse_edits(text: str) -> tuple[list[SearchReplace], list[str]]:
    """The SEARCH/REPLACE blocks of a model answer (``<think>`` sections ignored) and the parse problems found."""
    if not isinstance(text, str):
        return [], [f"answer is {type(text).__name__}, not text"]
    lines = _lines(THINK_RE.sub("", text))
    edits: list[SearchReplace] = []
    errors: list[str] = []
    candidate: str | None = None  # the last line that could name a file
    previous: str | None = None  # the file of the previous block
    i = 0
    while i < len(lines):
        line = lines[i]
        if not SEARCH_RE.match(line):
            if line.strip() and not FENCE_RE.match(line):
                cleaned = _clean_path(line)
                candidate = cleaned if _looks_like_path(cleaned) else None
            i += 1
            continue
        start = i
        search, replace, j = [], [], i + 1
        while j < len(lines) and not DIVIDER_RE.match(lines[j]) and not SEARCH_RE.match(lines[j]):
            search.append(lines[j])
            j += 1
        if j >= len(lines) or not DIVIDER_RE.match(lines[j]):
            errors.append(f"block at line {start + 1}: SEARCH without '======='")
            i = j
            continue
        j += 1
        while j < len(lines) and not REPLACE_RE.match(lines[j]) and not SEARCH_RE.match(lines[j]):
            replace.append(lines[j])
            j += 1
        if j >= len(lines) or not REPLACE_RE.match(lines[j]):
            errors.append(f"block at line {start + 1}: no '>>>>>>> REPLACE' after '======='")
            i = j
            continue
        path = candidate or previous
        if path is None:
            errors.append(f"block at line {start + 1}: no file path before it")
        else:
            edits.append(SearchReplace(path, "\n".join(search), "\n".join(replace)))
            previous = path
        candidate = None
        i = j + 1
    return edits, errors


def render_edits(edits: Iterable[SearchReplace]) -> str:
    """Edits as the answer text the parser reads (used by the oracle policy and in prompts' examples)."""
    blocks = []
    for edit in edits:
        search = f"{edit.search}\n" if edit.search else ""
        replace = f"{edit.replace}\n" if edit.replace else ""
        blocks.append(f"### {edit.path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE")
    return "\n\n".join(blocks) + ("\n" if blocks else "")


# --------------------------------------------------------------------------- paths

def resolve_path(path: str, known: Iterable[str], workdir: str = "/testbed") -> str | None:
    """The repository file ``path`` names: as written, without the workdir/``./``/``a/`` prefixes, or by a unique suffix."""
    known = set(known)
    raw = path.strip()
    candidates = [raw]
    stripped = raw
    for prefix in (workdir.rstrip("/") + "/", "./", "a/", "b/", "/"):
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix):]
            candidates.append(stripped)
    for candidate in candidates:
        normal = posixpath.normpath(candidate) if candidate else candidate
        if normal in known:
            return normal
    tail = posixpath.normpath(stripped) if stripped else stripped
    if tail and "/" in tail:
        matches = [k for k in known if k.endswith("/" + tail)]
        if len(matches) == 1:
            return matches[0]
    return None


def _new_file_path(path: str, workdir: str = "/testbed") -> str | None:
    """A relative, normalised path for a file an edit creates (None when it escapes the repository)."""
    raw = path.strip()
    for prefix in (workdir.rstrip("/") + "/", "./"):
        if raw.startswith(prefix):
            raw = raw[len(prefix):]
    if not raw or raw.startswith("/"):
        return None
    normal = posixpath.normpath(raw)
    if normal.startswith("..") or normal == ".":
        return None
    return normal


# --------------------------------------------------------------------------- matching

def _squash(line: str) -> str:
    return " ".join(line.split())


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _find_lines(haystack: list[str], needle: list[str]) -> list[int]:
    if not needle or len(needle) > len(haystack):
        return []
    return [i for i in range(len(haystack) - len(needle) + 1) if haystack[i:i + len(needle)] == needle]


def _eol(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _lines(text: str, eol: str = "\n") -> list[str]:
    """``text`` split at ``eol`` only: a form feed or a lone carriage return stays inside its line (``splitlines`` would
    cut there, and the file would come back with a newline in its place)."""
    lines = text.replace("\r\n", "\n").split("\n") if eol == "\n" else text.split(eol)
    return lines[:-1] if lines[-1] == "" else lines


def _splice(lines: list[str], start: int, stop: int, new: list[str], newline_at_end: bool, eol: str) -> str:
    """``lines[start:stop]`` replaced by ``new``, joined; the file keeps its final newline unless its last line changed."""
    out = lines[:start] + new + lines[stop:]
    if stop >= len(lines) and not new and start > 0:
        newline_at_end = True  # the last lines were deleted: the line before them kept its newline
    return eol.join(out) + (eol if newline_at_end and out else "")


def _reindent(replace: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    """Re-indent the replacement the way the matched file lines differ from the SEARCH lines.

    ``pairs`` holds (file indentation, SEARCH indentation) of each matched line. One constant
    offset (the model dropped or added a prefix) shifts every line; otherwise a consistent
    mapping is applied (e.g. 2 -> 4 spaces per level), widths it has not seen fitted linearly.
    """
    if all(f.endswith(s) for f, s in pairs):
        extras = {f[: len(f) - len(s)] for f, s in pairs}
        if len(extras) == 1:
            extra = extras.pop()
            return [extra + line if line.strip() else line for line in replace]
    if all(s.endswith(f) for f, s in pairs):
        extras = {s[: len(s) - len(f)] for f, s in pairs}
        if len(extras) == 1:
            extra = extras.pop()
            return [line[len(extra):] if line.startswith(extra) else line for line in replace]
    mapping: dict[str, str] = {}
    for f, s in pairs:
        if mapping.setdefault(s, f) != f:
            return replace  # no consistent mapping: leave the replacement as written
    # spaces only: fit file width = a + b * SEARCH width through the pairs (e.g. 4 + 2 * w for 2 -> 4 spaces per level)
    fit = None
    points = sorted({(len(s), len(f)) for s, f in mapping.items()})
    if len(points) >= 2 and all(not (f + s).strip(" ") for s, f in mapping.items()):
        (s1, f1), (s2, f2) = points[0], points[-1]
        b = (f2 - f1) / (s2 - s1)
        a = f1 - b * s1
        if b > 0 and all(abs(a + b * sw - fw) < 1e-9 for sw, fw in points):
            fit = (a, b)
    out = []
    for line in replace:
        ws = _indent(line)
        if not line.strip():
            out.append(line)
        elif ws in mapping:
            out.append(mapping[ws] + line[len(ws):])
        elif fit and not ws.strip(" ") and fit[0] + fit[1] * len(ws) >= 0:
            out.append(" " * round(fit[0] + fit[1] * len(ws)) + line[len(ws):])
        else:
            out.append(line)
    return out


def apply_edit(content: str, search: str, replace: str) -> tuple[str | None, str]:
    """``content`` with ``search`` replaced (first occurrence) and how it matched; ``(None, reason)`` when nothing matches."""
    eol = _eol(content)
    lines, newline_at_end = _lines(content, eol), content.endswith("\n")
    search_lines, replace_lines = _lines(search), _lines(replace)
    # 1. the exact lines
    hits = _find_lines(lines, search_lines)
    if hits:
        i = hits[0]
        return _splice(lines, i, i + len(search_lines), replace_lines, newline_at_end, eol), "exact"
    # 2. the exact text, inside lines
    needle = search.strip("\r\n")
    if needle and needle in content:
        return content.replace(needle, replace.strip("\r\n"), 1), "substring"
    # 3. whitespace-tolerant: compare non-blank lines with runs of whitespace squashed, blank lines skipped
    wanted = [(k, _squash(line)) for k, line in enumerate(search_lines) if line.strip()]
    if not wanted:
        return None, "SEARCH is blank"
    body = [(k, _squash(line)) for k, line in enumerate(lines) if line.strip()]
    target = [text for _, text in wanted]
    hits = _find_lines([text for _, text in body], target)
    if not hits:
        return None, "SEARCH text not found in the file"
    h = hits[0]
    first, last = body[h][0], body[h + len(target) - 1][0]
    pairs = [(_indent(lines[body[h + n][0]]), _indent(search_lines[wanted[n][0]])) for n in range(len(target))]
    return _splice(lines, first, last + 1, _reindent(replace_lines, pairs), newline_at_end, eol), "whitespace"


def _with_newline(text: str) -> str:
    return text + "\n" if text and not text.endswith("\n") else text


def apply_edits(edits: Iterable[SearchReplace], read: Callable[[str], str | None], known: Iterable[str],
                *, workdir: str = "/testbed") -> EditResult:
    """Apply edits in order to the repository files ``read`` returns (None: no such file); diff against the originals.

    ``known`` lists the repository's files (to resolve the paths a model writes). Later edits
    of a file see the earlier ones. Nothing raises: every edit gets an :class:`EditOutcome`.
    """
    known = list(known)
    originals: dict[str, str | None] = {}
    current: dict[str, str] = {}
    outcomes: list[EditOutcome] = []
    for edit in edits:
        path = resolve_path(edit.path, current, workdir) or resolve_path(edit.path, known, workdir)
        if path is not None and path not in current:
            text = read(path)
            if text is None:
                outcomes.append(EditOutcome(edit, False, reason="the file could not be read (binary or missing)"))
                continue
            originals[path] = current[path] = text
        if path is None:  # not an existing file: only an empty SEARCH may create it
            if edit.search.strip():
                outcomes.append(EditOutcome(edit, False, reason="no such file in the repository"))
                continue
            path = _new_file_path(edit.path, workdir)
            if path is None:
                outcomes.append(EditOutcome(edit, False, reason="path is outside the repository"))
                continue
            originals[path] = None
            current[path] = _with_newline(edit.replace)
            outcomes.append(EditOutcome(edit, True, "new-file"))
            continue
        content = current[path]
        if not edit.search.strip():
            if content.strip():
                current[path] = _with_newline(content) + _with_newline(edit.replace)
                outcomes.append(EditOutcome(edit, True, "append"))
            else:
                current[path] = _with_newline(edit.replace)
                outcomes.append(EditOutcome(edit, True, "new-file"))
            continue
        new, how = apply_edit(content, edit.search, edit.replace)
        if new is None:
            outcomes.append(EditOutcome(edit, False, reason=how))
            continue
        current[path] = new
        outcomes.append(EditOutcome(edit, True, how))
    patch = "".join(unified_diff(p, originals.get(p), current[p]) for p in sorted(current)
                    if current[p] != originals.get(p))
    changed = {p: current[p] for p in current if current[p] != originals.get(p)}
    return EditResult(patch, outcomes, changed)


def edit_answer(answer: str, read: Callable[[str], str | None], known: Iterable[str], *, workdir: str = "/testbed") -> EditResult:
    """Parse a model's answer and apply its edits (:func:`parse_edits` then :func:`apply_edits`)."""
    edits, errors = parse_edits(answer)
    result = apply_edits(edits, read, known, workdir=workdir)
    result.parse_errors = errors
    return result
