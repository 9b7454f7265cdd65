"""Run a policy in the live env and record the episode as a canonical trajectory."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tqdm import tqdm

from ..actions import parse_action
from ..backend import BackendConfig, run_each
from ..errors import FormatError
from ..evaluation.engine import ensure_images
from ..files import append_line, drop_torn_line
from ..gym.live import LiveConfig, SWEEnv
from ..sandbox.runtime import SandboxError
from ..trajectory import load_trajectories, write_jsonl
from ..trajectory.model import Task, Trajectory, Turn
from .scripted_expert import ScriptedExpert

log = logging.getLogger(__name__)


@dataclass
class Episode:
    """A recorded episode and its grading."""

    trajectory: Trajectory
    reward: float
    info: dict[str, Any] = field(default_factory=dict)


def record_episode(env: SWEEnv, actions: Iterator[str], *, task_id: str | None = None, source_format: str = "recorded") -> Episode:
    """The one episode loop: drive `env` with a generator of completions (sent each raw observation).

    Recording, trajectory verification, agentic rollouts and RLVR all run their episodes here.
    Only well-formed actions become turns; a generator that stops before the episode ends (no
    `finish`, a token budget spent) leaves its repository graded as it is. The grade goes into
    the metadata.
    """
    _, reset_info = env.reset(options={"task_id": task_id} if task_id else None)
    task = env.task
    turns: list[Turn] = []
    observation: str | None = None
    reward, info = 0.0, {}
    try:
        completion = next(actions)
        while True:
            _, reward, terminated, truncated, info = env.step(completion)
            try:
                parsed = parse_action(completion, env.scaffold)
                turns.append(Turn(parsed.thought, parsed.call, info.get("observation")))
            except FormatError:
                pass
            if terminated or truncated:
                break
            observation = info.get("observation")
            completion = actions.send(observation)
    except StopIteration:
        info = {}
        reward = env.grade(info)
    metadata = {
        "resolved": bool(info.get("resolved")), "reward": reward, "patch": info.get("patch"),
        "fail_to_pass": info.get("fail_to_pass"), "infra_error": info.get("infra_error"),
        "tampering_attempts": info.get("tampering_attempts", 0),
        "image": task["image"], "base_commit": task["base_commit"],
    }
    trajectory = Trajectory(
        id=task["instance_id"],
        task=Task(task["instance_id"], task["problem_statement"], repo=task.get("repo"), base_commit=task["base_commit"]),
        turns=turns, source_format=source_format, metadata=metadata,
    )
    return Episode(trajectory, reward, info)


def record_expert(task: dict[str, Any], config: LiveConfig) -> Episode:
    """The scripted expert's episode on ``task`` in a live sandbox of its own (one backend unit)."""
    env = SWEEnv(task=task, config=config)
    try:
        return record_episode(env, ScriptedExpert(task).actions())
    finally:
        env.close()


def record_expert_on_node(task: dict[str, Any], config: LiveConfig) -> Episode:
    """:func:`record_expert` on a node of a cluster, which may lack the task's image: it is built (registered envs)
    or pulled there first."""
    problems = ensure_images([task])
    if problems:
        raise SandboxError(problems[task["instance_id"]])
    return record_expert(task, config)


def record_trajectories(tasks: Sequence[dict[str, Any]], out: str | Path, *, workers: int = 2, max_steps: int = 30,
                        backend: BackendConfig | None = None, say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Record the scripted expert on each task in a live sandbox into ``out``, resumably.

    Tasks already in ``out`` are skipped. Each resolved episode is appended as one synced line, so a
    killed run loses only the episode being written: its torn line is dropped on the next run (with
    a warning) and the task recorded again. At the end the file is rewritten sorted by id, atomically.
    An episode the expert does not resolve is not kept. Returns
    ``{out, tasks, already_recorded, recorded, trajectories, failed}`` (failed: "instance_id: why").
    """
    out = Path(out)
    done: dict[str, Trajectory] = {}
    if out.exists():
        torn = drop_torn_line(out)
        if torn:
            log.warning("%s: dropped a partly written last line (a killed run); its task is recorded again: %.80r", out, torn)
        done = {t.id: t for t in load_trajectories(out).trajectories}
    order = list(done)
    todo = [t for t in tasks if t["instance_id"] not in done]
    already = len(done)
    say(f"{len(tasks)} tasks, {already} already recorded in {out}, recording {len(todo)}")

    failures = []
    out.parent.mkdir(parents=True, exist_ok=True)
    config = LiveConfig(max_steps=max_steps)
    backend = backend or BackendConfig()
    units = run_each(record_expert if backend.name == "local" else record_expert_on_node, [(task, config) for task in todo],
                     backend, workers=workers,
                     cpus=config.sandbox.cpus, memory=config.sandbox.memory)
    with out.open("a", encoding="utf-8") as handle:
        for (task, _), episode, error in tqdm(units, total=len(todo), desc="recording"):
            if error is not None:  # one task's failure must not lose the others
                failures.append(f"{task['instance_id']}: {error}")
                continue
            if not episode.trajectory.metadata["resolved"]:
                failures.append(f"{task['instance_id']}: the scripted expert did not resolve it "
                                f"({episode.info.get('infra_error') or 'tests fail'})")
                continue
            done[episode.trajectory.id] = episode.trajectory
            order.append(episode.trajectory.id)
            append_line(handle, json.dumps(episode.trajectory.to_dict(), ensure_ascii=False))
    if order != sorted(order):
        write_jsonl([done[k] for k in sorted(done)], out)
    return {"out": str(out), "tasks": len(tasks), "already_recorded": already, "recorded": len(done) - already,
            "trajectories": len(done), "failed": failures}
