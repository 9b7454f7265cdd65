"""The embedded datasets shipped with srl-swe."""
from pathlib import Path

from ..errors import SRLSweError

DEFAULT_TRAJECTORIES = Path(__file__).with_name("default_trajectories.jsonl")
"""60 expert trajectories recorded in live Docker sandboxes, one per shipped task (`make data`)."""
SYNTHETIC_TRAJECTORIES = Path(__file__).with_name("synthetic_trajectories.jsonl")
"""Six short synthetic bug-fix episodes (`python -m srl_swe.agent.synthetic`): small enough for a
tiny model to learn on a CPU in minutes (fast tests)."""
POOL_TRAJECTORIES = Path(__file__).with_name("pool_trajectories.jsonl")
"""Expert trajectories recorded in live sandboxes for every task of the larger pool: the shipped environments
beyond DEFAULT_ENVS, built from PyPI by scripts/build_pool.py."""
DEFAULT_ENVS = ("boltons", "cachetools", "inflection", "parse", "toolz")
"""The registered environments whose 60 tasks `srl-swe:default` records (`make data`) and the experiments' resolve
rates are measured on; the rest of the shipped registry is the larger pool."""
EMBEDDED = {"default": DEFAULT_TRAJECTORIES, "synthetic": SYNTHETIC_TRAJECTORIES, "pool": POOL_TRAJECTORIES}
PREFIX = "srl-swe:"


def default_dataset_path() -> Path:
    """Path of the embedded expert trajectories (canonical JSONL)."""
    return DEFAULT_TRAJECTORIES


def resolve_dataset(source):
    """`srl-swe:NAME` names an embedded dataset (default, synthetic, pool); anything else is returned as is."""
    if isinstance(source, str) and source.startswith(PREFIX):
        name = source[len(PREFIX):]
        if name not in EMBEDDED:
            raise SRLSweError(f"unknown embedded dataset {source!r}; available: {', '.join(PREFIX + n for n in EMBEDDED)}")
        return EMBEDDED[name]
    return source
