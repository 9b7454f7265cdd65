"""`canonical`: the JSONL this project writes, one :meth:`Trajectory.to_dict` per line.

``{"id", "task": {"id", "problem_statement", "repo", "base_commit"}, "turns": [{"thought",
"action": {"name", "arguments"} | null, "observation"}], "source_format", "metadata"}``.
Every field is checked (a wrong one is an error naming it, e.g. ``turns[3].action.arguments``);
``source_format`` keeps the format the trajectory was first parsed from. Actions go through
:func:`srl_swe.actions.normalize_call` like every other format (a no-op on canonical data).
"""
from __future__ import annotations

from typing import Any

from .common import ParseContext, RecordError, TrajectoryFormat, make_call, require
from .model import Task, Trajectory, Turn

NAME = "canonical"
TASK_FIELDS = ("id", "problem_statement", "repo", "base_commit")
TURN_FIELDS = ("thought", "action", "observation")


def detect(record: dict[str, Any]) -> bool:
    return "turns" in record and "task" in record and "id" in record


def _string(value: Any, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RecordError(field, "must be a string" + (" or null" if optional else ""))
    return value


def _unknown_keys(data: dict[str, Any], allowed: tuple[str, ...], field: str) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise RecordError(field, f"unknown key(s) {', '.join(map(repr, extra))}; allowed: {', '.join(allowed)}")


def parse(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    traj_id = _string(require(record, "id", NAME), "id")
    task = require(record, "task", NAME)
    if not isinstance(task, dict):
        raise RecordError("task", "must be an object")
    _unknown_keys(task, TASK_FIELDS, "task")
    turns_raw = require(record, "turns", NAME)
    if not isinstance(turns_raw, list):
        raise RecordError("turns", "must be a list")
    turns = []
    for i, turn in enumerate(turns_raw):
        field = f"turns[{i}]"
        if not isinstance(turn, dict):
            raise RecordError(field, "must be an object")
        _unknown_keys(turn, TURN_FIELDS, field)
        action = turn.get("action")
        if action is not None:
            if not isinstance(action, dict):
                raise RecordError(f"{field}.action", "must be an object with 'name' and 'arguments', or null")
            _unknown_keys(action, ("name", "arguments"), f"{field}.action")
            action = make_call(action.get("name"), action.get("arguments", {}), ctx, f"{field}.action")
        turns.append(
            Turn(
                thought=_string(turn.get("thought", ""), f"{field}.thought", optional=True) or "",
                action=action,
                observation=_string(turn.get("observation"), f"{field}.observation", optional=True),
            )
        )
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RecordError("metadata", "must be an object")
    _unknown_keys(record, ("id", "task", "turns", "source_format", "metadata"), "record")
    return Trajectory(
        id=traj_id,
        task=Task(
            id=_string(task.get("id"), "task.id"),
            problem_statement=_string(task.get("problem_statement"), "task.problem_statement"),
            repo=_string(task.get("repo"), "task.repo", optional=True),
            base_commit=_string(task.get("base_commit"), "task.base_commit", optional=True),
        ),
        turns=turns,
        source_format=_string(record.get("source_format", NAME), "source_format"),
        metadata=metadata,
    )


FORMAT = TrajectoryFormat(NAME, detect, parse, "this project's canonical JSONL (Trajectory.to_dict per line)")
