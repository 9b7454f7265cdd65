"""Trajectories become one SRL step instance per expert action."""
import pytest

from srl_swe.data import default_dataset_path
from srl_swe.trajectory import load_trajectories
from srl_swe.steps import StepBuilder, StepConfig, build_steps, truncate_observation
from srl_swe.trajectory.model import Task, ToolCall, Trajectory, Turn


def call(i):
    return ToolCall("execute_bash", {"command": f"echo {i}"})


TRAJ = Trajectory(
    "t1", Task("t1", "Fix it.", repo="o/r"),
    [Turn("a", call(0), "out0"), Turn("I'm done talking", None, None), Turn("b", call(1), "out1"),
     Turn("c", call(2), "x" * 10_000), Turn("d", ToolCall("finish", {}), None)],
)


def test_one_instance_per_action_and_messages_are_skipped():
    steps = StepBuilder().steps(TRAJ)
    assert [s.step_index for s in steps] == [0, 1, 2, 3]
    assert [s.tool_name for s in steps] == ["execute_bash"] * 3 + ["finish"]
    assert all(s.trajectory_id == "t1" and s.num_steps == 4 for s in steps)
    assert all("I'm done talking" not in m["content"] for s in steps for m in s.prompt)


def test_last_k_context_keeps_issue_and_k_rounds():
    steps = StepBuilder(StepConfig(context="last:2")).steps(TRAJ)
    prompt = steps[3].prompt
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "Fix it." in prompt[1]["content"] and "[1 earlier step(s) omitted]" in prompt[1]["content"]
    assert "echo 1" in prompt[2]["content"] and "echo 0" not in "".join(m["content"] for m in prompt)


def test_full_context_keeps_every_round():
    steps = StepBuilder(StepConfig(context="full")).steps(TRAJ)
    assert len(steps[3].prompt) == 2 + 2 * 3
    assert steps[0].prompt[0]["role"] == "system" and len(steps[0].prompt) == 2


def test_observation_budget_truncates_with_a_visible_marker():
    steps = StepBuilder(StepConfig(context="full", max_observation_chars=100)).steps(TRAJ)
    last_obs = steps[3].prompt[-1]["content"]
    assert "[... 9900 characters truncated ...]" in last_obs
    assert truncate_observation("short", 100) == "short"


def test_bad_context_policy_is_rejected():
    with pytest.raises(ValueError, match="last:K"):
        StepConfig(context="last:two")


def test_expert_action_is_the_canonical_call_and_prompts_are_chat_messages():
    trajectories = load_trajectories(default_dataset_path()).trajectories
    steps = list(build_steps(trajectories))
    assert len(steps) == sum(len(t.actions) for t in trajectories)
    for s in steps:
        assert s.expert_action.startswith(f"<function={s.tool_name}>")
        assert all(set(m) == {"role", "content"} for m in s.prompt)


def test_embedded_default_data_is_sound():
    """Each embedded episode was recorded in a sandbox: failing tests first, the fix, then passing tests."""
    trajectories = load_trajectories(default_dataset_path()).trajectories
    assert len(trajectories) >= 30 and all(t.metadata["resolved"] for t in trajectories)
    assert len({t.task.repo for t in trajectories}) >= 3
    for t in trajectories:
        tools = [turn.action.name for turn in t.actions]
        assert tools[-1] == "finish" and "str_replace_editor" in tools
        runs = [turn.observation for turn in t.actions if "pytest" in turn.action.arguments.get("command", "")]
        assert "failed" in runs[0] or "error" in runs[0].lower()
        assert "passed" in runs[-1] and " failed" not in runs[-1]


def test_compact_scaffold_extends_the_base_tools_with_a_short_prompt():
    from srl_swe.scaffold import load_scaffold

    base, compact = load_scaffold("openhands"), load_scaffold("openhands_compact")
    assert compact.tools == base.tools and compact.aliases == base.aliases
    assert "- str_replace_editor(command, path, [file_text]" in compact.render_system_prompt()
    assert len(compact.render_system_prompt()) < len(base.render_system_prompt()) / 3
    steps = StepBuilder(StepConfig(scaffold="openhands_compact")).steps(TRAJ)
    assert steps[0].prompt[0]["content"] == compact.render_system_prompt()
