"""Result files that survive a kill at any instant.

A file is either replaced whole (:func:`atomic_open`, :func:`write_atomic`: a temp file in the
same folder, fsync, ``os.replace``), so a reader sees the old content or the new, never half; or
appended one line at a time (:func:`append_line`: flush + fsync), so a kill costs at most the line
being written, which :func:`drop_torn_line` removes before the next run appends.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """A handle on a temp file beside ``path`` that becomes ``path`` only once all of it is written and synced.

    An exception (or a kill) inside the block leaves ``path`` as it was. Streams, so a large file
    never has to sit in memory.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")  # hidden: no glob of results sees it
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask, like open(): not mkstemp's 0o600
    try:
        with contextlib.suppress(OSError):
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # a replaced file keeps its mode
        with open(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(path.parent)


def write_atomic(path: str | Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_open`); returns the path."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", encoding=encoding) as handle:
        handle.write(data)
    return Path(path)


def append_line(handle: IO[str], line: str) -> None:
    """Append one line (a newline is added if missing), flushed and synced at once: a kill loses no finished line."""
    handle.write(line if line.endswith("\n") else line + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def drop_torn_line(path: str | Path) -> str:
    """Cut a JSON-lines file's last line if it is not complete JSON (a kill mid-append); returns what was cut.

    Only the last line can be torn by an append, and an append writes the line's newline last, so
    only a last line without its newline that does not parse is dropped; a bad line ended by its
    newline was written whole and is left for the reader to report (never cut in silence), as is a
    bad line before it. A complete last line without its newline gets one, so the next append
    starts a line of its own.
    """
    path = Path(path)
    data = path.read_bytes()
    body = data.rstrip(b" \t\r\n")
    if not body:
        return ""
    start = body.rfind(b"\n") + 1
    last = body[start:]
    try:
        json.loads(last)
    except RecursionError:  # too deep to read, not torn: left for the reader to report
        return ""
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        if data.endswith(b"\n") or _one_json_document(data):  # written whole, or a pretty-printed .json
            return ""
        os.truncate(path, start)
        _sync_file(path)
        return last.decode("utf-8", errors="replace")
    if not data.endswith(b"\n"):
        with path.open("ab") as handle:
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    return ""


def _one_json_document(data: bytes) -> bool:
    try:
        json.loads(data)
    except RecursionError:  # too deep to tell: never cut what may be whole
        return True
    except ValueError:
        return False
    return True


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Make a rename durable; some file systems (and Windows) cannot sync a folder, which costs only durability."""
    with contextlib.suppress(OSError):
        _sync_file(folder)
