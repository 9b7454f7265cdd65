"""Input files a user hands a command, read and checked in one place, so every command that reads a kind of file
fails on it the same way: an :class:`~srl_swe.errors.InvalidRecordError` naming file, record and field.

The readers here turn what would otherwise escape as a traceback (a non-UTF-8 byte, truncated
JSON, JSON or YAML nested deeper than Python recurses, an unreadable path) into such an error;
:func:`check_task_rows` is the one check of SWE-bench task rows (field types, required fields,
unique ids) that evaluation, rollout and recording share, :func:`check_predictions` the one of
predictions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from .errors import InvalidRecordError, SRLSweError

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (~10x faster), else the pure-Python one: the same data;
the wording of syntax errors differs."""

TEXT_FIELDS = ("instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
               "environment_setup_commit", "image", "eval_script", "log_parser", "eval_type")
"""Task-row fields that are text whenever they are present (None counts as absent)."""
TEST_LIST_FIELDS = ("FAIL_TO_PASS", "PASS_TO_PASS")
"""Task-row fields holding test names: a list of strings, or that list as a JSON string (as the HF datasets store it)."""
ROW_FIELDS = ("instance_id",)
"""What every task row needs."""
AGENT_FIELDS = ("instance_id", "problem_statement")
"""What a row needs for an agent to work on it (rollout, recording, RLVR)."""


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes; a missing or unreadable path is an error naming it."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SRLSweError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SRLSweError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise SRLSweError(f"{path}: cannot read: {exc.strerror or exc}") from None


def decode(data: bytes, source: str, record: int | str | None = None) -> str:
    """``data`` as UTF-8 text; a bad byte (the usual sign of a binary or latin-1 file) is named by line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = f"column {exc.start - line_start + 1}"
        line = data.count(b"\n", 0, exc.start) + 1
        at = f"line {line}, {column}" if b"\n" in data.rstrip() else column
        raise InvalidRecordError(source, record, None, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at {at}") from None


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's content (see :func:`read_bytes`, :func:`decode`)."""
    return decode(read_bytes(path), str(path))


def parse_json(text: str | bytes, source: str, record: int | str | None = None, field: str | None = None) -> Any:
    """``json.loads``, with truncated or malformed JSON, and JSON nested too deeply to parse, as errors naming the place."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno} column {exc.colno}" if "\n" in exc.doc.rstrip() else f"column {exc.colno}"
        raise InvalidRecordError(source, record, field, f"not valid JSON: {exc.msg}: {at}") from None
    except RecursionError:
        raise InvalidRecordError(source, record, field, "not readable as JSON: nested too deeply") from None


def parse_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` (with :data:`SAFE_LOADER`), errors (with their line and column) on one line, naming the
    file."""
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own recursion limit
            raise InvalidRecordError(source, None, None, "not readable as YAML: nested too deeply") from None
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidRecordError(source, None, None, f"not valid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise InvalidRecordError(source, None, None, f"not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise InvalidRecordError(source, None, None, "not readable as YAML: nested too deeply") from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file's data (see :func:`read_text`, :func:`parse_yaml`)."""
    return parse_yaml(read_text(path), str(path))


def read_json_lines(path: str | Path, *, by_line: bool = False) -> list[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSON-lines file; a bad line is an error naming its record:
    its index among the records (the index later checks name too) and its line, or with ``by_line`` its line alone."""
    source, out = str(path), []
    for number, raw in enumerate(read_bytes(path).split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            value = parse_json(decode(raw, source), source)
        except InvalidRecordError as exc:
            record, reason = (f"line {number}", exc.reason) if by_line else (len(out), f"line {number}: {exc.reason}")
            raise InvalidRecordError(source, record, None, reason) from None
        out.append((number, value))
    return out


def read_json_records(path: str | Path, what: str) -> list[Any]:
    """The records of a .jsonl file (one per line), or of a .json file (a list, or ``{id: record}``).

    A file without any record is an error too: it is always a mistake (a wrong path, a run that
    wrote nothing), and reading on would report zero of everything.
    """
    path, source = Path(path), str(path)
    if path.suffix.lower() == ".jsonl":
        records = [value for _, value in read_json_lines(path)]
    else:
        data = parse_json(read_text(path), source)
        if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
            data = list(data.values())  # {instance_id: record}
        if not isinstance(data, list):
            raise InvalidRecordError(source, None, None, f"expected a JSON list of {what}s (or {{id: {what}}}), "
                                                         f"got {type(data).__name__}")
        records = data
    if not records:
        raise InvalidRecordError(source, None, None, f"holds no {what}s")
    return records


def record_label(index: int, record: Any) -> str:
    """``3 (django__django-1)``: a record's index and, when it has a usable one, its instance_id."""
    iid = record.get("instance_id") if isinstance(record, Mapping) else None
    return f"{index} ({iid})" if isinstance(iid, str) and iid else str(index)


def parse_test_names(value: Any, source: str, record: str | int | None, field: str) -> list[str]:
    """A FAIL_TO_PASS/PASS_TO_PASS value as a list of test names (a JSON string of one is parsed)."""
    if isinstance(value, str):
        value = parse_json(value, source, record, field)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InvalidRecordError(source, record, field, f"expected a list of test names (or its JSON string), "
                                                        f"got {_shape(value)}")
    return list(value)


def check_task_row(row: Any, source: str, record: int | str | None, required: Sequence[str] = ROW_FIELDS) -> None:
    """One task row (``record`` names it in errors): an object whose known fields have their types and whose
    ``required`` fields are there."""
    if not isinstance(row, Mapping):
        raise InvalidRecordError(source, record, None, f"expected an object, got {type(row).__name__}")
    for key in TEXT_FIELDS:
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidRecordError(source, record, key, f"expected a string, got {_shape(value)}")
    version = row.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int, float))):
        raise InvalidRecordError(source, record, "version", f"expected a string, got {_shape(version)}")
    for key in TEST_LIST_FIELDS:
        if row.get(key) is not None:
            parse_test_names(row[key], source, record, key)
    for key in required:
        value = row.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidRecordError(source, record, key, "missing or empty")


def check_unique_ids(records: Iterable[Mapping[str, Any]], source: str, what: str = "record") -> None:
    """Two records with one instance_id are an error naming every such id (never "the last one wins")."""
    seen: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        seen.setdefault(record["instance_id"], []).append(index)
    twice = {iid: indexes for iid, indexes in seen.items() if len(indexes) > 1}
    if twice:
        named = "; ".join(f"{iid} (records {', '.join(map(str, indexes))})" for iid, indexes in list(twice.items())[:10])
        raise InvalidRecordError(source, None, "instance_id", f"{len(twice)} instance id(s) appear more than once, "
                                                              f"one {what} each is allowed: {named}")


def check_task_rows(rows: Sequence[Any], source: str, required: Sequence[str] = ROW_FIELDS) -> list[dict[str, Any]]:
    """Every row checked (:func:`check_task_row`) and their ids unique: the one validation of task rows."""
    for index, row in enumerate(rows):
        check_task_row(row, source, record_label(index, row), required)
    check_unique_ids(rows, source, "row")
    return list(rows)


def check_predictions(records: Sequence[Any], source: str) -> list[dict[str, Any]]:
    """SWE-bench predictions: objects with a text instance_id and model_patch (None: no patch), ids unique."""
    for index, record in enumerate(records):
        label = record_label(index, record)
        if not isinstance(record, Mapping):
            raise InvalidRecordError(source, label, None, f"a prediction must be an object, got {type(record).__name__}")
        for key in ("instance_id", "model_patch"):
            if key not in record:
                raise InvalidRecordError(source, label, key, "missing")
        iid = record["instance_id"]
        if not isinstance(iid, str) or not iid:
            raise InvalidRecordError(source, label, "instance_id", f"must be a non-empty string, not {_shape(iid)}")
        for key in ("model_patch", "model_name_or_path"):
            value = record.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidRecordError(source, label, key, f"must be a string, not {type(value).__name__}")
    check_unique_ids(records, source, "prediction")
    return list(records)


def _shape(value: Any) -> str:
    """What a wrong value is, short: ``int 5``, ``list``."""
    if isinstance(value, (bool, int, float)) or value is None:
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__
