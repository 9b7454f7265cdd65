"""Each source format parses into the counts an independent reading of the raw JSON gives.

Real samples are read in place from ../shared/data (skipped when absent); the SWE-smith,
SWE-agent .traj, ShareGPT and small OpenAI tool_calls fixtures are hand-written (tests/fixtures).
"""
from __future__ import annotations

import json
import re

import pytest

from srl_swe.errors import InvalidRecordError
from srl_swe.scaffold import load_scaffold
from srl_swe.trajectory import FORMATS, Trajectory, detect_format, load_trajectories

TEXT_CALL = re.compile(r"<function=[^>\n]+>")
TOOLS = set(load_scaffold().tools)


def _turn_counts(trajectory: Trajectory) -> tuple[int, int, int]:
    steps = sum(t.action is not None for t in trajectory.turns)
    no_call = sum(t.action is None for t in trajectory.turns)
    observed = sum(t.observation is not None for t in trajectory.turns)
    return steps, no_call, observed


def _content(message) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part["text"] for part in content)
    return content or ""


# --------------------------------------------------------------------------- real samples


@pytest.fixture(scope="module")
def gym_path(shared_data):
    return shared_data / "trajectories" / "swe-gym-openhands-sampled.json"


@pytest.fixture(scope="module")
def play_path(shared_data):
    return shared_data / "trajectories" / "swe-play-openhands-xml.json"


def test_swe_gym_openhands_fc_counts(gym_path):
    raw = json.loads(gym_path.read_text())
    result = load_trajectories(gym_path)
    assert result.format == "openhands_fc" and result.invalid == []
    assert [t.id for t in result] == [r["instance_id"] for r in raw]
    for record, traj in zip(raw, result):
        assistant = [m for m in record["messages"] if m["role"] == "assistant"]
        calls = sum(len(m["tool_calls"] or []) for m in assistant)
        no_call = sum(not m["tool_calls"] for m in assistant)
        answered = sum(m["role"] == "tool" for m in record["messages"])
        nudges = sum(m["role"] == "user" for m in record["messages"]) - 1
        assert _turn_counts(traj) == (calls, no_call, answered)
        assert len(traj.turns) == calls + no_call
        assert traj.metadata["dropped_user_messages"] == nudges
        assert traj.metadata["resolved"] == record["resolved"]
        assert traj.metadata["run_id"] == record["run_id"]
        assert traj.metadata["git_patch"] == record["test_result"]["git_patch"]
        assert traj.source_format == "openhands_fc"


def test_swe_gym_multi_call_message_becomes_consecutive_turns(gym_path):
    raw = json.loads(gym_path.read_text())[0]
    traj = load_trajectories(gym_path).trajectories[0]
    messages = raw["messages"]
    observations = {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}
    expected = []  # (thought, tool name, observation) per call, read straight from the raw messages
    for m in messages:
        if m["role"] != "assistant":
            continue
        if not m["tool_calls"]:
            expected.append(((m["content"] or "").strip(), None, None))
        for k, call in enumerate(m["tool_calls"] or []):
            obs = observations.get(call["id"])
            expected.append(
                (
                    (m["content"] or "").strip() if k == 0 else "",
                    call["function"]["name"],
                    obs.removeprefix("OBSERVATION:\n") if obs is not None else None,
                )
            )
    got = [(t.thought, t.action.name if t.action else None, t.observation) for t in traj.turns]
    assert got == expected
    # the message with 4 calls is 4 turns whose observations follow the tool_call_ids
    multi = [m for m in messages if m["role"] == "assistant" and m["tool_calls"] and len(m["tool_calls"]) == 4]
    assert len(multi) == 1
    # the last turn is finish, never answered
    assert traj.turns[-1].action.name == "finish" and traj.turns[-1].observation is None


def test_swe_gym_task_fields(gym_path):
    raw = json.loads(gym_path.read_text())
    for record, traj in zip(raw, load_trajectories(gym_path)):
        first_user = next(m["content"] for m in record["messages"] if m["role"] == "user")
        issue = first_user.split("<pr_description>", 1)[1].split("</pr_description>", 1)[0].strip()
        assert traj.task.problem_statement == issue
        assert traj.metadata["instance_prompt"] == first_user
        owner, rest = record["instance_id"].split("__", 1)
        assert traj.task.repo == f"{owner}/{rest.rsplit('-', 1)[0]}"
        assert traj.task.id == record["instance_id"].rsplit("_", 1)[0]
    assert load_trajectories(gym_path).trajectories[0].task.repo == "python/mypy"


def test_swe_play_openhands_text_counts(play_path):
    raw = json.loads(play_path.read_text())
    result = load_trajectories(play_path)
    assert result.format == "openhands_text" and result.invalid == []
    assert [t.id for t in result] == [r["id"] for r in raw]
    for record, traj in zip(raw, result):
        assistant = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
        calls = sum(len(TEXT_CALL.findall(text)) for text in assistant)
        no_call = sum(not TEXT_CALL.search(text) for text in assistant)
        results = sum(m["content"].startswith("EXECUTION RESULT of [") for m in record["messages"][2:])
        assert _turn_counts(traj) == (calls, no_call, results)
        assert traj.metadata["dropped_user_messages"] == 0
        assert traj.metadata["category"] == record["category"] and traj.metadata["source"] == record["source"]
        for turn in traj.turns:
            assert turn.observation is None or not turn.observation.startswith("EXECUTION RESULT")
            assert "<function=" not in turn.thought


def test_swe_play_task_is_after_the_example(play_path):
    raw = json.loads(play_path.read_text())
    for record, traj in zip(raw, load_trajectories(play_path)):
        prompt = record["messages"][1]["content"]
        after = prompt.split("END OF EXAMPLE ---------------------", 1)[1]
        task = after.split("NEW TASK DESCRIPTION ---------------------\n", 1)[1]
        task = task.split("\n--------------------- END OF NEW TASK DESCRIPTION", 1)[0].strip()
        assert traj.task.problem_statement == task
        assert "running example" not in traj.task.problem_statement
        assert traj.metadata["instance_prompt"] == after.strip()


def test_swe_play_malformed_last_call_is_a_no_call_turn(play_path):
    """swe-play-4 ends with `<finish>...</finish>` (no `<function=`): kept as a message, not a step."""
    traj = {t.id: t for t in load_trajectories(play_path)}["swe-play-4"]
    assert traj.turns[-1].action is None
    assert traj.turns[-1].thought.startswith("<finish>")
    assert traj.actions[-1].action.name == "str_replace_editor"


def test_swe_play_cut_off_last_call_is_read(play_path):
    """swe-play-0's final `<function=finish>` lacks `</function>`: read leniently."""
    traj = load_trajectories(play_path).trajectories[0]
    last = traj.turns[-1].action
    assert last.name == "finish" and last.arguments["task_completed"] == "true"
    assert last.arguments["message"].startswith("Task 1.2.1 has been successfully completed!")


def test_real_tools_are_scaffold_tools(gym_path, play_path):
    for path in (gym_path, play_path):
        for traj in load_trajectories(path):
            assert {t.action.name for t in traj.actions} <= TOOLS


# --------------------------------------------------------------------------- hand-written fixtures


def test_swe_smith_text_fixture(fixtures_dir):
    path = fixtures_dir / "trajectories" / "swe_smith_text.jsonl"
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    result = load_trajectories(path)
    assert result.format == "swe_smith_text" and len(result) == 2
    for record, traj in zip(raw, result):
        messages = record["messages"]
        messages = json.loads(messages) if isinstance(messages, str) else messages
        assistant = [_content(m) for m in messages if m["role"] == "assistant"]
        calls = sum(len(TEXT_CALL.findall(text)) for text in assistant)
        no_call = sum(not TEXT_CALL.search(text) for text in assistant)
        observations = sum(_content(m).startswith("OBSERVATION:") for m in messages if m["role"] == "user")
        assert _turn_counts(traj) == (calls, no_call, observations)
        assert traj.id == record["traj_id"] and traj.task.repo == "marshmallow-code/marshmallow"
        assert traj.metadata["model"] == record["model"] and traj.metadata["patch"] == record["patch"]
        assert {t.action.name for t in traj.actions} <= {"execute_bash", "str_replace_editor", "finish"}
        assert all(not (t.observation or "").startswith("OBSERVATION") for t in traj.turns)
    smith, run = result.trajectories
    assert smith.task.id == "marshmallow-code__marshmallow.9716fc62.func_pm_remove_cond__2s8x1kq0"
    assert smith.task.problem_statement.startswith("`fields.Integer(as_string=True)` serializes `None`")
    # the reminder after the message without a call is dropped, and counted
    assert run.metadata["dropped_user_messages"] == 1
    assert [t.action is None for t in run.turns] == [False, False, True, False, False, False, False, False]
    # a message with two calls: thought on the first, observations in order
    create, execute = run.turns[3], run.turns[4]
    assert create.thought.startswith("The value is truncated") and execute.thought == ""
    assert create.observation == "File created at /testbed/reproduce.py" and execute.observation == "344"
    # the cut-off last call (no </function>) is still read
    assert run.turns[-1].action.name == "finish"


def test_swe_agent_traj_fixture(fixtures_dir):
    path = fixtures_dir / "trajectories" / "marshmallow-code__marshmallow-1867.traj"
    raw = json.loads(path.read_text())
    result = load_trajectories(path)
    assert result.format == "swe_agent_traj" and len(result) == 1
    traj = result.trajectories[0]
    assert traj.id == traj.task.id == "marshmallow-code__marshmallow-1867"
    assert traj.task.repo == "marshmallow-code/marshmallow"
    assert len(traj.turns) == len(raw["trajectory"])
    assert [t.observation for t in traj.turns] == [s["observation"] for s in raw["trajectory"]]
    assert [t.thought for t in traj.turns] == [s["thought"].strip() for s in raw["trajectory"]]
    names = [t.action.name for t in traj.turns]
    assert names == ["execute_bash", "str_replace_editor", "str_replace_editor", "execute_bash", "str_replace_editor", "execute_bash", "finish"]
    view, create, run, edit = traj.turns[1].action, traj.turns[2].action, traj.turns[3].action, traj.turns[4].action
    assert view.arguments == {"command": "view", "path": "/testbed/src/marshmallow/fields.py", "view_range": [1468, 1472]}
    assert create.arguments["file_text"].endswith('print(td_field.serialize("td_field", obj))\n')
    assert run.arguments == {"command": "cd /testbed && python reproduce.py"}
    assert "don't truncate" in edit.arguments["new_str"]  # shell-quoted single quote survives
    issue = json.loads(raw["replay_config"])["problem_statement"]["text"]
    assert traj.task.problem_statement == issue
    assert traj.metadata["exit_status"] == "submitted" and traj.metadata["submission"] == raw["info"]["submission"]


@pytest.mark.parametrize(
    "action, expected",
    [
        ("ls -F\n", ("execute_bash", {"command": "ls -F"})),
        ("bash run_tests.sh", ("execute_bash", {"command": "bash run_tests.sh"})),
        ("submit", ("finish", {})),
        ("exit_cost", None),
        ("", None),
        (
            "str_replace_editor insert /testbed/a.py    --new_str 'x = 1\ny = 2' --insert_line 3",
            ("str_replace_editor", {"command": "insert", "path": "/testbed/a.py", "new_str": "x = 1\ny = 2", "insert_line": 3}),
        ),
        (
            "str_replace_editor view /testbed/a.py  --view_range 10 -1",
            ("str_replace_editor", {"command": "view", "path": "/testbed/a.py", "view_range": [10, -1]}),
        ),
    ],
)
def test_swe_agent_action_strings(action, expected):
    from srl_swe.trajectory.common import ParseContext
    from srl_swe.trajectory.sweagent import parse_action

    call = parse_action(action, ParseContext(), "trajectory[0].action")
    if expected is None:
        assert call is None
    else:
        assert (call.name, call.arguments) == expected


def test_sharegpt_fixture(fixtures_dir):
    path = fixtures_dir / "trajectories" / "sharegpt.json"
    raw = json.loads(path.read_text())
    result = load_trajectories(path)
    assert result.format == "sharegpt" and [t.id for t in result] == [r["id"] for r in raw]
    json_calls, roles = result.trajectories
    gpt = [m["value"] for m in raw[0]["conversations"] if m["from"] == "gpt"]
    assert _turn_counts(json_calls) == (sum(v.count("<tool_call>") for v in gpt), 0, len(gpt) - 1)
    assert json_calls.task.repo == "marshmallow-code/marshmallow"
    assert all("<tool_call>" not in t.thought for t in json_calls.turns)
    conv = raw[1]["conversations"]
    steps = sum(m["from"] == "function_call" for m in conv) + sum(
        len(TEXT_CALL.findall(m["value"])) for m in conv if m["from"] == "gpt"
    )
    no_call = sum(m["from"] == "gpt" and "<function=" not in m["value"] for m in conv)
    assert _turn_counts(roles) == (steps, no_call, sum(m["from"] == "observation" for m in conv))
    assert roles.metadata["dropped_user_messages"] == 1


def test_openhands_fc_fixture_answers_by_call_id(fixtures_dir):
    """Two calls in one message answered in reverse order still get their own observations."""
    traj = load_trajectories(fixtures_dir / "trajectories" / "openhands_fc.json").trajectories[0]
    view, create = traj.turns[1], traj.turns[2]
    assert view.action.arguments["command"] == "view" and view.observation.startswith("Here's the result")
    assert create.action.arguments["command"] == "create" and create.observation.startswith("File created")
    assert view.thought == "Let me look at the serialization code the issue points to." and create.thought == ""


# --------------------------------------------------------------------------- SWE-agent's own tools


SWE_AGENT_TOOLS = set(load_scaffold("sweagent_replace").tools)


def _tool_of(action: str) -> str:
    """The tool an action line names: its first word when that is one of SWE-agent's tools, else bash."""
    first = action.split()[0]
    return first if first in SWE_AGENT_TOOLS else "bash"


def test_swe_agent_0x_traj_calls_its_tools_by_name(fixtures_dir):
    """SWE-agent 0.x: the model wrote `open`, `goto`, `edit N:M ... end_of_edit`...; each is a call of that tool, not bash."""
    path = fixtures_dir / "trajectories" / "sweagent_0x" / "marshmallow-code__marshmallow-1867.traj"
    raw = json.loads(path.read_text())
    traj = load_trajectories(path, scaffold="sweagent").trajectories[0]
    assert traj.id == traj.task.id == "marshmallow-code__marshmallow-1867"  # 0.x has no replay_config: the file name
    assert [t.action.name for t in traj.turns] == [_tool_of(s["action"]) for s in raw["trajectory"]]
    assert [t.observation for t in traj.turns] == [s["observation"] for s in raw["trajectory"]]
    calls = {t.action.name: t.action.arguments for t in traj.turns}
    assert calls["open"] == {"path": "src/marshmallow/fields.py", "line_number": 1474}
    assert calls["goto"] == {"line_number": 1474} and calls["scroll_up"] == {} and calls["submit"] == {}
    assert calls["find_file"] == {"file_name": "fields.py", "dir": "src"}
    assert calls["search_file"] == {"search_term": "total_seconds"} and calls["search_dir"] == {"search_term": "base_unit", "dir": "src"}
    first_edit, fix = (t.action.arguments for t in traj.turns if t.action.name == "edit")
    assert first_edit["replacement_text"].startswith("from marshmallow.fields import TimeDelta\n") and first_edit["start_line"] == 1
    assert fix == {"start_line": 1474, "end_line": 1474, "replacement_text": "        return int(round(value.total_seconds() / base_unit.total_seconds()))"}
    # the 0.x prompt's ISSUE: section is the problem statement
    issue = json.loads((fixtures_dir / "trajectories" / "marshmallow-code__marshmallow-1867.traj").read_text())["replay_config"]
    assert traj.task.problem_statement == json.loads(issue)["problem_statement"]["text"]
    assert traj.metadata["instance_prompt"].startswith("We're currently solving the following issue")
    # under the OpenHands scaffold only bash and submit are renamed; SWE-agent's tools keep their names
    names = [t.action.name for t in load_trajectories(path).trajectories[0].turns]
    assert names == [{"bash": "execute_bash", "submit": "finish"}.get(t.action.name, t.action.name) for t in traj.turns]


def test_swe_agent_1x_rendered_tool_lines(fixtures_dir):
    """SWE-agent 1.x function calling renders calls as quoted command lines (windowed_edit_replace: edit/insert)."""
    traj = load_trajectories(fixtures_dir / "trajectories" / "sweagent_windowed_replace.traj", scaffold="sweagent_replace").trajectories[0]
    calls = [(t.action.name, t.action.arguments) for t in traj.turns]
    assert calls[1] == ("open", {"path": "/testbed/src/marshmallow/fields.py", "line_number": 1474})
    assert calls[4] == ("edit", {"search": "        return int(value.total_seconds() / base_unit.total_seconds())",
                                 "replace": "        return int(round(value.total_seconds() / base_unit.total_seconds()))"})
    assert calls[5] == ("insert", {"text": "        # round to the nearest int, don't truncate ('344.99' must give 345)", "line": 1473})
    assert calls[7] == ("edit", {"search": "total_seconds()", "replace": "total_seconds()", "replace-all": True})
    assert [n for n, _ in calls] == ["find_file", "open", "scroll_down", "goto", "edit", "insert", "search_dir", "edit", "bash", "submit"]
    scaffold = load_scaffold("sweagent_replace")
    for name, arguments in calls:  # every call fits the scaffold's schema
        schema = scaffold.tools[name]
        assert set(arguments) <= set(schema["properties"]) and set(schema["required"]) <= set(arguments)


@pytest.mark.parametrize(
    "action, expected",
    [
        ("open src/a.py\n", ("open", {"path": "src/a.py"})),
        ('open "/testbed/my dir/a.py" 30', ("open", {"path": "/testbed/my dir/a.py", "line_number": 30})),
        ("goto 583", ("goto", {"line_number": 583})),
        ("scroll_down", ("scroll_down", {})),
        ("create reproduce.py", ("create", {"filename": "reproduce.py"})),
        ('find_file "*.py" src', ("find_file", {"file_name": "*.py", "dir": "src"})),
        ('search_dir "def foo"', ("search_dir", {"search_term": "def foo"})),
        ("search_file total_seconds src/a.py", ("search_file", {"search_term": "total_seconds", "file": "src/a.py"})),
        ("edit 3:4\n    x = 1\n\n    y = 2\nend_of_edit\n", ("edit", {"start_line": 3, "end_line": 4, "replacement_text": "    x = 1\n\n    y = 2"})),
        ("edit 7:7\nend_of_edit", ("edit", {"start_line": 7, "end_line": 7, "replacement_text": ""})),
        ("edit 'a = 1' 'a = 2' false", ("edit", {"search": "a = 1", "replace": "a = 2", "replace-all": False})),
        ("insert 'import os\nimport sys'", ("insert", {"text": "import os\nimport sys"})),
        ("submit -f", ("submit", {})),
        ("cat a.py | grep open", ("bash", {"command": "cat a.py | grep open"})),
    ],
)
def test_swe_agent_tool_lines(action, expected):
    from srl_swe.trajectory.common import ParseContext
    from srl_swe.trajectory.sweagent_actions import parse_action

    call = parse_action(action, ParseContext(scaffold=load_scaffold("sweagent")), "trajectory[0].action")
    assert (call.name, call.arguments) == expected


@pytest.mark.parametrize(
    "action, reason",
    [
        ("goto abc", "<line_number> must be an integer"),
        ("goto", "goto takes 'goto <line_number>', got 0"),
        ("open a.py 10 20", "open takes 'open <path> [<line_number>]', got 3"),
        ("scroll_down 5", "scroll_down takes 'scroll_down', got 1"),
        ("edit 3:4\n    x = 1\n", "is not closed by a line 'end_of_edit'"),
        ("edit 3:4\nx\nend_of_edit\nedit 9:9\ny\nend_of_edit", "more than one edit"),
        ("edit 'a = 1' 'a = 2' maybe", "must be True or False"),
        ("search_dir 'unclosed", "cannot split search_dir action"),
    ],
)
def test_bad_swe_agent_tool_lines_are_errors(action, reason):
    from srl_swe.trajectory.common import ParseContext, RecordError
    from srl_swe.trajectory.sweagent_actions import parse_action

    with pytest.raises(RecordError, match=re.escape(reason)) as info:
        parse_action(action, ParseContext(), "trajectory[2].action")
    assert info.value.field == "trajectory[2].action"


def test_swe_agent_backticks_fixture(fixtures_dir):
    """nebius/SWE-agent-trajectories rows: the last ``` block of an `ai` turn is the action, the next user turn its output."""
    path = fixtures_dir / "trajectories" / "swe_agent_backticks.jsonl"
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    result = load_trajectories(path, scaffold="sweagent")
    assert result.format == "swe_agent_backticks" and result.invalid == []
    full, rejected = result.trajectories
    conv = raw[0]["trajectory"]
    ai = [m["text"] for m in conv if m["role"] == "ai"]
    assert [t.action.name for t in full.turns] == [_tool_of(text.rsplit("```\n", 2)[1]) for text in ai]
    assert [t.observation for t in full.turns] == [m["text"] for m in conv[3::2]] + [None]  # submit has no answer
    assert full.turns[0].thought == "Let's first reproduce the issue. I'll create `reproduce.py` with the snippet."
    assert full.turns[4].action.arguments == {"start_line": 1474, "end_line": 1474,
                                              "replacement_text": "        return int(round(value.total_seconds() / base_unit.total_seconds()))"}
    assert full.id == "marshmallow-code__marshmallow-1867_3" and full.task.id == "marshmallow-code__marshmallow-1867"
    assert full.task.repo == "marshmallow-code/marshmallow" and full.task.problem_statement.startswith("TimeDelta serialization precision")
    assert full.metadata["resolved"] is True and full.metadata["generated_patch"] == raw[0]["generated_patch"]
    assert "eval_logs" not in full.metadata and full.metadata["model_name"] == "swe-agent-llama-70b"
    # the `messages` variant: a response without a block is a turn without a call, its format error dropped
    assert [t.action.name if t.action else None for t in rejected.turns] == ["search_dir", None, "open", "edit", "bash", "submit"]
    assert rejected.turns[1].thought.startswith("I think the problem is the truncation")
    assert rejected.metadata["dropped_user_messages"] == 1 and rejected.metadata["resolved"] is False
    assert rejected.turns[2].thought == "DISCUSSION\nLet me open the file where the class is defined."
    silent = rejected.turns[4]  # an observation without any prefix is kept
    assert silent.observation.startswith("Your command ran successfully and did not produce any output.\n(Open file:")


def test_swe_agent_backticks_bad_tool_line_is_invalid(fixtures_dir, tmp_path):
    row = json.loads((fixtures_dir / "trajectories" / "swe_agent_backticks.jsonl").read_text().splitlines()[0])
    row["trajectory"][8]["text"] = "Open it.\n```\ngoto line1474\n```"
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(InvalidRecordError, match="must be an integer") as info:
        load_trajectories(path)
    assert (info.value.source, info.value.record, info.value.field) == (str(path), 0, "trajectory[8].text")
    result = load_trajectories(path, skip_invalid=True)
    assert len(result) == 0 and len(result.invalid) == 1


# --------------------------------------------------------------------------- mini-swe-agent


def test_mini_swe_agent_fixture(fixtures_dir):
    path = fixtures_dir / "trajectories" / MINI
    raw = json.loads(path.read_text())
    result = load_trajectories(path)
    assert result.format == "mini_swe_agent" and result.invalid == []
    traj = result.trajectories[0]
    assistant = [m for m in raw["messages"] if m["role"] == "assistant"]
    commands = [m["extra"]["actions"][0]["command"] for m in assistant]
    assert [t.action.name for t in traj.turns] == ["execute_bash"] * (len(commands) - 1) + ["finish"]
    assert [t.action.arguments["command"] for t in traj.turns[:-1]] == commands[:-1]
    outputs = [m["content"] for m in raw["messages"] if m["role"] == "user" and m["content"].startswith("<returncode>")]
    assert [t.observation for t in traj.turns] == outputs + [None]  # the submit is answered by the exit message
    assert traj.turns[0].thought == "THOUGHT: Let me find where the TimeDelta field serializes its value."
    assert traj.metadata["submit_command"] == commands[-1] and raw["messages"][-1]["role"] == "exit"
    assert traj.metadata["dropped_user_messages"] == 1  # the stored format error
    assert traj.id == traj.task.id == "marshmallow-code__marshmallow-1867" and traj.task.repo == "marshmallow-code/marshmallow"
    assert traj.task.problem_statement.startswith("TimeDelta serialization precision")  # without "Consider the following PR description:"
    assert traj.metadata["instance_prompt"] == raw["messages"][1]["content"]
    assert traj.metadata["exit_status"] == "Submitted" and traj.metadata["mini_version"] == "2.1.0"
    assert traj.metadata["model_name"] == "anthropic/claude-sonnet-4-5-20250929" and traj.metadata["api_calls"] == 7
    assert traj.metadata["trajectory_format"] == "mini-swe-agent-1.1"


def _mini_v1():
    """mini-swe-agent v1: ```bash blocks, a response with two blocks (rejected, not run), the submission as the last user message."""
    return {
        "info": {"exit_status": "Submitted", "submission": "diff --git a/a.py b/a.py\n", "model_stats": {"instance_cost": 0.01, "api_calls": 4},
                 "mini_version": "1.9.1"},
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that can interact with a computer."},
            {"role": "user", "content": "Please solve this issue: division by zero in a.py"},
            {"role": "assistant", "content": "Let me look.\n\n```bash\ncat a.py\n```"},
            {"role": "user", "content": "<returncode>0</returncode>\n<output>\nprint(1/0)\n</output>"},
            {"role": "assistant", "content": "Two things.\n\n```bash\nls\n```\n\n```bash\npwd\n```"},
            {"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks, found 2 actions."},
            {"role": "assistant", "content": "Fix it.\n\n```bash\nsed -i 's/1\\/0/1/' a.py\n```"},
            {"role": "user", "content": "The last command <command>sed -i 's/1\\/0/1/' a.py</command> timed out and has been killed."},
            {"role": "assistant", "content": "Submit.\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached\n```"},
            {"role": "user", "content": "diff --git a/a.py b/a.py\n"},
        ],
        "trajectory_format": "mini-swe-agent-1",
    }


def test_mini_swe_agent_v1_and_tool_calls(tmp_path):
    v1 = tmp_path / "octo__widgets-12.traj.json"
    v1.write_text(json.dumps(_mini_v1()))
    traj = load_trajectories(v1).trajectories[0]
    assert traj.id == "octo__widgets-12"  # the file name without .traj.json
    assert [t.action.name if t.action else None for t in traj.turns] == ["execute_bash", None, "execute_bash", "finish"]
    assert traj.turns[1].thought.startswith("Two things.")  # rejected by mini-swe-agent: kept whole, no call
    assert traj.turns[2].observation.startswith("The last command <command>")  # a timeout answers the command
    assert traj.turns[3].observation is None and traj.metadata["dropped_user_messages"] == 1
    assert traj.metadata["submit_command"].startswith("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")

    calls = [{"id": f"call_{k}", "type": "function", "function": {"name": "bash", "arguments": json.dumps({"command": c})}}
             for k, c in enumerate(["ls", "cat a.py"])]
    tool = {
        "info": {"exit_status": "Submitted", "submission": "", "mini_version": "2.2.0"}, "trajectory_format": "mini-swe-agent-1.1",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "<pr_description>\nConsider the following PR description:\nFix a.py\n</pr_description>"},
            {"role": "assistant", "content": "Look around.", "tool_calls": calls, "extra": {"actions": [{"command": "ls", "tool_call_id": "call_0"},
                                                                                                        {"command": "cat a.py", "tool_call_id": "call_1"}]}},
            {"role": "tool", "tool_call_id": "call_1", "content": "<returncode>0</returncode>\n<output>\nprint(1)\n</output>"},
            {"role": "tool", "tool_call_id": "call_0", "content": "<returncode>0</returncode>\n<output>\na.py\n</output>"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_2", "type": "function", "function": {
                "name": "bash", "arguments": json.dumps({"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && cat patch.txt"})}}]},
            {"role": "exit", "content": "", "extra": {"exit_status": "Submitted", "submission": ""}},
        ],
    }
    path = tmp_path / "tool.traj.json"
    path.write_text(json.dumps(tool))
    result = load_trajectories(path)
    assert result.format == "mini_swe_agent"  # not openhands_fc, though it has tool_calls
    traj = result.trajectories[0]
    assert [(t.action.name, t.observation) for t in traj.turns] == [
        ("execute_bash", "<returncode>0</returncode>\n<output>\na.py\n</output>"),
        ("execute_bash", "<returncode>0</returncode>\n<output>\nprint(1)\n</output>"),
        ("finish", None),
    ]
    assert traj.task.problem_statement == "Fix a.py" and traj.turns[0].thought == "Look around." and traj.turns[1].thought == ""
    tool["messages"][3]["role"] = "observer"
    path.write_text(json.dumps(tool))
    with pytest.raises(InvalidRecordError, match="unknown role 'observer'") as info:
        load_trajectories(path)
    assert info.value.field == "messages[3].role"


# --------------------------------------------------------------------------- OpenHands evaluation output


def test_openhands_eval_fixture(fixtures_dir):
    path = fixtures_dir / "trajectories" / "openhands_eval_output.jsonl"
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    result = load_trajectories(path)
    assert result.format == "openhands_eval" and result.invalid == []
    run, stripped = result.trajectories
    events = raw[0]["history"]
    agent = [e for e in events if "action" in e and e["source"] == "agent" and e["action"] != "system"]
    assert len(run.turns) == len(agent) and all(t.action is not None for t in run.turns)
    # each call is the model's own (name and arguments from model_response), as in the SWE-Gym messages of the same run
    same = load_trajectories(fixtures_dir / "trajectories" / "openhands_fc.json").trajectories[0]
    assert [t.action for t in run.turns] == [t.action for t in same.turns]
    assert [t.thought for t in run.turns] == [t.thought for t in same.turns]
    # observations follow `cause`; a command's output carries the suffix the model saw
    assert run.turns[1].observation.startswith("Here's the result of running `cat -n`") and run.turns[2].observation == "File created at /testbed/reproduce.py"
    assert run.turns[3].observation == "344\n[The command completed with exit code 0.]"
    assert run.turns[-1].action.name == "finish" and run.turns[-1].observation is None
    assert run.task.problem_statement == raw[0]["instance"]["problem_statement"] and run.metadata["instance_prompt"] == raw[0]["instruction"]
    assert run.task.base_commit == raw[0]["instance"]["base_commit"] and run.task.repo == "marshmallow-code/marshmallow"
    assert run.metadata["resolved"] is True and run.metadata["git_patch"] == raw[0]["test_result"]["git_patch"]
    assert run.metadata["agent_class"] == "CodeActAgent" and run.metadata["model_name"] == "anthropic/claude-3-5-sonnet-20241022"
    # responses stripped: calls rebuilt from the actions; the rejected call's error answers nothing; a message and a nudge
    assert [(t.action.name if t.action else None) for t in stripped.turns] == [
        "execute_bash", "str_replace_editor", "str_replace_editor", None, "think", "finish"]
    assert stripped.turns[1].action.arguments == {"command": "view", "path": "/workspace/marshmallow-code__marshmallow__3.13/src/marshmallow/fields.py",
                                                  "view_range": [960, 972]}
    assert stripped.turns[2].action.arguments["new_str"].startswith("        if self.as_string and ret is not None:")
    assert "file_text" not in stripped.turns[2].action.arguments and stripped.turns[2].thought == "`None` must not be stringified."
    assert stripped.turns[4].action.arguments == {"thought": "The only caller that passes None is the serializer; no other change is needed."}
    assert stripped.turns[5].action.arguments == {"message": "Fixed: `as_string` no longer turns `None` into \"None\".", "task_completed": "true"}
    assert stripped.metadata["unanswered_observations"] == 1 and stripped.metadata["dropped_user_messages"] == 1
    assert stripped.metadata["resolved"] is False  # from test_result.report


def test_openhands_eval_pairs_and_unknown_actions(tmp_path):
    """2024's output.jsonl stored [action, observation] pairs; an action kind no tool stands for makes the record invalid."""
    pairs = [
        [{"action": "run", "args": {"command": "open /workspace/a.py", "background": False, "thought": "Open the file."}, "message": "Running command: open"},
         {"observation": "run", "content": "[File: /workspace/a.py (3 lines total)]", "extras": {"command_id": -1, "command": "open /workspace/a.py", "exit_code": 0},
          "message": "Command executed."}],
        [{"action": "finish", "args": {"outputs": {}, "thought": "Done."}, "message": "All done!"}, {"observation": "null", "content": "", "extras": {}, "message": ""}],
    ]
    row = {"instance_id": "octo__widgets-12", "instruction": "Please fix the following issue.\n\n# Problem Statement\nWidgets break.\n",
           "swe_instance": {"repo": "octo/widgets", "instance_id": "octo__widgets-12", "base_commit": "abc", "problem_statement": "Widgets break."},
           "test_result": {"git_patch": ""}, "metadata": {"agent_class": "CodeActAgent", "model_name": "gpt-4-1106-preview"}, "history": pairs}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(row) + "\n")
    traj = load_trajectories(path).trajectories[0]
    assert [(t.thought, t.action.name, t.action.arguments, t.observation) for t in traj.turns] == [
        ("Open the file.", "execute_bash", {"command": "open /workspace/a.py"}, "[File: /workspace/a.py (3 lines total)]"),
        ("Done.", "finish", {}, None),
    ]
    assert traj.task.problem_statement == "Widgets break." and traj.metadata["model_name"] == "gpt-4-1106-preview"
    row["history"][1][0]["action"] = "send_pr"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(InvalidRecordError, match="OpenHands action 'send_pr' is not a tool call") as info:
        load_trajectories(path)
    assert (info.value.record, info.value.field) == (0, "history[1][0].action")


# --------------------------------------------------------------------------- observations and look-alikes (text formats)


def test_swe_smith_observation_without_prefix_is_kept(fixtures_dir, tmp_path):
    """SWE-agent writes "Your command ran successfully and did not produce any output." without OBSERVATION:."""
    record = json.loads((fixtures_dir / "trajectories" / "swe_smith_text.jsonl").read_text().splitlines()[1])
    silent = "Your command ran successfully and did not produce any output."
    record["messages"][10]["content"] = silent  # the answer to the run of reproduce.py
    path = tmp_path / "smith.jsonl"
    path.write_text(json.dumps(record) + "\n")
    traj = load_trajectories(path).trajectories[0]
    assert traj.turns[4].action.name == "execute_bash" and traj.turns[4].observation == silent
    assert traj.metadata["dropped_user_messages"] == 1  # only the reminder, as before


def _look_alike():
    """Commands in ```bash blocks answered by their output, and only the last action a <function=submit> call."""
    return {"messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "<pr_description>\nWidgets break.\n</pr_description>"},
        {"role": "assistant", "content": "Look around.\n\n```bash\nls\n```"},
        {"role": "user", "content": "widgets.py\n"},
        {"role": "assistant", "content": "Fix it.\n\n```bash\nsed -i 's/a/b/' widgets.py\n```"},
        {"role": "user", "content": "OBSERVATION:\n"},
        {"role": "assistant", "content": "Done.\n<function=submit>\n</function>"},
    ]}


def test_look_alike_text_trajectory_is_invalid_not_shortened(tmp_path):
    path = tmp_path / "look_alike.jsonl"
    path.write_text(json.dumps(_look_alike()) + "\n")
    with pytest.raises(InvalidRecordError, match="has no <function=...> call") as info:
        load_trajectories(path)
    assert (info.value.source, info.value.record, info.value.field) == (str(path), 0, "messages[2].content")
    result = load_trajectories(path, skip_invalid=True)
    assert result.trajectories == [] and len(result.invalid) == 1
    # an answer that is an observation by its prefix also gives a message without a call away
    record = _look_alike()
    record["messages"][2]["content"] = "Look around, no code block here."
    record["messages"][3]["content"] = "OBSERVATION:\nwidgets.py\n"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(InvalidRecordError) as info:
        load_trajectories(path)
    assert info.value.field == "messages[2].content"


# --------------------------------------------------------------------------- detection

MINI = "mini_swe_agent/marshmallow-code__marshmallow-1867/marshmallow-code__marshmallow-1867.traj.json"
FIXTURE_FORMATS = {
    "swe_smith_text.jsonl": "swe_smith_text",
    "marshmallow-code__marshmallow-1867.traj": "swe_agent_traj",
    "sweagent_0x/marshmallow-code__marshmallow-1867.traj": "swe_agent_traj",
    "sweagent_windowed_replace.traj": "swe_agent_traj",
    "swe_agent_backticks.jsonl": "swe_agent_backticks",
    "sharegpt.json": "sharegpt",
    "openhands_fc.json": "openhands_fc",
    "openhands_eval_output.jsonl": "openhands_eval",
    MINI: "mini_swe_agent",
}


@pytest.mark.parametrize("name, expected", sorted(FIXTURE_FORMATS.items()))
def test_detection_picks_the_fixture_format(fixtures_dir, name, expected):
    path = fixtures_dir / "trajectories" / name
    assert load_trajectories(path).format == expected
    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines()] if name.endswith(".jsonl") else json.loads(text)
    for record in records if isinstance(records, list) else [records]:
        assert detect_format(record) == expected


def test_detection_picks_the_real_formats(gym_path, play_path):
    assert {detect_format(r) for r in json.loads(gym_path.read_text())} == {"openhands_fc"}
    assert {detect_format(r) for r in json.loads(play_path.read_text())} == {"openhands_text"}


def test_format_override_and_registry(fixtures_dir):
    assert list(FORMATS) == ["canonical", "mini_swe_agent", "openhands_eval", "swe_agent_traj", "swe_agent_backticks", "sharegpt",
                             "openhands_fc", "openhands_text", "swe_smith_text"]
    path = fixtures_dir / "trajectories" / "swe_smith_text.jsonl"
    assert load_trajectories(path, format="swe_smith_text").format == "swe_smith_text"


def test_directory_of_files_detects_each_file(fixtures_dir):
    """Every fixture below the directory loads in its own format; mini-swe-agent's preds.json is skipped and listed."""
    root = fixtures_dir / "trajectories"
    result = load_trajectories(root)
    assert len(result) == 13 and result.invalid == []
    assert result.format == "mixed:" + ",".join(sorted(set(FIXTURE_FORMATS.values())))
    assert {t.source_format for t in result} == set(FIXTURE_FORMATS.values())
    assert [(s.path, "no known trajectory format" in s.reason) for s in result.skipped] == [(str(root / "mini_swe_agent" / "preds.json"), True)]


def test_openhands_llm_completion_logs_are_no_trajectories():
    """OpenHands' llm_completions/*.json hold one LLM call each (messages with tool calls): not a trajectory."""
    log = {"messages": [{"role": "user", "content": "Fix it."}, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "execute_bash", "arguments": '{"command": "ls"}'}}]},
        {"role": "tool", "tool_call_id": "c", "content": "a.py"}], "response": {"id": "x"}, "args": [], "kwargs": {}, "timestamp": 1.0, "cost": 0.0}
    assert detect_format(log) is None
    assert detect_format({k: v for k, v in log.items() if k not in ("response", "kwargs")}) == "openhands_fc"


def test_glob_pattern_selects_files(fixtures_dir, tmp_path):
    run = tmp_path / "trajectories" / "me" / "run"
    instance = run / "marshmallow-code__marshmallow-1867"
    instance.mkdir(parents=True)
    traj = fixtures_dir / "trajectories" / "marshmallow-code__marshmallow-1867.traj"
    (instance / traj.name).write_text(traj.read_text())
    (run / "preds.json").write_text('{"marshmallow-code__marshmallow-1867": {"model_patch": ""}}')
    result = load_trajectories(f"{run}/**/*.traj")
    assert result.format == "swe_agent_traj" and [t.id for t in result] == ["marshmallow-code__marshmallow-1867"]

