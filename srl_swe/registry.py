"""Repository environments: one YAML spec per repository under ``envs/``, its tasks beside it.

A spec is data (``envs/NAME.yaml``); :func:`load_env` reads and validates it into an
:class:`EnvSpec`, and any bad field is reported with the file and the field's name::

    from srl_swe.registry import load_env, list_envs
    spec = load_env("toolz")               # or a path: load_env("envs/toolz.yaml")
    spec.image                             # 'srl-swe/env.toolz:latest'
    spec.tasks_path, spec.task_count       # envs/tasks/toolz.jsonl, rows in it (0 when absent)
    spec.load_tasks()                      # list of task dicts (SWE-bench-style rows)
    spec.is_test_file("toolz/tests/test_itertoolz.py")   # True

Example spec::

    name: toolz
    description: List processing tools and functional utilities
    source: {pypi: "toolz==1.2.0"}         # or {path: some/dir} or {git: URL, ref: TAG_OR_SHA}
    python: "3.11"
    install: ["pip install -e . pytest==8.4.2"]
    test_command: pytest -rA -p no:cacheprovider
    test_files: ["toolz/tests/**/*.py", "toolz/sandbox/tests/**/*.py"]
    source_files: ["toolz/**/*.py"]
    log_parser: parse_log_pytest

The image recipe (``docker/env/Dockerfile``) and the build live in :mod:`srl_swe.images`.
"""
from __future__ import annotations

import copy
import functools
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from .errors import InvalidRecordError, SRLSweError
from .files import write_atomic
from .globs import globs_of_test_files, matches
from .records import ROW_FIELDS, check_task_rows, read_json_lines, read_yaml
from .resources import resource

SUPPORTED_PYTHONS: tuple[str, ...] = ("3.11",)
"""Python versions the base image ``srl-swe/base:bookworm`` provides (Debian bookworm's python3)."""
IMAGE_PREFIX = "srl-swe/env."
"""Env image tags are ``srl-swe/env.NAME:latest``."""
TASK_IMAGE_PREFIX = "srl-swe/task."
"""Task image tags are ``srl-swe/task.NAME:SUFFIX``."""

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_PYPI_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = ("name", "description", "source", "python", "install", "test_command", "test_files", "source_files",
           "log_parser", "known_failing", "git_exclude", "repo", "timeout", "system_packages")
_DEBIAN_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_REQUIRED = ("name", "source", "python", "install", "test_command", "test_files", "source_files", "log_parser")


class EnvSpecError(InvalidRecordError):
    """A spec file is missing, malformed or has a bad field (the message names file and field)."""

    def __init__(self, source: str | Path, field: str | None, reason: str):
        super().__init__(str(source), None, field, reason)


def tasks_file(envs_dir: Path, name: str) -> Path:
    """Where the task rows of env ``name`` registered in ``envs_dir`` are kept."""
    return envs_dir / "tasks" / f"{name}.jsonl"


@dataclass(frozen=True)
class Source:
    """Where the repository's files come from: exactly one of a PyPI sdist, a local directory, a git URL."""

    kind: str
    """``pypi``, ``path`` or ``git``."""
    location: str
    """``name==version`` (pypi), an absolute directory (path) or a clone URL (git)."""
    ref: str = ""
    """git only: the tag, branch or commit to check out."""
    sha256: str = ""
    """pypi only, optional: the sdist's sha256; the build fails when the download differs."""

    @property
    def package(self) -> str:
        """pypi: the distribution name (``toolz``)."""
        return self.location.split("==", 1)[0] if self.kind == "pypi" else ""

    @property
    def version(self) -> str:
        """pypi: the pinned version; git: the ref; path: empty."""
        if self.kind == "pypi":
            return self.location.split("==", 1)[1]
        return self.ref

    def to_dict(self) -> dict[str, str]:
        """The spec's YAML form (``{pypi: ...}``, ``{path: ...}``, ``{git: ..., ref: ...}``)."""
        out = {self.kind: self.location}
        if self.ref:
            out["ref"] = self.ref
        if self.sha256:
            out["sha256"] = self.sha256
        return out

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}" + (f"@{self.ref}" if self.ref else "")


@dataclass(frozen=True)
class EnvSpec:
    """A repository environment, as declared by ``envs/NAME.yaml``."""

    name: str
    """Lower-case identifier; equals the file's stem; names the images (``srl-swe/env.NAME``)."""
    source: Source
    """Where /testbed's files come from."""
    python: str
    """Python version (``3.11``: the one the base image has)."""
    install: tuple[str, ...]
    """Shell commands run in /testbed, in the venv /opt/venv (e.g. ``pip install -e . pytest==8.4.2``)."""
    test_command: str
    """Runs the whole suite in /testbed (e.g. ``pytest -rA -p no:cacheprovider``); must print what ``log_parser`` reads."""
    test_files: tuple[str, ...]
    """Globs (relative to /testbed, ``**`` spans directories) of the test files, in addition to the defaults of every
    repository (``srl_swe.globs.DEFAULT_TEST_FILES``; ``conftest.py`` files always count): restored before evaluation."""
    source_files: tuple[str, ...]
    """Globs of the library code tasks may mutate (files that also match ``test_files`` are excluded)."""
    log_parser: str
    """A key of ``swebench.harness.log_parsers.PARSER_REGISTRY`` (e.g. ``parse_log_pytest``)."""
    description: str = ""
    """One line saying what the project is."""
    known_failing: tuple[str, ...] = ()
    """Test ids that fail for environmental reasons at the pinned version; deselected (pytest ``--deselect``)."""
    git_exclude: tuple[str, ...] = ()
    """Extra patterns for /testbed/.git/info/exclude (files the install or the tests write)."""
    repo: str = ""
    """Upstream ``owner/name`` (the SWE-bench ``repo`` field of its tasks); defaults to ``srl-swe/NAME``."""
    timeout: int = 900
    """Seconds the build-time test run may take before the build fails."""
    system_packages: tuple[str, ...] = ()
    """Debian packages the build installs before ``install`` (e.g. ``gcc``, ``libc6-dev``, ``python3-dev`` for C extensions)."""
    path: Path | None = field(default=None, compare=False)
    """The YAML file it was read from (None when built in code)."""

    # ------------------------------------------------------------------ derived
    @property
    def image(self) -> str:
        """The env image tag, ``srl-swe/env.NAME:latest``."""
        return f"{IMAGE_PREFIX}{self.name}:latest"

    @property
    def repo_name(self) -> str:
        """``repo`` or ``srl-swe/NAME``."""
        return self.repo or f"srl-swe/{self.name}"

    @property
    def envs_dir(self) -> Path:
        """The directory of the spec file (the registry root)."""
        return self.path.parent if self.path is not None else default_envs_dir()

    @property
    def tasks_path(self) -> Path:
        """``envs/tasks/NAME.jsonl`` (written by task synthesis; may not exist)."""
        return tasks_file(self.envs_dir, self.name)

    @property
    def task_count(self) -> int:
        """Number of task rows in :attr:`tasks_path` (0 when the file is absent)."""
        if not self.tasks_path.is_file():
            return 0
        with self.tasks_path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())

    def load_tasks(self) -> list[dict[str, Any]]:
        """The task rows of :attr:`tasks_path` (``[]`` when absent); a bad line raises naming file and line."""
        return read_tasks(self.tasks_path)

    @property
    def full_test_command(self) -> str:
        """``test_command`` plus one ``--deselect ID`` per :attr:`known_failing` test."""
        return " ".join([self.test_command, *(f"--deselect {shlex.quote(t)}" for t in self.known_failing)])

    def test_command_for(self, files: Iterable[str]) -> str:
        """The test command restricted to some test files (for eval scripts)."""
        return " ".join([self.full_test_command, *(shlex.quote(f) for f in files)])

    def is_test_file(self, path: str) -> bool:
        """Whether a /testbed-relative path is a test file: :attr:`test_files` or the defaults of every repository."""
        return matches(path, globs_of_test_files(self.test_files))

    def is_source_file(self, path: str) -> bool:
        """Whether a path matches :attr:`source_files` and not :attr:`test_files` (a file tasks may mutate)."""
        return matches(path, self.source_files) and not self.is_test_file(path)

    def to_dict(self) -> dict[str, Any]:
        """The spec as YAML-ready data (what ``envs add`` writes)."""
        out: dict[str, Any] = {"name": self.name, "description": self.description, "source": self.source.to_dict(),
                               "python": self.python, "install": list(self.install), "test_command": self.test_command,
                               "test_files": list(self.test_files), "source_files": list(self.source_files),
                               "log_parser": self.log_parser}
        if self.known_failing:
            out["known_failing"] = list(self.known_failing)
        if self.git_exclude:
            out["git_exclude"] = list(self.git_exclude)
        if self.repo:
            out["repo"] = self.repo
        if self.timeout != EnvSpec.timeout:
            out["timeout"] = self.timeout
        if self.system_packages:
            out["system_packages"] = list(self.system_packages)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)


# --------------------------------------------------------------------------- loading


def default_envs_dir() -> Path:
    """``$SRL_SWE_ENVS_DIR``, else the environments shipped inside the package (``srl_swe/resources/envs``)."""
    if os.environ.get("SRL_SWE_ENVS_DIR"):
        return Path(os.environ["SRL_SWE_ENVS_DIR"])
    return resource("envs")


@functools.lru_cache(maxsize=1)
def _log_parsers() -> frozenset[str] | None:
    try:
        from swebench.harness.log_parsers import PARSER_REGISTRY
    except ImportError:  # swebench is the optional `sandbox` extra: then names are not checked
        return None
    return frozenset(PARSER_REGISTRY)


def _str(data: dict, key: str, where: Path, *, required: bool = True, default: str = "") -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise EnvSpecError(where, key, "is required")
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "python":
        value = str(value)  # `python: 3.11` written without quotes
    if not isinstance(value, str):
        raise EnvSpecError(where, key, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise EnvSpecError(where, key, "must not be empty")
    return value.strip()


def _str_list(data: dict, key: str, where: Path, *, required: bool = True) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        if required:
            raise EnvSpecError(where, key, "is required (a list of strings)")
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise EnvSpecError(where, key, f"must be a list of strings, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise EnvSpecError(where, f"{key}[{i}]", f"must be a non-empty string, got {item!r}")
    if required and not value:
        raise EnvSpecError(where, key, "must list at least one entry")
    return tuple(item.strip() for item in value)


def _source(data: Any, where: Path) -> Source:
    if not isinstance(data, dict):
        raise EnvSpecError(where, "source", "must be a mapping with one of: pypi, path, git "
                                            '(e.g. {pypi: "toolz==1.2.0"})')
    kinds = [k for k in ("pypi", "path", "git") if k in data]
    if len(kinds) != 1:
        raise EnvSpecError(where, "source", f"must have exactly one of pypi, path, git; got {sorted(data) or 'none'}")
    kind = kinds[0]
    allowed = {"pypi": {"pypi", "sha256"}, "path": {"path"}, "git": {"git", "ref"}}[kind]
    extra = sorted(set(data) - allowed)
    if extra:
        raise EnvSpecError(where, f"source.{extra[0]}", f"unknown key for a {kind} source (allowed: {sorted(allowed)})")
    value = data[kind]
    if not isinstance(value, str) or not value.strip():
        raise EnvSpecError(where, f"source.{kind}", f"must be a non-empty string, got {value!r}")
    value = value.strip()
    if kind == "pypi":
        if not _PYPI_RE.match(value):
            raise EnvSpecError(where, "source.pypi", f"must pin one version as 'name==version', got {value!r}")
        sha = data.get("sha256", "")
        if sha and (not isinstance(sha, str) or not _SHA256_RE.match(sha)):
            raise EnvSpecError(where, "source.sha256", "must be 64 lower-case hex digits")
        return Source("pypi", value, sha256=sha or "")
    if kind == "path":
        directory = Path(value).expanduser()
        if not directory.is_absolute():
            directory = (where.parent / directory).resolve()
        if not directory.is_dir():
            raise EnvSpecError(where, "source.path", f"{directory} is not a directory")
        return Source("path", str(directory))
    ref = data.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        raise EnvSpecError(where, "source.ref", "a git source needs a ref (tag, branch or commit) to pin it")
    return Source("git", value, ref=ref.strip())


def parse_env(data: Any, where: str | Path = "<spec>", *, expect_name: str | None = None) -> EnvSpec:
    """Validate spec data (the YAML's mapping) into an :class:`EnvSpec`; errors name ``where`` and the field."""
    where = Path(where)
    if not isinstance(data, dict):
        raise EnvSpecError(where, None, f"must be a YAML mapping of fields, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise EnvSpecError(where, unknown[0], f"unknown field (known: {', '.join(_FIELDS)})")
    for key in _REQUIRED:
        if key not in data:
            raise EnvSpecError(where, key, "is required")
    name = _str(data, "name", where)
    if not _NAME_RE.match(name):
        raise EnvSpecError(where, "name", f"{name!r} must be lower-case letters, digits, '.', '_' or '-' "
                                          "(it names a docker image)")
    if expect_name is not None and name != expect_name:
        raise EnvSpecError(where, "name", f"{name!r} must equal the file name {expect_name!r}")
    python = _str(data, "python", where)
    if python not in SUPPORTED_PYTHONS:
        raise EnvSpecError(where, "python", f"{python!r} is not available: the base image srl-swe/base:bookworm has "
                                            f"{', '.join(SUPPORTED_PYTHONS)}")
    log_parser = _str(data, "log_parser", where)
    parsers = _log_parsers()
    if parsers is not None and log_parser not in parsers:
        close = sorted(p for p in parsers if log_parser.lower() in p.lower())[:5]
        raise EnvSpecError(where, "log_parser", f"{log_parser!r} is not in swebench's PARSER_REGISTRY"
                                                + (f" (did you mean {', '.join(close)}?)" if close else
                                                   " (e.g. parse_log_pytest)"))
    timeout = data.get("timeout", EnvSpec.timeout)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise EnvSpecError(where, "timeout", f"must be a positive integer of seconds, got {timeout!r}")
    system_packages = _str_list(data, "system_packages", where, required=False)
    for package in system_packages:
        if not _DEBIAN_PACKAGE_RE.match(package):
            raise EnvSpecError(where, "system_packages", f"{package!r} is not a Debian package name (e.g. gcc, libc6-dev)")
    repo = _str(data, "repo", where, required=False)
    if repo and not re.match(r"^[\w.-]+/[\w.-]+$", repo):
        raise EnvSpecError(where, "repo", f"must look like 'owner/name', got {repo!r}")
    return EnvSpec(
        name=name,
        source=_source(data["source"], where),
        python=python,
        install=_str_list(data, "install", where),
        test_command=_str(data, "test_command", where),
        test_files=_str_list(data, "test_files", where),
        source_files=_str_list(data, "source_files", where),
        log_parser=log_parser,
        description=_str(data, "description", where, required=False),
        known_failing=_str_list(data, "known_failing", where, required=False),
        git_exclude=_str_list(data, "git_exclude", where, required=False),
        repo=repo,
        timeout=timeout,
        system_packages=system_packages,
        path=where if where.suffix in (".yaml", ".yml") else None,
    )


def load_spec_file(path: str | Path) -> EnvSpec:
    """Read and validate one spec file; its ``name`` must equal the file's stem."""
    path = Path(path)
    if not path.is_file():
        raise EnvSpecError(path, None, "no such spec file")
    try:
        data = read_yaml(path)
    except InvalidRecordError as exc:  # not UTF-8, not YAML, too deep: an EnvSpecError like every spec problem
        raise EnvSpecError(path, None, f"is {exc.reason}") from None
    return parse_env(data, path.resolve(), expect_name=path.stem)


def read_tasks(path: str | Path, required: Sequence[str] = ROW_FIELDS) -> list[dict[str, Any]]:
    """Task rows of a JSONL file (``[]`` when it does not exist), checked as every task row is
    (:func:`srl_swe.records.check_task_rows`: objects, field types, unique ids, the ``required`` fields),
    so synthesize, restate and validate reject a bad file before any container starts."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for lineno, row in read_json_lines(path, by_line=True):
        if not isinstance(row, dict):
            raise InvalidRecordError(str(path), f"line {lineno}", None, "must be a JSON object")
        rows.append(row)
    return check_task_rows(rows, str(path), required)


_TASKS_BY_ID: dict[Path, tuple[tuple[int, int, int], dict[str, dict[str, Any]]]] = {}
"""Task file -> (its inode, mtime and size when read, its rows by instance id): the cache of
:meth:`Registry.find_task`."""


class Registry:
    """The specs in one ``envs/`` directory (default: :func:`default_envs_dir`)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_envs_dir()

    def spec_path(self, name: str) -> Path:
        return self.root / f"{name}.yaml"

    def names(self) -> list[str]:
        """Names of the specs (``*.yaml`` files) in the directory, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())

    def load(self, name_or_path: str | Path) -> EnvSpec:
        """A spec by registered name, or by the path of a YAML file."""
        text = str(name_or_path)
        path = Path(text)
        if text.endswith((".yaml", ".yml")) or os.sep in text or path.is_file():
            return load_spec_file(path)
        for suffix in (".yaml", ".yml"):
            candidate = self.root / f"{text}{suffix}"
            if candidate.is_file():
                return load_spec_file(candidate)
        known = self.names()
        raise SRLSweError(f"no repository environment named {text!r} in {self.root} "
                          f"(registered: {', '.join(known) or 'none'}; add one with `srl-swe envs add`)")

    def list(self) -> list[EnvSpec]:
        """Every spec in the directory (the first invalid one raises)."""
        return [load_spec_file(p) for p in sorted(self.root.glob("*.y*ml")) if p.suffix in (".yaml", ".yml")]

    def tasks_path(self, name: str) -> Path:
        """``envs/tasks/NAME.jsonl``: where env ``name``'s task rows are (the file may not exist)."""
        return tasks_file(self.root, name)

    def tasks(self, name: str) -> list[dict[str, Any]]:
        """The task rows of env ``name`` (``[]`` when its task file is absent)."""
        return read_tasks(self.tasks_path(name))

    def task_count(self, name: str) -> int:
        return self.load(name).task_count

    def find_task(self, instance_id: str) -> dict[str, Any] | None:
        """The task row of ``instance_id`` in any env's task file, or None. A file is read again only when it
        changes: live SRL looks a task up for every GRPO group, and specs need not be parsed for it."""
        for name in self.names():
            path = self.tasks_path(name)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # atomic writes make a new inode
            cached = _TASKS_BY_ID.get(path)
            if cached is None or cached[0] != version:
                cached = _TASKS_BY_ID[path] = (version, {row["instance_id"]: row for row in read_tasks(path)})
            if instance_id in cached[1]:
                return copy.deepcopy(cached[1][instance_id])
        return None

    def add(self, spec: EnvSpec, *, overwrite: bool = False) -> Path:
        """Write ``spec`` as ``ROOT/NAME.yaml`` (validated by reading it back); refuses to overwrite by default."""
        path = self.spec_path(spec.name)
        if path.exists() and not overwrite:
            raise SRLSweError(f"{path} already exists (pass --force to overwrite)")
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(path, spec.to_yaml())
        try:
            load_spec_file(path)
        except SRLSweError:
            path.unlink(missing_ok=True)
            raise
        return path


def load_env(name_or_path: str | Path, *, root: str | Path | None = None) -> EnvSpec:
    """The :class:`EnvSpec` registered as ``envs/NAME.yaml``, or read from a YAML path."""
    return Registry(root).load(name_or_path)


def list_envs(*, root: str | Path | None = None) -> list[EnvSpec]:
    """Every registered repository environment, sorted by name."""
    return Registry(root).list()
