"""Cut expert trajectories into SRL step instances (one per expert action).

Step k's prompt is the scaffold's system prompt, the issue, then previous expert rounds
(action as the assistant message, its recorded observation as the next user message);
the target is the canonical text of the expert's k-th action.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

from .actions import render_call
from .scaffold import DEFAULT_SCAFFOLD, Scaffold, load_scaffold
from .trajectory.model import Trajectory, Turn

TRUNCATION_MARKER = "\n[... {n} characters truncated ...]\n"


@dataclass
class StepConfig:
    """How step prompts are built."""

    context: str = "last:2"
    """`full` (every earlier round) or `last:K` (the issue plus the last K expert rounds; the paper uses K=2)."""
    max_observation_chars: int = 4000
    """Observations longer than this keep their head and tail around a visible truncation marker (0 = no limit)."""
    scaffold: str = DEFAULT_SCAFFOLD
    """Agent scaffold (a name under `agents/` or a YAML path) supplying the system prompt and tools."""
    max_problem_chars: int = 0
    """Issue texts longer than this keep their head and tail around a truncation marker (0 = no limit)."""

    def __post_init__(self) -> None:
        self.history_rounds  # validates `context` early

    @property
    def history_rounds(self) -> int | None:
        """Number of earlier rounds in context; None for the full history."""
        if self.context == "full":
            return None
        kind, _, k = self.context.partition(":")
        if kind != "last" or not k.isdigit():
            raise ValueError(f"context must be 'full' or 'last:K', got {self.context!r}")
        return int(k)


@dataclass
class StepInstance:
    """One SRL training example: a chat prompt and the expert action it should produce."""

    trajectory_id: str
    step_index: int
    tool_name: str
    prompt: list[dict[str, str]]
    expert_action: str
    expert_thought: str = ""
    num_steps: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def truncate_observation(text: str, limit: int) -> str:
    """Keep the head and tail of a long observation around a marker saying how much was cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit // 2
    tail = limit - head
    return text[:head] + TRUNCATION_MARKER.format(n=len(text) - limit) + text[-tail:]


def task_prompt(trajectory: Trajectory, scaffold: Scaffold, max_problem_chars: int = 0) -> str:
    """The user message that states the issue."""
    repo = trajectory.task.repo
    return scaffold.instance_prompt.format(
        workdir=scaffold.workdir,
        repo_clause=f" ({repo})" if repo else "",
        problem_statement=truncate_observation(trajectory.task.problem_statement.strip(), max_problem_chars),
    ).strip()


class StepBuilder:
    """Builds step prompts for one scaffold and config; reusable across trajectories."""

    def __init__(self, config: StepConfig | None = None):
        self.config = config or StepConfig()
        self.scaffold = load_scaffold(self.config.scaffold)
        self.system_message = {"role": "system", "content": self.scaffold.render_system_prompt()}

    def round_messages(self, turn: Turn) -> list[dict[str, str]]:
        """An expert round as chat messages: the action, then its observation (if any)."""
        assert turn.action is not None
        messages = [{"role": "assistant", "content": render_call(turn.action, self.scaffold)}]
        if turn.observation is not None:
            observation = truncate_observation(turn.observation, self.config.max_observation_chars)
            messages.append({"role": "user", "content": self.scaffold.observation_template.format(observation=observation)})
        return messages

    def prompt(self, issue_message: dict[str, str], rounds: list[list[dict[str, str]]], step_index: int) -> list[dict[str, str]]:
        """The prompt for step `step_index` given the messages of all earlier rounds."""
        k = self.config.history_rounds
        start = 0 if k is None else max(0, step_index - k)
        messages = [self.system_message, issue_message]
        if start:
            note = self.scaffold.omitted_history_note.format(count=start)
            messages = [self.system_message, {"role": "user", "content": issue_message["content"] + "\n\n" + note}]
        for round_ in rounds[start:step_index]:
            messages.extend(round_)
        return messages

    def steps(self, trajectory: Trajectory) -> list[StepInstance]:
        """Every SRL step of one trajectory, in order."""
        actions = trajectory.actions
        issue = {"role": "user", "content": task_prompt(trajectory, self.scaffold, self.config.max_problem_chars)}
        rounds = [self.round_messages(t) for t in actions]
        return [
            StepInstance(
                trajectory_id=trajectory.id,
                step_index=i,
                tool_name=turn.action.name,
                prompt=self.prompt(issue, rounds, i),
                expert_action=rounds[i][0]["content"],
                expert_thought=turn.thought,
                num_steps=len(actions),
                metadata={"repo": trajectory.task.repo, "source_format": trajectory.source_format},
            )
            for i, turn in enumerate(actions)
        ]


def build_steps(trajectories: Iterable[Trajectory], config: StepConfig | None = None) -> Iterator[StepInstance]:
    """All step instances of many trajectories."""
    builder = StepBuilder(config)
    for trajectory in trajectories:
        yield from builder.steps(trajectory)
