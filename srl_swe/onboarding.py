"""From a package name on PyPI to an env spec, without hand edits.

`srl-swe envs add pypi:NAME[==VERSION]` calls :func:`propose_env`: the release (the latest unless
pinned), its sdist and the sdist's sha256 come from PyPI's JSON API; the sdist is downloaded once,
checked against that hash and read without running anything: the package folders (src/ layout
or not), the test folders, the pytest configuration (``addopts`` such as ``--doctest-modules``,
``minversion``), C/C++/Cython sources (which need a compiler in the image) and the test extra
(``test``, ``tests`` or ``testing``) whose requirements the tests import. When an env build
fails, :func:`likely_fix` reads the build log and names the change and the command to run next.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import shlex
import tarfile
import urllib.error
import urllib.request
from urllib.parse import urljoin
import zipfile
from dataclasses import dataclass, replace
from email.parser import HeaderParser
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import SRLSweError
from .pytest_config import pytest_section


PYPI_JSON = "https://pypi.org/pypi"
"""Root of PyPI's JSON API (``NAME/json``, ``NAME/VERSION/json``); ``$SRL_SWE_PYPI_JSON`` names a mirror's instead."""
DEFAULT_PYTEST = "8.4.2"
"""The pytest the shipped envs pin, used whenever the project's own constraints allow it."""
DEFAULT_TEST_COMMAND = "pytest -rA -p no:cacheprovider --color=no"
"""The suite command of the specs `envs add` writes. ``--color=no`` overrides a project's ``addopts = --color=yes``:
colored result lines are lines the swebench log parser cannot read, so such a suite would seem to pass no test."""
TEST_EXTRAS = ("test", "tests", "testing")
COMPILER_PACKAGES = ("gcc", "libc6-dev", "python3-dev")
"""What the base image lacks to build a C extension for its Debian Python."""
NATIVE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx")
TEST_FOLDERS = ("tests", "test", "testing")
NOT_PACKAGES = {*TEST_FOLDERS, "docs", "doc", "examples", "example", "benchmarks", "bench", "scripts", "tools", "build",
                "dist", "ci", "requirements"}
NOT_MODULES = {"setup.py", "conftest.py", "noxfile.py", "tasks.py", "fabfile.py", "runtests.py", "bootstrap.py"}
CONFIG_FILES = ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", "setup.py")


@dataclass(frozen=True)
class Release:
    """One release of a package, as PyPI's JSON API describes it."""

    name: str
    version: str
    sdist_url: str
    sha256: str
    summary: str
    repo: str
    """``owner/name`` of its GitHub repository, when the project links one."""
    extras: tuple[str, ...]
    requires_dist: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """What an sdist holds that decides how to install and test it."""

    packages: tuple[str, ...]
    """Import packages as paths (``humanize``, ``src/humanize``) and top-level modules (``six.py``)."""
    test_globs: tuple[str, ...]
    doctest_modules: bool
    pytest_minversion: str
    native: tuple[str, ...]
    """C/C++/Cython sources (a compiler is needed)."""


def _get_json(url: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """PyPI's JSON answer at ``url``; None for a 404 when ``missing_ok``."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return None
        raise SRLSweError(f"{url}: {exc.code} {exc.reason}" + (" (no such package or version on PyPI)" if exc.code == 404 else "")) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SRLSweError(f"{url}: cannot read PyPI's answer ({exc}); set SRL_SWE_PYPI_JSON to a mirror's JSON API") from None


def github_repo(urls: list[str]) -> str:
    """``owner/name`` of the first GitHub repository address among ``urls`` ('' if none)."""
    for url in urls:
        match = re.match(r"https?://(?:www\.)?github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?(?:[/#?].*)?$", url or "")
        if match and match.group(1) not in ("sponsors", "orgs"):
            return f"{match.group(1)}/{match.group(2)}"
    return ""


def json_api(index: str | None = None) -> str:
    return (index or os.environ.get("SRL_SWE_PYPI_JSON") or PYPI_JSON).rstrip("/")


def find_release(name: str, version: str | None = None, *, index: str | None = None) -> Release:
    """The release ``name==version`` (default: the latest) and its sdist; an error when it has none.

    A pinned release is asked at ``NAME/VERSION/json``; an index that lacks that address (some mirrors and
    proxies answer 404 there) is read through ``NAME/json``'s release list, and the release's own metadata
    (summary, extras, requirements, links) then comes from the PKG-INFO of its sdist, never from the latest's."""
    index = json_api(index)
    url = f"{index}/{name}/{version}/json" if version else f"{index}/{name}/json"
    data = _get_json(url, missing_ok=bool(version))
    if data is None:
        return _release_from_list(name, str(version), index)
    info = data.get("info") or {}
    sdist = _sdist_of(data.get("urls") or [], f"{info.get('name', name)}=={info.get('version', version)}")
    project_urls = info.get("project_urls") or {}
    return Release(name=info.get("name") or name, version=info.get("version") or version or "",
                   sdist_url=urljoin(url, sdist["url"]), sha256=sdist["digests"]["sha256"],
                   summary=" ".join((info.get("summary") or "").split()),
                   repo=github_repo([*_source_first(project_urls), info.get("home_page") or ""]),
                   extras=tuple(info.get("provides_extra") or ()), requires_dist=tuple(info.get("requires_dist") or ()))


def _sdist_of(files: list[dict[str, Any]], where: str) -> dict[str, Any]:
    sdists = [f for f in files if f.get("packagetype") == "sdist"]
    if not sdists:
        raise SRLSweError(f"{where} has no sdist on PyPI (wheels carry no tests): register its repository instead, "
                          f"`srl-swe envs add NAME --git URL --ref TAG`")
    return sdists[0]


def _source_first(project_urls: dict[str, str]) -> list[str]:
    """The project's links, its source repository's first."""
    return [project_urls[k] for k in sorted(project_urls, key=lambda k: k.lower() not in ("source", "repository", "code"))]


def _release_from_list(name: str, version: str, index: str) -> Release:
    """``name==version`` from the project's release list, its metadata from its sdist's PKG-INFO."""
    url = f"{index}/{name}/json"
    data = _get_json(url) or {}
    releases = data.get("releases") or {}
    wanted = _version(version)
    found = next((v for v in releases if v == version or (wanted and _version(v) == wanted)), None)
    if found is None:
        latest = (data.get("info") or {}).get("version", "?")
        raise SRLSweError(f"{name}=={version}: no such version on PyPI (the latest is {latest})")
    sdist = _sdist_of(releases[found], f"{name}=={found}")
    release = Release(name=(data.get("info") or {}).get("name") or name, version=found,
                      sdist_url=urljoin(url, sdist["url"]), sha256=sdist["digests"]["sha256"],
                      summary="", repo="", extras=(), requires_dist=())
    filename = release.sdist_url.rsplit("/", 1)[-1]
    text = sdist_files(download_sdist(release), filename).get("PKG-INFO", b"").decode("utf-8", errors="replace")
    meta = HeaderParser().parsestr(text)
    links = dict(map(str.strip, line.split(",", 1)) for line in meta.get_all("Project-URL") or [] if "," in line)
    return replace(release, summary=" ".join((meta.get("Summary") or "").split()),
                   repo=github_repo([*_source_first(links), meta.get("Home-page") or ""]),
                   extras=tuple(meta.get_all("Provides-Extra") or ()),
                   requires_dist=tuple(meta.get_all("Requires-Dist") or ()))


def download_sdist(release: Release) -> bytes:
    """The sdist's bytes, checked against the sha256 PyPI lists."""
    data = _download(release.sdist_url)
    digest = hashlib.sha256(data).hexdigest()
    if digest != release.sha256:
        raise SRLSweError(f"{release.sdist_url}: sha256 {digest} differs from PyPI's {release.sha256}")
    return data


@functools.lru_cache(maxsize=2)
def _download(url: str) -> bytes:
    """A file's bytes, kept for the next call: a release found through its sdist's PKG-INFO is read again."""
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            return response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SRLSweError(f"{url}: download failed ({exc})") from None


def sdist_files(data: bytes, filename: str) -> dict[str, bytes]:
    """Path (below the sdist's top folder) -> content, for a .tar.gz/.tar.bz2/.tgz or .zip sdist."""
    files: dict[str, bytes] = {}
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        files[info.filename] = archive.read(info)
        else:
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                for member in archive.getmembers():
                    if member.isfile():
                        files[member.name] = archive.extractfile(member).read()
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise SRLSweError(f"{filename}: not a readable sdist archive ({exc})") from None
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        files = {name.split("/", 1)[1]: content for name, content in files.items()}
    return files


def _pytest_options(files: dict[str, bytes]) -> tuple[str, str]:
    """(addopts, minversion) of the first pytest configuration pytest itself would read."""
    for name in ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
        section = pytest_section(name, files[name].decode("utf-8", errors="replace")) if name in files else None
        if not isinstance(section, dict):  # absent, no pytest section, or unparsable
            continue
        if name == "pyproject.toml":  # [tool.pytest.ini_options], or pytest 9's own [tool.pytest]
            section = section.get("ini_options", section)
            if not section:
                continue
            addopts = section.get("addopts", "")
            return (" ".join(addopts) if isinstance(addopts, list) else str(addopts)), str(section.get("minversion", ""))
        return " ".join(section.get("addopts", "").split()), section.get("minversion", "")
    return "", ""


def inspect_sdist(files: dict[str, bytes]) -> Layout:
    """Read the layout of an unpacked sdist (see :class:`Layout`); an error when it ships no tests."""
    names = sorted(files)
    packages: list[str] = []
    for name in names:
        parts = name.split("/")
        if parts[-1] == "__init__.py" and (len(parts) == 2 or (len(parts) == 3 and parts[0] == "src")):
            if parts[-2] not in NOT_PACKAGES and "/".join(parts[:-1]) not in packages:
                packages.append("/".join(parts[:-1]))
        elif (len(parts) == 1 and name.endswith(".py") and name not in NOT_MODULES and not name.startswith("test")) or \
                (len(parts) == 2 and parts[0] == "src" and name.endswith(".py")):
            packages.append(name)
    tests: list[str] = []
    for folder in TEST_FOLDERS:
        if any(n.startswith(f"{folder}/") and n.endswith(".py") for n in names):
            tests.append(f"{folder}/**/*.py")
    for package in packages:
        if package.endswith(".py"):
            continue
        inside = [n[len(package):] for n in names if n.startswith(f"{package}/") and n.endswith(".py")]
        if any("/tests/" in n or "/test/" in n for n in inside):
            tests += [f"{package}/**/{folder}/*.py" for folder in ("tests", "test") if any(f"/{folder}/" in n for n in inside)]
        if any(re.search(r"/test_[^/]*\.py$", n) for n in inside):
            tests.append(f"{package}/**/test_*.py")
    if any("/" not in n and re.match(r"test_.*\.py$|.*_test\.py$", n) for n in names):
        tests.append("test_*.py")
    addopts, minversion = _pytest_options(files)
    doctests = "--doctest-modules" in addopts.split()
    if not packages:
        raise SRLSweError("no importable package or module in the sdist (neither NAME/__init__.py nor src/NAME/)")
    if not tests and not doctests:
        raise SRLSweError("the sdist ships no tests (no tests/, test/ or test_*.py, no doctests in its pytest "
                          "configuration): register its repository instead, `srl-swe envs add NAME --git URL --ref TAG`")
    setup = files.get("setup.py", b"").decode("utf-8", errors="replace")
    native = [n for n in names if n.endswith(NATIVE_SUFFIXES) and n.split("/", 1)[0] not in NOT_PACKAGES]
    if not native and re.search(r"\bExtension\(|\bext_modules\b|\bcythonize\(", setup):
        native = ["setup.py"]
    return Layout(tuple(packages), tuple(tests), doctests, minversion, tuple(native))


def test_extra(release: Release) -> str:
    """The release's test extra (``test``, ``tests`` or ``testing``), '' if it has none."""
    declared = {extra.lower(): extra for extra in release.extras}
    return next((declared[e] for e in TEST_EXTRAS if e in declared), "")


def pytest_constraints(release: Release, extra: str, minversion: str) -> SpecifierSet:
    """What the test extra and the pytest configuration ask of pytest's version."""
    specifiers = SpecifierSet()
    for line in release.requires_dist:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name.lower() != "pytest":
            continue
        marker = requirement.marker
        if marker is None or (extra and marker.evaluate({"extra": extra})):
            specifiers &= requirement.specifier
    if minversion:
        try:
            specifiers &= SpecifierSet(f">={Version(minversion)}")
        except InvalidVersion:
            pass
    return specifiers


def pick_pytest(constraints: SpecifierSet, *, index: str | None = None) -> str:
    """The shipped envs' pytest when ``constraints`` allow it, else the newest final release that fits."""
    if Version(DEFAULT_PYTEST) in constraints:
        return DEFAULT_PYTEST
    releases = _get_json(f"{json_api(index)}/pytest/json").get("releases") or {}
    fitting = sorted((v for v in (_version(r) for r in releases) if v and not v.is_prerelease and v in constraints), reverse=True)
    if not fitting:
        raise SRLSweError(f"no pytest release satisfies {constraints} (asked by the package's test requirements)")
    return str(fitting[0])


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def env_name(package: str) -> str:
    """A registry name for a package (lower case; runs of other characters become '-')."""
    return re.sub(r"[^a-z0-9._-]+", "-", package.lower()).strip("-.")


def propose_env(package: str, version: str | None = None, *, index: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(spec data for :func:`srl_swe.registry.parse_env`, what was found) for ``package[==version]`` on PyPI."""
    release = find_release(package, version, index=index)
    filename = release.sdist_url.rsplit("/", 1)[-1]
    try:
        layout = inspect_sdist(sdist_files(download_sdist(release), filename))
    except SRLSweError as exc:
        raise SRLSweError(f"{release.name}=={release.version} ({filename}): {exc}") from None
    extra = test_extra(release)
    pytest = pick_pytest(pytest_constraints(release, extra, layout.pytest_minversion), index=index)
    target = f".[{extra}]" if extra else "."
    sources = [p if p.endswith(".py") else f"{p}/**/*.py" for p in layout.packages]
    data: dict[str, Any] = {
        "name": env_name(release.name),
        "description": release.summary,
        "source": {"pypi": f"{release.name}=={release.version}", "sha256": release.sha256},
        "python": "3.11",
        "install": [f"pip install -e {shlex.quote(target)} pytest=={pytest}"],
        "test_command": DEFAULT_TEST_COMMAND,
        "test_files": list(layout.test_globs) or [f"{p}/**/*.py" for p in layout.packages if not p.endswith(".py")],
        "source_files": sources,
        "log_parser": "parse_log_pytest",
    }
    if release.repo:
        data["repo"] = release.repo
    if layout.native:
        data["system_packages"] = list(COMPILER_PACKAGES)
    found = {"version": release.version, "sha256": release.sha256, "test_extra": extra or None, "pytest": pytest,
             "packages": list(layout.packages), "doctest_modules": layout.doctest_modules,
             "native_sources": len(layout.native), "repo": release.repo or None}
    return data, found


BUILD_FIXES: tuple[tuple[str, str], ...] = (
    (r"error: command '[^']*gcc[^']*' failed|unable to execute '[^']*gcc|gcc: not found|Python\.h: No such file|"
     r"Microsoft Visual C\+\+|error: command 'cc' failed",
     "a C extension needs a compiler: add `system_packages: [gcc, libc6-dev, python3-dev]` to {spec}"),
    (r"This version of pytest is [\d.]+, required is|requires pytest|pytest[<>=!~].*but you have pytest",
     "the project asks for another pytest: pin one its configuration accepts in `install` of {spec}"),
    (r"cannot import name '[^']+' from '([^']+)' \(unknown location\)",
     "the tests import from `{match}`, which the sdist ships without its `__init__.py` (Python takes it for an empty "
     "namespace package), so this sdist cannot run its own tests: register the repository instead "
     "(`srl-swe envs add {env} --git URL --ref TAG --force`), or write the missing file in `install` of {spec}"),
    (r"ModuleNotFoundError: No module named|ImportError while importing test module",
     "a test dependency is missing: install the package's test extra (e.g. `pip install -e '.[tests]' pytest=={pytest}`, "
     "as `envs add pypi:NAME` writes it) or the missing module in `install` of {spec}"),
    (r"ERROR collecting (\S+)",
     "the test module {match} cannot even be collected here; if that is environmental (a platform or build it "
     "asserts at import), add `--ignore={match}` to test_command in {spec}"),
)


def likely_fix(log: str, spec_path: str, env: str) -> str:
    """The change an env build's log points to, and the command to run after it ('' when none is recognised)."""
    for pattern, fix in BUILD_FIXES:
        found = re.search(pattern, log)
        if found:
            detail = found.group(1) if found.groups() else ""
            return f"{fix.format(spec=spec_path, pytest=DEFAULT_PYTEST, match=detail, env=env)}; then `srl-swe envs build {env}`"
    return ""
