"""The Gymnasium replay environment: teacher forcing, rewards, Gymnasium's own checker, vectorisation."""
import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import srl_swe  # noqa: F401  registers srl_swe/Replay-v0
from srl_swe.baselines import repeat_previous
from srl_swe.data import default_dataset_path
from srl_swe.gym.replay import ReplayConfig, ReplayEnv
from srl_swe.rewards import srl_reward
from srl_swe.trajectory import load_trajectories

TRAJECTORIES = load_trajectories(default_dataset_path()).trajectories


def make(**kwargs):
    return gym.make("srl_swe/Replay-v0", dataset=TRAJECTORIES, **kwargs)


def test_check_env_passes():
    check_env(make().unwrapped, skip_render_check=True)
    check_env(make(render_mode="ansi").unwrapped)


@pytest.mark.parametrize("metric", ["difflib", "indel", "structured"])
def test_feeding_the_expert_action_earns_one_at_every_step(metric):
    env = make(metric=metric)
    for trajectory_id in env.unwrapped.trajectory_ids:
        _, info = env.reset(options={"trajectory_id": trajectory_id})
        terminated, rewards = False, []
        while not terminated:
            _, reward, terminated, truncated, info = env.step(info["expert_action"])
            rewards.append(reward)
            assert not truncated and info["format_ok"]
        assert rewards == [1.0] * len(rewards) == [1.0] * info["num_steps"]
        assert info["expert_action"] is None


def test_teacher_forcing_puts_the_expert_action_in_context_not_the_policy():
    env = make(context="full")
    obs, info = env.reset(options={"trajectory_id": TRAJECTORIES[0].id})
    bad = "<think>hmm</think>\n<function=execute_bash>\n<parameter=command>rm -rf /tmp/policy-marker</parameter>\n</function>"
    obs, reward, terminated, _, info = env.step(bad)
    assert 0 <= reward < 1 and info["format_ok"]
    assert "policy-marker" in info["policy_action"]
    text = "".join(m["content"] for m in obs)
    assert "policy-marker" not in text
    assert info["scored_expert_call"] in text  # the expert's step-0 action now sits in the context
    assert obs[-1]["content"].startswith("OBSERVATION:\n")


def test_malformed_action_is_minus_one_not_an_exception():
    env = make()
    env.reset(seed=0)
    _, reward, _, _, info = env.step("no think, no call")
    assert reward == -1.0 and not info["format_ok"] and info["format_error"] and info["policy_action"] is None


def test_the_env_scores_exactly_as_the_srl_reward_does():
    env = make(metric="difflib")
    _, info = env.reset(options={"trajectory_id": TRAJECTORIES[2].id})
    expert = info["expert_call"]
    for action in [info["expert_action"], "<think>x</think><function=execute_bash>\n<parameter=command>ls</parameter>\n</function>",
                   "prose", "<think>" + "(" * 5000 + "</think>", None]:
        env.reset(options={"trajectory_id": TRAJECTORIES[2].id})
        _, reward, _, _, step_info = env.step(action)
        assert reward == srl_reward(action, expert, "difflib") and step_info["format_ok"] == (reward != -1.0)


def test_keywords_override_a_copy_of_the_config():
    config = ReplayConfig()
    env = ReplayEnv(TRAJECTORIES, context="full", metric="difflib", config=config)
    assert config == ReplayConfig() and (env.config.steps.context, env.config.metric) == ("full", "difflib")


def test_episode_terminates_at_the_trajectory_end_and_refuses_more_steps():
    env = make()
    _, info = env.reset(options={"trajectory_id": TRAJECTORIES[1].id})
    for _ in range(info["num_steps"]):
        _, _, terminated, _, _ = env.step(repeat_previous([], {}))
    assert terminated
    with pytest.raises(Exception, match="episode is over"):
        env.step("x")


def test_seeded_reset_is_reproducible():
    env = make()
    ids = [env.reset(seed=7)[1]["trajectory_id"] for _ in range(2)]
    assert ids[0] == ids[1]


def test_unknown_trajectory_id_is_a_clear_error():
    with pytest.raises(Exception, match="unknown trajectory_id"):
        make().reset(options={"trajectory_id": "nope"})


def test_vector_env_runs_many_trajectories_in_lockstep():
    n = 6
    envs = gym.vector.SyncVectorEnv([lambda: make() for _ in range(n)])
    obs, infos = envs.reset(options={"trajectory_index": 0})
    obs, infos = envs.reset(seed=list(range(n)))
    assert len(obs) == n
    actions = tuple(infos["expert_action"])
    obs, rewards, terminated, truncated, infos = envs.step(actions)
    assert list(rewards) == [1.0] * n
    envs.close()


@pytest.mark.parametrize("name", ["swe-gym-openhands-sampled.json", "swe-play-openhands-xml.json"])
def test_real_trajectories_replay_with_reward_one_for_the_expert(shared_data, name):
    env = gym.make("srl_swe/Replay-v0", dataset=str(shared_data / "trajectories" / name), metric="indel")
    for trajectory_id in env.unwrapped.trajectory_ids:
        _, info = env.reset(options={"trajectory_id": trajectory_id})
        terminated = False
        while not terminated:
            _, reward, terminated, _, info = env.step(info["expert_action"])
            assert reward == 1.0, info
