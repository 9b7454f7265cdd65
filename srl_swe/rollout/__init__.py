"""Rollouts: a trained policy writes patches for SWE tasks, as SWE-bench predictions.

- :mod:`.policies`: ``Policy.generate(conversations) -> texts``; transformers, vLLM, OpenAI-compatible HTTP.
- :mod:`.oracle`: :class:`OraclePolicy`, the gold answer in each mode's format (proves the plumbing).
- :mod:`.edits`: SEARCH/REPLACE blocks -> applied files -> a ``git apply``-able diff.
- :mod:`.repo`: a task's repository at its base commit (task image or local checkout).
- :mod:`.retrieval`: BM25 over code chunks for end-to-end localization.
- :mod:`.modes`: oracle-file, end-to-end, agentic.
- :mod:`.runner`: resumable predictions JSONL plus a details sidecar.
- :mod:`.cli`: ``srl-swe rollout``.
"""
from .edits import EditResult, SearchReplace, apply_edits, edit_answer, parse_edits, render_edits
from .modes import MODES, Outcome, RolloutConfig, run_batch
from .oracle import OraclePolicy
from .policies import (
    ContextLengthError,
    GenerationConfig,
    OpenAIPolicy,
    Policy,
    PolicyConfig,
    PolicyError,
    TransformersPolicy,
    VLLMPolicy,
    make_policy,
)
from .runner import RolloutSummary, done_ids, run_rollout, select_rows

__all__ = [
    "MODES", "ContextLengthError", "EditResult", "GenerationConfig", "OpenAIPolicy", "OraclePolicy", "Outcome", "Policy",
    "PolicyConfig", "PolicyError", "RolloutConfig", "RolloutSummary", "SearchReplace", "TransformersPolicy", "VLLMPolicy",
    "apply_edits", "done_ids", "edit_answer", "make_policy", "parse_edits", "render_edits", "run_batch", "run_rollout",
    "select_rows",
]
