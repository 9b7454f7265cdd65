"""The embedded default dataset shipped with srl-swe."""
from pathlib import Path

DEFAULT_TRAJECTORIES = Path(__file__).with_name("default_trajectories.jsonl")


def default_dataset_path() -> Path:
    """Path of the embedded expert trajectories (canonical JSONL)."""
    return DEFAULT_TRAJECTORIES
