"""Prediction files, read and written in one place below rollout (which writes them) and evaluation (which reads them).

A predictions file holds SWE-bench predictions, ``{instance_id, model_name_or_path, model_patch}``
(JSON lines, a JSON list or ``{instance_id: prediction}``); ``srl-swe rollout`` appends one line per
finished task and a details sidecar (``preds.details.jsonl``) beside it.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from .errors import InvalidRecordError, SRLSweError
from .files import append_line, drop_torn_line
from .records import check_predictions, read_json_lines, read_json_records, read_text


def details_path_for(predictions: str | Path) -> Path:
    """The default details file next to a predictions file: ``preds.jsonl`` -> ``preds.details.jsonl``."""
    path = Path(predictions)
    stem = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.name
    return path.with_name(f"{stem}.details.jsonl")


def drop_cut_line(path: Path) -> str:
    """The file's text without a partly written last line (a killed run), which is cut from the file in place.

    Cut, not rewritten: a kill during a rewrite would lose every finished record.
    """
    drop_torn_line(path)
    return read_text(path)


def done_ids(path: str | Path) -> set[str]:
    """Instance ids already in a predictions file; a partly written last line (a killed run) is dropped from the file."""
    path = Path(path)
    if not path.exists():
        return set()
    drop_torn_line(path)
    ids = set()
    for number, record in read_json_lines(path, by_line=True):
        if not isinstance(record, dict) or not isinstance(record.get("instance_id"), str):
            raise InvalidRecordError(str(path), f"line {number}", "instance_id", "missing: not a predictions file?")
        ids.add(record["instance_id"])
    return ids


def append_record(handle, record: dict[str, Any]) -> None:
    """One JSON line, flushed and synced at once (a killed run loses no finished record)."""
    append_line(handle, json.dumps(record, ensure_ascii=False))


def load_predictions(source: str, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{instance_id: prediction}: from a file, or ``gold`` (each row's patch) / ``empty`` (no patch).

    A file is checked whole before anything is evaluated (:func:`srl_swe.records.check_predictions`):
    a wrong-typed field, two predictions for one instance or one for an instance not in ``rows``
    is an error naming the file, the record and the ids.
    """
    if source in ("gold", "empty"):
        return {row["instance_id"]: {"instance_id": row["instance_id"], "model_name_or_path": source,
                                     "model_patch": row["patch"] if source == "gold" else ""} for row in rows}
    path = Path(source)
    if not path.is_file():
        raise SRLSweError(f"predictions file not found: {path}")
    records = check_predictions(read_json_records(path, "prediction"), str(path))
    out = {record["instance_id"]: {"model_name_or_path": "srl-swe", **record} for record in records}
    for prediction in out.values():
        prediction["model_name_or_path"] = prediction["model_name_or_path"] or "srl-swe"
    known = {row["instance_id"] for row in rows}
    unknown = sorted(set(out) - known)
    if unknown:
        raise SRLSweError(f"{path}: {len(unknown)} prediction(s) for instances not in the dataset: {', '.join(unknown[:10])}")
    return out


def recorded_mode(predictions: str | Path) -> str:
    """The mode a `srl-swe rollout` run recorded in its details file next to the predictions, if any."""
    details = details_path_for(Path(predictions))
    if details.is_file():
        with details.open(encoding="utf-8") as handle, contextlib.suppress(ValueError, RecursionError):
            return str(json.loads(handle.readline()).get("mode", ""))
    return ""
