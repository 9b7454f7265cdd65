"""The three rollout modes: how a policy's answers become one patch per task.

- ``oracle-file``: one pass; the prompt holds the issue and the full text (at the base commit)
  of the files the gold patch edits; the answer's SEARCH/REPLACE edits become the patch.
- ``end-to-end``: Agentless-mini; the model first names the files to edit from the file tree
  and BM25-retrieved snippets (retrieval's top files when it names no real file), then
  repairs them as in ``oracle-file``.
- ``agentic``: a multi-turn episode in the live env (``srl_swe/SWE-v0``'s :class:`SWEEnv`, the
  agent scaffold's tools) until ``finish`` or the step limit; the sandbox's final diff (test
  files and build artifacts dropped, as the env grades it) is the patch.

:func:`run_batch` runs one batch of rows and returns one :class:`Outcome` per row. Single-pass
modes send the batch's prompts in one ``generate`` call (vLLM batches them); agentic episodes
of a batch run concurrently in threads (a local model answers the turns waiting at each moment in
one batched call, :class:`TurnBatcher`; an HTTP endpoint answers them in parallel).
"""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..agent.recorder import record_episode
from ..backend import BackendConfig
from ..core import Conversation
from ..errors import SRLSweError
from ..globs import DEFAULT_TEST_FILES, globs_of_test_files
from ..gym.live import LiveConfig, SWEEnv
from ..gym.remote import WorkerDied, open_env
from ..sandbox.runtime import RepositoryError, SandboxError
from ..scaffold import DEFAULT_SCAFFOLD
from .edits import THINK_RE, edit_answer
from .oracle import gold_files
from .policies import ContextLengthError, Policy, PolicyError
from .repo import Repo, open_repo
from .retrieval import match_paths, rank_files
from .templates import load_prompt, prompt_path, render

MODES = ("oracle-file", "end-to-end", "agentic")
DEFAULT_SOURCE_GLOBS = tuple(f"**/*.{ext}" for ext in ("py", "pyx", "pyi", "c", "h", "cc", "cpp", "js", "ts", "go", "rs",
                                                         "java", "rb", "php"))
FENCE_BLOCK_RE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
PATHLIKE_RE = re.compile(r"[\w./-]+\.\w+")


@dataclass
class RolloutConfig:
    """How a mode turns a task into a patch (the ``rollout`` command's mode flags)."""

    mode: str = "oracle-file"
    """oracle-file, end-to-end or agentic."""
    prompts_dir: str | None = None
    """Directory whose repair.yaml/localize.yaml override the shipped prompts."""
    repo_dir: str | None = None
    """Checkouts for rows without a local task image (the folder itself, or owner__name / name in it)."""
    workdir: str = "/testbed"
    """Where the repository lives in task images."""
    max_file_lines: int = 3000
    """Lines of a file shown in the repair prompt (the rest is cut with a note)."""
    max_files: int = 3
    """end-to-end: most files the model may name (and retrieval's fallback count)."""
    snippets: int = 5
    """end-to-end: retrieved snippets shown in the localization prompt."""
    snippet_lines: int = 40
    """end-to-end: lines per retrieved chunk."""
    max_structure_files: int = 500
    """end-to-end: most files listed in the repository structure."""
    source_globs: tuple[str, ...] = DEFAULT_SOURCE_GLOBS
    """end-to-end: files retrieval ranks and the structure lists."""
    test_globs: tuple[str, ...] = DEFAULT_TEST_FILES
    """Test files: left out of retrieval and the structure (end-to-end), dropped from the agentic patch."""
    max_steps: int = 30
    """agentic: tool calls before the episode is cut."""
    command_timeout: float = 120.0
    """agentic: seconds one tool call may run."""
    scaffold: str = DEFAULT_SCAFFOLD
    """agentic: the agent scaffold (tools, prompts) under agents/."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """agentic: where each episode's sandbox runs (``ray``: an actor per episode on some node; the policy stays here)."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SRLSweError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")


@dataclass
class Outcome:
    """One task's result: its patch (None when no prediction can be written) and what happened."""

    instance_id: str
    patch: str | None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Why the task failed; with ``patch`` None the failure is transient (retried by a resumed run)."""


# --------------------------------------------------------------------------- helpers

def generate_each(policy: Policy, conversations: Sequence[Conversation]) -> list[str | PolicyError]:
    """One answer per conversation: a batch call, then one call per conversation if the batch fails (to isolate the bad one)."""
    if not conversations:
        return []
    try:
        return list(policy.generate(list(conversations)))
    except PolicyError as exc:
        if len(conversations) == 1:
            return [exc]
    out: list[str | PolicyError] = []
    for conversation in conversations:
        try:
            out.append(policy.generate([conversation])[0])
        except PolicyError as exc:
            out.append(exc)
    return out


def file_tree(paths: Sequence[str], limit: int, more: str) -> str:
    """Paths as an indented tree (directories end with /), at most ``limit`` files."""
    lines: list[str] = []
    seen: set[str] = set()
    for path in sorted(paths)[:limit]:
        parts = path.split("/")
        for depth in range(len(parts) - 1):
            directory = "/".join(parts[: depth + 1])
            if directory not in seen:
                seen.add(directory)
                lines.append("    " * depth + parts[depth] + "/")
        lines.append("    " * (len(parts) - 1) + parts[-1])
    if len(paths) > limit:
        lines.append(more.format(omitted=len(paths) - limit))
    return "\n".join(lines)


def answer_paths(answer: str) -> list[str]:
    """File names a localization answer gives: the lines of its last ``` block (else of the whole text)."""
    text = THINK_RE.sub("", answer or "")
    blocks = FENCE_BLOCK_RE.findall(text)
    body = blocks[-1] if blocks else text
    names = []
    for line in body.splitlines():
        names += PATHLIKE_RE.findall(line.strip().lstrip("-*0123456789.) ").strip("`'\""))
    return names


def _shown(text: str, limit: int, note: str) -> str:
    lines = text.splitlines()
    if len(lines) <= limit:
        return text.rstrip("\n")
    return "\n".join(lines[:limit]) + note.format(omitted=len(lines) - limit)


def repair_messages(row: dict[str, Any], files: dict[str, str], config: RolloutConfig) -> Conversation:
    """The repair conversation: the issue, each file's text, the edit format."""
    prompt = load_prompt("repair", config.prompts_dir)
    source = prompt_path("repair", config.prompts_dir)
    shown = "\n".join(
        render(prompt["file_template"], source, path=path, content=_shown(text, config.max_file_lines, prompt["truncated_note"]))
        for path, text in files.items())
    user = render(prompt["user"], source, problem_statement=row["problem_statement"].strip(), repo=row.get("repo") or "",
                  files=shown.rstrip("\n"), edit_format=render(prompt["edit_format"], source).strip())
    return [{"role": "system", "content": render(prompt["system"], source).strip()}, {"role": "user", "content": user.strip()}]


# --------------------------------------------------------------------------- single-pass modes

@dataclass
class _Task:
    row: dict[str, Any]
    repo: Repo
    details: dict[str, Any]
    files: list[str] = field(default_factory=list)
    ranked: list[str] = field(default_factory=list)
    messages: Conversation = field(default_factory=list)
    error: str | None = None
    retryable: bool = False


def _fail(task: _Task, exc: Exception) -> None:
    task.error = f"{type(exc).__name__}: {exc}"
    task.retryable = not isinstance(exc, ContextLengthError)


def _answered(tasks: list[_Task], policy: Policy):
    """(task, answer) for each staged task the policy answered; a failed generation fails its task."""
    for task, answer in zip(tasks, generate_each(policy, [t.messages for t in tasks])):
        if isinstance(answer, PolicyError):
            _fail(task, answer)
        else:
            yield task, answer


def _localize_messages(task: _Task, config: RolloutConfig) -> Conversation:
    prompt = load_prompt("localize", config.prompts_dir)
    source = prompt_path("localize", config.prompts_dir)
    candidates = task.repo.select(config.source_globs, globs_of_test_files(defaults=config.test_globs))
    code = {p: t for p, t in task.repo.read_many(candidates).items() if t is not None}
    ranking = rank_files(task.row["problem_statement"], code, chunk_lines=config.snippet_lines)
    task.ranked = [p for p, score in ranking.files if score > 0] or list(code)
    snippets = [render(prompt["snippet_template"], source, path=c.path, start=c.start, end=c.end, text=c.text.rstrip("\n"))
                for c, score in ranking.chunks[: config.snippets] if score > 0]
    structure = file_tree(candidates, config.max_structure_files, prompt["structure_more"])
    user = render(prompt["user"], source, problem_statement=task.row["problem_statement"].strip(),
                  repo=task.row.get("repo") or "", structure=structure, snippets="\n".join(snippets).rstrip("\n") or "(none)",
                  max_files=config.max_files)
    task.details["retrieval_top"] = task.ranked[: config.max_files]
    return [{"role": "system", "content": render(prompt["system"], source).strip()}, {"role": "user", "content": user.strip()}]


def _single_pass(rows: Sequence[dict[str, Any]], policy: Policy, config: RolloutConfig) -> list[Outcome]:
    tasks: list[_Task] = []
    outcomes: dict[str, Outcome] = {}
    try:
        for row in rows:
            details: dict[str, Any] = {"mode": config.mode}
            try:
                tasks.append(_Task(row, open_repo(row, config.repo_dir, workdir=config.workdir), details))
                details["repo"] = tasks[-1].repo.description
            except SRLSweError as exc:
                outcomes[row["instance_id"]] = Outcome(row["instance_id"], None, details, f"{type(exc).__name__}: {exc}")
        if config.mode == "end-to-end":
            staged = []
            for task in tasks:
                try:
                    task.messages = _localize_messages(task, config)
                    staged.append(task)
                except SRLSweError as exc:
                    _fail(task, exc)
            for task, answer in _answered(staged, policy):
                named = match_paths(answer_paths(answer), task.repo.paths())[: config.max_files]
                task.files = named or task.ranked[: config.max_files]
                task.details.update(localization_answer=answer, localized=task.files,
                                    localized_by="model" if named else "retrieval")
        else:
            for task in tasks:
                if not task.row.get("patch"):
                    task.error = "oracle-file mode shows the files the gold patch edits, and the row has no 'patch'"
                    task.retryable = True  # no prediction: a data problem, not the model's answer
                    continue
                task.files = gold_files(task.row)
                task.details["oracle_files"] = task.files
        staged = []
        for task in tasks:
            if task.error:
                continue
            try:
                texts = {p: t for p, t in task.repo.read_many(task.files).items() if t is not None}
                task.messages = repair_messages(task.row, texts, config)
                task.details["shown_files"] = list(texts)
                staged.append(task)
            except SRLSweError as exc:
                _fail(task, exc)
        for task, answer in _answered(staged, policy):
            try:
                result = edit_answer(answer, task.repo.read, task.repo.paths(), workdir=config.workdir)
            except SRLSweError as exc:  # reading a file the answer edits failed (sandbox gone)
                _fail(task, exc)
                continue
            task.details.update(repair_answer=answer, edits=result.to_dict())
            outcomes[task.row["instance_id"]] = Outcome(task.row["instance_id"], result.patch, task.details)
        for task in tasks:
            if task.error:
                patch = None if task.retryable else ""  # a prompt too long for the model will not fit next time either
                outcomes[task.row["instance_id"]] = Outcome(task.row["instance_id"], patch, task.details, task.error)
    finally:
        for task in tasks:
            task.repo.close()
    return [outcomes[row["instance_id"]] for row in rows]


# --------------------------------------------------------------------------- agentic mode

class RolloutEnv(SWEEnv):
    """:class:`SWEEnv` whose end of episode only takes the patch: predictions are graded later, by the harness."""

    def grade(self, info: dict[str, Any]) -> float:
        try:
            final = self.patch()
        except RepositoryError as exc:  # the agent broke the repository: its prediction is the empty patch
            info.update(patch="", test_files_modified=[], repository_error=str(exc))
            return 0.0
        except SandboxError as exc:
            info.update(infra_error=str(exc), reward_valid=False)
            return 0.0
        info.update(patch=final.patch, test_files_modified=final.test_files_modified)
        return 0.0


def _episode(row: dict[str, Any], policy: Policy, config: RolloutConfig) -> Outcome:
    details: dict[str, Any] = {"mode": "agentic"}
    stop: dict[str, Exception] = {}

    def turns(env: SWEEnv):
        while True:
            try:
                completion = policy.generate([list(env.messages)])[0]
            except PolicyError as exc:
                stop["error"] = exc
                return
            yield completion

    if not row.get("image"):
        return Outcome(row["instance_id"], None, details, "agentic mode runs in the task's Docker image, and the row has no 'image'")
    env = open_env(RolloutEnv, config.backend, task=row, config=LiveConfig(max_steps=config.max_steps, command_timeout=config.command_timeout,
                                                 scaffold=config.scaffold, test_globs=tuple(config.test_globs)))
    try:
        episode = record_episode(env, turns(env))
        info = dict(episode.info)
        error = stop.get("error")
        if error is not None and not isinstance(error, ContextLengthError):
            return Outcome(row["instance_id"], None, details, f"{type(error).__name__}: {error}")
        if "patch" not in info and not info.get("infra_error"):  # the context filled up: the diff so far is the answer
            env.grade(info)
        trajectory = episode.trajectory
        trajectory.metadata.update(patch=info.get("patch"), resolved=None, reward=None)
        details.update(steps=env.steps_taken, finished=any(t.action and t.action.name == "finish" for t in trajectory.turns),
                       format_errors=env.steps_taken - len(trajectory.turns), test_files_modified=info.get("test_files_modified", []),
                       stopped_by=(f"context: {error}" if error else None), trajectory=trajectory.to_dict())
        if info.get("infra_error"):
            details["worker_died"] = bool(info.get("worker_died"))
            return Outcome(row["instance_id"], None, details, f"sandbox: {info['infra_error']}")
        return Outcome(row["instance_id"], info.get("patch") or "", details, f"ContextLengthError: {error}" if error else None)
    except SRLSweError as exc:  # the sandbox could not start (image missing, daemon gone, its Ray worker died)
        details["worker_died"] = isinstance(exc, WorkerDied)
        return Outcome(row["instance_id"], None, details, f"{type(exc).__name__}: {exc}")
    finally:
        env.close()


class TurnBatcher:
    """Answers the turns of concurrent episodes with one batched ``generate`` call per round.

    A local model answers one call at a time; episode threads that each asked for one turn
    would wait for each other's calls in turn. Here the thread whose turn finds no call running
    answers every turn waiting at that moment in one call (those that arrive meanwhile form the
    next round), so a batch of episodes decodes together, as single-pass modes do.
    """

    thread_safe = True

    def __init__(self, policy: Policy):
        self.policy, self.name = policy, policy.name
        self._condition = threading.Condition()
        self._waiting: list[tuple[Conversation, dict[str, Any]]] = []
        self._busy = False

    def generate(self, conversations: Sequence[Conversation]) -> list[str]:
        slots = [{} for _ in conversations]
        with self._condition:
            self._waiting += zip(conversations, slots)
            while not all(slots) and self._busy:
                self._condition.wait()
            if all(slots):
                return [self._answer(slot) for slot in slots]
            batch, self._waiting, self._busy = self._waiting, [], True
        try:
            answers = generate_each(self.policy, [conversation for conversation, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - every waiting turn hears of it
            answers = [exc] * len(batch)
        with self._condition:
            for (_, slot), answer in zip(batch, answers):
                slot["answer"] = answer
            self._busy = False
            self._condition.notify_all()
            while not all(slots):  # ours were in an earlier round that another thread answers
                self._condition.wait()
        return [self._answer(slot) for slot in slots]

    @staticmethod
    def _answer(slot: dict[str, Any]) -> str:
        if isinstance(slot["answer"], BaseException):
            raise slot["answer"]
        return slot["answer"]


def _episode_retried(row: dict[str, Any], policy: Policy, config: RolloutConfig) -> Outcome:
    """An episode whose Ray worker died (killed, out of memory, node lost) starts again in a new actor, up to the
    backend's ``max_retries`` times: the policy's side holds no state of it."""
    outcome = _episode(row, policy, config)
    for _ in range(config.backend.max_retries):
        if not outcome.details.get("worker_died"):
            break
        outcome = _episode(row, policy, config)
    return outcome


def _agentic(rows: Sequence[dict[str, Any]], policy: Policy, config: RolloutConfig) -> list[Outcome]:
    if len(rows) == 1:
        return [_episode_retried(rows[0], policy, config)]
    policy = policy if getattr(policy, "thread_safe", False) else TurnBatcher(policy)
    with ThreadPoolExecutor(len(rows)) as pool:
        return list(pool.map(lambda row: _episode_retried(row, policy, config), rows))


# --------------------------------------------------------------------------- entry point

def run_batch(rows: Sequence[dict[str, Any]], policy: Policy, config: RolloutConfig) -> list[Outcome]:
    """One :class:`Outcome` per row, in order; never raises for a single task's failure."""
    start = time.monotonic()
    outcomes = _agentic(rows, policy, config) if config.mode == "agentic" else _single_pass(rows, policy, config)
    seconds = round((time.monotonic() - start) / max(1, len(rows)), 2)
    for outcome in outcomes:
        outcome.details.setdefault("seconds", seconds)
    return outcomes
