"""Canonical trajectory data model shared by every parser, the step builder and the envs."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core import ToolCall


@dataclass
class Turn:
    """One agent round: its reasoning, the action taken and what the environment answered.

    ``action`` is None for a message to the user (an assistant turn without a tool call);
    such turns are kept for fidelity but never become SRL steps.
    """

    thought: str = ""
    action: ToolCall | None = None
    observation: str | None = None


@dataclass
class Task:
    """The problem an expert solved."""

    id: str
    problem_statement: str
    repo: str | None = None
    base_commit: str | None = None


@dataclass
class Trajectory:
    """An expert episode: the task plus its turns, in order."""

    id: str
    task: Task
    turns: list[Turn]
    source_format: str = "canonical"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def actions(self) -> list[Turn]:
        """Turns that carry a tool call (the ones that become SRL steps)."""
        return [t for t in self.turns if t.action is not None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trajectory":
        """Inverse of :meth:`to_dict` (no validation; see the canonical parser for that)."""
        turns = [
            Turn(
                thought=t.get("thought") or "",
                action=ToolCall(**t["action"]) if t.get("action") else None,
                observation=t.get("observation"),
            )
            for t in data["turns"]
        ]
        return cls(
            id=data["id"],
            task=Task(**data["task"]),
            turns=turns,
            source_format=data.get("source_format", "canonical"),
            metadata=data.get("metadata") or {},
        )
