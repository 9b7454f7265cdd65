"""Gymnasium environments of srl-swe, registered under the `srl_swe/` namespace."""
from gymnasium.envs.registration import register, registry

REPLAY_ID = "srl_swe/Replay-v0"

if REPLAY_ID not in registry:
    register(id=REPLAY_ID, entry_point="srl_swe.gym.replay:ReplayEnv", nondeterministic=False)
