"""`openhands_eval`: rows of an OpenHands evaluation ``output.jsonl`` (``evaluation/benchmarks/*/run_infer.py``).

A row is an ``EvalOutput``: ``{instance_id, instruction, instance: {repo, base_commit,
problem_statement, ...}, test_result: {git_patch, report?}, metadata: {agent_class, model_name,
...}, history, metrics, error}`` (``report`` at the top once ``update_output_with_eval.py`` ran).
``history`` holds the serialized events (``event_to_dict``): actions ``{id, source, action, args,
tool_call_metadata?}`` and observations ``{id, cause, observation, content, extras}``; runs before
2024's refactor stored ``[action, observation]`` pairs instead, which read the same way.

* An agent action is one turn. With function calling its call is the one the model made: the tool
  call of ``tool_call_metadata.model_response`` whose id is ``tool_call_id`` (name and JSON
  arguments as sent, the response's text as the thought of its first call). Without the response
  the call is rebuilt from the action: ``run`` -> ``execute_bash``, ``read``/``edit`` ->
  ``str_replace_editor`` (``edit_file`` for LLM-based edits), ``think``, ``finish``,
  ``run_ipython`` -> ``execute_ipython_cell``, ``browse_interactive`` -> ``browser``, MCP calls
  by their name; its thought is ``args.thought``. An agent ``message`` is a turn with
  ``action=None``; ``system``, ``recall``, ``condensation`` and agent-state events are no actions.
  Any other action kind is an error (the record is invalid, never shortened).
* An observation answers the action its ``cause`` names (``run`` output with the prefix and
  suffix the model saw); one that answers none (an ``error`` for a call OpenHands rejected before
  acting) is dropped and counted in ``metadata["unanswered_observations"]``.
* Task: ``instance.problem_statement`` (``instruction`` kept as ``metadata["instance_prompt"]``),
  else the first user message. User messages after it are dropped and counted.
* metadata: ``git_patch``, ``resolved`` (from ``report``), ``model_name``, ``agent_class``, ``error``.
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import (
    ParseContext,
    RecordError,
    TrajectoryFormat,
    json_arguments,
    json_kind,
    make_call,
    repo_from_instance_id,
    require,
    split_problem_statement,
    text_of,
)
from .model import Task, ToolCall, Trajectory, Turn

NAME = "openhands_eval"
NO_ACTIONS = ("system", "recall", "condensation", "condensation_request", "change_agent_state", "null", "pause",
              "resume", "stop", "loop_recovery", "delegate", "start")
NO_ANSWERS = ("null", "agent_state_changed", "recall", "condensation", "user_rejected")


def _events(history: Any) -> list[tuple[dict[str, Any], str, int | None]] | None:
    """(event, field, pair index) for a flat event list or a list of [action, observation] pairs; None otherwise."""
    if not isinstance(history, list) or not history:
        return None
    events: list[tuple[dict[str, Any], str, int | None]] = []
    for k, item in enumerate(history):
        if isinstance(item, dict) and ("action" in item or "observation" in item):
            events.append((item, f"history[{k}]", None))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(e, dict) for e in item):
            events += [(item[0], f"history[{k}][0]", k), (item[1], f"history[{k}][1]", k)]
        else:
            return None
    return events


def detect(record: dict[str, Any]) -> bool:
    return isinstance(record.get("instance_id"), str) and "trajectory" not in record and _events(record.get("history")) is not None


def _args(event: dict[str, Any], field: str) -> dict[str, Any]:
    args = event.get("args", {})
    if not isinstance(args, dict):
        raise RecordError(f"{field}.args", f"must be an object, got a JSON {json_kind(args)}")
    return args


def _rebuilt(kind: str, args: dict[str, Any], field: str) -> tuple[str, dict[str, Any]]:
    """The tool call an action stands for, from the action alone (no model response saved)."""
    given = {k: v for k, v in args.items() if v is not None}
    needed = {"run": "command", "run_ipython": "code", "read": "path", "edit": "path", "browse_interactive": "browser_actions"}.get(kind)
    if needed and not isinstance(args.get(needed), str):
        raise RecordError(f"{field}.args.{needed}", f"a {kind!r} action needs a string {needed!r}")
    if kind == "run":
        call = {"command": args.get("command")}
        return "execute_bash", call | ({"is_input": "true"} if args.get("is_input") else {})
    if kind == "run_ipython":
        return "execute_ipython_cell", {"code": args.get("code")}
    if kind == "read":
        return "str_replace_editor", {"command": "view", "path": args.get("path")} | (
            {"view_range": args["view_range"]} if args.get("view_range") else {})
    if kind == "edit" and args.get("command"):
        keys = ("command", "path", "file_text", "old_str", "new_str", "insert_line")
        return "str_replace_editor", {k: given[k] for k in keys if k in given}
    if kind == "edit":
        return "edit_file", {k: given[k] for k in ("path", "content", "start", "end") if k in given}
    if kind == "think":
        return "think", {"thought": args.get("thought", "")}
    if kind == "finish":
        call = {"message": args["final_thought"]} if args.get("final_thought") else {}
        return "finish", call | ({"task_completed": args["task_completed"]} if isinstance(args.get("task_completed"), str) else {})
    if kind == "browse_interactive":
        return "browser", {"code": args.get("browser_actions")}
    if kind == "call_tool_mcp" and isinstance(args.get("name"), str):
        return args["name"], args.get("arguments") if isinstance(args.get("arguments"), dict) else {}
    if kind == "task_tracking":
        return "task_tracker", {k: given[k] for k in ("command", "task_list") if k in given}
    raise RecordError(f"{field}.action", f"OpenHands action {kind!r} is not a tool call this format reads")


def _response_message(meta: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    response = meta.get("model_response")
    if not isinstance(response, dict):
        return None, None
    choices = response.get("choices")
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    return (response.get("id") if isinstance(response.get("id"), str) else None), (message if isinstance(message, dict) else None)


def _action(event: dict[str, Any], field: str, ctx: ParseContext, last_response: list[str | None]) -> tuple[str, ToolCall]:
    """(thought, call) of an agent action; ``last_response`` holds the id of the previous action's model response."""
    kind, args = event["action"], _args(event, field)
    meta = event.get("tool_call_metadata") if isinstance(event.get("tool_call_metadata"), dict) else {}
    response_id, message = _response_message(meta)
    first_of_response = response_id is None or response_id != last_response[0]
    last_response[0] = response_id
    for k, raw in enumerate((message or {}).get("tool_calls") or []):
        function = raw.get("function") if isinstance(raw, dict) else None
        if isinstance(function, dict) and raw.get("id") == meta.get("tool_call_id"):
            where = f"{field}.tool_call_metadata.model_response.choices[0].message.tool_calls[{k}]"
            call = make_call(function.get("name"), json_arguments(function.get("arguments"), f"{where}.function.arguments"),
                             ctx, f"{where}.function")
            thought = text_of(message.get("content"), f"{field}.tool_call_metadata.model_response") if first_of_response else ""
            return thought.strip(), call
    name, arguments = _rebuilt(kind, args, field)
    if isinstance(meta.get("function_name"), str) and meta["function_name"].strip():
        name = meta["function_name"]
    thought = "" if kind == "think" else str(args.get("thought") or "")
    return thought.strip(), make_call(name, arguments, ctx, f"{field}.args")


def _observation(event: dict[str, Any], field: str) -> str:
    """The observation as the model saw it: a command's output between its metadata prefix and suffix."""
    content = text_of(event.get("content", ""), f"{field}.content")
    extras = event.get("extras") if isinstance(event.get("extras"), dict) else {}
    metadata = extras.get("metadata") if isinstance(extras.get("metadata"), dict) else {}
    if event.get("observation") == "run":
        prefix, suffix = metadata.get("prefix"), metadata.get("suffix")
        content = (prefix if isinstance(prefix, str) else "") + content + (suffix if isinstance(suffix, str) else "")
    return content


def _turns(events: Iterator[tuple[dict[str, Any], str, int | None]], ctx: ParseContext) -> tuple[list[Turn], str | None, dict[str, int]]:
    turns: list[Turn] = []
    waiting: dict[Any, int] = {}  # action event id (or pair index) -> its turn
    prompt: str | None = None
    counts = {"dropped_user_messages": 0, "unanswered_observations": 0}
    last_response: list[str | None] = [None]
    for event, field, pair in events:
        if "action" in event:
            kind = event.get("action")
            if not isinstance(kind, str):
                raise RecordError(f"{field}.action", "must be a string")
            if event.get("source") == "user":
                if kind == "message":
                    content = text_of(_args(event, field).get("content"), f"{field}.args.content")
                    if prompt is None:
                        prompt = content
                    else:
                        counts["dropped_user_messages"] += 1
                continue
            if kind in NO_ACTIONS:
                continue
            if kind == "message":
                turns.append(Turn(thought=text_of(_args(event, field).get("content"), f"{field}.args.content").strip()))
                continue
            thought, call = _action(event, field, ctx, last_response)
            turns.append(Turn(thought=thought, action=call))
            waiting[pair if pair is not None else event.get("id")] = len(turns) - 1
        elif "observation" in event and event.get("observation") != "null":  # NullObservation: an action with no output
            key = pair if pair is not None else event.get("cause")
            turn = waiting.pop(key, None) if key is not None else None
            if turn is not None:
                turns[turn].observation = _observation(event, field)
            elif event.get("observation") not in NO_ANSWERS:
                counts["unanswered_observations"] += 1
    return turns, prompt, counts


def parse(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    instance_id = require(record, "instance_id", NAME)
    events = _events(require(record, "history", NAME))
    if events is None:
        raise RecordError("history", "must be a non-empty list of OpenHands events (or [action, observation] pairs)")
    turns, user_prompt, counts = _turns(iter(events), ctx)
    instance = record.get("instance") or record.get("swe_instance")
    instance = instance if isinstance(instance, dict) else {}
    instruction = record.get("instruction") if isinstance(record.get("instruction"), str) else None
    if isinstance(instance.get("problem_statement"), str) and instance["problem_statement"].strip():
        problem_statement, instance_prompt = instance["problem_statement"].strip(), instruction or user_prompt
    elif user_prompt or instruction:
        problem_statement, instance_prompt = split_problem_statement(user_prompt or instruction or "")
    else:
        raise RecordError("history", "no user message with the task (nor instance.problem_statement)")

    metadata: dict[str, Any] = {"instance_id": instance_id}
    if instance_prompt is not None:
        metadata["instance_prompt"] = instance_prompt
    test_result = record.get("test_result") if isinstance(record.get("test_result"), dict) else {}
    if "git_patch" in test_result:
        metadata["git_patch"] = test_result["git_patch"]
    for report in (record.get("report"), test_result.get("report")):
        if isinstance(report, dict) and isinstance(report.get("resolved"), bool):
            metadata["resolved"] = report["resolved"]
            break
    run = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    llm = run.get("llm_config") if isinstance(run.get("llm_config"), dict) else {}
    for key, value in (("agent_class", run.get("agent_class")), ("model_name", run.get("model_name") or llm.get("model")),
                       ("error", record.get("error"))):
        if isinstance(value, str):
            metadata[key] = value
    metadata.update(counts)
    return Trajectory(
        id=str(instance_id),
        task=Task(
            id=str(instance_id),
            problem_statement=problem_statement,
            repo=instance.get("repo") if isinstance(instance.get("repo"), str) else repo_from_instance_id(str(instance_id)),
            base_commit=instance.get("base_commit") if isinstance(instance.get("base_commit"), str) else None,
        ),
        turns=turns,
        source_format=NAME,
        metadata=metadata,
    )


FORMAT = TrajectoryFormat(NAME, detect, parse, "OpenHands evaluation output.jsonl rows (event history, instance, test_result)")
