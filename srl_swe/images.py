"""Docker images of repository environments and their tasks.

Three layers, each built FROM the one before::

    srl-swe/base:bookworm        srl_swe/resources/scripts/ensure_docker.sh   Debian + python3.11, git, host CA bundle
    srl-swe/env.NAME:latest      docker/env/Dockerfile      /testbed at a reproducible commit, venv, tests run once
    srl-swe/task.NAME:SUFFIX     docker/task/Dockerfile     the task's bug applied and folded into that commit

::

    from srl_swe.registry import load_env
    from srl_swe.images import build_env, build_task, env_build_info

    result = build_env(load_env("inflection"))   # BuildResult: seconds, size, base_commit, tests_passed, ...
    build_task(spec, row)                          # row of envs/tasks/NAME.jsonl -> its `image` tag
    env_build_info(spec.image)                     # what the env build recorded (commit, test counts, seconds)

Builds go through the Docker SDK (the classic builder: every step's output is a log line, and
unchanged steps come from the layer cache). The whole output is kept in
``.cache/docker-logs/NAME.log`` (tasks: ``.cache/docker-logs/tasks/NAME/SUFFIX.log``); a failed
build raises :class:`BuildError`, which names the Dockerfile step that failed and the log.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import InvalidRecordError, SRLSweError
from .onboarding import likely_fix
from .registry import TASK_IMAGE_PREFIX, EnvSpec
from .resources import cache_dir, resource
from .sandbox.engines import engine_client
from .sandbox.runtime import container_rlimits

BASE_IMAGE = os.environ.get("SRL_SWE_BASE_IMAGE", "srl-swe/base:bookworm")
"""The image every env image is built FROM (made by ``srl_swe/resources/scripts/ensure_docker.sh``)."""
DOCKER_DIR = resource("docker")
"""Dockerfiles and build scripts: ``docker/env/``, ``docker/task/``."""
ENSURE_DOCKER = resource("scripts", "ensure_docker.sh")
LABEL_ENV = "srl-swe.env"
"""Label on env and task images: the env's name."""
LABEL_SPEC = "srl-swe.spec-sha256"
"""Label on env images: sha256 of the spec's data (tells a stale image from a current one)."""
LABEL_TASK = "srl-swe.task"
"""Label on task images: the task's instance_id."""
COMMIT_ENV: dict[str, str] = {
    "GIT_AUTHOR_NAME": "srl-swe", "GIT_AUTHOR_EMAIL": "srl-swe@localhost", "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "srl-swe", "GIT_COMMITTER_EMAIL": "srl-swe@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
"""The fixed git metadata docker/env/commit.sh and docker/task/apply-bug.sh commit with."""
_FIXED_MTIME = 946684800  # 2000-01-01: context files get one mtime, so the layer cache sees content only

_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = ("Removing intermediate container", "---> Running in", "---> Using cache")
_STEP_NAMES = {
    "python3 -m venv": "create the venv /opt/venv",
    "fetch-source.sh": "fetch the source into /testbed",
    "install.sh": "run the spec's install commands",
    "commit.sh": "commit /testbed with fixed metadata",
    "run-tests.sh": "run the test command (the suite must pass at the pinned version)",
    "apply-bug.sh": "apply the task's bug patch and commit it",
}

Progress = Callable[[str], None]
"""Receives one line per build step (e.g. ``[env.toolz] Step 7/19 : RUN bash .../install.sh``)."""


class BuildError(SRLSweError):
    """A docker build failed; says which Dockerfile step failed and where the full log is."""

    def __init__(self, image: str, step: str, reason: str, log_path: Path | None, tail: str = "", hint: str = ""):
        self.image, self.step, self.reason, self.log_path, self.tail, self.hint = image, step, reason, log_path, tail, hint
        message = f"building {image} failed at {step}: {reason}"
        if tail:
            message += "\n--- last lines of the build output ---\n" + tail.rstrip()
        if log_path is not None:
            message += f"\nfull build log: {log_path}"
        if hint:
            message += f"\nlikely fix: {hint}"
        super().__init__(message)


@dataclass
class BuildResult:
    """One image that was built (or found up to date)."""

    image: str
    """The tag."""
    kind: str
    """``base``, ``env`` or ``task``."""
    seconds: float
    """Wall-clock build time (a fully cached build takes a few seconds)."""
    size_bytes: int
    """The image's size (all layers, base included)."""
    added_bytes: int = 0
    """What it adds to the image it is built FROM (env: over the base; task: over the env image)."""
    cached: bool = False
    """Every step came from the layer cache."""
    base_commit: str = ""
    """HEAD of /testbed (env: the env commit; task: the commit with the bug)."""
    tests_passed: int | None = None
    """env: distinct test ids the spec's log_parser reads as PASSED in the build-time run (what the
    SWE-bench harness can grade; parse_log_pytest cuts ids at the first space, so parametrized cases
    whose ids hold spaces count once)."""
    tests_failed: int | None = None
    """env: tests reported FAILED or ERROR (0 for a successful build)."""
    tests_skipped: int | None = None
    """env: tests reported SKIPPED (as far as the log parser reports them)."""
    test_seconds: float | None = None
    """env: wall-clock seconds of the build-time test run."""
    test_summary: str = ""
    """env: the test run's last line (pytest: ``455 passed in 1.22s``; counts every parametrized case)."""
    log_path: str = ""
    """Where the build output is."""
    name: str = ""
    """env name (and for tasks the instance_id after a slash)."""

    @property
    def size_mb(self) -> float:
        return round(self.size_bytes / 1e6, 1)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["size_mb"] = self.size_mb
        return out


# --------------------------------------------------------------------------- docker helpers


def docker_client(timeout: int = 600):
    """A client of the selected container engine (Docker or Podman) that answers; else an error saying how to start it."""
    return engine_client(timeout)


def image_exists(tag: str, client=None) -> bool:
    """Whether a local image has this tag."""
    import docker

    client = client or docker_client()
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def log_dir() -> Path:
    """``$SRL_SWE_DOCKER_LOGS`` or ``.cache/docker-logs`` of this checkout."""
    return Path(os.environ.get("SRL_SWE_DOCKER_LOGS") or cache_dir("docker-logs"))


def _describe_step(instruction: str) -> str:
    for needle, text in _STEP_NAMES.items():
        if needle in instruction:
            return text
    return ""


def _stream_build(client, *, context: Path, tag: str, buildargs: dict[str, str], labels: dict[str, str],
                  log_path: Path, nocache: bool, progress: Progress | None, prefix: str) -> tuple[str, bool]:
    """Run one build; write its output to ``log_path``; return (image id, every step cached)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    step_line, cached_steps, run_steps = "before the first step", 0, 0
    recent: list[str] = []
    pending = ""
    image_id = ""
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"# docker build -t {tag} {context} (build args: {json.dumps(buildargs)})\n")
        log.flush()
        try:
            stream = client.api.build(path=str(context), dockerfile="Dockerfile", tag=tag, buildargs=buildargs,
                                      labels=labels, rm=True, forcerm=True, nocache=nocache, pull=False,
                                      decode=True)
            for chunk in stream:
                if "stream" in chunk:
                    text = _ANSI_RE.sub("", chunk["stream"])
                    log.write(text)
                    log.flush()
                    pending += text
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        recent.append(line)
                        del recent[:-200]
                        match = _STEP_RE.match(line.strip())
                        if match:
                            step_line = line.strip()
                            recent = [line]  # the tail of an error shows the failing step's output only
                            if progress is not None:
                                progress(f"{prefix} {step_line}")
                        elif line.strip() == "---> Using cache":
                            cached_steps += 1
                        elif line.strip().startswith("---> Running in"):
                            run_steps += 1
                        found = re.match(r"^Successfully built ([0-9a-f]+)", line.strip())
                        if found:
                            image_id = found.group(1)
                elif "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                elif "error" in chunk or "errorDetail" in chunk:
                    reason = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "unknown error")
                    reason = _ANSI_RE.sub("", reason)
                    log.write(f"\nERROR: {reason}\n")
                    if pending:
                        recent.append(pending)
                    what = _describe_step(step_line)
                    where = f"{step_line}" + (f" ({what})" if what else "")
                    tail = "\n".join(line for line in recent if line.strip()
                                     and not line.strip().startswith(_NOISE))
                    tail = "\n".join(tail.splitlines()[-60:])
                    raise BuildError(tag, where, reason.strip(), log_path, tail)
        except BuildError:
            raise
        except Exception as exc:  # noqa: BLE001 - API errors (missing base image, bad context...)
            log.write(f"\nERROR: {type(exc).__name__}: {exc}\n")
            reason = str(getattr(exc, "explanation", None) or exc)
            raise BuildError(tag, step_line, reason, log_path) from None
    if not image_id:
        raise BuildError(tag, step_line, "the daemon reported no image id", log_path, "\n".join(recent[-30:]))
    return image_id, run_steps == 0 and cached_steps > 0


def _fix_mtimes(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.utime(path, (_FIXED_MTIME, _FIXED_MTIME))


def _read_image_files(client, image: str, directory: str = "/srl-swe") -> dict[str, bytes]:
    """Regular files directly under ``directory`` of an image (read without starting a container)."""
    container = client.containers.create(image, command=["true"], network_disabled=True)
    try:
        chunks, _ = container.get_archive(directory)
        data = io.BytesIO(b"".join(chunks))
    finally:
        container.remove(force=True)
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=data) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 2:
                out[parts[1]] = tar.extractfile(member).read()
    return out


# --------------------------------------------------------------------------- base


def ensure_base(*, rebuild: bool = False, progress: Progress | None = None) -> BuildResult:
    """Start dockerd if needed and build ``srl-swe/base:bookworm`` if missing (``srl_swe/resources/scripts/ensure_docker.sh``)."""
    start = time.monotonic()
    env = dict(os.environ, SRL_SWE_BASE_IMAGE=BASE_IMAGE)
    if rebuild:
        env["SRL_SWE_REBUILD_BASE"] = "1"
    if progress is not None:
        progress(f"[base] bash {ENSURE_DOCKER}")
    proc = subprocess.run(["bash", str(ENSURE_DOCKER)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(BASE_IMAGE, "srl_swe/resources/scripts/ensure_docker.sh", f"exit {proc.returncode}",
                         log_dir() / "base-build.log", (proc.stderr or proc.stdout)[-3000:])
    client = docker_client()
    size = client.images.get(BASE_IMAGE).attrs.get("Size", 0)
    return BuildResult(BASE_IMAGE, "base", round(time.monotonic() - start, 1), size, cached=not rebuild,
                       log_path=str(log_dir() / "base-build.log"), name="base")


# --------------------------------------------------------------------------- env images


def spec_digest(spec: EnvSpec) -> str:
    """sha256 of the spec's data (image label; changes whenever the spec does)."""
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()


def _install_script(spec: EnvSpec) -> str:
    lines = ["#!/usr/bin/env bash", f"# generated by srl_swe/images.py from {spec.path or spec.name}: the spec's install",
             "set -euo pipefail", "cd /testbed"]
    if spec.system_packages:
        packages = " ".join(shlex.quote(p) for p in spec.system_packages)
        lines += [f"echo '[install] system packages: {packages}'",
                  "apt-get update -qq", f"DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {packages}",
                  "apt-get clean", "rm -rf /var/lib/apt/lists/*"]
    if spec.source.kind == "pypi" or re.match(r"^v?\d+(\.\d+)*$", spec.source.ref or ""):
        # setuptools_scm-style backends read the version from git, which /testbed has not yet.
        version = spec.source.version.lstrip("v")
        lines.append(f"export SETUPTOOLS_SCM_PRETEND_VERSION={shlex.quote(version)}")
    for command in spec.install:
        lines.append(f"echo {shlex.quote('[install] $ ' + command)}")
        lines.append(command)
    lines.append("pip freeze --all > /srl-swe/pip-freeze.txt")
    lines.append('echo "[install] $(python --version) in $VIRTUAL_ENV, $(wc -l < /srl-swe/pip-freeze.txt) packages"')
    return "\n".join(lines) + "\n"


def _test_script(spec: EnvSpec) -> str:
    return ("#!/usr/bin/env bash\n# generated by srl_swe/images.py: the spec's test_command (+ --deselect known_failing)\n"
            f"cd /testbed\n{spec.full_test_command}\n")


def env_context(spec: EnvSpec, directory: Path) -> Path:
    """Write the build context of ``spec``'s env image into ``directory``."""
    build = directory / "build"
    build.mkdir(parents=True, exist_ok=True)
    shutil.copy(DOCKER_DIR / "env" / "Dockerfile", directory / "Dockerfile")
    for script in ("fetch-source.sh", "commit.sh", "run-tests.sh"):
        shutil.copy(DOCKER_DIR / "env" / script, build / script)
    exclude = (DOCKER_DIR / "env" / "git-exclude").read_text()
    if spec.git_exclude:
        exclude += f"# git_exclude of the {spec.name} spec\n" + "\n".join(spec.git_exclude) + "\n"
    (build / "git-exclude").write_text(exclude)
    (build / "install.sh").write_text(_install_script(spec))
    (build / "test-command.sh").write_text(_test_script(spec))
    source = directory / "source"
    if spec.source.kind == "path":
        shutil.copytree(spec.source.location, source, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".pytest_cache"))
    else:
        source.mkdir()
        (source / ".keep").write_text("")
    _fix_mtimes(directory)
    return directory


def _count_statuses(spec: EnvSpec, log: str) -> dict[str, int]:
    counts = {"PASSED": 0, "FAILED": 0, "SKIPPED": 0, "ERROR": 0, "XFAIL": 0}
    try:
        from swebench.harness.log_parsers import PARSER_REGISTRY

        statuses = PARSER_REGISTRY[spec.log_parser](log, None)
    except Exception:  # noqa: BLE001 - a parser that needs a full test spec: count pytest-style lines
        statuses = {}
        for line in log.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in counts:
                statuses[parts[1]] = parts[0]
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def pytest_passed(output: str) -> int:
    """How many tests pytest's last summary line counts as passed (colors removed), 0 when it has none."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    summary = [line for line in plain.splitlines() if re.search(r"\b\d+ passed\b", line)]
    return int(re.search(r"\b(\d+) passed\b", summary[-1]).group(1)) if summary else 0


def env_build_info(image: str, spec: EnvSpec | None = None, client=None) -> dict[str, Any]:
    """What an env (or task) image's build recorded in /srl-swe: base commit, test exit code, seconds, counts."""
    client = client or docker_client()
    files = _read_image_files(client, image)
    text = {k: v.decode("utf-8", errors="replace") for k, v in files.items()}
    info: dict[str, Any] = {
        "base_commit": text.get("base_commit", "").strip(),
        "test_exit_code": int(text["test_exit_code"]) if text.get("test_exit_code", "").strip() else None,
        "test_seconds": float(text["test_seconds"]) if text.get("test_seconds", "").strip() else None,
        "pip_freeze": text.get("pip-freeze.txt", "").split(),
    }
    log = text.get("build-tests.log", "")
    lines = [line.strip(" =") for line in log.splitlines() if line.strip(" =")]
    info["test_summary"] = lines[-1] if lines else ""
    info["pytest_passed"], info["colored"] = pytest_passed(log), "\x1b[" in log
    if spec is not None and log:
        info["tests"] = _count_statuses(spec, log)
    return info


def build_env(spec: EnvSpec, *, rebuild: bool = False, client=None, progress: Progress | None = None) -> BuildResult:
    """Build ``spec.image`` from ``docker/env/Dockerfile`` (cached layers unless ``rebuild``)."""
    client = client or docker_client()
    if not image_exists(BASE_IMAGE, client):
        raise SRLSweError(f"base image {BASE_IMAGE} is missing: run srl_swe/resources/scripts/ensure_docker.sh "
                          "(or `srl-swe images build`, which runs it)")
    log_path = log_dir() / f"{spec.name}.log"
    version = spec.source.version if spec.source.kind == "pypi" else spec.source.ref
    buildargs = {"BASE_IMAGE": BASE_IMAGE, "SOURCE_KIND": spec.source.kind,
                 "SOURCE": spec.source.location if spec.source.kind != "path" else "local",
                 "SOURCE_REF": spec.source.ref, "SOURCE_SHA256": spec.source.sha256,
                 "PACKAGE_VERSION": version, "ENV_NAME": spec.name, "TEST_TIMEOUT": str(spec.timeout)}
    labels = {LABEL_ENV: spec.name, LABEL_SPEC: spec_digest(spec)}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"srl-swe-env-{spec.name}-") as tmp:
        context = env_context(spec, Path(tmp))
        try:
            _, cached = _stream_build(client, context=context, tag=spec.image, buildargs=buildargs, labels=labels,
                                      log_path=log_path, nocache=rebuild, progress=progress, prefix=f"[env.{spec.name}]")
        except BuildError as exc:
            log = log_path.read_text(errors="replace") if log_path.is_file() else exc.tail
            hint = likely_fix(log, str(spec.path or f"envs/{spec.name}.yaml"), spec.name)
            raise BuildError(exc.image, exc.step, exc.reason, exc.log_path, exc.tail, hint) from None
    seconds = round(time.monotonic() - start, 1)
    info = env_build_info(spec.image, spec, client)
    tests = info.get("tests", {})
    if info.get("pytest_passed") and not tests.get("PASSED"):
        spec_file = str(spec.path or f"envs/{spec.name}.yaml")
        hint = (f"pytest printed colors (the project's configuration asks for them): add `--color=no` to test_command "
                f"in {spec_file}" if info["colored"] else f"choose a log_parser that reads this suite's output in {spec_file}")
        client.images.remove(spec.image, force=True)  # as after a failing suite: no image of an unreadable env
        raise BuildError(spec.image, "the build's test run", f"pytest passed {info['pytest_passed']} tests, but the "
                         f"log parser {spec.log_parser} named none of them", log_path, info["test_summary"],
                         f"{hint}; then `srl-swe envs build {spec.name}`")
    size = client.images.get(spec.image).attrs.get("Size", 0)
    added = size - client.images.get(BASE_IMAGE).attrs.get("Size", 0)
    return BuildResult(spec.image, "env", seconds, size, added, cached=cached, base_commit=info["base_commit"],
                       tests_passed=tests.get("PASSED"), tests_failed=tests.get("FAILED", 0) + tests.get("ERROR", 0),
                       tests_skipped=tests.get("SKIPPED"), test_seconds=info["test_seconds"],
                       test_summary=info["test_summary"],
                       log_path=str(log_path), name=spec.name)


# --------------------------------------------------------------------------- task images


def task_image_tag(spec: EnvSpec, row: dict[str, Any]) -> str:
    """The row's ``image``, else ``srl-swe/task.NAME:<instance_id made tag-safe>``."""
    if row.get("image"):
        return str(row["image"])
    suffix = re.sub(r"[^A-Za-z0-9_.-]", "-", str(row.get("instance_id", "task")))[:128].lstrip(".-") or "task"
    return f"{TASK_IMAGE_PREFIX}{spec.name}:{suffix}"


def bug_patch_of(row: dict[str, Any], where: str = "<task>", record: int | str | None = None) -> tuple[str, bool]:
    """(patch text, apply in reverse): the row's ``bug_patch``, else its gold ``patch`` reversed."""
    for key, reverse in (("bug_patch", False), ("patch", True)):
        value = row.get(key)
        if value:
            if not isinstance(value, str):
                raise InvalidRecordError(where, record, key, f"must be a unified diff string, got {type(value).__name__}")
            return (value if value.endswith("\n") else value + "\n"), reverse
    raise InvalidRecordError(where, record, "bug_patch", "the row has neither bug_patch nor patch (the gold fix)")


def build_task(spec: EnvSpec, row: dict[str, Any], *, rebuild: bool = False, client=None,
               progress: Progress | None = None, record: int | str | None = None) -> BuildResult:
    """Build one task image FROM ``spec.image``; checks HEAD against the row's ``base_commit`` when it has one."""
    client = client or docker_client()
    where = str(spec.tasks_path)
    instance = str(row.get("instance_id", record if record is not None else "task"))
    record = record if record is not None else instance
    patch, reverse = bug_patch_of(row, where, record)
    tag = task_image_tag(spec, row)
    suffix = tag.rsplit(":", 1)[-1] if ":" in tag.rsplit("/", 1)[-1] else instance
    log_path = log_dir() / "tasks" / spec.name / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', suffix)}.log"
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"srl-swe-task-{spec.name}-") as tmp:
        context = Path(tmp)
        shutil.copy(DOCKER_DIR / "task" / "Dockerfile", context / "Dockerfile")
        shutil.copy(DOCKER_DIR / "task" / "apply-bug.sh", context / "apply-bug.sh")
        (context / "bug.patch").write_text(patch, encoding="utf-8")
        _fix_mtimes(context)
        _, cached = _stream_build(
            client, context=context, tag=tag,
            buildargs={"ENV_IMAGE": spec.image, "TASK_ID": instance, "BUG_PATCH_REVERSE": "1" if reverse else "0"},
            labels={LABEL_ENV: spec.name, LABEL_TASK: instance}, log_path=log_path, nocache=rebuild,
            progress=progress, prefix=f"[task {instance}]")
    seconds = round(time.monotonic() - start, 1)
    base_commit = _read_image_files(client, tag).get("base_commit", b"").decode().strip()
    expected = row.get("base_commit")
    if expected and expected != base_commit:
        raise InvalidRecordError(where, record, "base_commit",
                                 f"is {expected} but the task image {tag} has {base_commit} "
                                 "(compute it with srl_swe.images.task_base_commit)")
    size = client.images.get(tag).attrs.get("Size", 0)
    added = size - client.images.get(spec.image).attrs.get("Size", 0)
    return BuildResult(tag, "task", seconds, size, added, cached=cached, base_commit=base_commit, log_path=str(log_path),
                       name=f"{spec.name}/{instance}")


def build_tasks(spec: EnvSpec, rows: Iterable[dict[str, Any]] | None = None, *, rebuild: bool = False, jobs: int = 1,
                client=None, progress: Progress | None = None) -> tuple[list[BuildResult], list[SRLSweError]]:
    """Build the task images of ``rows`` (default: every row of ``spec.tasks_path``); failures are collected."""
    client = client or docker_client()
    rows = list(spec.load_tasks() if rows is None else rows)
    results: list[BuildResult] = []
    errors: list[SRLSweError] = []

    def one(index: int, row: dict[str, Any]) -> BuildResult:
        return build_task(spec, row, rebuild=rebuild, client=client, progress=progress, record=index)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(one, i, row): i for i, row in enumerate(rows)}
        for future in as_completed(futures):
            try:
                results.append(future.result())
            except SRLSweError as exc:
                errors.append(exc)
    order = {task_image_tag(spec, row): i for i, row in enumerate(rows)}
    results.sort(key=lambda r: order.get(r.image, 0))
    return results, errors


def task_base_commit(spec: EnvSpec, patch: str, *, reverse: bool = False, client=None) -> str:
    """The ``base_commit`` a task image of ``spec`` gets for this bug patch, computed in a throwaway
    container of the env image (~1 s; no image is built). ``reverse=True``: ``patch`` is the gold fix."""
    client = client or docker_client()
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        for name, data in (("apply-bug.sh", (DOCKER_DIR / "task" / "apply-bug.sh").read_bytes()),
                           ("bug.patch", (patch if patch.endswith("\n") else patch + "\n").encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    container = client.containers.create(spec.image, command=["bash", "/tmp/apply-bug.sh", "/tmp/bug.patch"],
                                         environment={"BUG_PATCH_REVERSE": "1" if reverse else "0"},
                                         network_disabled=True, ulimits=container_rlimits())
    try:
        container.put_archive("/tmp", payload.getvalue())
        container.start()
        status = container.wait(timeout=120)
        output = container.logs().decode("utf-8", errors="replace")
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0:
        raise SRLSweError(f"the bug patch does not apply to {spec.image}:\n{output.strip()}")
    return output.strip().splitlines()[-1].strip()


# --------------------------------------------------------------------------- everything


def build_images(specs: Iterable[EnvSpec], *, tasks: bool = False, rebuild: bool = False, base: bool = True,
                 jobs: int = 1, progress: Progress | None = None) -> tuple[list[BuildResult], list[SRLSweError]]:
    """Base (via ensure_docker.sh), then each env image, then (``tasks``) their task images.

    An env build failure stops nothing else: it is collected and that env's tasks are skipped.
    """
    results: list[BuildResult] = []
    errors: list[SRLSweError] = []
    if base:
        results.append(ensure_base(rebuild=False, progress=progress))
    client = docker_client()
    for spec in specs:
        try:
            results.append(build_env(spec, rebuild=rebuild, client=client, progress=progress))
        except SRLSweError as exc:
            errors.append(exc)
            continue
        if tasks:
            task_results, task_errors = build_tasks(spec, rebuild=rebuild, jobs=jobs, client=client, progress=progress)
            results.extend(task_results)
            errors.extend(task_errors)
    return results, errors


def env_image_status(spec: EnvSpec, client=None) -> dict[str, Any]:
    """``{"image_built": bool, "image_current": bool}``: current means built from this very spec."""
    import docker

    try:
        client = client or docker_client(timeout=30)
        labels = client.images.get(spec.image).labels or {}
    except (SRLSweError, docker.errors.ImageNotFound):
        return {"image_built": False, "image_current": False}
    return {"image_built": True, "image_current": labels.get(LABEL_SPEC) == spec_digest(spec)}
