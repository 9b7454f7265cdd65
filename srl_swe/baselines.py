"""Reference policies for the replay environment (no model needed).

They give reward floors and ceilings: `repeat-previous` re-issues the last expert action
in its context, `oracle` replays the expert (reward 1 at every step by construction).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

Policy = Callable[[Sequence[dict[str, str]], dict[str, Any]], str]


def repeat_previous(messages: Sequence[dict[str, str]], info: dict[str, Any], workdir: str = "/testbed") -> str:
    """Repeat the most recent assistant action in the prompt (a directory view at step 0)."""
    previous = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), None)
    if previous is None:
        previous = f"<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>{workdir}</parameter>\n</function>"
    return f"<think>\nI will do what I did last.\n</think>\n{previous}"


def oracle(messages: Sequence[dict[str, str]], info: dict[str, Any]) -> str:
    """The expert's own completion for this step (taken from the env's info)."""
    return info["expert_action"]


BASELINES: dict[str, Policy] = {"repeat-previous": repeat_previous, "oracle": oracle}
