"""Live episodes from step k of a recorded expert trajectory, and branches from a snapshot (real sandboxes)."""
from __future__ import annotations

import subprocess
import sys

import docker
import pytest

from srl_swe.actions import format_action
from srl_swe.errors import SRLSweError
from srl_swe.gym.live import LiveConfig, SWEEnv
from srl_swe.gym.prefix import find_trajectory, step_messages
from srl_swe.sandbox import reap
from srl_swe.trajectory.model import ToolCall

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def trajectory(inflection_tasks):
    """The embedded expert recording of the first inflection task (its image built by the shared fixture)."""
    return find_trajectory(inflection_tasks[0]["instance_id"])


def test_a_reset_at_step_k_replays_the_prefix_and_shows_the_offline_step_prompt(trajectory, docker_client):
    env = SWEEnv()
    try:
        obs, info = env.reset(options={"trajectory": trajectory.id, "step": 4})
        assert info["prefix"]["steps"] == 4 and info["prefix"]["reproduced"], info["prefix"]
        assert len(info["prefix"]["similarity"]) == 4 and min(info["prefix"]["similarity"]) >= 0.9
        assert [dict(m) for m in obs] == step_messages(trajectory, 4, env.config.scaffold)
        # the repository is where the expert left it: step 4 is the edit, so the bug is still there
        assert env.sandbox.exec("git -C /testbed diff --stat").output.strip() == ""
        expert = trajectory.actions[4]
        _, _, terminated, _, step_info = env.step(format_action(expert.thought, expert.action))
        assert step_info["format_ok"] and not terminated and env.steps_taken == 1
        assert env.sandbox.exec("git -C /testbed diff --stat").output.strip()  # the expert's edit, made live
    finally:
        env.close()


def test_a_prefix_that_does_not_reproduce_is_flagged_and_strict_refuses_it(trajectory, docker_client):
    broken = find_trajectory(trajectory.id)
    broken.actions[1].observation = "an output this command never printed\n" * 20
    env = SWEEnv()
    try:
        _, info = env.reset(options={"trajectory": broken, "step": 3})
        assert info["prefix"]["reproduced"] is False and info["prefix"]["diverged_at"] == 1
        with pytest.raises(SRLSweError, match="does not reproduce at step 1"):
            env.reset(options={"trajectory": broken, "step": 3, "strict": True})
    finally:
        env.close()


def test_steps_past_the_end_or_after_finish_are_refused(trajectory, docker_client):
    env = SWEEnv()
    try:
        with pytest.raises(SRLSweError, match="step must be in 0..6"):
            env.reset(options={"trajectory": trajectory, "step": 7})
    finally:
        env.close()


@pytest.mark.parametrize("pool", [0, 2], ids=["new-sandbox-each-reset", "sandboxes-started-ahead"])
def test_branches_from_a_snapshot_start_where_the_prefix_left_without_replaying_it(trajectory, docker_client, pool):
    env = SWEEnv(config=LiveConfig(branch_pool=pool))
    try:
        env.reset(options={"trajectory": trajectory, "step": 5})  # after the expert's edit
        env.sandbox.run("export SRL_BRANCH_MARK=kept && cd /testbed/inflection")
        snapshot = env.snapshot()
        edited = env.sandbox.exec("git -C /testbed diff").output
        try:
            for _ in range(3):  # K branches, each in a fresh container of the snapshot
                obs, info = env.reset(options={"snapshot": snapshot})
                assert info["prefix"]["steps"] == 5 and info["snapshot"] == snapshot.image
                assert [dict(m) for m in obs] == snapshot.messages
                assert env.sandbox.exec("git -C /testbed diff").output == edited
                assert env.sandbox.run("echo $SRL_BRANCH_MARK; pwd").output.split() == ["kept", "/testbed/inflection"]
                bash = ToolCall("execute_bash", {"command": "cd /testbed && git diff --stat | tail -1"})
                _, _, _, _, step_info = env.step(format_action("check", bash))
                assert "1 file changed" in step_info["observation"]
                env.step(format_action("change", ToolCall("execute_bash", {"command": "rm -rf /testbed/inflection"})))
        finally:
            env.close()  # with a pool, the sandboxes started ahead and never taken too
            assert not docker_client.containers.list(all=True, filters={"ancestor": snapshot.image_id})
            snapshot.remove()
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(snapshot.image_id)
    finally:
        env.close()


def test_a_snapshot_branch_is_graded_like_any_episode(trajectory, docker_client):
    env = SWEEnv()
    try:
        env.reset(options={"trajectory": trajectory, "step": 6})  # everything but `finish`
        snapshot = env.snapshot()
        try:
            env.reset(options={"snapshot": snapshot})
            finish = trajectory.actions[6]
            _, reward, terminated, _, info = env.step(format_action(finish.thought, finish.action))
        finally:
            snapshot.remove()
        assert terminated and reward == 1.0 and info["resolved"]
    finally:
        env.close()


def test_the_snapshots_of_a_process_that_died_are_reaped(trajectory, docker_client):
    made = subprocess.run([sys.executable, "-c", (
        "from srl_swe.gym.live import SWEEnv\n"
        f"env = SWEEnv(); env.reset(options={{'trajectory': {trajectory.id!r}, 'step': 1}})\n"
        "print(env.snapshot().image_id)\n")], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    image_id = made.stdout.split()[-1]
    assert docker_client.images.get(image_id)  # left behind: its owner exited without removing it
    assert image_id in reap()
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)


def test_execution_rewards_see_the_same_edit_written_another_way(trajectory, docker_client):
    from srl_swe.gym.execution import StepRewards

    env = SWEEnv()
    env.reset(options={"trajectory": trajectory, "step": 4})  # the next expert action is the fix
    snapshot = env.snapshot()
    env.close()
    try:
        expert = trajectory.actions[4].action
        assert expert.name == "str_replace_editor" and expert.arguments["command"] == "str_replace"
        rewards = StepRewards(snapshot, expert)
        assert rewards(format_action("the fix", expert)) == {"similarity": 1.0, "execution": 1.0, "combined": 1.0}
        script = (f"python3 - <<'EOF'\nimport pathlib\np = pathlib.Path({expert.arguments['path']!r})\n"
                  f"p.write_text(p.read_text().replace({expert.arguments['old_str']!r}, {expert.arguments['new_str']!r}, 1))\nEOF")
        same_edit = rewards(format_action("the same fix by a script", ToolCall("execute_bash", {"command": script})))
        assert same_edit["similarity"] < same_edit["execution"] == 1.0  # the text differs, the diff does not
        look = rewards(format_action("look first", ToolCall("execute_bash", {"command": "ls /testbed"})))
        assert look["execution"] == 0.0 and look["combined"] == round(look["similarity"] / 2, 4)  # changed nothing
        assert rewards("no tool call at all") == {"similarity": -1.0, "execution": -1.0, "combined": -1.0}
    finally:
        snapshot.remove()


def test_execution_rewards_compare_the_output_of_read_only_actions(trajectory, docker_client):
    from srl_swe.gym.execution import StepRewards

    env = SWEEnv()
    env.reset(options={"trajectory": trajectory, "step": 1})  # the next expert action runs the tests
    snapshot = env.snapshot()
    env.close()
    try:
        expert = trajectory.actions[1].action
        assert expert.name == "execute_bash" and "pytest" in expert.arguments["command"]
        rewards = StepRewards(snapshot, expert)
        again = rewards(format_action("run them", ToolCall("execute_bash", {"command": expert.arguments["command"] + " "})))
        other = rewards(format_action("list", ToolCall("execute_bash", {"command": "git -C /testbed log --oneline"})))
        assert again["execution"] >= 0.9 and other["execution"] < 0.5
    finally:
        snapshot.remove()
