"""Live SRL: step completions rewarded by running them in branches of the expert prefix's snapshot (real sandboxes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from srl_swe.actions import format_action
from srl_swe.backend import BackendConfig
from srl_swe.errors import SRLSweError
from srl_swe.gym.execution import BranchSettings, Effect, StepRewards, score_step_group
from srl_swe.gym.prefix import find_trajectory
from srl_swe.sandbox.runtime import LABEL_OWNER_PID, LABEL_SNAPSHOT, SandboxError
from srl_swe.train import live_srl
from srl_swe.train.dynamic_sampling import informative_groups
from srl_swe.train.live_srl import LiveSettings, LiveStepScorer, check_live_data, live_reward_functions
from srl_swe.trajectory.loader import write_jsonl
from srl_swe.trajectory.model import ToolCall

EDIT_STEP = 4
"""Step 4 of the first inflection recording is the fix (a str_replace); its prefix reads and runs the tests."""


@pytest.fixture(scope="module")
def trajectory(inflection_tasks):
    return find_trajectory(inflection_tasks[0]["instance_id"])


def bash(command: str, thought: str = "try") -> str:
    return format_action(thought, ToolCall("execute_bash", {"command": command}))


def containers(client) -> list:
    """This process's containers still present."""
    return client.containers.list(all=True, filters={"label": f"{LABEL_OWNER_PID}={os.getpid()}"})


def snapshots(client) -> set[str]:
    """Every snapshot image present (whoever made it: on Ray, a worker)."""
    return {image.id for image in client.images.list(filters={"label": LABEL_SNAPSHOT})}


@pytest.mark.docker
def test_a_group_is_scored_in_branches_of_one_snapshot_that_is_removed_after(trajectory, docker_client):
    expert = trajectory.actions[EDIT_STEP]
    completions = [
        format_action(expert.thought, expert.action),                            # the expert's own action
        [{"role": "assistant", "content": format_action("same", expert.action)}],  # TRL's conversational form
        "no tool call at all",
        bash("ls /testbed"),                                                     # reads, changes nothing
        bash("echo 'def test_x(): pass' >> /testbed/test_inflection.py"),        # edits a test file
        bash("printf 'import pytest\\n' > /testbed/conftest.py"),                # adds test machinery
        bash("rm -rf /testbed/.git"),                                            # breaks its own repository
    ]
    before = snapshots(docker_client)
    group = score_step_group(trajectory, EDIT_STEP, completions, BranchSettings(command_timeout=60))
    assert group.masked is None and group.prefix["reproduced"] and group.prefix["steps"] == EDIT_STEP
    copy, conversational, malformed, look, test_edit, conftest, broken = group.scores
    assert copy.rewards == conversational.rewards == {"similarity": 1.0, "execution": 1.0, "combined": 1.0}
    assert malformed.rewards == {"similarity": -1.0, "execution": -1.0, "combined": -1.0} and not malformed.ran
    assert look.execution == 0.0 and look.combined == round(look.similarity / 2, 4) and not look.tampering
    assert test_edit.tampering == ["test_inflection.py"] and test_edit.execution == test_edit.combined == 0.0
    assert conftest.tampering == ["conftest.py"] and conftest.combined == 0.0
    assert broken.broke_sandbox and broken.execution == 0.0  # the action's doing: a verdict, not a masked failure
    assert not containers(docker_client) and snapshots(docker_client) <= before


@pytest.mark.docker
def test_a_prefix_that_does_not_reproduce_masks_its_group(trajectory, docker_client):
    broken = find_trajectory(trajectory.id)
    broken.actions[1].observation = "an output this command never printed\n" * 20
    before = snapshots(docker_client)
    group = score_step_group(broken, 3, [bash("ls")], BranchSettings())
    assert group.scores is None and "does not reproduce at step 1" in group.masked
    assert snapshots(docker_client) <= before


def test_rewards_of_a_batch_are_computed_once_and_infrastructure_failures_are_masked(monkeypatch, trajectory):
    """The scorer's routing with a fake group scorer (the real one is tested above): one run per batch for the three
    reward functions, masked groups None in all three, errors that are not the infrastructure's raised."""
    from srl_swe.gym.execution import GroupScores, StepScore

    calls = []

    def fake_group(traj, step, completions, settings):
        calls.append((traj.id, step, len(completions)))
        if step == 1:
            raise SandboxError("the daemon went away")
        if step == 2:
            return GroupScores(None, {}, masked="the prefix does not reproduce at step 0")
        return GroupScores([StepScore(0.5, float(i), 0.25, ran=True) for i in range(len(completions))], {})

    monkeypatch.setattr(live_srl, "score_step_group", fake_group)
    scorer = LiveStepScorer([trajectory], LiveSettings(BranchSettings(), BackendConfig(), workers=2))
    functions, weights = live_reward_functions(scorer, "execution")
    assert [f.__name__ for f in functions] == ["live_execution", "live_similarity", "live_combined"] and weights == [1, 0, 0]
    ids, steps = [trajectory.id] * 6, [0, 0, 1, 1, 2, 2]
    texts = ["a", "b", "c", "d", "e", "f"]
    results = [f(prompts=[None] * 6, completions=texts, trajectory_id=ids, step_index=steps) for f in functions]
    assert results[0] == [0.0, 1.0, None, None, None, None] and results[1] == [0.5, 0.5, None, None, None, None]
    assert sorted(calls) == [(trajectory.id, 0, 2), (trajectory.id, 1, 2), (trajectory.id, 2, 2)]  # once, not thrice
    metrics = scorer.pop_metrics()
    assert metrics["live/infra_errors"] == 1 and metrics["live/prefix_not_reproduced"] == 1 and metrics["live/groups"] == 3
    assert scorer.pop_metrics() == {}

    def config_error(*_):
        raise SRLSweError("no registered environment has task x")

    monkeypatch.setattr(live_srl, "score_step_group", config_error)
    with pytest.raises(SRLSweError, match="no registered environment"):
        functions[0](prompts=[None], completions=["z"], trajectory_id=[trajectory.id], step_index=[0])


def test_masked_rows_neither_count_as_zero_nor_make_a_group_informative():
    rewards = torch.tensor([float("nan"), float("nan"), 1.0, float("nan"), 0.0, 1.0, 0.3, 0.3])
    assert informative_groups(rewards, 2, 1e-4).tolist() == [False, False, True, False]


def test_live_data_must_be_recordings_of_registered_tasks(trajectory):
    stray = find_trajectory(trajectory.id)
    stray.task.id = "someone__else-1"
    with pytest.raises(SRLSweError, match="re-executes each expert prefix.*someone__else-1"):
        check_live_data([stray], BackendConfig("ray"))


@pytest.mark.docker
def test_groups_run_as_ray_tasks_score_as_they_do_here(trajectory, docker_client, ray_cluster):
    expert = trajectory.actions[EDIT_STEP]
    completions = [format_action("fix", expert.action), bash("ls /testbed"), "nothing"]
    batch = dict(completions=completions * 2, trajectory_id=[trajectory.id] * 6,
                 step_index=[EDIT_STEP] * 3 + [1] * 3)
    scores, before = {}, snapshots(docker_client)
    for name, backend in (("local", BackendConfig()), ("ray", BackendConfig("ray", ray_address=ray_cluster))):
        scorer = LiveStepScorer([trajectory], LiveSettings(BranchSettings(), backend, workers=2))
        scores[name] = [s.rewards for s in scorer.scores(**batch)]
        assert scorer.pop_metrics()["live/actions_run"] == 4
    assert scores["ray"] == scores["local"]
    assert scores["local"][0]["execution"] == 1.0 and scores["local"][2]["execution"] == -1.0
    assert not containers(docker_client) and snapshots(docker_client) <= before
    assert json.dumps(scores)  # plain data: what comes back from a worker


@pytest.mark.docker
def test_train_srl_live_runs_with_the_default_model_after_a_short_warm_up(trajectory, docker_client, tmp_path):
    """`train pipeline sft,srl` with `srl.live`: the default model learns the output format on one recording (SFT),
    then live SRL steps run its completions in branches of the expert prefixes' snapshots."""
    data = tmp_path / "one.jsonl"
    write_jsonl([trajectory], data)
    before = snapshots(docker_client)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "srl_swe.cli", "train", "pipeline", "sft,srl", "--config", "demo", "--data", str(data),
         "--output-dir", str(out), "--set", "heldout_fraction=0", "validation_fraction=0", "eval_heldout=false",
         "resume=false", "sft.max_steps=10", "sft.learning_rate=3e-4", "sft.warmup_steps=0", "srl.max_steps=2",
         "srl.live=true", "srl.max_completion_length=256", "srl.save_steps=2"],
        capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "02-srl" / "final" / "model.safetensors").is_file()
    assert json.loads((out / "02-srl" / "config.json").read_text())["live"] is True
    steps = [r["raw"] for r in map(json.loads, (out / "02-srl" / "metrics.jsonl").read_text().splitlines()) if "raw" in r]
    assert len(steps) == 2 and all("rewards/live_execution/mean" in s and "rewards/live_combined/mean" in s for s in steps)
    assert sum(s["live/groups"] for s in steps) >= 2 and sum(s["live/actions_run"] for s in steps) >= 1
    assert all(s["live/infra_errors"] == 0 and s["live/prefix_not_reproduced"] == 0 for s in steps)
    assert snapshots(docker_client) <= before


def test_the_live_flags_reach_the_configs_of_srl_and_rlvr(monkeypatch, tmp_path):
    from srl_swe.cli import main
    from srl_swe.train import rlvr, srl

    seen = []
    monkeypatch.setattr(srl, "train_srl", lambda config: seen.append(config) or tmp_path)
    monkeypatch.setattr(rlvr, "train_rlvr", lambda config: seen.append(config) or tmp_path)
    assert main(["train", "srl", "--live", "--live-reward", "execution", "--backend", "ray", "--ray-address", "h:1",
                 "--output-dir", str(tmp_path / "a")]) == 0
    assert main(["train", "srl", "--output-dir", str(tmp_path / "b")]) == 0
    assert main(["train", "rlvr", "--backend", "ray", "--output-dir", str(tmp_path / "c")]) == 0
    live, offline, episodes = seen
    assert (live.live, live.live_reward, live.backend, live.ray_address) == (True, "execution", "ray", "h:1")
    assert (offline.live, offline.live_reward, offline.backend) == (False, "combined", "local")
    assert episodes.backend == "ray"


def test_a_completion_that_is_the_expert_action_runs_no_branch_of_its_own():
    """Its effect is the expert's (one branch), in a group and scored alone alike; other actions run once each."""
    expert = ToolCall("execute_bash", {"command": "cd /testbed && pytest -q"})
    other = ToolCall("execute_bash", {"command": "ls /testbed"})
    rewards = StepRewards(SimpleNamespace(task={"instance_id": "x", "base_commit": "0" * 40}), expert, before="")
    ran = []

    def fake_branch(call):  # stands in for a real branch: records what ran, changes nothing
        ran.append(call.arguments["command"])
        return Effect(f"output of {call.arguments['command']}", "", False)

    rewards._effect = fake_branch
    group = [format_action("same", expert), format_action("same again", expert), format_action("other", other)]
    scores = rewards.score_all(group, workers=2)
    assert sorted(ran) == sorted([expert.arguments["command"], other.arguments["command"]])
    assert scores[0].execution == scores[1].execution == 1.0 and scores[2].execution < 1
    assert rewards(group[0]) == scores[0].rewards and len(ran) == 2  # scored alone: no new branch either
