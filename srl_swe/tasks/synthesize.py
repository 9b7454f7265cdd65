"""Task synthesis: validated bugs for a registered repository environment.

For env ``NAME`` (``envs/NAME.yaml``, image ``srl-swe/env.NAME:latest``)::

    from srl_swe.tasks.synthesize import SynthesisConfig, synthesize_tasks
    report = synthesize_tasks("toolz", SynthesisConfig(max_tasks=12, seed=0, workers=2))
    report.kept, report.tried, report.path      # rows appended to envs/tasks/toolz.jsonl

How a bug is kept (all in long-lived sandboxes of the env image: write the mutant, run the
tests, ``git checkout`` back — no container per candidate):

1. baseline: the whole suite runs ``repeats`` times on the clean code; tests that do not
   pass every time are *unstable* and never enter a task;
2. screen: the mutant runs the suite once (with a line map, :mod:`srl_swe.tasks.line_map`, only
   the stable tests that execute its lines); it goes on when 1..``max_fail_to_pass``
   stable tests fail (FAILED/ERROR, or vanished because their file no longer imports), at
   least one of them reported as failing, and the run did not time out;
3. confirm: the eval command (the suite restricted to the failing tests' files, exactly as
   the row's ``eval_script`` runs it) runs once more on the mutant, and the screened tests
   ``repeats - 2`` more times (with a line map, only those that reach the mutant); then the
   gold patch is applied with ``git apply`` (the tree must come back byte-identical) and the
   eval command runs once more (once per command: the fixed tree is the clean tree, so later
   tasks with the same eval command reuse that run);
4. ``FAIL_TO_PASS`` = stable tests failing in every mutant run and passing with the gold
   patch, except tests inside the file the fix edits (doctests: the harness does not reset
   them, so a patch could edit the test instead of the code); ``PASS_TO_PASS`` = tests of the evaluated files passing in every run (baseline,
   mutant, gold). Tests whose status varies go into neither list. A bug with an empty
   ``FAIL_TO_PASS`` is dropped;
5. diversity: at most ``max_per_function`` task per function, ``max_per_file`` per file and
   ``max_per_kind`` per mutation kind; candidates are tried in :func:`sample_mutations` order
   (seeded, kinds/files/functions interleaved).

Rows are appended to ``envs/NAME.jsonl`` as soon as a task is kept; a rerun skips the mutations
the file already holds (and, through a cache in ``~/.cache/srl-swe/tasks``, those already
rejected for the same env commit) and stops when the file holds ``max_tasks`` rows.
Results are committed in candidate order whatever the number of workers, so a run is
reproducible from its seed (up to flaky tests).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shlex
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import images
from ..backend import BackendConfig, connect_ray, memory_bytes, prepare_worker, reap_every_node
from ..errors import SRLSweError
from ..files import append_line, drop_torn_line, write_atomic
from ..harness import eval_script, reset_test_files
from ..image_registry import pull_missing
from ..registry import TASK_IMAGE_PREFIX, load_env, read_tasks
from ..sandbox import Sandbox, SandboxConfig
from . import line_map
from .line_map import LineMap
from .mutations import Mutation, find_mutations, sample_mutations
from .problem import write_problem_statement

log = logging.getLogger(__name__)

EVAL_TYPE = "pass_and_fail"
TESTBED = "/testbed"
INSTANCE_PREFIX = "srl-swe__"
FAILING = ("FAILED", "ERROR")
PASSING = ("PASSED", "XFAIL")
try:  # the metadata docker/env/commit.sh and docker/task/apply-bug.sh commit with (one source of truth)
    from ..images import COMMIT_ENV
except ImportError:  # pragma: no cover - images.py predates COMMIT_ENV
    COMMIT_ENV = {
        "GIT_AUTHOR_NAME": "srl-swe", "GIT_AUTHOR_EMAIL": "srl-swe@localhost",
        "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000", "GIT_COMMITTER_NAME": "srl-swe",
        "GIT_COMMITTER_EMAIL": "srl-swe@localhost", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
    }
ROW_FIELDS = ("instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
              "created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS", "environment_setup_commit", "image",
              "eval_script", "log_parser", "eval_type", "bug_patch")
"""The swebench 5.x fields every task row carries (plus ``env`` and ``mutation``, for provenance)."""


@dataclass
class SynthesisConfig:
    """How many tasks to make and how hard to check them."""

    max_tasks: int = 12
    """Stop when the tasks file holds this many rows (existing rows count)."""
    seed: int = 0
    """Seed of the candidate order (:func:`sample_mutations`)."""
    workers: int = 1
    """Sandboxes screening candidates in parallel (each one container of the env image)."""
    repeats: int = 3
    """Runs of the clean code (baseline) and of each kept mutant; statuses must agree across them."""
    max_candidates: int | None = None
    """Give up after trying this many candidates in this run (None: until ``max_tasks`` or exhaustion)."""
    max_fail_to_pass: int = 100
    """Drop bugs that break more tests than this (too loud to make a focused task)..."""
    max_fail_fraction: float = 0.25
    """... or more than this fraction of the stable tests."""
    max_per_function: int = 1
    """At most this many tasks per mutated function."""
    max_per_file: int | None = None
    """At most this many tasks per mutated file (None: 40 % of ``max_tasks``, at least 2, at least
    ``max_tasks`` / the number of mutable files: a one-module project gets all its tasks there)."""
    max_per_kind: int | None = None
    """At most this many tasks per mutation kind (None: 25 % of ``max_tasks``, at least 2)."""
    kinds: tuple[str, ...] | None = None
    """Restrict to these mutation kinds (None: all)."""
    eval_scope: str = "files"
    """``files``: eval scripts run the test files holding FAIL_TO_PASS tests; ``all``: the whole suite."""
    cpus: float = 1.0
    """CPU limit of each sandbox."""
    memory: str = "4g"
    """Memory limit of each sandbox."""
    test_timeout: float | None = None
    """Seconds a test run may take (None: 5 x the baseline's duration + 30)."""
    screen: str = "coverage"
    """``coverage``: screen a mutant with only the tests that executed its lines on the clean code (a line map
    measured once per env commit, :mod:`srl_swe.tasks.line_map`); lines that run at import time, and envs whose
    tests do not run under pytest, get the whole suite. ``suite``: always the whole suite."""
    max_seconds: float | None = None
    """Stop taking new candidates after this many seconds (what is kept stays; a rerun goes on)."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """Where the screening sandboxes run: here, or (``ray``) one actor per worker on any node, each holding its own
    sandbox of the env image; the baseline and the line map are measured here and sent along."""
    use_cache: bool = True
    """Remember rejected candidates (per env commit) so that reruns skip them."""
    cache_dir: Path | None = None
    """Where that memory lives (None: ``$XDG_CACHE_HOME/srl-swe/tasks`` or ``~/.cache/srl-swe/tasks``)."""

    def limits(self, files: int = 1) -> tuple[int, int, int]:
        per_file = self.max_per_file or max(2, math.ceil(0.4 * self.max_tasks), math.ceil(self.max_tasks / max(1, files)))
        per_kind = self.max_per_kind or max(2, math.ceil(0.25 * self.max_tasks))
        return self.max_per_function, per_file, per_kind


@dataclass
class Outcome:
    """What checking one candidate found."""

    mutation: Mutation
    kept: bool
    reason: str = ""
    fail_to_pass: list[str] = field(default_factory=list)
    pass_to_pass: list[str] = field(default_factory=list)
    eval_files: list[str] = field(default_factory=list)
    bug_patch: str = ""
    gold_patch: str = ""
    base_commit: str = ""
    failure_output: str = ""
    cut_failing: list[str] = field(default_factory=list)
    """Ids the log parser cut at a space of tests that fail with the bug and pass without it (statement only)."""
    screen: str = ""
    """How it was screened (see :attr:`SynthesisReport.screens`)."""
    seconds: float = 0.0


@dataclass
class SynthesisReport:
    """What a synthesis run did."""

    env: str
    path: Path
    kept: list[str] = field(default_factory=list)
    """instance_ids appended by this run."""
    existing: int = 0
    """Rows the file held before."""
    tried: int = 0
    candidates: int = 0
    rejected: Counter = field(default_factory=Counter)
    """Rejection reasons and their counts."""
    baseline_tests: int = 0
    unstable_tests: list[str] = field(default_factory=list)
    unnamed_tests: int = 0
    """Tests pytest counted that the log parser cannot name (ids with spaces): never part of a task."""
    screens: Counter = field(default_factory=Counter)
    """How candidates were screened: ``line map``, ``whole suite``, ``no test reaches``."""
    stopped: str = ""
    """Why the run ended before ``max_tasks`` or the candidates ran out (``max_seconds``, a signal); '' otherwise."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "path": str(self.path), "kept": self.kept, "existing": self.existing,
                "tried": self.tried, "candidates": self.candidates, "rejected": dict(self.rejected),
                "baseline_tests": self.baseline_tests, "unstable_tests": self.unstable_tests,
                "unnamed_tests": self.unnamed_tests, "screens": dict(self.screens), "stopped": self.stopped,
                "seconds": round(self.seconds, 1)}


# --------------------------------------------------------------------------- helpers


def parse_test_log(log_parser: str, output: str) -> dict[str, str]:
    """Test id -> status, read by the same swebench parser the harness grades with."""
    from swebench.harness.log_parsers import PARSER_REGISTRY

    try:
        parser = PARSER_REGISTRY[log_parser]
    except KeyError:
        raise SRLSweError(f"log parser {log_parser!r} is not in swebench's PARSER_REGISTRY") from None
    return parser(output, None)


def file_of_test(test_id: str) -> str:
    """The file part of a pytest node id (``pkg/mod.py::Class::test`` -> ``pkg/mod.py``)."""
    return test_id.split("::")[0]


def unnamed_tests(output: str, statuses: dict[str, str]) -> int:
    """Tests pytest's summary counts as passed that the parsed statuses cannot name whole (cut at a space)."""
    passed = images.pytest_passed(output)
    named = sum(1 for t, status in statuses.items() if status == "PASSED" and gradable(t))
    return max(0, passed - named)


def statement_tests(failed: Iterable[str], named: int = 5) -> list[str]:
    """The tests a problem statement's run reruns: up to ``named`` failing tests, then the test functions of failing
    tests the log parser cut at a space (pytest reruns all their parameters, and the failing ones print their
    sections under their whole ids, which the statement shows)."""
    whole = [t for t in sorted(failed) if gradable(t) and " " not in t][:named]
    cut = sorted({t.split("[", 1)[0] for t in failed if not gradable(t)})
    return whole + cut


def gradable(test_id: str) -> bool:
    """Whether a parsed test id is whole (balanced brackets: not cut at a space by the log parser)."""
    return test_id.count("[") == test_id.count("]")


def task_image(env_name: str, number: int) -> str:
    """The task image tag of a row: ``srl-swe/task.NAME:NNNN``."""

    return f"{TASK_IMAGE_PREFIX}{env_name}:{number:04d}"


def instance_id(env_name: str, number: int) -> str:
    """``srl-swe__NAME-NNNN``: stable once written (numbers are never reused)."""
    return f"{INSTANCE_PREFIX}{env_name}-{number:04d}"


def instance_number(row_id: str) -> int:
    try:
        return int(row_id.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def make_eval_script(test_command: str, base_commit: str, test_files: Iterable[str]) -> str:
    """Bash run by the harness in the task container (after the prediction's patch is applied).

    Restores the test files from ``base_commit`` (an agent's edits to tests do not count) and
    runs ``test_command`` between the harness's markers (:func:`srl_swe.harness.eval_script`).
    """
    setup = [f"cd {TESTBED}", "source /opt/venv/bin/activate", "export PYTHONDONTWRITEBYTECODE=1"]
    return eval_script(setup, test_command, reset=reset_test_files(base_commit, sorted(test_files)))


def _cache_path(config: SynthesisConfig, env_name: str, env_commit: str, kind: str = "rejected.jsonl") -> Path:
    root = config.cache_dir
    if root is None:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        root = base / "srl-swe" / "tasks"
    return Path(root) / f"{env_name}-{env_commit[:12]}.{kind}"


def _read_cache(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                out[rec["id"]] = rec.get("reason", "")
            except (ValueError, KeyError, TypeError):
                continue
    return out


# --------------------------------------------------------------------------- one sandbox


class Bench:
    """One long-lived sandbox of the env image that runs tests on mutants."""

    def __init__(self, spec: Any, config: SynthesisConfig, *, client: Any = None):
        self.spec = spec
        self.config = config
        cfg = SandboxConfig(workdir=TESTBED, memory=config.memory, cpus=config.cpus, command_timeout=600.0)
        cfg.env = {**cfg.env, "PYTHONDONTWRITEBYTECODE": "1"}
        self.sb = Sandbox(spec.image, cfg, client=client)
        self.timeout = config.test_timeout or 600.0

    def close(self) -> None:
        self.sb.close()

    def sh(self, command: str, *, timeout: float = 120.0, check: bool = True) -> str:
        """Run ``command`` in a subshell of the sandbox's shell (nothing it sets or exports persists)."""
        result = self.sb.run(f"( {command}\n)", timeout=timeout)
        if check and result.exit_code != 0:
            raise SRLSweError(f"command failed in the {self.spec.name} sandbox (exit {result.exit_code}): "
                              f"{command}\n{result.output[-2000:]}")
        return result.output

    def run_tests(self, command: str, *, limit: float | None = None) -> tuple[dict[str, str], str, bool, float]:
        """(status map, full output, timed out, seconds) of one test command run in /testbed (at most ``limit``
        seconds, the bench's :attr:`timeout` by default)."""
        t0 = time.monotonic()
        limit = limit or self.timeout
        res = self.sb.run(f"(cd {TESTBED} && timeout -k 5 {limit:g} bash -c {shlex.quote(command)} "
                          f"> /tmp/srl-tests.log 2>&1; echo $?)", timeout=limit + 30)
        code = res.output.strip().splitlines()[-1] if res.output.strip() else ""
        timed_out = res.timed_out or code in ("124", "137")
        output = self.sb.read_file("/tmp/srl-tests.log")
        assert isinstance(output, str)
        return parse_test_log(self.spec.log_parser, output), output, timed_out, time.monotonic() - t0

    def restore(self) -> None:
        self.sh(f"cd {TESTBED} && git checkout -q -- . && git clean -fdq")

    def bug_commit(self, path: str) -> str:
        """Hash of the commit docker/task/apply-bug.sh makes for the current content of ``path``.

        Same tree (HEAD's with ``path`` as it is now), same message, no parent, same fixed
        author/committer/dates: ``git commit --amend`` of the env's root commit.
        """
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in COMMIT_ENV.items())
        q = shlex.quote(path)
        script = (
            f"set -e; cd {TESTBED}; idx=$(mktemp -u); msg=$(mktemp); trap 'rm -f \"$idx\" \"$msg\"' EXIT; "
            f"mode=$(git ls-files -s -- {q} | cut -d' ' -f1); blob=$(git hash-object -w -- {q}); "
            "git cat-file commit HEAD | sed '1,/^$/d' > \"$msg\"; "
            "parents=; for p in $(git rev-list --parents -n 1 HEAD | cut -s -d' ' -f2-); do parents=\"$parents -p $p\"; done; "
            "export GIT_INDEX_FILE=\"$idx\"; git read-tree HEAD; "
            f"git update-index --add --cacheinfo \"$mode,$blob,\"{q}; "
            f"tree=$(git write-tree); {env} git commit-tree \"$tree\" $parents -F \"$msg\""
        )
        return self.sh(script).strip().splitlines()[-1]

    def patches(self, path: str) -> tuple[str, str]:
        """(bug patch, gold patch) of the mutant now written at ``path``, as ``git diff`` prints them."""
        q = shlex.quote(path)
        diff = f"cd {TESTBED} && git -c core.quotepath=off diff --no-color --no-ext-diff --no-renames"
        # -R swaps the sides and with them the a/ b/ prefixes: swap the prefixes back
        return self.sh(f"{diff} HEAD -- {q}"), self.sh(f"{diff} -R --src-prefix=b/ --dst-prefix=a/ HEAD -- {q}")


CHECKER_STATE = ("sources", "modes", "line_map", "stable_pass", "stable_cut", "unstable", "args_file", "test_files",
                 "env_commit", "collect_seconds")
"""What a candidate's check reads of the baseline (:meth:`Synthesizer.check`): measured once, sent to remote workers."""


class SynthesisHost:
    """Inside a Ray actor: a sandbox of the env image on that node and a checker holding the driver's baseline."""

    def __init__(self, spec: Any, config: SynthesisConfig, state: dict[str, Any], timeout: float):
        prepare_worker(config.backend)
        client = images.docker_client()
        if pull_missing([spec.image], client) or not images.image_exists(spec.image, client):
            images.build_env(spec, client=client)  # neither here nor in the registry: built offline on this node
        self.checker = Synthesizer(spec, config)
        for name in CHECKER_STATE:
            setattr(self.checker, name, state[name])
        self.bench = Bench(spec, config, client=client)
        self.bench.timeout = timeout

    def check(self, m: Mutation) -> Outcome:
        return self.checker.check(self.bench, m)

    def close(self) -> None:
        self.bench.close()


class RemoteBench:
    """The driver's handle on a :class:`SynthesisHost` actor; :meth:`Synthesizer.check_on` sends it candidates."""

    def __init__(self, synthesizer: "Synthesizer", timeout: float):
        config = synthesizer.config
        self._ray = connect_ray(config.backend.ray_address)
        host = self._ray.remote(SynthesisHost).options(num_cpus=config.cpus, memory=memory_bytes(config.memory),
                                                        max_restarts=0)
        state = {name: getattr(synthesizer, name) for name in CHECKER_STATE}
        self._actor = host.remote(synthesizer.spec, config, state, timeout)
        self.timeout = timeout

    def check(self, m: Mutation) -> Outcome:
        try:
            return self._ray.get(self._actor.check.remote(m))
        except self._ray.exceptions.RayError as exc:  # the worker died: this candidate is undecided, not rejected
            return Outcome(m, kept=False, reason=f"error: the Ray worker died: {type(exc).__name__}")

    def close(self) -> None:
        """Remove the actor's sandbox; an actor still busy with a candidate (a stop) is killed at once and its
        container reaped on its node (:func:`srl_swe.backend.reap_every_node`, when the run ends)."""
        try:
            self._ray.get(self._actor.close.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - busy, dead or stuck: killed below
            log.debug("closing a synthesis actor failed", exc_info=True)
        self._ray.kill(self._actor)


# --------------------------------------------------------------------------- the job


class Synthesizer:
    """Screens candidates for one env in ``config.workers`` sandboxes; see the module doc."""

    def __init__(self, spec: Any, config: SynthesisConfig, *, tasks_path: Path | None = None,
                 progress: Callable[[str], None] | None = None, client: Any = None,
                 on_update: Callable[[SynthesisReport], None] | None = None):
        self.spec = spec
        self.config = config
        self.path = Path(tasks_path) if tasks_path is not None else Path(spec.tasks_path)
        self.progress = progress or (lambda msg: log.info("%s", msg))
        self.on_update = on_update or (lambda report: None)
        """Called after each decided candidate (a progress bar's hook)."""
        self.stop = threading.Event()
        self.stop_reason = ""
        self.started = time.monotonic()
        self.client = client
        self.line_map: LineMap | None = None
        self.clean_runs: dict[str, dict[str, str]] = {}
        """Statuses of each eval command on the clean code (= with a gold patch, which restores it byte for byte)."""
        self.unnamed = 0
        self.args_file = False
        """Whether the env's pytest reads arguments from a file (``@FILE``, pytest 8.2+): screens name single tests."""
        self.stable_pass: set[str] = set()
        self.stable_cut: set[str] = set()
        """Ids the log parser cut at a space of tests passing in every baseline run (never graded, see :func:`gradable`)."""
        self.unstable: set[str] = set()
        self.test_files: list[str] = []
        self.env_commit = ""
        self.baseline_seconds = 0.0
        self.collect_seconds: float | None = None
        """Seconds pytest takes to start and collect the suite: what a screen of a few tests costs before they run."""
        self.sources: dict[str, str] = {}
        self.modes: dict[str, int] = {}
        """Each tracked file's mode: a mutant is written with its file's mode, so patches carry no mode change."""
        self.rows: list[dict[str, Any]] = []
        """The tasks file's rows (those it held, then those appended)."""
        self.number = 0
        """The highest instance number used so far."""
        self.cache_file: Path | None = None

    # -------------------------------------------------------------- setup

    def _ls(self, bench: Bench) -> dict[str, int]:
        """Tracked path -> file mode (0o755 for executables, as git records them; 0o644 otherwise)."""
        out = bench.sh(f"cd {TESTBED} && git -c core.quotepath=off ls-files -s")
        modes = {}
        for line in out.splitlines():
            info, _, path = line.partition("\t")
            if path:
                modes[path] = 0o755 if info.startswith("100755") else 0o644
        return modes

    def _baseline(self, bench: Bench) -> None:
        status = bench.sh(f"cd {TESTBED} && git status --porcelain --untracked-files=all")
        if status.strip():
            raise SRLSweError(f"{self.spec.image}: /testbed is not clean at start:\n{status[:1000]}")
        self.env_commit = bench.sh(f"cd {TESTBED} && git rev-parse HEAD").strip().splitlines()[-1]
        files = self._ls(bench)
        self.modes = files
        self.test_files = [f for f in files if self.spec.is_test_file(f)]
        sources = [f for f in files if f.endswith(".py") and self.spec.is_source_file(f)]
        for path in sources:
            text = bench.sb.read_file(f"{TESTBED}/{path}")
            assert isinstance(text, str)
            self.sources[path] = text
        status_map, output = self._baseline_run(bench, 1)
        runs = [status_map]
        if self.config.test_timeout is None:
            bench.timeout = 5 * self.baseline_seconds + 30
        if self.config.screen == "coverage":
            measured = self._map_lines(bench)
            if measured:  # the measured run of the suite counts as one of the baseline's repeats
                runs.append(measured)
        while len(runs) < self.config.repeats:
            runs.append(self._baseline_run(bench, len(runs) + 1)[0])
        names = set().union(*runs)
        self.unnamed = unnamed_tests(output, runs[0])
        if self.unnamed:
            self.progress(f"{self.unnamed} test(s) that pytest ran cannot be named by {self.spec.log_parser} (ids with "
                          "spaces or newlines, cut by the parser): they never enter a task")
        # ids the log parser cut at a space (`test_x[a b]` -> `test_x[a`) may stand for several
        # tests at once: the harness cannot grade them reliably, so they never enter a task
        stable = {t for t in names if all(r.get(t) in PASSING for r in runs)}
        self.stable_pass = {t for t in stable if gradable(t)}
        self.stable_cut = stable - self.stable_pass
        self.unstable = {t for t in names if len({r.get(t) in PASSING for r in runs}) > 1}

    def _baseline_run(self, bench: Bench, number: int) -> tuple[dict[str, str], str]:
        """(statuses, output) of one run of the suite on the clean code; the whole synthesis depends on it."""
        status_map, output, timed_out, seconds = bench.run_tests(self.spec.full_test_command)
        if timed_out or not status_map:
            raise SRLSweError(f"{self.spec.image}: the baseline test run {'timed out' if timed_out else 'reported no tests'}"
                              f":\n{output[-2000:]}")
        self.baseline_seconds = max(self.baseline_seconds, seconds)
        self.progress(f"baseline run {number}/{self.config.repeats}: {len(status_map)} tests in {seconds:.1f}s")
        return status_map, output

    def _map_lines(self, bench: Bench) -> dict[str, str] | None:
        """Measure (or read from the cache) which tests reach which lines; without it every screen runs the suite.

        Returns the statuses of the measured run (None when the map came from the cache or could not be made)."""
        if not line_map.can_map(self.spec.test_command):
            self.progress("the test command does not run pytest: every candidate is screened with the whole suite")
            return None
        version = bench.sh(f"cd {TESTBED} && python -c 'import pytest; print(pytest.__version__)'").strip().splitlines()[-1]
        self.args_file = tuple(int(x) for x in re.findall(r"\d+", version)[:2]) >= (8, 2)
        command_key = hashlib.sha256(self.spec.full_test_command.encode()).hexdigest()[:8]  # the map depends on it too
        cache = _cache_path(self.config, self.spec.name, self.env_commit, f"linemap-{command_key}.json")
        _, _, _, self.collect_seconds = bench.run_tests(f"{self.spec.full_test_command} --collect-only -q")
        self.line_map = line_map.load_cached(cache) if self.config.use_cache else None
        if self.line_map is not None:
            self.progress(f"line map of {len(self.line_map.tests)} tests read from {cache}")
            return None
        line_map.install(bench.sb)
        statuses, output, timed_out, seconds = bench.run_tests(line_map.command(self.spec.full_test_command))
        try:
            if timed_out:
                raise SRLSweError("the measured test run timed out")
            try:
                text = bench.sb.read_file("/tmp/srl-line-map.json")
            except FileNotFoundError:
                raise SRLSweError("the measured test run wrote no line map") from None
            assert isinstance(text, str)
            self.line_map = line_map.parse(text)
        except SRLSweError as exc:
            log.warning("no line map (%s): every candidate is screened with the whole suite\n%s", exc, output[-2000:])
            self.progress(f"no line map ({exc}): every candidate is screened with the whole suite")
            return None
        line_map.save(self.line_map, cache)
        self.progress(f"line map: {len(self.line_map.tests)} tests over {len(self.line_map.files)} files, "
                      f"measured in {seconds:.1f}s")
        return statuses

    def _screen(self, bench: Bench, m: Mutation) -> tuple[str, str, set[str], float]:
        """(how, test command, stable tests it must show passing, seconds it may run) of a mutant's screening run
        (see :attr:`SynthesisReport.screens`); the command is '' when no test reaches the mutant."""
        reaching = self.line_map.tests_reaching(m.file, m.line, m.end_line) if self.line_map else None
        if reaching is None:
            return "whole suite", self.spec.full_test_command, self.stable_pass, bench.timeout
        expected = reaching & self.stable_pass
        if not expected:
            return "no test reaches", "", expected, 0.0
        if self.args_file:
            bench.sb.write_file("/tmp/srl-screen-tests.txt", "".join(f"{t}\n" for t in sorted(expected)))
            return ("line map", f"{self.spec.full_test_command} @/tmp/srl-screen-tests.txt", expected,
                    self._limit(bench, expected))
        files = sorted({file_of_test(t) for t in expected})
        run = {t for t in self.line_map.tests if file_of_test(t) in files}
        return "line map", self.spec.test_command_for(files), expected, self._limit(bench, run)

    def _limit(self, bench: Bench, tests: set[str]) -> float:
        """Seconds a screen of ``tests`` may run: five times what they and pytest's start took on the clean code,
        plus 10 s, and never more than a run of the suite may (``test_timeout`` set: that)."""
        seconds = self.line_map.seconds_of(tests) if self.line_map else None
        if self.config.test_timeout is not None or seconds is None or self.collect_seconds is None:
            return bench.timeout
        return min(bench.timeout, 5 * (self.collect_seconds + seconds) + 10)

    def _as_clean(self, statuses: dict[str, str], expected: set[str]) -> dict[str, str]:
        """A narrowed run's statuses, with the stable tests it left out as passing: they never execute the mutated
        lines, so they run as on the clean code."""
        return {**dict.fromkeys(self.stable_pass - expected, "PASSED"), **statuses}

    def _eval_files(self, fail_to_pass: Iterable[str]) -> list[str]:
        if self.config.eval_scope == "all":
            return []
        return sorted({file_of_test(t) for t in fail_to_pass})

    def eval_command(self, files: list[str]) -> str:
        return self.spec.test_command_for(files) if files else self.spec.full_test_command

    # -------------------------------------------------------------- one candidate

    def check_on(self, bench: Bench | RemoteBench, m: Mutation) -> Outcome:
        """:meth:`check` in a local sandbox, or in the actor behind a :class:`RemoteBench`."""
        return bench.check(m) if isinstance(bench, RemoteBench) else self.check(bench, m)

    def check(self, bench: Bench, m: Mutation) -> Outcome:
        t0 = time.monotonic()
        source = self.sources[m.file]
        out = Outcome(m, kept=False)
        try:
            out.screen, screen_command, expected, limit = self._screen(bench, m)
            if not screen_command:  # no stable test executed these lines on the clean code: none can fail
                out.reason = "no test fails"
                return out
            bench.sb.write_file(f"{TESTBED}/{m.file}", m.apply(source), mode=self.modes.get(m.file, 0o644))
            out.bug_patch, out.gold_patch = bench.patches(m.file)
            screen, _, timed_out, _ = bench.run_tests(screen_command, limit=limit)
            if timed_out:
                out.reason = "timeout"
                return out
            failed = {t for t in expected if screen.get(t, "MISSING") not in PASSING}
            screen = self._as_clean(screen, expected)
            reported = {t for t in failed if screen.get(t) in FAILING}
            if not reported:
                out.reason = "no test fails"
                return out
            if (len(failed) > self.config.max_fail_to_pass
                    or len(failed) > self.config.max_fail_fraction * len(self.stable_pass)):
                out.reason = "too many tests fail"
                return out
            files = self._eval_files(failed)
            command = self.eval_command(files)
            bug_runs, eval_runs = [screen], []
            for repeat in range(self.config.repeats - 1):
                # the row's own eval command once, as grading runs it (with short tracebacks: the problem statement
                # is written from them); later repeats rerun only the screened tests
                narrow = repeat > 0 and out.screen == "line map"
                if narrow:
                    status_map, _, timed_out, _ = bench.run_tests(screen_command, limit=limit)
                else:
                    status_map, output, timed_out, _ = bench.run_tests(f"{command} --tb=short")
                    out.failure_output = out.failure_output or output
                if timed_out:
                    out.reason = "timeout"
                    return out
                if narrow:
                    status_map = self._as_clean(status_map, expected)
                else:
                    eval_runs.append(status_map)
                bug_runs.append(status_map)
            if not eval_runs:  # one run only (repeats 1): the failing tests again, for the statement
                _, out.failure_output, _, _ = bench.run_tests(
                    f"{self.spec.full_test_command} --tb=short " + " ".join(shlex.quote(t) for t in statement_tests(failed)))
            out.base_commit = bench.bug_commit(m.file)
            # gold: apply the fix with git; the tree must be the env commit's again
            bench.sb.write_file("/tmp/srl-gold.diff", out.gold_patch)
            bench.sh(f"cd {TESTBED} && git apply /tmp/srl-gold.diff && git diff --quiet HEAD")
            # the fixed tree is the env commit byte for byte: its run of an eval command is a clean run, made once
            gold = self.clean_runs.get(command)
            if gold is None:
                gold, _, timed_out, _ = bench.run_tests(command)
                if timed_out:
                    out.reason = "gold run timed out"
                    return out
                self.clean_runs[command] = gold
            evaluated = set(gold)
            for run in eval_runs:
                evaluated |= set(run)
            f2p = sorted(t for t in failed & evaluated
                         if all(r.get(t, "MISSING") not in PASSING for r in bug_runs) and gold.get(t) in PASSING)
            if not f2p:
                out.reason = "failure not reproducible"
                return out
            # a test living in the file the fix edits (a doctest, a test inside a module) is not reset
            # before grading: a patch could rewrite the test instead of the code
            f2p = [t for t in f2p if file_of_test(t) != m.file]
            if not f2p:
                out.reason = "only tests inside the fixed file fail"
                return out
            if any(gold.get(t) not in PASSING for t in self.stable_pass & evaluated):
                out.reason = "gold patch does not restore every test"
                return out
            p2p = sorted(t for t in (self.stable_pass & evaluated) - failed
                         if all(r.get(t) in PASSING for r in bug_runs) and gold.get(t) in PASSING)
            # tests the parser cut at a space are in no screen's list: the eval command's runs decide (statement only)
            out.cut_failing = sorted(t for t in self.stable_cut & evaluated if gold.get(t) in PASSING and eval_runs
                                     and all(r.get(t, "MISSING") not in PASSING for r in eval_runs))
            out.fail_to_pass, out.pass_to_pass, out.eval_files = f2p, p2p, files
            out.kept, out.reason = True, "kept"
            return out
        except Exception as exc:  # noqa: BLE001 - one bad candidate must not end the run
            log.debug("candidate %s failed", m.id, exc_info=True)
            out.reason = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            return out
        finally:
            try:
                bench.restore()
            except Exception:  # noqa: BLE001
                if not self.stop.is_set():  # after a stop request the sandbox is gone on purpose
                    log.warning("could not restore /testbed after %s", m.id, exc_info=True)
            out.seconds = time.monotonic() - t0

    # -------------------------------------------------------------- rows

    def make_row(self, outcome: Outcome, number: int) -> dict[str, Any]:
        m = outcome.mutation
        iid = instance_id(self.spec.name, number)
        files = outcome.eval_files
        statement = write_problem_statement(
            self.spec.name, outcome.fail_to_pass, outcome.failure_output, outcome.gold_patch,
            test_files=self.test_files, total_tests=len(self.stable_pass), cut_failing=outcome.cut_failing)
        version = getattr(getattr(self.spec, "source", None), "version", "") or "0"
        return {
            "instance_id": iid,
            "repo": getattr(self.spec, "repo_name", f"srl-swe/{self.spec.name}"),
            "base_commit": outcome.base_commit,
            "patch": outcome.gold_patch,
            "test_patch": "",
            "problem_statement": statement,
            "hints_text": "",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "version": str(version),
            "FAIL_TO_PASS": outcome.fail_to_pass,
            "PASS_TO_PASS": outcome.pass_to_pass,
            "environment_setup_commit": self.env_commit,
            "image": task_image(self.spec.name, number),
            "eval_script": make_eval_script(self.eval_command(files), outcome.base_commit, self.test_files),
            "log_parser": self.spec.log_parser,
            "eval_type": EVAL_TYPE,
            "bug_patch": outcome.bug_patch,
            "env": self.spec.name,
            "mutation": m.to_dict(),
        }

    # -------------------------------------------------------------- driver

    def run(self) -> SynthesisReport:
        t_start = self.started = time.monotonic()
        cfg = self.config
        if self.path.is_file() and drop_torn_line(self.path):
            self.progress(f"{self.path}: dropped a partly written last row (a killed run); its mutation is tried again")
        existing = read_tasks(self.path)
        report = SynthesisReport(self.spec.name, self.path, existing=len(existing))
        if len(existing) >= cfg.max_tasks:
            self.progress(f"{self.path} already holds {len(existing)} tasks (>= {cfg.max_tasks}); nothing to do")
            report.seconds = time.monotonic() - t_start
            return report
        self.rows = existing
        self.number = max((instance_number(r.get("instance_id", "")) for r in existing), default=0)
        benches: list[Bench] = []
        try:
            benches.append(Bench(self.spec, cfg, client=self.client))
            self._baseline(benches[0])
            report.baseline_tests = len(self.stable_pass)
            report.unnamed_tests = self.unnamed
            report.unstable_tests = sorted(self.unstable)
            done_ids = {row.get("mutation", {}).get("id") for row in existing}
            candidates = [m for path in sorted(self.sources)
                          for m in find_mutations(self.sources[path], path, kinds=cfg.kinds)]
            self.cache_file = _cache_path(cfg, self.spec.name, self.env_commit)
            rejected = _read_cache(self.cache_file) if cfg.use_cache else {}
            ordered = [m for m in sample_mutations(candidates, cfg.seed) if m.id not in done_ids and m.id not in rejected]
            report.candidates = len(ordered)
            self.progress(f"{self.spec.name}: {len(self.stable_pass)} stable tests ({len(self.unstable)} unstable), "
                          f"{len(self.sources)} source files, {len(candidates)} candidate mutations, "
                          f"{len(ordered)} untried; baseline {self.baseline_seconds:.1f}s per run")
            if cfg.max_candidates is not None:
                ordered = ordered[:cfg.max_candidates]
            if cfg.backend.name != "local":  # the checks run in actors on the cluster; the baseline's sandbox goes
                timeout = benches[0].timeout
                benches.pop().close()
                benches += [RemoteBench(self, timeout) for _ in range(max(1, cfg.workers))]
                self.progress(f"{len(benches)} synthesis worker(s) on {cfg.backend.name}")
            for k in range(len(benches), max(1, cfg.workers)):
                try:
                    bench = Bench(self.spec, cfg, client=self.client)
                except Exception as exc:  # noqa: BLE001 - fewer workers is still progress
                    log.warning("could not start sandbox %d: %s", k, exc)
                    break
                benches.append(bench)
            for bench in benches:
                bench.timeout = benches[0].timeout
            base = cfg.limits(len({m.file for m in candidates}))
            # diversity first: the strict limits, then (only when the file is still short) looser ones
            for relax in range(3):
                if len(self.rows) >= cfg.max_tasks or not ordered or self._stopping(report):
                    break
                limits = (base[0] + relax, base[1] + relax * max(1, base[1] // 2), base[2] * (1 + relax))
                if relax:
                    self.progress(f"{len(self.rows)}/{cfg.max_tasks} tasks: relaxing the diversity limits to "
                                  f"{limits[0]} per function, {limits[1]} per file, {limits[2]} per kind")
                ordered = self._pass(ordered, benches, limits, report)
        finally:
            for bench in benches:
                bench.close()
            if cfg.backend.name != "local":
                reap_every_node(connect_ray(cfg.backend.ray_address), cfg.backend)
        report.seconds = time.monotonic() - t_start
        return report

    def _pass(self, ordered: list[Mutation], benches: list[Bench], limits: tuple[int, int, int],
              report: SynthesisReport) -> list[Mutation]:
        """Check ``ordered`` in parallel, commit kept tasks in order; returns the candidates skipped
        for diversity (to retry under looser limits)."""
        cfg = self.config
        lim_fn, lim_file, lim_kind = limits
        kept_mutations = [r["mutation"] for r in self.rows if "mutation" in r]
        per_function = Counter((m["file"], m["function"]) for m in kept_mutations)
        per_file = Counter(m["file"] for m in kept_mutations)
        per_kind = Counter(m["kind"] for m in kept_mutations)
        lock = threading.Lock()
        ready = threading.Condition(lock)
        results: dict[int, Outcome | None] = {}
        cursor = [0]
        stop = threading.Event()

        def allowed(m: Mutation) -> bool:
            return (per_function[(m.file, m.function)] < lim_fn and per_file[m.file] < lim_file
                    and per_kind[m.kind] < lim_kind)

        def worker(bench: Bench) -> None:
            while not stop.is_set():
                with lock:
                    i = cursor[0]
                    if i >= len(ordered):
                        return
                    cursor[0] += 1
                    skip = not allowed(ordered[i])
                outcome = None if skip else self.check_on(bench, ordered[i])
                with lock:
                    results[i] = outcome
                    ready.notify_all()

        threads = [threading.Thread(target=worker, args=(b,), daemon=True, name=f"synth-{k}")
                   for k, b in enumerate(benches)]
        for thread in threads:
            thread.start()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        skipped: list[Mutation] = []
        try:
            for i, m in enumerate(ordered):
                with lock:
                    while i not in results and any(t.is_alive() for t in threads) and not self._stopping(report):
                        ready.wait(timeout=1)
                    if report.stopped:
                        break
                    if i not in results:
                        skipped.extend(ordered[i:])  # every worker is gone
                        break
                    outcome = results.pop(i)
                if outcome is not None:
                    report.screens[outcome.screen or "not screened (error)"] += 1
                self.on_update(report)
                if outcome is None or (outcome.kept and not allowed(m)):
                    skipped.append(m)
                    if outcome is not None:
                        report.rejected["diversity limit"] += 1
                        self.progress(f"skipped {m.id} ({m.file}::{m.function}): a valid bug, but its function, "
                                      f"file or kind is full ({outcome.seconds:.1f}s)")
                    continue
                report.tried += 1
                if not outcome.kept:
                    report.rejected[outcome.reason.split(":")[0]] += 1
                    if cfg.use_cache and self.cache_file and not outcome.reason.startswith("error"):
                        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
                        with self.cache_file.open("a") as fh:
                            append_line(fh, json.dumps({"id": m.id, "reason": outcome.reason}))
                    self.progress(f"rejected {m.id} ({m.file}::{m.function}): {outcome.reason} ({outcome.seconds:.1f}s)")
                    continue
                self.number += 1
                row = self.make_row(outcome, self.number)
                with self.path.open("a", encoding="utf-8") as fh:
                    append_line(fh, json.dumps(row, ensure_ascii=False))
                with lock:
                    per_function[(m.file, m.function)] += 1
                    per_file[m.file] += 1
                    per_kind[m.kind] += 1
                self.rows.append(row)
                report.kept.append(row["instance_id"])
                self.progress(f"kept {row['instance_id']}: {m.kind} in {m.file}::{m.function} "
                              f"({len(outcome.fail_to_pass)} FAIL_TO_PASS, {len(outcome.pass_to_pass)} PASS_TO_PASS, "
                              f"{outcome.seconds:.1f}s) [{len(self.rows)}/{cfg.max_tasks}]")
                if len(self.rows) >= cfg.max_tasks:
                    break
        finally:
            stop.set()
            if report.stopped:  # the candidates in flight are dropped: their containers go now, not after their tests
                for bench in benches:
                    bench.close()
            for thread in threads:
                thread.join()
            self.on_update(report)
        return [] if report.stopped else skipped

    def _stopping(self, report: SynthesisReport) -> bool:
        """Whether to stop taking candidates (a stop request or ``max_seconds``); notes why in ``report.stopped``."""
        if not report.stopped:
            if self.stop.is_set():
                report.stopped = self.stop_reason or "stop requested"
            elif self.config.max_seconds is not None and time.monotonic() - self.started > self.config.max_seconds:
                report.stopped = f"max_seconds ({self.config.max_seconds:g} s)"
        return bool(report.stopped)

    def request_stop(self, reason: str) -> None:
        """End the run after the current step (safe from a signal handler): kept rows stay, a rerun goes on."""
        self.stop_reason = self.stop_reason or reason
        self.stop.set()


def synthesize_tasks(name: str, config: SynthesisConfig | None = None, *, tasks_path: str | Path | None = None,
                     progress: Callable[[str], None] | None = None, client: Any = None,
                     on_update: Callable[[SynthesisReport], None] | None = None) -> SynthesisReport:
    """Synthesize validated tasks for the registered env ``name``; see the module doc."""

    spec = load_env(name)
    return Synthesizer(spec, config or SynthesisConfig(), tasks_path=Path(tasks_path) if tasks_path else None,
                       progress=progress, client=client, on_update=on_update).run()


def _without_addresses(text: str) -> str:
    """`text` with object addresses (``0x7f…``, new at every test run) blanked."""
    return re.sub(r"0x[0-9a-f]{6,}", "0x…", text)


RESTATED_FIELDS = ("instance_id", "problem_statement", "patch", "bug_patch", "base_commit", "FAIL_TO_PASS", "eval_script")
"""What `restate_tasks` reads of a row: checked for every row before any container starts."""


def restate_tasks(name: str, *, tasks_path: str | Path | None = None, progress: Callable[[str], None] | None = None,
                  client: Any = None) -> dict[str, int]:
    """Rewrite every row's ``problem_statement`` and ``eval_script`` from the env as it is now.

    For when :mod:`srl_swe.tasks.problem` or the eval script's shape changes: the statement comes
    from a fresh run of the row's failing tests on the bug, the script from :func:`make_eval_script`
    with the env's current test files; nothing else in the rows moves (ids, commits, test lists).
    Returns how many of each changed; the file is replaced atomically.
    """

    say = progress or (lambda msg: log.info("%s", msg))
    spec = load_env(name)
    path = Path(tasks_path) if tasks_path else Path(spec.tasks_path)
    rows = read_tasks(path, RESTATED_FIELDS)
    changed = {"rows": len(rows), "problem_statement": 0, "eval_script": 0}
    if not rows:
        return changed
    synth = Synthesizer(spec, SynthesisConfig(repeats=1, screen="suite"), tasks_path=path, progress=say, client=client)
    bench = Bench(spec, synth.config, client=client)
    try:
        synth._baseline(bench)
        for row in rows:
            bench.sb.write_file("/tmp/srl-bug.diff", row["bug_patch"])
            try:
                bench.sh(f"cd {TESTBED} && git apply /tmp/srl-bug.diff")
                # a row does not say which tests the log parser cut fail with its bug: restated statements show
                # the named ones only
                _, output, _, _ = bench.run_tests(f"{spec.full_test_command} --tb=short "
                                                  + " ".join(shlex.quote(t) for t in statement_tests(row["FAIL_TO_PASS"])))
            finally:
                bench.restore()
            fresh = {
                "problem_statement": write_problem_statement(spec.name, row["FAIL_TO_PASS"], output, row["patch"],
                                                             test_files=synth.test_files, total_tests=len(synth.stable_pass)),
                "eval_script": make_eval_script(synth.eval_command(synth._eval_files(row["FAIL_TO_PASS"])),
                                                row["base_commit"], synth.test_files),
            }
            if _without_addresses(fresh["problem_statement"]) == _without_addresses(row["problem_statement"]):
                fresh["problem_statement"] = row["problem_statement"]  # only object addresses moved: not a change
            moved = [key for key, value in fresh.items() if value != row[key]]
            for key in moved:
                changed[key] += 1
            row.update(fresh)
            say(f"{row['instance_id']}: {', '.join(moved) + ' rewritten' if moved else 'unchanged'}")
    finally:
        bench.close()
    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return changed
