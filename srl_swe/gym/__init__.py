"""Gymnasium environments of srl-swe, registered under the `srl_swe/` namespace."""
from gymnasium.envs.registration import register, registry

REPLAY_ID = "srl_swe/Replay-v0"
LIVE_ID = "srl_swe/SWE-v0"

if REPLAY_ID not in registry:
    register(id=REPLAY_ID, entry_point="srl_swe.gym.replay:ReplayEnv", nondeterministic=False)
if LIVE_ID not in registry:
    register(id=LIVE_ID, entry_point="srl_swe.gym.live:SWEEnv", nondeterministic=False)
