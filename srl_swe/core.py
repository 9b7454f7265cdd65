"""The types every layer shares, with no dependencies: a tool call and a chat conversation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One tool invocation: a tool name and its (JSON-compatible) arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Conversation = list[dict[str, str]]
"""Chat messages, ``[{"role": ..., "content": ...}]``, as chat templates and OpenAI-style endpoints take them."""
