"""`envs add pypi:NAME`: what PyPI's metadata and the sdist decide about a new env.

PyPI itself is not asked here: a FAKE index (a local HTTP server answering PyPI's JSON API
with the same fields, and relative download addresses as some mirrors give) serves sdists
built by the tests. The real path is the same code against https://pypi.org/pypi.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from srl_swe.cli import main
from srl_swe.errors import SRLSweError
from srl_swe.images import pytest_passed
from srl_swe.onboarding import DEFAULT_PYTEST, inspect_sdist, likely_fix, propose_env, sdist_files
from srl_swe.registry import load_spec_file


def make_sdist(top: str, files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in {"PKG-INFO": "Metadata-Version: 2.1\n", **files}.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


SRC_LAYOUT = {  # like humanize: src/ layout, doctests and a pytest minimum in pyproject, a test extra
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--doctest-modules"\nminversion = "9.0"\n',
    "src/friendly/__init__.py": "def hello():\n    '''\n    >>> hello()\n    'hi'\n    '''\n    return 'hi'\n",
    "tests/test_friendly.py": "from friendly import hello\n\ndef test_hello():\n    assert hello() == 'hi'\n",
}
NATIVE = {  # like bitarray: tests inside the package, a C extension
    "setup.py": "from setuptools import Extension, setup\nsetup(ext_modules=[Extension('fast._core', ['fast/_core.c'])])\n",
    "fast/__init__.py": "", "fast/_core.c": "/* C */\n", "fast/test_fast.py": "def test_x():\n    pass\n",
}


OLDER_PKG_INFO = """Metadata-Version: 2.1
Name: older
Version: 1.0
Summary: What 1.0 says
Project-URL: Documentation, https://older.example.org
Project-URL: Source, https://github.com/old/older
Provides-Extra: test
Requires-Dist: pytest>=9; extra == "test"
"""


class FakePyPI(BaseHTTPRequestHandler):
    """A FAKE of PyPI's JSON API for the packages in ``packages`` (name -> (version, sdist bytes, metadata))."""

    packages: dict = {}
    versioned = True
    """False: like a proxy that answers 404 at NAME/VERSION/json and lists releases only at NAME/json."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts[0] == "files":
            _, data, _ = self.packages[parts[1]]
            return self._send(data, "application/gzip")
        if parts[0] == "pypi" and parts[1] == "pytest":
            return self._send(json.dumps({"info": {}, "releases": {v: [] for v in ("8.4.2", "9.0.0", "9.2.0", "10.0.0rc1")}}).encode())
        if parts[0] == "pypi" and parts[1] in self.packages:
            version, data, meta = self.packages[parts[1]]
            if len(parts) == 4 and (parts[2] != version or not self.versioned):
                self.send_error(404)
                return
            up = "../" * (len(parts) - 1)  # relative to the address asked, as the mirror this machine uses answers
            urls = [{"packagetype": "sdist", "url": f"{up}files/{parts[1]}",
                     "digests": {"sha256": meta.get("sha256") or hashlib.sha256(data).hexdigest()}}]
            info = {"name": parts[1], "version": version, "summary": meta.get("summary", ""),
                    "project_urls": meta.get("project_urls"), "provides_extra": meta.get("extras", []),
                    "requires_dist": meta.get("requires_dist", [])}
            releases = {v: urls for v in meta.get("older", []) + [version]}
            return self._send(json.dumps({"info": info, "urls": urls, "releases": releases}).encode())
        self.send_error(404)

    def _send(self, body: bytes, kind: str = "application/json"):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def index(monkeypatch):
    packages = {
        "friendly": ("2.1.0", make_sdist("friendly-2.1.0", SRC_LAYOUT),
                     {"summary": "Friendly  helpers", "extras": ["docs", "Tests"],
                      "requires_dist": ["pytest>=9; extra == 'tests'", "freezegun; extra == 'tests'", "sphinx; extra == 'docs'"],
                      "project_urls": {"Homepage": "https://friendly.example.org",
                                       "Source": "https://github.com/friends/friendly.git"}}),
        "fast": ("0.3", make_sdist("fast-0.3", NATIVE), {"summary": "Fast things"}),
        "notests": ("1.0", make_sdist("notests-1.0", {"notests/__init__.py": ""}), {}),
        "tampered": ("1.0", make_sdist("tampered-1.0", NATIVE), {"sha256": "0" * 64}),
        "older": ("2.0", make_sdist("older-1.0", {**SRC_LAYOUT, "PKG-INFO": OLDER_PKG_INFO}),
                  {"summary": "What 2.0 says", "older": ["1.0"]}),
    }
    handler = type("Index", (FakePyPI,), {"packages": packages})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}/pypi"
    monkeypatch.setenv("SRL_SWE_PYPI_JSON", root)
    yield root
    server.shutdown()


def test_a_src_layout_with_a_test_extra_doctests_and_a_pytest_minimum(index):
    data, found = propose_env("friendly")
    assert data["source"] == {"pypi": "friendly==2.1.0", "sha256": hashlib.sha256(make_sdist("friendly-2.1.0", SRC_LAYOUT)).hexdigest()}
    assert (data["description"], data["repo"]) == ("Friendly helpers", "friends/friendly")
    assert data["install"] == ["pip install -e '.[Tests]' pytest==9.2.0"]  # the newest final release that pytest>=9 allows
    assert data["source_files"] == ["src/friendly/**/*.py"] and data["test_files"] == ["tests/**/*.py"]
    assert found["doctest_modules"] and "system_packages" not in data
    assert data["test_command"] == "pytest -rA -p no:cacheprovider --color=no"  # a project's addopts may ask for colors


def test_pytest_summaries_are_counted_with_or_without_colors():
    assert pytest_passed("x\n===== 139 passed, 1 skipped in 1.56s =====\n") == 139
    assert pytest_passed("\x1b[32m=== \x1b[32m\x1b[1m139 passed\x1b[0m, \x1b[33m1 skipped\x1b[0m ===\x1b[0m") == 139
    assert pytest_passed("==== 2 failed in 0.1s ====") == 0 and pytest_passed("") == 0


def test_a_c_extension_gets_a_compiler_and_tests_inside_the_package_are_found(index):
    data, found = propose_env("fast", "0.3")
    assert data["system_packages"] == ["gcc", "libc6-dev", "python3-dev"] and found["native_sources"] == 1
    assert data["test_files"] == ["fast/**/test_*.py"] and data["install"] == [f"pip install -e . pytest=={DEFAULT_PYTEST}"]
    assert "repo" not in data


@pytest.mark.parametrize("package, version, message", [
    ("notests", None, "ships no tests"), ("tampered", None, "differs from PyPI's"),
    ("fast", "9.9", r"fast==9.9: no such version on PyPI \(the latest is 0.3\)"), ("nosuchpackage", None, "no such package")])
def test_what_cannot_become_an_env_says_why(index, package, version, message):
    with pytest.raises(SRLSweError, match=message):
        propose_env(package, version)


def test_an_index_without_version_addresses_gives_the_pinned_release_with_its_own_metadata(index, monkeypatch):
    """Some mirrors and proxies answer 404 at NAME/VERSION/json: the release list at NAME/json names the sdist, and
    the metadata is the pinned release's own (its PKG-INFO), not the latest release's."""
    monkeypatch.setattr(FakePyPI, "versioned", False)
    data, found = propose_env("older", "1.0")
    assert data["source"]["pypi"] == "older==1.0" and found["version"] == "1.0"
    assert (data["description"], data["repo"]) == ("What 1.0 says", "old/older")
    assert data["install"] == ["pip install -e '.[test]' pytest==9.2.0"]
    with pytest.raises(SRLSweError, match=r"older==0.5: no such version on PyPI \(the latest is 2.0\)"):
        propose_env("older", "0.5")


def test_cli_writes_a_spec_that_loads_and_flags_override_what_was_found(index, tmp_path, capsys):
    main(["envs", "add", "pypi:friendly==2.1.0", "--envs-dir", str(tmp_path), "--test-command", "pytest -rA"])
    spec = load_spec_file(tmp_path / "friendly.yaml")
    assert spec.source.sha256 and spec.repo == "friends/friendly" and spec.test_command == "pytest -rA"
    assert "next: `srl-swe envs build friendly`" in capsys.readouterr().out
    main(["envs", "add", "pypi:fast", "--name", "fast-c", "--envs-dir", str(tmp_path)])
    assert yaml.safe_load((tmp_path / "fast-c.yaml").read_text())["system_packages"] == ["gcc", "libc6-dev", "python3-dev"]


def test_sdist_layouts_are_read_without_a_network():
    zipped = sdist_files(make_sdist("m-1", {"m.py": "", "test_m.py": "", "setup.cfg": "[tool:pytest]\naddopts = -ra --doctest-modules\n"}),
                         "m-1.tar.gz")
    layout = inspect_sdist(zipped)
    assert layout.packages == ("m.py",) and layout.test_globs == ("test_*.py",) and layout.doctest_modules


@pytest.mark.parametrize("log, fix", [
    ("E   ModuleNotFoundError: No module named 'freezegun'", "test extra"),
    ("ImportError while importing test module '/testbed/tests/test_search.py'.\n"  # jmespath 1.1.0's sdist
     "E   ImportError: cannot import name 'unittest' from 'tests' (unknown location)",
     "import from `tests`, which the sdist ships without its `__init__.py`"),
    ("error: command '/usr/bin/gcc' failed: No such file or directory", "system_packages: [gcc, libc6-dev, python3-dev]"),
    ("ERROR: This version of pytest is 8.4.2, required is 9.0", "another pytest"),
    ("_____ ERROR collecting bitarray/test_free_threading.py _____\nE   AssertionError: assert None",
     "add `--ignore=bitarray/test_free_threading.py` to test_command"),
])
def test_a_failed_build_names_the_fix_and_the_next_command(log, fix):
    hint = likely_fix(f"[tests] ...\n{log}\n", "envs/x.yaml", "x")
    assert fix in hint and "envs/x.yaml" in hint and hint.endswith("then `srl-swe envs build x`")
    assert likely_fix("everything failed for no known reason", "envs/x.yaml", "x") == ""


