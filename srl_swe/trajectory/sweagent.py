"""`swe_agent_traj`: SWE-agent `.traj` files.

A `.traj` file is one JSON object: ``{"trajectory": [{"thought", "action", "observation",
"response", "state", "query", ...}], "history": [messages], "info": {"exit_status",
"submission", "model_stats", ...}, "replay_config", "environment"}``. Each trajectory step
is one turn: its ``thought``, its ``action`` parsed into a tool call, its ``observation``.

Action strings are what SWE-agent executed, read by :mod:`.sweagent_actions`: its own tools
(``open``, ``goto``, ``edit``, ``find_file``, ``str_replace_editor``, ``submit``, ...) become calls
of those tools under their own names (schemas: ``agents/sweagent.yaml``; ``submit`` is ``finish``
under the OpenHands scaffold), terminations such as ``exit_cost`` and empty actions a turn with
``action=None``, and anything else an ``execute_bash`` call (``bash`` under the sweagent scaffold).

Problem statement: the first non-demonstration user message of ``history`` (narrowed to its
``<pr_description>``/``<issue>`` when present, the full message then kept in
``metadata["instance_prompt"]``), else ``replay_config.problem_statement.text``, else
``info["problem_statement"]``. Id: ``instance_id`` or the problem statement id of
``replay_config``, else the file name. metadata: the scalar entries of ``info``
(``exit_status``, ``submission``, ...).
"""
from __future__ import annotations

import json
from typing import Any

from .common import (
    ParseContext,
    RecordError,
    TrajectoryFormat,
    repo_from_instance_id,
    require,
    scalar_metadata,
    split_problem_statement,
    text_of,
)
from .model import Task, Trajectory, Turn
from .sweagent_actions import parse_action

NAME = "swe_agent_traj"


def detect(record: dict[str, Any]) -> bool:
    return isinstance(record.get("trajectory"), list) and ("history" in record or "info" in record)


def _replay_problem(record: dict[str, Any]) -> dict[str, Any]:
    config = record.get("replay_config")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError:
            return {}
    problem = config.get("problem_statement") if isinstance(config, dict) else None
    return problem if isinstance(problem, dict) else {}


def _problem_statement(record: dict[str, Any]) -> tuple[str, str | None]:
    history = record.get("history")
    if isinstance(history, list):
        for i, message in enumerate(history):
            if isinstance(message, dict) and message.get("role") == "user" and not message.get("is_demo"):
                text = text_of(message.get("content"), f"history[{i}].content")
                if text.strip():
                    return split_problem_statement(text)
    replay = _replay_problem(record)
    if isinstance(replay.get("text"), str) and replay["text"].strip():
        return replay["text"].strip(), None
    info = record.get("info")
    if isinstance(info, dict) and isinstance(info.get("problem_statement"), str):
        return info["problem_statement"].strip(), None
    raise RecordError("history", "no user message with the task (nor replay_config.problem_statement)")


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise RecordError(field, "must be a string")


def parse(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    steps = require(record, "trajectory", NAME)
    if not isinstance(steps, list):
        raise RecordError("trajectory", "must be a list of steps")
    turns = []
    for i, step in enumerate(steps):
        field = f"trajectory[{i}]"
        if not isinstance(step, dict):
            raise RecordError(field, "must be an object")
        if not isinstance(step.get("action"), str):
            raise RecordError(f"{field}.action", "missing or not a string")
        action = parse_action(step["action"], ctx, f"{field}.action")
        thought = _text(step.get("thought"), f"{field}.thought") or ""
        observation = _text(step.get("observation"), f"{field}.observation")
        turns.append(Turn(thought=thought.strip(), action=action, observation=observation))

    problem_statement, instance_prompt = _problem_statement(record)
    replay = _replay_problem(record)
    instance_id = record.get("instance_id") or replay.get("id") or ctx.default_id
    info = record.get("info") if isinstance(record.get("info"), dict) else {}
    metadata = scalar_metadata(info)
    for key in ("environment", "traj_id", "model", "resolved"):
        if key in record and (record[key] is None or isinstance(record[key], (str, int, float, bool))):
            metadata[key] = record[key]
    if instance_prompt is not None:
        metadata["instance_prompt"] = instance_prompt
    return Trajectory(
        id=str(record.get("traj_id") or instance_id),
        task=Task(
            id=str(instance_id),
            problem_statement=problem_statement,
            repo=record.get("repo") or repo_from_instance_id(str(instance_id)),
            base_commit=record.get("base_commit"),
        ),
        turns=turns,
        source_format=NAME,
        metadata=metadata,
    )


FORMAT = TrajectoryFormat(NAME, detect, parse, "SWE-agent .traj files (thought/action/observation steps)")
