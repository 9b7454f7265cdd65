"""A task's repository at its base commit, read through git: from the task's Docker image or a local checkout.

Both sources answer the same two questions with ``git`` at the row's ``base_commit`` (the
working tree is never touched): which files exist (``git ls-tree``) and what they hold
(``git archive``, read as a tar). :func:`open_repo` picks the task image when it exists
locally (a short-lived, network-less :class:`~srl_swe.sandbox.runtime.Sandbox`) and a
checkout under ``--repo-dir`` otherwise.
"""
from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import Any, Iterable, Protocol

from ..errors import SRLSweError
from ..globs import matches
from ..images import image_exists
from ..sandbox.runtime import Sandbox, SandboxConfig

OUT_PATH = "/tmp/srl_swe_rollout.out"
MAX_FILE_BYTES = 1_000_000
"""Files larger than this are not read (generated data, vendored bundles)."""


class RepoError(SRLSweError):
    """The repository could not be read (no image nor checkout, unknown commit, git failed)."""


class GitRunner(Protocol):
    """Runs ``git ARGS`` in a repository and returns its stdout as bytes (raises :class:`RepoError`)."""

    def git(self, *args: str) -> bytes: ...

    def close(self) -> None: ...


class LocalGit:
    """git in a local checkout."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def git(self, *args: str) -> bytes:
        run = subprocess.run(["git", "-C", str(self.directory), *args], capture_output=True)
        if run.returncode != 0:
            raise RepoError(f"git {' '.join(args[:3])} failed in {self.directory}: {run.stderr.decode(errors='replace').strip()}")
        return run.stdout

    def close(self) -> None:
        pass


class SandboxGit:
    """git in a container of a task image (network off); stdout goes through a file so bytes come back whole."""

    def __init__(self, image: str, workdir: str = "/testbed"):
        self.image = image
        self.sandbox = Sandbox(image, SandboxConfig(workdir=workdir, notes=False))

    def git(self, *args: str) -> bytes:
        command = "git " + " ".join(shlex.quote(a) for a in args) + f" > {OUT_PATH}"
        result = self.sandbox.exec(command)
        if result.exit_code != 0:
            raise RepoError(f"git {' '.join(args[:3])} failed in {self.image}: {result.output.strip()[-500:]}")
        return self.sandbox.read_file(OUT_PATH, binary=True)  # type: ignore[return-value]

    def close(self) -> None:
        self.sandbox.close()


class Repo:
    """The files of a repository at one commit (listed once, read on demand and cached)."""

    def __init__(self, runner: GitRunner, commit: str, *, description: str = ""):
        self.runner, self.commit, self.description = runner, commit, description
        self._paths: list[str] | None = None
        self._texts: dict[str, str | None] = {}

    def __enter__(self) -> "Repo":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.runner.close()

    def paths(self) -> list[str]:
        """Every tracked file at the commit, sorted."""
        if self._paths is None:
            out = self.runner.git("ls-tree", "-r", "-z", "--name-only", self.commit)
            self._paths = sorted(p for p in out.decode("utf-8", errors="replace").split("\0") if p)
        return self._paths

    def read_many(self, paths: Iterable[str]) -> dict[str, str | None]:
        """path -> text for the given paths (None: absent, binary or too large), one ``git archive`` for all."""
        wanted = [p for p in dict.fromkeys(paths) if p not in self._texts]
        known = set(self.paths())
        for path in wanted:
            if path not in known:
                self._texts[path] = None
        wanted = [p for p in wanted if p in known]
        if wanted:
            data = self.runner.git("archive", "--format=tar", self.commit, "--", *(f":(literal){p}" for p in wanted))
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar:
                    if not member.isfile() or member.name not in known:
                        continue
                    if member.size > MAX_FILE_BYTES:
                        self._texts[member.name] = None
                        continue
                    raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                    self._texts[member.name] = None if b"\0" in raw[:8192] else raw.decode("utf-8", errors="replace")
            for path in wanted:
                self._texts.setdefault(path, None)
        return {p: self._texts.get(p) for p in dict.fromkeys(paths)}

    def read(self, path: str) -> str | None:
        """One file's text (None when absent, binary or too large)."""
        return self.read_many([path])[path]

    def select(self, include: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
        """Paths matching any ``include`` glob and no ``exclude`` glob (:mod:`srl_swe.globs` semantics)."""
        include, exclude = tuple(include), tuple(exclude)
        return [p for p in self.paths() if matches(p, include) and not matches(p, exclude)]


def checkout_for(row: dict[str, Any], repo_dir: str | Path) -> Path:
    """The checkout of ``row``'s repository under ``repo_dir``: the folder itself, or ``owner__name`` / ``name`` in it."""
    root = Path(repo_dir)
    candidates = [root]
    if row.get("repo"):
        candidates += [root / row["repo"].replace("/", "__"), root / row["repo"].split("/")[-1]]
    for candidate in candidates:
        if (candidate / ".git").exists():
            return candidate
    raise RepoError(f"{row['instance_id']}: no git checkout of {row.get('repo') or 'its repository'} at "
                    f"{' or '.join(str(c) for c in candidates)}")


def open_repo(row: dict[str, Any], repo_dir: str | Path | None = None, *, workdir: str = "/testbed",
              client: Any = None) -> Repo:
    """The row's repository at its ``base_commit``: from its local task image when there is one, else from ``repo_dir``."""
    image = row.get("image")
    if image:
        try:
            exists = image_exists(image, client)
        except SRLSweError:
            exists = False
            if repo_dir is None:
                raise
        if exists:
            return Repo(SandboxGit(image, workdir), row["base_commit"], description=f"image {image}")
    if repo_dir is not None:
        checkout = checkout_for(row, repo_dir)
        return Repo(LocalGit(checkout), row["base_commit"], description=f"checkout {checkout}")
    raise RepoError(f"{row['instance_id']}: its image {image!r} is not built here and no --repo-dir was given"
                    if image else f"{row['instance_id']}: the row has no image; give --repo-dir with a checkout of {row.get('repo')}")
