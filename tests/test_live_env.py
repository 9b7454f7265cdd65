"""The live SWE environment: tool calls in a Docker sandbox, grading by the task's tests.

Builds a small task image of its own (one of the embedded synthetic bugs, pytest in a venv)
so it does not depend on the registered environments.
"""
from __future__ import annotations

import io
import json
import tarfile

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import srl_swe  # noqa: F401
from srl_swe.actions import format_action
from srl_swe.agent.recorder import record_episode
from srl_swe.agent.scripted_expert import ScriptedExpert
from srl_swe.agent.synthetic import BUGS, _files
from srl_swe.evaluation.grader import grade_patch
from srl_swe.gym.live import LiveConfig, SWEEnv
from srl_swe.patches import split_patch
from srl_swe.sandbox import DEFAULT_IMAGE, Sandbox
from srl_swe.trajectory.model import ToolCall

pytestmark = pytest.mark.docker
BUG = BUGS[0]  # clamp-upper-bound
IMAGE = "srl-swe-test/live-clamp:1"
DOCKERFILE = f"""FROM {DEFAULT_IMAGE}
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q pytest==8.3.5
ENV PATH=/opt/venv/bin:$PATH
COPY repo/ /testbed/
RUN cd /testbed && git init -q && git add -A && \\
    GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t \\
    GIT_AUTHOR_DATE=2020-01-01T00:00:00Z GIT_COMMITTER_DATE=2020-01-01T00:00:00Z git commit -qm base
"""
EVAL = """#!/bin/bash
set -uxo pipefail
cd /testbed
git checkout {base} -- tests
echo '>>>>> Start Test Output'
python -m pytest -rA tests
echo '>>>>> End Test Output'
git checkout {base} -- tests
"""


@pytest.fixture(scope="module")
def task(docker_client):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, text in {"Dockerfile": DOCKERFILE, **{f"repo/{p}": t for p, t in _files(BUG).items()}}.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    docker_client.images.build(fileobj=buf, custom_context=True, tag=IMAGE, rm=True)
    with Sandbox(IMAGE, client=docker_client) as sandbox:
        base = sandbox.exec("git -C /testbed rev-parse HEAD").output.strip()
        sandbox.write_file(BUG.module, sandbox.read_file(BUG.module).replace(BUG.fix_old, BUG.fix_new))
        gold = sandbox.diff()
    return {
        "instance_id": "srl-swe-test__clamp-1", "repo": "srl-swe/numtools", "version": "0.1", "base_commit": base,
        "environment_setup_commit": base, "image": IMAGE, "problem_statement": BUG.issue,
        "patch": gold, "test_patch": "", "eval_script": EVAL.format(base=base), "log_parser": "parse_log_pytest",
        "eval_type": "pass_and_fail", "FAIL_TO_PASS": json.dumps(["tests/test_bounds.py::test_clamp_above"]),
        "PASS_TO_PASS": json.dumps(["tests/test_bounds.py::test_clamp_inside"]), "_module": f"/testbed/{BUG.module}",
    }


@pytest.fixture
def make_env(task):
    """gym.make for the test task; every env made is closed (its sandbox removed) even when a test fails."""
    made = []

    def make(**kwargs):
        made.append(gym.make("srl_swe/SWE-v0", task=task, **kwargs))
        return made[-1]

    yield make
    for env in made:
        env.close()


def act(tool, **arguments):
    return format_action("next step", ToolCall(tool, arguments))


def fix_action(task):
    return act("str_replace_editor", command="str_replace", path=task["_module"], old_str=BUG.fix_old, new_str=BUG.fix_new)


@pytest.mark.both_engines
def test_check_env_passes(task):
    env = SWEEnv(task=task, max_steps=3)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.both_engines
def test_solving_the_task_earns_reward_one(task, make_env):
    env = make_env(max_steps=10)
    obs, info = env.reset(seed=0)
    assert BUG.issue in obs[1]["content"] and info["base_commit"] == task["base_commit"]
    obs, reward, terminated, truncated, info = env.step(act("execute_bash", command="python -m pytest -q tests | tail -3"))
    assert "1 failed" in obs[-1]["content"] and reward == 0 and not (terminated or truncated)
    obs, *_ = env.step(fix_action(task))
    assert "has been edited" in obs[-1]["content"]
    obs, reward, terminated, truncated, info = env.step(act("finish", message="done"))
    assert terminated and not truncated and reward == 1.0
    assert info["resolved"] and info["fail_to_pass"] == 1.0 and info["pass_to_pass_regressions"] == []
    assert info["reward_valid"] and info["test_files_modified"] == [] and BUG.module in info["patch"]


def test_editing_tests_is_reported_and_not_graded(make_env):
    env = make_env(max_steps=5)
    env.reset(seed=0)
    test_file = "/testbed/tests/test_bounds.py"
    env.step(act("str_replace_editor", command="str_replace", path=test_file, old_str="== 10\n", new_str="== 12\n"))
    _, reward, terminated, _, info = env.step(act("finish"))
    assert terminated and reward == 0.0 and not info["resolved"]
    assert info["test_files_modified"] == ["tests/test_bounds.py"] and info["patch"] == ""


def test_patch_is_the_graded_diff_without_test_files_or_artifacts(task, make_env):
    env = make_env(max_steps=6)
    env.reset(seed=0)
    env.step(fix_action(task))
    env.step(act("str_replace_editor", command="str_replace", path="/testbed/tests/test_bounds.py", old_str="== 10\n", new_str="== 12\n"))
    env.step(act("execute_bash", command="python -B -c 'import py_compile; py_compile.compile(\"" + task["_module"] + "\")'"))
    final = env.unwrapped.patch()
    assert final.test_files_modified == ["tests/test_bounds.py"]
    assert [path for path, _ in split_patch(final.patch)] == [BUG.module]
    _, _, terminated, _, info = env.step(act("finish"))
    assert terminated and (info["patch"], info["test_files_modified"]) == final


def test_a_new_root_conftest_is_a_test_file_and_the_given_config_is_left_alone(task):
    config = LiveConfig(command_timeout=7.0)
    env = SWEEnv(task=task, max_steps=4, config=config)
    try:
        env.reset(seed=0)
        assert env.sandbox.config.command_timeout == 7.0
        env.step(act("str_replace_editor", command="create", path="/testbed/conftest.py", file_text="import pytest\n"))
        final = env.patch()
        assert (final.patch, final.test_files_modified) == ("", ["conftest.py"])
    finally:
        env.close()
    assert config == LiveConfig(command_timeout=7.0) and env.config.max_steps == 4


def test_malformed_actions_get_a_hint_and_the_step_limit_truncates(make_env):
    env = make_env(max_steps=2)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("just prose")
    assert not info["format_ok"] and obs[-1]["content"].startswith("OBSERVATION:\nERROR:") and not truncated
    _, reward, terminated, truncated, info = env.step(act("think", thought="hmm"))
    assert truncated and not terminated and reward == 0.0 and info["reward_valid"] and info["fail_to_pass"] == 0.0


def test_grading_a_missing_image_is_an_infrastructure_failure(task):
    result = grade_patch({**task, "image": "srl-swe-test/does-not-exist:0"}, "")
    assert result.infra_error and "missing" in result.infra_error and not result.resolved


def test_an_episode_whose_actions_stop_before_finish_is_graded_on_what_it_left(task):
    """The one episode loop grades the repository when the policy stops early (a token budget, no finish)."""
    def until_finish(actions):
        completion = next(actions)
        while "<function=finish>" not in completion:
            completion = actions.send((yield completion))

    env = SWEEnv(task=task, max_steps=12)
    try:
        episode = record_episode(env, until_finish(ScriptedExpert(task).actions()))
    finally:
        env.close()
    assert [t.action.name for t in episode.trajectory.turns][-1] != "finish"
    assert episode.reward == 1.0 and episode.trajectory.metadata["resolved"] and episode.info["patch"]


def test_tests_the_agent_makes_hang_score_zero_and_are_not_infrastructure(task):
    """A grading timeout with the agent's patch applied is the agent's doing: reward 0, a valid reward (RLVR trains on it)."""
    env = SWEEnv(task=task, config=LiveConfig(max_steps=3, grade_timeout=5))
    try:
        env.reset()
        hang = f"cd /testbed && printf 'while True:\\n    pass\\n' >> {BUG.module}"
        env.step(format_action("Make importing the module hang.", ToolCall("execute_bash", {"command": hang})))
        _, reward, terminated, _, info = env.step(format_action("Done.", ToolCall("finish", {})))
    finally:
        env.close()
    assert terminated and reward == 0.0 and not info["resolved"]
    assert info["grade_timed_out"] and info["reward_valid"] and info["infra_error"] is None


def test_deleting_the_repository_scores_zero_and_is_not_infrastructure(task):
    """An agent that deletes .git leaves no diff to grade: that is its doing (reward 0, valid), not an infra error."""
    env = SWEEnv(task=task, config=LiveConfig(max_steps=3))
    try:
        env.reset()
        env.step(format_action("Remove history.", ToolCall("execute_bash", {"command": "rm -rf /testbed/.git"})))
        _, reward, terminated, _, info = env.step(format_action("Done.", ToolCall("finish", {})))
    finally:
        env.close()
    assert terminated and reward == 0.0 and not info["resolved"]
    assert info["reward_valid"] and info["infra_error"] is None and "git diff" in info["repository_error"]


def test_an_episode_that_edits_the_test_machinery_is_counted(task):
    """A conftest.py that passes every test, written by the agent: left out of the graded patch and counted."""
    env = SWEEnv(task=task, config=LiveConfig(max_steps=3))
    cheat = ("import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
             "    (yield).get_result().outcome = 'passed'\n")
    try:
        env.reset()
        env.step(act("str_replace_editor", command="create", path="/testbed/conftest.py", file_text=cheat))
        _, reward, terminated, _, info = env.step(format_action("Done.", ToolCall("finish", {})))
    finally:
        env.close()
    assert terminated and reward == 0.0 and info["reward_valid"]
    assert info["integrity"]["reverted"] == ["conftest.py"] and info["tampering_attempts"] == 1


def test_split_patch_by_file():
    patch = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/tests/t.py b/tests/t.py\n+c\n"
    assert [p for p, _ in split_patch(patch)] == ["x.py", "tests/t.py"]


def test_scripted_expert_records_a_resolving_trajectory_with_real_observations(task):
    env = SWEEnv(task=task, max_steps=12)
    try:
        episode = record_episode(env, ScriptedExpert(task).actions())
    finally:
        env.close()
    t = episode.trajectory
    assert episode.reward == 1.0 and t.metadata["resolved"]
    tools = [turn.action.name for turn in t.turns]
    assert tools == ["str_replace_editor", "execute_bash", "execute_bash", "str_replace_editor", "str_replace_editor", "execute_bash", "finish"]
    assert "1 failed" in t.turns[1].observation and "def clamp" in t.turns[2].observation
    assert "has been edited" in t.turns[4].observation and "2 passed" in t.turns[5].observation
    assert t.turns[-1].observation is None


def test_record_then_verify_from_the_command_line(task, tmp_path, capsys):
    from srl_swe.cli import main
    from srl_swe.trajectory import load_trajectories

    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text(json.dumps({k: v for k, v in task.items() if not k.startswith("_")}) + "\n")
    out = tmp_path / "recorded.jsonl"
    assert main(["trajectories", "record", "--tasks", str(tasks_file), "--out", str(out), "--workers", "1"]) == 0
    [trajectory] = load_trajectories(out).trajectories
    assert trajectory.id == task["instance_id"] and trajectory.metadata["resolved"]
    assert main(["trajectories", "record", "--tasks", str(tasks_file), "--out", str(out)]) == 0  # resumable: nothing to redo
    assert "recording 0" in capsys.readouterr().out
    assert main(["trajectories", "verify", str(out), "--tasks", str(tasks_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resolved"] == 1 and report["mean_similarity"] > 0.9


def test_registered_task_by_env_name_and_task_id_is_solved_by_the_scripted_expert(inflection_tasks):
    """The registry path: gym.make(env_name=..., task_id=...) on a shipped, harness-validated task."""
    row = inflection_tasks[0]
    env = gym.make("srl_swe/SWE-v0", env_name="inflection", task_id=row["instance_id"], max_steps=12)
    try:
        episode = record_episode(env.unwrapped, ScriptedExpert(row).actions())
    finally:
        env.close()
    assert episode.reward == 1.0 and episode.info["resolved"] and episode.info["reward_valid"]
    assert episode.info["fail_to_pass"] == 1.0 and episode.info["pass_to_pass_regressions"] == []
