"""Unified git diffs, in one place: write them, split and read them back, apply them in a sandbox.

Every part of srl-swe that makes or reads a patch (task synthesis, SEARCH/REPLACE rollouts, the
live env's final diff, the scripted expert, evaluation) goes through this module. Which files a
patch touches is read from its section headers alone; hunk contents are read with `unidiff` (the
parser swebench itself depends on). Patches are written from lines split after ``\\n`` only, so a
form feed or a carriage return inside a line stays in that line on both sides (``str.splitlines``
would cut it there, and ``git apply`` would reject the hunk).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Protocol

from unidiff import PatchSet, UnidiffParseError
from unidiff.constants import DEV_NULL

PATCH_PATH = "/tmp/srl_swe_patch.diff"
"""Where :func:`apply_patch` writes the patch inside the sandbox."""

FILE_HEADER = re.compile(r"(?m)^(?=diff --git )")


def split_lines(text: str) -> list[str]:
    """``text`` cut after each ``\\n`` only (each piece keeps its newline; the last may have none)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def unified_diff(path: str, before: str | None, after: str | None, *, context: int = 3) -> str:
    """A ``git apply``-able diff of one file; ``before`` None creates it, ``after`` None deletes it; '' if unchanged."""
    if before == after:
        return ""
    header = f"diff --git a/{path} b/{path}\n"
    if before is None:
        header += "new file mode 100644\n"
    elif after is None:
        header += "deleted file mode 100644\n"
    old, new = split_lines(before or ""), split_lines(after or "")
    if not old and not new:  # an empty file created or deleted: git writes the header alone
        return header
    body = [f"--- {'/dev/null' if before is None else 'a/' + path}\n", f"+++ {'/dev/null' if after is None else 'b/' + path}\n"]
    for line in list(difflib.unified_diff(old, new, n=context, lineterm="\n"))[2:]:
        if line.startswith("@@") or line.endswith("\n"):
            body.append(line)
        else:
            body.append(line + "\n\\ No newline at end of file\n")
    return header + "".join(body)


def parse(patch: str) -> PatchSet:
    """The patch as unidiff reads it, hunk by hunk; ValueError when it is not a well-formed unified diff."""
    try:
        return PatchSet(patch)
    except UnidiffParseError as exc:
        raise ValueError(f"not a readable unified diff: {exc}") from exc


@dataclass(frozen=True)
class FileChange:
    """One file's section of a git diff, as its header says: the file's names before and after the patch."""

    source: str | None
    """The path before the patch (None: the patch creates the file)."""
    target: str | None
    """The path after the patch (None: the patch deletes the file)."""
    section: str
    """The section's text, from its ``diff --git`` line to the next one."""

    @property
    def path(self) -> str:
        return self.target or self.source or ""


def _strip_prefix(name: str, prefix: str) -> str | None:
    name = name.split("\t")[0].rstrip()
    return None if name == DEV_NULL else name.removeprefix(prefix)


def file_changes(patch: str) -> list[FileChange]:
    """The files of a git diff, read from the section headers only (up to the first hunk).

    Hunk bodies are never read here, so a diff-like line inside a hunk (a removed SQL comment
    ``--- x``) is not taken for a header, and a hunk whose length disagrees with its header
    (hand-trimmed test patches) still names its file.
    """
    changes = []
    for section in FILE_HEADER.split(patch):
        match = re.match(r"diff --git a/(.*) b/(.*)", section)
        if not match:
            continue
        source, target = match.group(1), match.group(2)
        for line in section.split("\n")[1:]:
            if line.startswith(("@@", "GIT binary patch", "Binary files")):
                break
            if line.startswith("new file mode"):
                source = None
            elif line.startswith("deleted file mode"):
                target = None
            elif line.startswith("rename from "):
                source = line[len("rename from "):]
            elif line.startswith("rename to "):
                target = line[len("rename to "):]
            elif line.startswith("--- "):
                source = _strip_prefix(line[4:], "a/")
            elif line.startswith("+++ "):
                target = _strip_prefix(line[4:], "b/")
        changes.append(FileChange(source, target, section))
    return changes


def split_patch(patch: str) -> list[tuple[str, str]]:
    """(path, section) per file of a git diff, in order; the path is the file's name after the patch."""
    return [(change.path, change.section) for change in file_changes(patch)]


def touched_files(patch: str) -> list[str]:
    """Every file the patch creates, changes or deletes, in order."""
    return [change.path for change in file_changes(patch)]


def files_existing_before(patch: str) -> list[str]:
    """Files the patch changes that exist before it applies (new files left out; renames under their old name).

    These are the files ``git checkout <base_commit> -- ...`` can reset.
    """
    return [change.source for change in file_changes(patch) if change.source is not None]


def changed_lines(patch: str) -> list[str]:
    """The text of the lines a patch removes or adds (without the +/- marker and the newline)."""
    return [line.value.removesuffix("\n") for f in parse(patch) for hunk in f for line in hunk
            if line.is_added or line.is_removed]


@dataclass(frozen=True)
class Hunk:
    """One hunk as a search/replace pair: the file, its text before and after, its first line and section."""

    path: str
    old: str
    new: str
    line: int
    context: str


def hunks(patch: str) -> list[Hunk]:
    """The patch's hunks, each as the text it replaces (context + removed) and its replacement (context + added)."""
    out = []
    for f in parse(patch):
        for hunk in f:
            old = [line.value.removesuffix("\n") for line in hunk if line.is_context or line.is_removed]
            new = [line.value.removesuffix("\n") for line in hunk if line.is_context or line.is_added]
            out.append(Hunk(f.path, "\n".join(old), "\n".join(new), hunk.source_start, hunk.section_header.strip()))
    return out


class _Shell(Protocol):
    def write_file(self, path: str, content: str) -> None: ...
    def exec(self, command: str): ...


def apply_patch(sandbox: _Shell, patch: str) -> tuple[bool, str]:
    """Apply ``patch`` in the sandbox's repository with the harness's own ``git apply`` fallbacks: (applied, output).

    Between attempts the tree is reset; a patch that is already applied counts as applied.
    """
    from swebench.harness.run_evaluation import GIT_APPLY_CMDS

    if not patch.strip():
        return True, "empty patch: nothing to apply"
    sandbox.write_file(PATCH_PATH, patch if patch.endswith("\n") else patch + "\n")
    output = ""
    for attempt, command in enumerate(GIT_APPLY_CMDS):
        if attempt:
            sandbox.exec("git checkout -- . ; git clean -fd")
        result = sandbox.exec(f"{command} {PATCH_PATH}")
        output = result.output
        if result.exit_code == 0:
            return True, output
    if sandbox.exec(f"git apply --check --reverse {PATCH_PATH}").exit_code == 0:
        return True, "patch already applied"
    return False, output
