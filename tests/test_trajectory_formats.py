"""Each source format parses into the counts an independent reading of the raw JSON gives.

Real samples are read in place from ../shared/data (skipped when absent); the SWE-smith,
SWE-agent .traj, ShareGPT and small OpenAI tool_calls fixtures are hand-written (tests/fixtures).
"""
from __future__ import annotations

import json
import re

import pytest

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


# --------------------------------------------------------------------------- detection

FIXTURE_FORMATS = {
    "swe_smith_text.jsonl": "swe_smith_text",
    "marshmallow-code__marshmallow-1867.traj": "swe_agent_traj",
    "sharegpt.json": "sharegpt",
    "openhands_fc.json": "openhands_fc",
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
    assert list(FORMATS) == ["canonical", "swe_agent_traj", "sharegpt", "openhands_fc", "openhands_text", "swe_smith_text"]
    path = fixtures_dir / "trajectories" / "swe_smith_text.jsonl"
    assert load_trajectories(path, format="swe_smith_text").format == "swe_smith_text"


def test_directory_of_files_detects_each_file(fixtures_dir):
    result = load_trajectories(fixtures_dir / "trajectories")
    assert len(result) == 6
    assert result.format == "mixed:openhands_fc,sharegpt,swe_agent_traj,swe_smith_text"
    assert {t.source_format for t in result} == set(FIXTURE_FORMATS.values())


def test_glob_pattern_selects_files(fixtures_dir, tmp_path):
    run = tmp_path / "trajectories" / "me" / "run"
    instance = run / "marshmallow-code__marshmallow-1867"
    instance.mkdir(parents=True)
    traj = fixtures_dir / "trajectories" / "marshmallow-code__marshmallow-1867.traj"
    (instance / traj.name).write_text(traj.read_text())
    (run / "preds.json").write_text('{"marshmallow-code__marshmallow-1867": {"model_patch": ""}}')
    result = load_trajectories(f"{run}/**/*.traj")
    assert result.format == "swe_agent_traj" and [t.id for t in result] == ["marshmallow-code__marshmallow-1867"]

