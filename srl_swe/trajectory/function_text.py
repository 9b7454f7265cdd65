"""Chat messages whose tool calls are written in the text: `<function=NAME><parameter=K>V</parameter></function>`.

Two formats share this parser and differ in how observations and the task are written:

`openhands_text` -- OpenHands' non-function-calling format (SWE-Gym/OpenHands-SFT-Trajectories,
SWE-Play): a system prompt listing the tools, then a user message that starts with an
in-context example ("Here's a running example ... --------------------- END OF EXAMPLE
---------------------") followed by the real task; observations are user messages starting
``EXECUTION RESULT of [NAME]:\\n``. Tools: execute_bash, str_replace_editor, think, finish.
The task is the text after the END OF EXAMPLE marker (or the next user message when the
example stands alone), narrowed to the ``NEW TASK DESCRIPTION`` block when there is one.

`swe_smith_text` -- SWE-agent / SWE-smith (the ``xml`` split of SWE-smith-trajectories): roles
system/user/assistant, content a string or a list of ``{type: text, text}`` parts,
``messages`` sometimes a JSON string; tools ``bash``, ``str_replace_editor``, ``submit``
(mapped onto the scaffold's execute_bash/finish by :func:`srl_swe.actions.normalize_call`);
observations are user messages starting ``OBSERVATION:``. Columns ``instance_id``,
``resolved``, ``model``, ``traj_id``, ``patch`` go to the trajectory's id, task and metadata.
A user message that answers a call is its observation even without the prefix: SWE-agent writes
"Your command ran successfully and did not produce any output." bare.

Decisions (shared with every chat format of this package):

* The text of an assistant message outside its calls is the thought. A message with several
  calls becomes several consecutive turns, one per call, in order; the thought goes to the
  first turn, the others get ``""``; the observation messages that follow answer the calls
  in order. Calls are read leniently (the last one may lack ``</function>``).
* An assistant message without any call (also a malformed one such as ``<finish>...``)
  becomes a turn with ``action=None`` and the message as thought: kept for fidelity, never
  an SRL step.
* Other user messages after the task ("Please continue...", format-error reminders) are
  dropped and counted in ``metadata["dropped_user_messages"]``; an observation with no call
  waiting for it is dropped and counted in ``metadata["unanswered_observations"]``.
* A message without a call whose answer is an observation (it did act), or whose ``` code
  block is answered by anything but a reminder, holds an action this format cannot read: the
  record is invalid (an error naming the message), never loaded with that action missing.
* When the task wraps the issue in ``<pr_description>`` (or ``<issue_description>``/
  ``<issue>``), the problem statement is the inner text and the full task text is kept in
  ``metadata["instance_prompt"]``.
"""
from __future__ import annotations

import re
from typing import Any

from .common import (
    chat_trajectory,
    ParseContext,
    RecordError,
    TrajectoryFormat,
    TurnBuilder,
    get_messages,
    parse_text_calls,
    peek_messages,
    role_of,
    scalar_metadata,
    split_problem_statement,
    strip_prefix,
    text_of,
)
from .model import Trajectory

OPENHANDS_TEXT = "openhands_text"
SWE_SMITH_TEXT = "swe_smith_text"

EXECUTION_RESULT_RE = re.compile(r"\AEXECUTION RESULT of \[[^\]\n]*\]:[ \t]*\n?")
OBSERVATION_RE = re.compile(r"\AOBSERVATION:[ \t]*\n?")
END_OF_EXAMPLE_RE = re.compile(r"-{3,}\s*END OF EXAMPLE\s*-{3,}")
NEW_TASK_RE = re.compile(
    r"-{3,}\s*NEW TASK DESCRIPTION\s*-{3,}\n?(.*?)(?:\n?-{3,}\s*END OF NEW TASK DESCRIPTION\s*-{3,}|\Z)", re.DOTALL
)
SWE_AGENT_TOOLS = ("bash", "submit")
NO_OUTPUT = "Your command ran successfully and did not produce any output."
CODE_BLOCK_RE = re.compile(r"^[ \t]*```", re.MULTILINE)
REMINDER_RE = re.compile(r"\A\s*(?:Your (?:last )?(?:output|response|action)|Please|Remember|You must|You didn't|You did not)")


def _assistant_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m.get("role") == "assistant" and isinstance(m.get("content"), str)]


def _flat_text(content: Any) -> Any:
    """A content given as a list of `{type, text}` parts joined into one string; anything else unchanged."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return content


def _user_texts(messages: list[dict[str, Any]]) -> list[str]:
    contents = (_flat_text(m.get("content")) for m in messages if m.get("role") == "user")
    return [c for c in contents if isinstance(c, str)]


def _has_text_calls(messages: list[dict[str, Any]]) -> bool:
    for m in messages:
        if m.get("role") != "assistant":
            continue
        content = _flat_text(m.get("content"))
        if isinstance(content, str) and "<function=" in content:
            return True
    return False


def detect_openhands_text(record: dict[str, Any]) -> bool:
    messages = peek_messages(record)
    if not messages or not _has_text_calls(messages):
        return False
    users = _user_texts(messages)
    return any(EXECUTION_RESULT_RE.match(u) for u in users) or any(END_OF_EXAMPLE_RE.search(u) for u in users[:1])


def detect_swe_smith_text(record: dict[str, Any]) -> bool:
    messages = peek_messages(record)
    if not messages or not _has_text_calls(messages):
        return False
    if detect_openhands_text(record):
        return False
    users = _user_texts(messages)
    if any(OBSERVATION_RE.match(u) for u in users):
        return True
    return any(re.search(rf"<function={tool}>", "".join(_assistant_texts(messages))) for tool in SWE_AGENT_TOOLS)


def _openhands_task(first: str, later: list[tuple[int, str]]) -> tuple[str, int]:
    """The task text of an OpenHands prompt, and how many later user messages it consumed."""
    parts = END_OF_EXAMPLE_RE.split(first, maxsplit=1)
    consumed = 0
    task = parts[-1].strip()
    if len(parts) == 2 and not task and later:
        task, consumed = later[0][1].strip(), 1
    block = NEW_TASK_RE.search(task)
    if block and block.group(1).strip():
        return block.group(1).strip(), consumed
    return task, consumed


def _parse(record: dict[str, Any], ctx: ParseContext, fmt: str) -> Trajectory:
    messages = get_messages(record, fmt)
    observation_re = EXECUTION_RESULT_RE if fmt == OPENHANDS_TEXT else OBSERVATION_RE
    builder = TurnBuilder()
    users = [(i, m) for i, m in enumerate(messages) if role_of(m, f"messages[{i}]") == "user"]
    if not users:
        raise RecordError("messages", "no user message with the task")
    first_index = users[0][0]
    prompt_raw = text_of(users[0][1].get("content"), f"messages[{first_index}].content")
    skip = {first_index}
    if fmt == OPENHANDS_TEXT:
        later = [(i, text_of(m.get("content"), f"messages[{i}].content")) for i, m in users[1:2]]
        task_text, consumed = _openhands_task(prompt_raw, later)
        if consumed:
            skip.add(later[0][0])
            prompt_raw = later[0][1]
        elif END_OF_EXAMPLE_RE.search(prompt_raw):
            prompt_raw = END_OF_EXAMPLE_RE.split(prompt_raw, maxsplit=1)[-1].strip()
    else:
        task_text = prompt_raw.strip()
    if not task_text:
        raise RecordError(f"messages[{first_index}].content", "the task prompt is empty")
    problem_statement, _ = split_problem_statement(task_text)
    instance_prompt = prompt_raw.strip() if problem_statement != prompt_raw.strip() else None

    no_call: tuple[int, bool] | None = None  # the assistant message just read, when it made no call: (index, has a ``` block)
    for i, message in enumerate(messages):
        field = f"messages[{i}]"
        role = role_of(message, field)
        if role not in ("system", "user", "assistant", "tool"):
            raise RecordError(f"{field}.role", f"unknown role {role!r}")
        if role == "system" or i in skip or i < first_index:
            continue
        text = text_of(message.get("content"), f"{field}.content")
        answers, no_call = no_call, None
        if role == "assistant":
            thought, calls = parse_text_calls(text, ctx, f"{field}.content")
            builder.assistant(thought, calls)
            no_call = None if calls else (i, bool(CODE_BLOCK_RE.search(text)))
            continue
        observation = role == "tool" or bool(observation_re.match(text)) or (fmt == SWE_SMITH_TEXT and text.strip() == NO_OUTPUT)
        if answers is not None and (observation or (answers[1] and not REMINDER_RE.match(text))):
            raise RecordError(
                f"messages[{answers[0]}].content",
                f"has no <function=...> call, but {field} answers it as the output of an action: "
                "its action is written in a form this format does not read (e.g. a ``` code block)",
            )
        if observation:
            builder.observe(strip_prefix(text, observation_re))
        elif fmt == SWE_SMITH_TEXT and builder.pending:
            builder.observe(text)  # SWE-agent leaves the OBSERVATION: prefix off some observations
        else:
            builder.user()

    instance_id = record.get("instance_id")
    traj_id = record.get("traj_id") or record.get("id") or instance_id or ctx.default_id
    metadata = scalar_metadata(record, exclude=("messages", "tools"))
    metadata.update(builder.counts())
    return chat_trajectory(record, traj_id=traj_id, problem_statement=problem_statement, instance_prompt=instance_prompt,
                           turns=builder.turns, source_format=fmt, metadata=metadata)


def parse_openhands_text(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    return _parse(record, ctx, OPENHANDS_TEXT)


def parse_swe_smith_text(record: dict[str, Any], ctx: ParseContext) -> Trajectory:
    return _parse(record, ctx, SWE_SMITH_TEXT)


OPENHANDS_TEXT_FORMAT = TrajectoryFormat(
    OPENHANDS_TEXT,
    detect_openhands_text,
    parse_openhands_text,
    "OpenHands non-function-calling text: <function=...> calls, EXECUTION RESULT observations",
)
SWE_SMITH_TEXT_FORMAT = TrajectoryFormat(
    SWE_SMITH_TEXT,
    detect_swe_smith_text,
    parse_swe_smith_text,
    "SWE-agent/SWE-smith text: <function=...> calls (bash, str_replace_editor, submit), OBSERVATION: observations",
)
