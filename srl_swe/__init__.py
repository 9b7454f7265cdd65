"""srl-swe: Supervised Reinforcement Learning for software-engineering agents."""
__version__ = "0.1.0"

from . import gym as _gym  # noqa: E402,F401  registers the Gymnasium environments
