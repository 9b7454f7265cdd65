"""Live SRL (`srl-swe train srl --live`): each step's completions are rewarded by running them.

Offline SRL scores a completion by how its action reads against the expert's. Live SRL runs it:
for every GRPO group (the K completions of one expert step k), the expert's first k actions are
re-executed once in a sandbox of the trajectory's registered task, that state is saved as a
snapshot, and each distinct action of the group, and the expert's own, runs in a branch of it
(:func:`srl_swe.gym.execution.score_step_group`). The trained reward is ``live_reward``:
``execution`` (what the action did against what the expert's did), ``combined`` (the mean of that
and the textual similarity) or ``similarity`` (the paper's reward, as offline, but only where the
prefix reproduces); all three are logged (``rewards/live_*``).

Generation is TRL's own (the trainer's, with its stop at the first unparseable token); the live
part is a TRL reward function, the interface through which TRL scores a batch: it receives the
whole batch of a process, so each process runs its groups at once (``live_workers`` groups, each
``live_branches`` branches at a time), on this machine's engine or as Ray tasks on a cluster
(``backend: ray``, a group per task on one node: its snapshot never leaves that node).

What is masked (no reward, no advantage; counted in ``live/*`` metrics): groups whose prefix does
not reproduce, and groups the infrastructure failed (a daemon error, a Ray worker lost after its
retries). What is a verdict (reward 0, counted): an action that changes test files or test
machinery where the expert's did not, an action that breaks its own sandbox.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from ..backend import BackendConfig, run_each
from ..errors import SRLSweError
from ..evaluation.engine import ensure_images
from ..gym.execution import BranchSettings, GroupScores, StepScore, score_step_group
from ..gym.prefix import task_of
from ..rewards import STEP_REWARD_KINDS
from ..sandbox.runtime import SandboxError
from ..trajectory.model import Trajectory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSettings:
    """Where and how the groups of a batch run."""

    branches: BranchSettings
    backend: BackendConfig
    workers: int = 2
    """Groups scored at once (each runs its own prefix sandbox and branches)."""


class LiveStepScorer:
    """Scores a batch's completions live, once per batch, for the reward functions that read from it."""

    def __init__(self, trajectories: Sequence[Trajectory], settings: LiveSettings):
        self.trajectories = {t.id: t for t in trajectories}
        self.settings = settings
        self._key: tuple[Any, ...] | None = None
        self._scores: list[StepScore | None] = []
        self._metrics: dict[str, list[float]] = defaultdict(list)

    def scores(self, completions: list[Any], trajectory_id: list[str], step_index: list[int]) -> list[StepScore | None]:
        """Each completion's scores, None where its group is masked."""
        key = (tuple(map(str, completions)), tuple(trajectory_id), tuple(step_index))
        if key != self._key:
            self._scores, self._key = self._run(completions, trajectory_id, step_index), key
        return self._scores

    def _run(self, completions: list[Any], trajectory_id: list[str], step_index: list[int]) -> list[StepScore | None]:
        rows: dict[tuple[str, int], list[int]] = defaultdict(list)
        for row, group in enumerate(zip(trajectory_id, step_index)):
            rows[group].append(row)
        jobs = [(self.trajectories[tid], int(step), [completions[i] for i in rows[(tid, step)]], self.settings.branches)
                for tid, step in rows]
        scores: list[StepScore | None] = [None] * len(completions)
        masked = infra = 0
        seconds: list[float] = []
        sandbox = self.settings.branches.sandbox
        for job, result, error in run_each(score_step_group, jobs, self.settings.backend, workers=self.settings.workers,
                                           cpus=sandbox.cpus, memory=sandbox.memory):
            trajectory, step = job[0], job[1]
            if error is not None:
                if not isinstance(error, SandboxError):
                    raise error
                infra += 1
                log.warning("live SRL: %s step %d masked, the infrastructure failed: %s", trajectory.id, step, error)
                continue
            group: GroupScores = result
            seconds.append(group.seconds)
            if group.scores is None:
                masked += 1
                log.warning("live SRL: %s step %d masked: %s", trajectory.id, step, group.masked)
                continue
            for row, score in zip(rows[(trajectory.id, step)], group.scores):
                scores[row] = score
        scored = [s for s in scores if s is not None]
        self._metrics["live/groups"].append(len(jobs))
        self._metrics["live/prefix_not_reproduced"].append(masked)
        self._metrics["live/infra_errors"].append(infra)
        self._metrics["live/actions_run"].append(sum(s.ran for s in scored))
        self._metrics["live/tampering_attempts"].append(sum(bool(s.tampering) for s in scored))
        self._metrics["live/broke_sandbox"].append(sum(s.broke_sandbox is not None for s in scored))
        if seconds:
            self._metrics["live/group_seconds"].append(sum(seconds) / len(seconds))
        return scores

    def pop_metrics(self) -> dict[str, float]:
        """The counts of the batches scored since the last call (summed; seconds averaged)."""
        out = {k: (sum(v) / len(v) if k.endswith("seconds") else float(sum(v))) for k, v in self._metrics.items() if v}
        self._metrics.clear()
        return out

    def reward(self, kind: str) -> "LiveReward":
        return LiveReward(self, kind)


class LiveReward:
    """A TRL reward function: one of the live rewards (``similarity``, ``execution``, ``combined``) of each completion."""

    def __init__(self, scorer: LiveStepScorer, kind: str):
        if kind not in STEP_REWARD_KINDS:
            raise SRLSweError(f"unknown live reward {kind!r}; choose one of {', '.join(STEP_REWARD_KINDS)}")
        self.scorer, self.kind = scorer, kind
        self.__name__ = f"live_{kind}"  # TRL logs rewards under the function's name

    def __call__(self, prompts: list[Any], completions: list[Any], trajectory_id: list[str], step_index: list[int],
                 **_: Any) -> list[float | None]:
        scores = self.scorer.scores(completions, trajectory_id, step_index)
        return [None if s is None else s.rewards[self.kind] for s in scores]


def live_reward_functions(scorer: LiveStepScorer, trained: str) -> tuple[list[LiveReward], list[float]]:
    """The three live rewards, the trained one first with weight 1; the others are logged with weight 0."""
    kinds = [trained, *(k for k in STEP_REWARD_KINDS if k != trained)]
    rewards = [scorer.reward(kind) for kind in kinds]
    return rewards, [1.0] + [0.0] * (len(kinds) - 1)


def check_live_data(trajectories: Sequence[Trajectory], backend: BackendConfig) -> None:
    """Every trajectory must be of a registered task, whose image is here or is built now (on Ray each node builds
    or pulls what it lacks): else say which and how."""
    rows = []
    for trajectory in trajectories:
        try:
            rows.append(task_of(trajectory))
        except SRLSweError as exc:
            raise SRLSweError(f"live SRL re-executes each expert prefix in its task's sandbox: {exc}; train on "
                              "recordings of registered tasks (`srl-swe trajectories record`), e.g. the embedded "
                              "srl-swe:default") from None
    problems = ensure_images(rows) if backend.name == "local" else {}
    if problems:
        iid, why = next(iter(problems.items()))
        raise SRLSweError(f"live SRL needs the task images of its trajectories; {len(problems)} missing, e.g. {iid}: {why}")
