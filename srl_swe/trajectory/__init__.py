"""Expert trajectories: the canonical data model, one parser per source format, the loader.

>>> from srl_swe.trajectory import load_trajectories, write_jsonl
>>> result = load_trajectories("trajectories.json")          # format detected per file
>>> write_jsonl(result.trajectories, "canonical.jsonl")

Formats (:data:`FORMATS`): ``canonical``, ``mini_swe_agent``, ``openhands_eval``,
``swe_agent_traj``, ``swe_agent_backticks``, ``sharegpt``, ``openhands_fc``, ``openhands_text``,
``swe_smith_text``; see each module's docstring.
"""
from .model import Task, ToolCall, Trajectory, Turn
from .common import ParseContext, TrajectoryFormat
from .loader import FORMATS, LoadResult, SkippedFile, detect_format, load_trajectories, write_jsonl

__all__ = [
    "FORMATS",
    "LoadResult",
    "ParseContext",
    "SkippedFile",
    "Task",
    "ToolCall",
    "Trajectory",
    "TrajectoryFormat",
    "Turn",
    "detect_format",
    "load_trajectories",
    "write_jsonl",
]
