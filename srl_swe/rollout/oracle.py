"""OraclePolicy: answers every rollout prompt with the task's gold fix, in the format the prompt asks for.

Not a model: it proves that a mode's plumbing (prompt, parsing, edit application, diff,
sandbox, grading) turns a correct answer into a resolving patch. It finds the task by the
issue text in the conversation and the stage by the system prompt it was sent:

- localization (end-to-end): the files the gold patch edits, in a ``` block;
- repair (oracle-file, end-to-end): the gold patch's hunks as SEARCH/REPLACE blocks;
- agentic (the scaffold's system prompt): the :class:`~srl_swe.agent.scripted_expert.ScriptedExpert`'s
  next turn, replayed from the conversation's earlier observations (so the policy keeps no state).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..agent.scripted_expert import ScriptedExpert
from ..core import Conversation
from ..patches import hunks, touched_files
from ..scaffold import DEFAULT_SCAFFOLD, load_scaffold
from .edits import SearchReplace, render_edits
from .templates import load_prompt


def gold_files(row: dict[str, Any]) -> list[str]:
    """The files the row's gold patch edits, in patch order."""
    return touched_files(row["patch"])


def gold_edits(row: dict[str, Any]) -> list[SearchReplace]:
    """The row's gold patch as SEARCH/REPLACE edits (context + removed lines -> context + added lines)."""
    return [SearchReplace(e.path, e.old, e.new) for e in hunks(row["patch"])]


class OraclePolicy:
    """The gold answer for each conversation (an empty answer when it knows neither the task nor the stage)."""

    thread_safe = True

    def __init__(self, rows: Sequence[dict[str, Any]], *, name: str = "oracle", prompts_dir: str | Path | None = None,
                 scaffold: str = DEFAULT_SCAFFOLD):
        self.name = name
        self.rows = sorted(rows, key=lambda r: -len(r["problem_statement"].strip()))  # the most specific issue wins
        self.systems = {
            load_prompt("localize", prompts_dir)["system"].strip(): "localize",
            load_prompt("repair", prompts_dir)["system"].strip(): "repair",
            load_scaffold(scaffold).render_system_prompt().strip(): "agentic",
        }

    def row_for(self, conversation: Conversation) -> dict[str, Any] | None:
        text = "\n".join(m["content"] for m in conversation if m.get("role") == "user")
        return next((r for r in self.rows if r["problem_statement"].strip() in text), None)

    def stage(self, conversation: Conversation) -> str | None:
        system = next((m["content"].strip() for m in conversation if m.get("role") == "system"), None)
        return self.systems.get(system) if system is not None else None

    def answer(self, conversation: Conversation) -> str:
        row, stage = self.row_for(conversation), self.stage(conversation)
        if row is None or stage is None:
            return ""
        if stage == "localize":
            return "<think>\nThe gold patch edits these files.\n</think>\n```\n" + "\n".join(gold_files(row)) + "\n```\n"
        if stage == "repair":
            return "<think>\nThe gold fix.\n</think>\n" + render_edits(gold_edits(row))
        return self._agentic_turn(row, conversation)

    @staticmethod
    def _agentic_turn(row: dict[str, Any], conversation: Conversation) -> str:
        turns = [i for i, m in enumerate(conversation) if m.get("role") == "assistant"]
        actions = ScriptedExpert(row).actions()
        try:
            completion = next(actions)
            for i in turns:
                following = conversation[i + 1] if i + 1 < len(conversation) else None
                completion = actions.send(following["content"] if following and following.get("role") == "user" else None)
        except StopIteration:
            return "<think>\nDone.\n</think>\n<function=finish>\n<parameter=message>done</parameter>\n</function>"
        return completion

    def generate(self, conversations: Sequence[Conversation]) -> list[str]:
        return [self.answer(list(c)) for c in conversations]

    def close(self) -> None:
        pass
