#!/usr/bin/env python3
"""The `str_replace_editor` tool, with OpenHands semantics, run inside the sandbox container.

This file is copied into the container and run there by the container's own python3, so it
uses the standard library only and stays compatible with Python 3.6+ (old SWE-bench images
may put an old interpreter first on PATH).

Usage inside the container::

    python3 editor.py <<< '{"command": "view", "path": "/testbed/setup.py"}'
    python3 editor.py --args-file /tmp/args.json      # the file is deleted after reading

It prints the observation text on stdout. Exit status:

* 0 -- success observation;
* 1 -- tool error: the observation starts with ``ERROR:\\n`` and is meant for the agent,
  exactly as OpenHands showed it (bad path, old_str not found, invalid view_range, ...);
* 3 -- the editor itself could not run (arguments not a JSON object, unexpected exception);
  the message on stdout says why. (2 is left to the interpreter: "can't open file".)

Observation texts follow the OpenHands editor used to record SWE-Gym (the Anthropic
computer-use editor as ported into OpenHands, autumn 2024): "Here's the result of running
`cat -n` on ...", 16,000-character truncation with the `<response clipped><NOTE>` marker,
+-4 line snippets after edits, error texts, and trailing whitespace stripped, as the recorded
observations are. Deliberate differences, all in the agent's favour and invisible in the
observation texts:

* files are read and written as bytes: CRLF line endings, tabs, a missing final newline and
  undecodable bytes survive an edit (OpenHands converted CRLF to LF and expanded every tab);
  views still show tabs expanded, and an `old_str` copied from such a view (spaces where the
  file has tabs) still matches as in OpenHands; then only the lines it spans lose their tabs;
* `create` accepts an empty `file_text`; a file with NUL bytes is refused as binary;
* the line numbers of a non-unique multi-line `old_str` are those where each occurrence starts;
* a directory view is sorted, follows a symlinked root, and hides dot-entries below the root
  (OpenHands printed raw `find -maxdepth 2 -not -path '*/.*'` output).

Undo history persists across invocations under ``$SRL_SWE_EDITOR_STATE`` (default
``/tmp/.srl_swe_editor``): one folder per edited path (named by the SHA-256 of the absolute
path) holding the file's bytes before each edit, newest last. As in OpenHands, `create`
records the created text too, and `undo_edit` pops one entry and writes it back.
"""
import hashlib
import json
import os
import sys

TOOL_NAME = "str_replace_editor"
COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")
MAX_RESPONSE_LEN = 16000
SNIPPET_LINES = 4
MAX_HISTORY_PER_FILE = 100
DEFAULT_STATE_DIR = "/tmp/.srl_swe_editor"
STATE_ENV = "SRL_SWE_EDITOR_STATE"
ERROR_PREFIX = "ERROR:\n"
TRUNCATED_NOTICE = (
    "<response clipped><NOTE>To save on context only part of this file has been shown to you. "
    "You should retry this tool after you have searched inside the file with `grep -n` in order "
    "to find the line numbers of what you are looking for.</NOTE>"
)
EXIT_OK, EXIT_TOOL_ERROR, EXIT_INTERNAL = 0, 1, 3


class ToolError(Exception):
    """An error the agent should see as the observation (``ERROR:\\n`` + message)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- file text


class FileText(object):
    """A text file's content with its line-ending convention, so a write restores it.

    ``text`` always uses ``\\n``; ``crlf`` says the file used ``\\r\\n`` throughout.
    Undecodable bytes are kept as surrogates and written back unchanged.
    """

    def __init__(self, text, crlf=False):
        self.text = text
        self.crlf = crlf

    @classmethod
    def from_bytes(cls, data):
        text = data.decode("utf-8", "surrogateescape")
        n_crlf = text.count("\r\n")
        if n_crlf and n_crlf == text.count("\n"):
            return cls(text.replace("\r\n", "\n"), crlf=True)
        return cls(text)

    def to_bytes(self, text=None):
        text = self.text if text is None else text
        if self.crlf:
            text = text.replace("\n", "\r\n")
        return text.encode("utf-8", "surrogateescape")


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except Exception as exc:  # noqa: BLE001 - shown to the agent like OpenHands did
        raise ToolError("Ran into {} while trying to read {}".format(exc, path))


def read_text(path):
    """``(raw bytes, FileText)`` of a text file; a file with NUL bytes is refused as binary."""
    data = read_bytes(path)
    if b"\x00" in data[:8192]:
        raise ToolError(
            "The file {} appears to be binary; this tool can only view and edit text files.".format(path)
        )
    return data, FileText.from_bytes(data)


def write_bytes(path, data):
    """Write in place, so the file keeps its inode, mode and owner."""
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except Exception as exc:  # noqa: BLE001
        raise ToolError("Ran into {} while trying to write to {}".format(exc, path))


# --------------------------------------------------------------------------- history


class History(object):
    """Per-path stack of earlier file contents, kept on disk so it outlives the process."""

    def __init__(self, state_dir=None):
        self.root = state_dir or os.environ.get(STATE_ENV) or DEFAULT_STATE_DIR

    def _dir(self, path):
        return os.path.join(self.root, hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest())

    def _entries(self, folder):
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        return sorted(n for n in names if n.endswith(".bin") and n[:-4].isdigit())

    def push(self, path, data):
        folder = self._dir(path)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder)
                with open(os.path.join(folder, "path"), "w", encoding="utf-8", errors="surrogateescape") as handle:
                    handle.write(path)
            entries = self._entries(folder)
            number = int(entries[-1][:-4]) + 1 if entries else 1
            tmp = os.path.join(folder, "{:08d}.tmp".format(number))
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, os.path.join(folder, "{:08d}.bin".format(number)))
            for old in entries[: max(0, len(entries) + 1 - MAX_HISTORY_PER_FILE)]:
                os.remove(os.path.join(folder, old))
        except OSError as exc:
            raise ToolError("Ran into {} while trying to save the edit history of {}".format(exc, path))

    def pop(self, path):
        """The newest saved content of ``path`` (removed from the stack), or None."""
        folder = self._dir(path)
        entries = self._entries(folder)
        if not entries:
            return None
        entry = os.path.join(folder, entries[-1])
        with open(entry, "rb") as handle:
            data = handle.read()
        os.remove(entry)
        return data


# --------------------------------------------------------------------------- rendering


def maybe_truncate(content, limit=MAX_RESPONSE_LEN):
    if limit and len(content) > limit:
        return content[:limit] + TRUNCATED_NOTICE
    return content


def cat_n(content, description, first_line=1):
    """``cat -n``-style listing of ``content`` as OpenHands rendered it."""
    content = maybe_truncate(content).expandtabs()
    numbered = "\n".join(
        "{:6}\t{}".format(number, line) for number, line in enumerate(content.split("\n"), start=first_line)
    )
    return "Here's the result of running `cat -n` on {}:\n{}\n".format(description, numbered)


def list_directory(path, depth=2):
    """``path`` and its non-hidden entries ``depth`` levels deep, sorted, one per line."""
    lines = [path]

    def walk(folder, level):
        try:
            with os.scandir(folder) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            lines.append(os.path.join(folder, entry.name))
            if level < depth:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    walk(os.path.join(folder, entry.name), level + 1)

    walk(path, 1)
    return "\n".join(lines)


# --------------------------------------------------------------------------- arguments


def _as_int(value, name):
    if isinstance(value, bool):
        raise ToolError("Invalid `{}` parameter: {}. It should be an integer.".format(name, value))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ToolError("Invalid `{}` parameter: {}. It should be an integer.".format(name, value))


def _view_range(value):
    """``view_range`` as a list of two ints; tolerates the JSON text of one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ToolError("Invalid `view_range`. It should be a list of two integers.")
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ToolError("Invalid `view_range`. It should be a list of two integers.")
    try:
        return [_as_int(v, "view_range") for v in value]
    except ToolError:
        raise ToolError("Invalid `view_range`. It should be a list of two integers.")


def _line_of(text, index):
    return text.count("\n", 0, index) + 1


def _occurrence_lines(text, needle):
    lines, start = [], text.find(needle)
    while start != -1:
        lines.append(_line_of(text, start))
        start = text.find(needle, start + 1)
    return lines


# --------------------------------------------------------------------------- the editor


class Editor(object):
    """OpenHands' file editor: call it with the tool's arguments, get the observation text."""

    def __init__(self, state_dir=None):
        self.history = History(state_dir)

    def __call__(self, command=None, path=None, file_text=None, view_range=None, old_str=None,
                 new_str=None, insert_line=None, **_ignored):
        if not command:
            raise ToolError("Parameter `command` is required for the {} tool.".format(TOOL_NAME))
        if not isinstance(path, str) or not path:
            raise ToolError("Parameter `path` is required for command: {}".format(command))
        if os.path.isabs(path):
            path = os.path.normpath(path)  # like OpenHands' Path(path): no trailing slash
        self.validate_path(command, path)
        if command == "view":
            return self.view(path, view_range)
        if command == "create":
            if file_text is None:
                raise ToolError("Parameter `file_text` is required for command: create")
            return self.create(path, file_text)
        if command == "str_replace":
            if not old_str:
                raise ToolError("Parameter `old_str` is required for command: str_replace")
            return self.str_replace(path, old_str, new_str)
        if command == "insert":
            if insert_line is None:
                raise ToolError("Parameter `insert_line` is required for command: insert")
            if not new_str:
                raise ToolError("Parameter `new_str` is required for command: insert")
            return self.insert(path, _as_int(insert_line, "insert_line"), new_str)
        if command == "undo_edit":
            return self.undo_edit(path)
        raise ToolError(
            "Unrecognized command {}. The allowed commands for the {} tool are: {}".format(
                command, TOOL_NAME, ", ".join(COMMANDS)
            )
        )

    @staticmethod
    def validate_path(command, path):
        if not os.path.isabs(path):
            raise ToolError(
                "The path {} is not an absolute path, it should start with `/`. Maybe you meant {}?".format(
                    path, os.path.abspath(path)
                )
            )
        exists = os.path.exists(path)
        if not exists and command != "create":
            raise ToolError("The path {} does not exist. Please provide a valid path.".format(path))
        if exists and command == "create":
            raise ToolError("File already exists at: {}. Cannot overwrite files using command `create`.".format(path))
        if os.path.isdir(path) and command != "view":
            raise ToolError(
                "The path {} is a directory and only the `view` command can be used on directories".format(path)
            )

    # -- commands ------------------------------------------------------------------

    def view(self, path, view_range=None):
        if os.path.isdir(path):
            if view_range:
                raise ToolError("The `view_range` parameter is not allowed when `path` points to a directory.")
            listing = maybe_truncate(list_directory(path))
            return "Here's the files and directories up to 2 levels deep in {}, excluding hidden items:\n{}\n".format(
                path, listing
            )
        content = read_text(path)[1].text
        if not view_range:
            return cat_n(content, path)
        view_range = _view_range(view_range)
        lines = content.split("\n")
        n_lines = len(lines)
        start, end = view_range
        if start < 1 or start > n_lines:
            raise ToolError(
                "Invalid `view_range`: {}. It's first element `{}` should be within the range of lines of the "
                "file: {}".format(view_range, start, [1, n_lines])
            )
        if end > n_lines:
            raise ToolError(
                "Invalid `view_range`: {}. It's second element `{}` should be smaller than the number of lines "
                "in the file: `{}`".format(view_range, end, n_lines)
            )
        if end != -1 and end < start:
            raise ToolError(
                "Invalid `view_range`: {}. It's second element `{}` should be larger or equal than its first "
                "`{}`".format(view_range, end, start)
            )
        selected = lines[start - 1:] if end == -1 else lines[start - 1:end]
        return cat_n("\n".join(selected), path, start)

    def create(self, path, file_text):
        data = FileText(file_text).to_bytes()
        write_bytes(path, data)
        self.history.push(path, data)
        return "File created successfully at: {}".format(path)

    def str_replace(self, path, old_str, new_str):
        original, file = read_text(path)
        text = file.text
        new_str = "" if new_str is None else new_str
        if file.crlf:
            old_str, new_str = old_str.replace("\r\n", "\n"), new_str.replace("\r\n", "\n")
        haystack, needle, expanded = text, old_str, False
        count = text.count(old_str)
        if count == 0 and ("\t" in text or "\t" in old_str):
            # OpenHands matched tab-expanded text, so an old_str copied from a view (spaces where
            # the file has tabs) matched. Do the same, but rewrite only the lines it spans.
            haystack, needle, expanded = text.expandtabs(), old_str.expandtabs(), True
            count = haystack.count(needle)
        if count == 0:
            raise ToolError(
                "No replacement was performed, old_str `{}` did not appear verbatim in {}.".format(old_str, path)
            )
        if count > 1:
            raise ToolError(
                "No replacement was performed. Multiple occurrences of old_str `{}` in lines {}. "
                "Please ensure it is unique".format(old_str, _occurrence_lines(haystack, needle))
            )
        replaced_at = haystack.count("\n", 0, haystack.find(needle))  # 0-based line of the match
        if not expanded:
            new_text = text.replace(old_str, new_str)
        else:
            spanned = slice(replaced_at, replaced_at + needle.count("\n") + 1)
            lines = text.split("\n")
            edited = "\n".join(haystack.split("\n")[spanned]).replace(needle, new_str)
            new_text = "\n".join(lines[:spanned.start] + [edited] + lines[spanned.stop:])
        write_bytes(path, file.to_bytes(new_text))
        self.history.push(path, original)

        first = max(0, replaced_at - SNIPPET_LINES)
        last = replaced_at + SNIPPET_LINES + new_str.count("\n")
        snippet = "\n".join(new_text.split("\n")[first:last + 1])
        return (
            "The file {} has been edited. ".format(path)
            + cat_n(snippet, "a snippet of {}".format(path), first + 1)
            + "Review the changes and make sure they are as expected. Edit the file again if necessary."
        )

    def insert(self, path, insert_line, new_str):
        original, file = read_text(path)
        if file.crlf:
            new_str = new_str.replace("\r\n", "\n")
        lines = file.text.split("\n")
        n_lines = len(lines)
        if insert_line < 0 or insert_line > n_lines:
            raise ToolError(
                "Invalid `insert_line` parameter: {}. It should be within the range of lines of the file: "
                "{}".format(insert_line, [0, n_lines])
            )
        new_lines = new_str.split("\n")
        new_text = "\n".join(lines[:insert_line] + new_lines + lines[insert_line:])
        write_bytes(path, file.to_bytes(new_text))
        self.history.push(path, original)

        snippet = "\n".join(
            lines[max(0, insert_line - SNIPPET_LINES):insert_line]
            + new_lines
            + lines[insert_line:insert_line + SNIPPET_LINES]
        )
        return (
            "The file {} has been edited. ".format(path)
            + cat_n(snippet, "a snippet of the edited file", max(1, insert_line - SNIPPET_LINES + 1))
            + "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, "
            "etc). Edit the file again if necessary."
        )

    def undo_edit(self, path):
        data = self.history.pop(path)
        if data is None:
            raise ToolError("No edit history found for {}.".format(path))
        write_bytes(path, data)
        return "Last edit to {} undone successfully. {}".format(path, cat_n(FileText.from_bytes(data).text, path))


# --------------------------------------------------------------------------- entry points


def run(arguments, state_dir=None):
    """Run one tool call. Returns ``(observation, is_error)``; never raises for bad arguments."""
    if not isinstance(arguments, dict):
        return ERROR_PREFIX + "The tool arguments must be a JSON object.", True
    try:
        text, is_error = Editor(state_dir)(**{str(k): v for k, v in arguments.items()}), False
    except ToolError as exc:
        text, is_error = ERROR_PREFIX + exc.message, True
    return text.rstrip(), is_error


def _write_stdout(text):
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # pragma: no cover - replaced stdout
        sys.stdout.write(text)
    else:
        stream.write(text.encode("utf-8", "replace"))
    sys.stdout.flush()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["--args-file"] and len(argv) == 2:
            with open(argv[1], "rb") as handle:
                raw = handle.read()
            os.remove(argv[1])
        elif not argv:
            raw = sys.stdin.buffer.read()
        else:
            _write_stdout("usage: editor.py [--args-file FILE]  (tool arguments as a JSON object on stdin)\n")
            return EXIT_INTERNAL
        arguments = json.loads(raw.decode("utf-8"))
        if not isinstance(arguments, dict):
            raise ValueError("expected a JSON object, got {}".format(type(arguments).__name__))
    except Exception as exc:  # noqa: BLE001
        _write_stdout("{} could not read its arguments: {}\n".format(TOOL_NAME, exc))
        return EXIT_INTERNAL
    try:
        text, is_error = run(arguments)
    except Exception as exc:  # noqa: BLE001 - a bug here must not kill the episode silently
        _write_stdout("{} failed: {}: {}\n".format(TOOL_NAME, type(exc).__name__, exc))
        return EXIT_INTERNAL
    _write_stdout(text)
    return EXIT_TOOL_ERROR if is_error else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
