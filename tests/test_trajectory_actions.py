"""Parsed actions render canonically, re-parse to themselves, and look the same whatever format they came from."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from srl_swe.actions import extract_function_calls, format_action, normalize_call, parse_action, render_call
from srl_swe.scaffold import load_scaffold
from srl_swe.trajectory import ToolCall, load_trajectories

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trajectories"


#: fixtures whose runs use SWE-agent's own tools, and the scaffold that declares them
SWE_AGENT_SCAFFOLDS = {
    "sweagent_0x/marshmallow-code__marshmallow-1867.traj": "sweagent",
    "swe_agent_backticks.jsonl": "sweagent",
    "sweagent_windowed_replace.traj": "sweagent_replace",
}
TRAJECTORY_FIXTURES = sorted(
    str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.suffix in (".json", ".jsonl", ".traj") and p.name != "preds.json"
)


def _reparse(call: ToolCall, scaffold=None) -> ToolCall:
    (name, args), = extract_function_calls(render_call(call, scaffold))
    return normalize_call(name, args, scaffold)


def _assert_all_reparse(sources, scaffold=None) -> None:
    actions = [t.action for source in sources for traj in load_trajectories(source, scaffold=scaffold) for t in traj.actions]
    assert actions
    for call in actions:
        assert _reparse(call, scaffold) == call, render_call(call, scaffold)


@pytest.mark.parametrize("name", TRAJECTORY_FIXTURES)
def test_fixture_actions_render_and_reparse(name):
    scaffold = SWE_AGENT_SCAFFOLDS.get(name)
    _assert_all_reparse([FIXTURES / name], load_scaffold(scaffold) if scaffold else None)


@pytest.mark.parametrize("name, scaffold", sorted(SWE_AGENT_SCAFFOLDS.items()))
def test_swe_agent_tool_calls_are_valid_policy_actions(name, scaffold):
    """Under the scaffold of SWE-agent's tools, an expert's call written as the policy writes it parses back to itself."""
    scaffold = load_scaffold(scaffold)
    for traj in load_trajectories(FIXTURES / name, scaffold=scaffold):
        for turn in traj.actions:
            assert parse_action(format_action(turn.thought, turn.action, scaffold), scaffold).call == turn.action


def test_real_sample_actions_render_and_reparse(shared_data):
    _assert_all_reparse(sorted((shared_data / "trajectories").glob("*.json")))


def test_same_run_renders_identically_in_every_format():
    """The fixtures hold one expert run written as .traj, OpenAI tool_calls, ShareGPT JSON calls, SWE-smith text and OpenHands events."""
    runs = {
        "swe_agent_traj": load_trajectories(FIXTURES / "marshmallow-code__marshmallow-1867.traj").trajectories[0],
        "openhands_fc": load_trajectories(FIXTURES / "openhands_fc.json").trajectories[0],
        "sharegpt": load_trajectories(FIXTURES / "sharegpt.json").trajectories[0],
        "swe_smith_text": load_trajectories(FIXTURES / "swe_smith_text.jsonl").trajectories[1],
        "openhands_eval": load_trajectories(FIXTURES / "openhands_eval_output.jsonl").trajectories[0],
    }
    rendered = {fmt: [render_call(t.action) for t in traj.actions] for fmt, traj in runs.items()}
    reference = rendered["openhands_fc"]
    assert len(reference) == 7
    for fmt, calls in rendered.items():
        assert calls == reference, fmt
    assert "<parameter=view_range>[1468, 1472]</parameter>" in reference[1]


def _fc(name, arguments):
    return {
        "messages": [
            {"role": "user", "content": "Fix it."},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "function": {"name": name, "arguments": json.dumps(arguments)}}]},
            {"role": "tool", "tool_call_id": "c", "content": "OBSERVATION:\nok"},
        ]
    }


def _text(body):
    return {
        "messages": [
            {"role": "user", "content": "Fix it."},
            {"role": "assistant", "content": body},
            {"role": "user", "content": "OBSERVATION:\nok"},
        ]
    }


@pytest.mark.parametrize(
    "fc, text",
    [
        (
            _fc("str_replace_editor", {"command": "view", "path": "/testbed/a.py", "view_range": [1, 20]}),
            _text("<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/testbed/a.py</parameter>\n<parameter=view_range>[1, 20]</parameter>\n</function>"),
        ),
        (
            _fc("execute_bash", {"command": "pytest -x tests/test_a.py"}),
            _text("Run the tests.\n<function=bash>\n<parameter=command>pytest -x tests/test_a.py</parameter>\n</function>"),
        ),
        (
            _fc("str_replace_editor", {"path": "/testbed/a.py", "command": "insert", "insert_line": 3, "new_str": "x = 1"}),
            _text("<function=str_replace_editor><parameter=command>insert</parameter><parameter=path>/testbed/a.py</parameter><parameter=insert_line>3</parameter><parameter=new_str>x = 1</parameter></function>"),
        ),
        (_fc("finish", {}), _text("Done.\n<function=submit>\n</function>")),
    ],
)
def test_fc_json_and_text_render_identically(tmp_path, fc, text):
    fc_path, text_path = tmp_path / "fc.json", tmp_path / "text.json"
    fc_path.write_text(json.dumps([fc]))
    text_path.write_text(json.dumps([text]))
    from_fc = load_trajectories(fc_path)
    from_text = load_trajectories(text_path)
    assert (from_fc.format, from_text.format) == ("openhands_fc", "swe_smith_text")
    (a,), (b,) = from_fc.trajectories[0].actions, from_text.trajectories[0].actions
    assert a.action == b.action
    assert render_call(a.action) == render_call(b.action)
