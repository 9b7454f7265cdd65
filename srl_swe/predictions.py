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
    return path.read_text(encoding="utf-8")


def done_ids(path: str | Path) -> set[str]:
    """Instance ids already in a predictions file; a partly written last line (a killed run) is dropped from the file."""
    path = Path(path)
    if not path.exists():
        return set()
    text = drop_cut_line(path)
    ids = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRecordError(str(path), number, None, f"not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("instance_id"), str):
            raise InvalidRecordError(str(path), number, "instance_id", "missing: not a predictions file?")
        ids.add(record["instance_id"])
    return ids


def append_record(handle, record: dict[str, Any]) -> None:
    """One JSON line, flushed and synced at once (a killed run loses no finished record)."""
    append_line(handle, json.dumps(record, ensure_ascii=False))


def load_predictions(source: str, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{instance_id: prediction}: from a file, or ``gold`` (each row's patch) / ``empty`` (no patch)."""
    if source in ("gold", "empty"):
        return {row["instance_id"]: {"instance_id": row["instance_id"], "model_name_or_path": source,
                                     "model_patch": row["patch"] if source == "gold" else ""} for row in rows}
    path = Path(source)
    if not path.is_file():
        raise SRLSweError(f"predictions file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".jsonl":
            records = [(i, json.loads(line)) for i, line in enumerate(text.splitlines()) if line.strip()]
        else:
            data = json.loads(text)
            items = list(data.values()) if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise InvalidRecordError(str(path), None, None, "must hold a list of predictions or {instance_id: prediction}")
            records = list(enumerate(items))
    except json.JSONDecodeError as exc:
        raise InvalidRecordError(str(path), None, None, f"not valid JSON: {exc}") from exc
    out: dict[str, dict[str, Any]] = {}
    for index, record in records:
        if not isinstance(record, dict):
            raise InvalidRecordError(str(path), index, None, "a prediction must be an object")
        for key in ("instance_id", "model_patch"):
            if key not in record:
                raise InvalidRecordError(str(path), index, key, "missing")
        patch = record["model_patch"]
        if patch is not None and not isinstance(patch, str):
            raise InvalidRecordError(str(path), index, "model_patch", f"must be a string, not {type(patch).__name__}")
        out[record["instance_id"]] = {"model_name_or_path": "srl-swe", **record}
    known = {row["instance_id"] for row in rows}
    unknown = sorted(set(out) - known)
    if unknown:
        raise SRLSweError(f"{path}: {len(unknown)} prediction(s) for instances not in the dataset: {', '.join(unknown[:10])}")
    return out


def recorded_mode(predictions: str | Path) -> str:
    """The mode a `srl-swe rollout` run recorded in its details file next to the predictions, if any."""
    details = details_path_for(Path(predictions))
    if details.is_file():
        with details.open() as handle, contextlib.suppress(ValueError):
            return str(json.loads(handle.readline()).get("mode", ""))
    return ""
