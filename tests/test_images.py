"""Env and task images: a real build of the smallest env (inflection), reproducible commits, the
venv, the build-time test run, task images with their bug, and build failures that name their step.

Needs a Docker daemon and the base image (``srl_swe/resources/scripts/ensure_docker.sh``); skipped with that hint
when none answers, unless SRL_SWE_REQUIRE_DOCKER=1 turns the skip into a failure. The first run
downloads inflection's sdist and pytest inside the build (~30 s); with a warm layer cache the
module takes about a minute on 2 cores.
"""
from __future__ import annotations

import difflib
import json
import uuid
from pathlib import Path

import pytest
from conftest import docker_client_or_skip

from srl_swe.errors import InvalidRecordError
from srl_swe.images import (
    LABEL_ENV,
    LABEL_SPEC,
    BuildError,
    build_env,
    build_images,
    build_task,
    env_build_info,
    image_exists,
    spec_digest,
    task_base_commit,
)
from srl_swe.onboarding import DEFAULT_TEST_COMMAND
from srl_swe.registry import load_env, parse_env

pytestmark = pytest.mark.docker

INFLECTION_COMMIT = "e05a898f8e7b4526ee1bf7619db6b807ad97dd48"
"""HEAD of /testbed in srl-swe/env.inflection:latest: the sdist of inflection 0.5.1 committed with
fixed metadata. The same on every machine; a change means the commit recipe changed."""
INFLECTION_FILE = "inflection/__init__.py"
CORRECT = "    if number % 100 in (11, 12, 13):\n"
BUGGY = "    if number % 100 in (11, 12):\n"


@pytest.fixture(scope="module")
def client():
    return docker_client_or_skip(timeout=600)


@pytest.fixture(autouse=True)
def _logs_in_tmp(monkeypatch, tmp_path):
    """Build logs of the throwaway images of these tests go to tmp_path, not .cache/docker-logs."""
    monkeypatch.setenv("SRL_SWE_DOCKER_LOGS", str(tmp_path / "docker-logs"))


@pytest.fixture(scope="module")
def inflection(client):
    spec = load_env("inflection")
    return spec, build_env(spec, client=client)


def sh(client, image: str, script: str) -> str:
    out = client.containers.run(image, ["bash", "-c", script], remove=True, network_disabled=True, stderr=True)
    return out.decode()


@pytest.fixture(scope="module")
def gold_patch(client, inflection):
    """A real fix for a hand-made bug of inflection.ordinal (11th/12th/13th), as `git diff` writes it."""
    spec, _ = inflection
    correct = sh(client, spec.image, f"cat /testbed/{INFLECTION_FILE}")
    assert correct.count(CORRECT) == 1
    buggy = correct.replace(CORRECT, BUGGY)
    return "".join(difflib.unified_diff(buggy.splitlines(True), correct.splitlines(True),
                                        f"a/{INFLECTION_FILE}", f"b/{INFLECTION_FILE}"))


# --------------------------------------------------------------------------- env image


def test_env_image_is_at_the_reproducible_commit(client, inflection):
    spec, result = inflection
    assert result.image == spec.image == "srl-swe/env.inflection:latest" and result.kind == "env"
    assert result.base_commit == INFLECTION_COMMIT
    out = sh(client, spec.image, "cd /testbed && git rev-parse HEAD && git rev-list --count HEAD && "
                                 "git log -1 --format='%an <%ae> %aI | %cn <%ce> %cI | %s' && "
                                 "git status --porcelain --untracked-files=all && echo CLEAN")
    head, count, meta, clean = out.strip().splitlines()
    assert head == INFLECTION_COMMIT and count == "1" and clean == "CLEAN"
    assert meta == ("srl-swe <srl-swe@localhost> 2000-01-01T00:00:00+00:00 | "
                    "srl-swe <srl-swe@localhost> 2000-01-01T00:00:00+00:00 | inflection 0.5.1")
    files = sh(client, spec.image, "cd /testbed && git ls-files").split()
    assert "test_inflection.py" in files and INFLECTION_FILE in files and "PKG-INFO" in files
    assert not [f for f in files if ".egg-info" in f or "__pycache__" in f]
    labels = client.images.get(spec.image).labels
    assert labels[LABEL_ENV] == "inflection" and labels[LABEL_SPEC] == spec_digest(spec)


def test_env_venv_has_the_editable_install(client, inflection):
    spec, _ = inflection
    out = sh(client, spec.image, "command -v python pytest; python --version; "
                                 "python -c 'import inflection; print(inflection.__file__, inflection.__version__)'")
    assert out.split() == ["/opt/venv/bin/python", "/opt/venv/bin/pytest", "Python", out.split()[3],
                           "/testbed/inflection/__init__.py", "0.5.1"]
    assert out.split()[3].startswith("3.11.")
    # the tests run in the image without a network, and leave /testbed clean
    out = sh(client, spec.image, "cd /testbed && pytest -q -p no:cacheprovider test_inflection.py -k ordinal "
                                 "| tail -1 && git status --porcelain --untracked-files=all && echo CLEAN")
    assert "passed" in out and "failed" not in out and out.strip().endswith("CLEAN")


def test_env_build_ran_the_test_suite(client, inflection):
    spec, result = inflection
    assert result.tests_passed == 449 and result.tests_failed == 0  # distinct ids, as the SWE-bench parser sees them
    assert result.test_summary.startswith("455 passed")  # every parametrized case
    assert 0 < result.test_seconds < 120 and result.size_bytes > 100e6
    info = env_build_info(spec.image, spec, client)
    assert info["test_exit_code"] == 0 and info["base_commit"] == INFLECTION_COMMIT
    assert info["tests"]["PASSED"] == 449 and any(p.startswith("pytest==8.4.2") for p in info["pip_freeze"])
    log = Path(result.log_path)
    assert log.name == "inflection.log" and "run-tests.sh" in log.read_text()


# --------------------------------------------------------------------------- task images


def test_task_image_has_the_bug_folded_into_one_commit(client, inflection, gold_patch):
    spec, _ = inflection
    tag = f"srl-swe/task.inflection:pytest-{uuid.uuid4().hex[:8]}"
    expected = task_base_commit(spec, gold_patch, reverse=True, client=client)
    assert len(expected) == 40 and expected != INFLECTION_COMMIT
    row = {"instance_id": "inflection-pytest-0001", "image": tag, "patch": gold_patch, "base_commit": expected}
    try:
        result = build_task(spec, row, client=client)
        assert (result.image, result.kind, result.base_commit) == (tag, "task", expected)
        out = sh(client, tag, f"cd /testbed && git rev-list --count HEAD && git reflog | wc -l && "
                              f"git status --porcelain && grep -c '{BUGGY.strip()}' {INFLECTION_FILE} && "
                              f"git cat-file -t {INFLECTION_COMMIT} 2>&1; ls /tmp; cat /srl-swe/base_commit")
        lines = out.strip().splitlines()
        assert lines[:3] == ["1", "0", "1"], out  # one commit, no reflog, clean, the bug is there
        assert "could not get object info" in lines[3] or "Not a valid object" in lines[3], out  # env commit pruned
        assert lines[-1] == expected
        # the gold patch fixes it: the ordinal tests fail before and pass after
        before = sh(client, tag, "cd /testbed && pytest -q -p no:cacheprovider -k ordinal test_inflection.py | tail -1")
        assert "failed" in before
        # the same bug given as bug_patch (not reversed) yields the same commit
        bug_patch = "".join(difflib.unified_diff(
            sh(client, tag, f"git -C /testbed show HEAD:{INFLECTION_FILE}").splitlines(True),
            sh(client, spec.image, f"cat /testbed/{INFLECTION_FILE}").splitlines(True),
            f"a/{INFLECTION_FILE}", f"b/{INFLECTION_FILE}"))
        assert task_base_commit(spec, bug_patch, reverse=True, client=client) == expected
        # a row whose base_commit disagrees with the image is reported, naming the file, record and field
        with pytest.raises(InvalidRecordError, match=r"record 7, field 'base_commit': is 0{40} but the task image"):
            build_task(spec, {**row, "base_commit": "0" * 40}, client=client, record=7)
    finally:
        client.images.remove(tag, force=True)


def test_task_patch_that_does_not_apply_names_the_step(client, inflection, gold_patch):
    spec, _ = inflection
    tag = f"srl-swe/task.inflection:pytest-{uuid.uuid4().hex[:8]}"
    with pytest.raises(BuildError) as info:
        # applying the FIX to the correct code: does not apply
        build_task(spec, {"instance_id": "x", "image": tag, "bug_patch": gold_patch}, client=client)
    assert "apply-bug.sh" in info.value.step and "bug patch" in str(info.value)
    assert "does not apply" in str(info.value) and Path(info.value.log_path).is_file()


def test_build_images_builds_the_tasks_of_a_tasks_file_and_collects_failures(client, tmp_path, inflection, gold_patch):
    spec, _ = inflection
    local = parse_env(spec.to_dict(), tmp_path / "inflection.yaml")  # same env, tasks under tmp_path/tasks/
    suffix = uuid.uuid4().hex[:8]
    good = {"instance_id": "inflection-good", "image": f"srl-swe/task.inflection:pytest-good-{suffix}",
            "patch": gold_patch}
    bad = {"instance_id": "inflection-bad", "image": f"srl-swe/task.inflection:pytest-bad-{suffix}",
           "bug_patch": gold_patch}  # the fix given as the bug: does not apply
    local.tasks_path.parent.mkdir()
    local.tasks_path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    try:
        results, errors = build_images([local], tasks=True, base=False, jobs=2)
        assert [(r.kind, r.image) for r in results] == [("env", spec.image), ("task", good["image"])]
        assert results[1].base_commit == task_base_commit(spec, gold_patch, reverse=True, client=client)
        assert len(errors) == 1 and isinstance(errors[0], BuildError) and errors[0].image == bad["image"]
    finally:
        for row in (good, bad):
            if image_exists(row["image"], client):
                client.images.remove(row["image"], force=True)


# --------------------------------------------------------------------------- local sources and failures


def _tiny_project(root: Path, *, broken_test: bool = False) -> Path:
    (root / "calc").mkdir(parents=True)
    (root / "calc" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "tests").mkdir()
    (root / "tests" / "__init__.py").write_text("")
    expected = 3 if broken_test else 2
    (root / "tests" / "test_calc.py").write_text(
        "import unittest\nfrom calc import add\n\n\nclass TestCalc(unittest.TestCase):\n"
        f"    def test_add(self):\n        self.assertEqual(add(1, 1), {expected})\n")
    return root


def _local_spec(tmp_path: Path, name: str, **overrides):
    data = {"name": name, "source": {"path": str(_tiny_project(tmp_path / "src", broken_test=overrides.pop(
        "broken_test", False)))}, "python": "3.11", "install": ["python -c 'import calc'"],
        "test_command": "python -m unittest discover -v -s tests -t .", "test_files": ["tests/*.py"],
        "source_files": ["calc/*.py"], "log_parser": "parse_log_pytest", **overrides}
    return parse_env(data, tmp_path / f"{name}.yaml")


def test_local_source_commit_is_reproducible_without_cache(client, tmp_path):
    name = f"pytest-local-{uuid.uuid4().hex[:8]}"
    spec = _local_spec(tmp_path, name)
    try:
        first = build_env(spec, client=client)
        again = build_env(spec, client=client, rebuild=True)  # no layer cache: every step runs again
        assert not again.cached and first.base_commit == again.base_commit and len(first.base_commit) == 40
        out = sh(client, spec.image, "cd /testbed && git ls-files && python -c 'import calc; print(calc.add(2, 3))'")
        assert out.split() == ["calc/__init__.py", "tests/__init__.py", "tests/test_calc.py", "5"]
    finally:
        client.images.remove(spec.image, force=True)


def test_failing_test_suite_fails_the_build_at_the_test_step(client, tmp_path):
    spec = _local_spec(tmp_path, f"pytest-broken-{uuid.uuid4().hex[:8]}", broken_test=True)
    with pytest.raises(BuildError) as info:
        build_env(spec, client=client)
    error = info.value
    assert "run-tests.sh" in error.step and "run the test command" in error.step
    assert "returned a non-zero code" in error.reason
    assert "the test suite FAILED at the pinned version" in str(error) and "known_failing" in str(error)
    assert error.log_path == Path(error.log_path) and error.log_path.name == f"{spec.name}.log"
    assert "AssertionError: 2 != 3" in error.log_path.read_text() and f"full build log: {error.log_path}" in str(error)
    assert not any(spec.image in (image.tags or []) for image in client.images.list())


def test_a_suite_whose_results_the_parser_cannot_read_fails_the_build_and_names_the_fix(client, tmp_path):
    """A project asking pytest for colors (python-slugify's addopts) makes result lines swebench's parser skips:
    the suite would seem to pass no test. The build says so; `--color=no`, as `envs add` writes it, fixes it."""
    spec = _local_spec(tmp_path, f"pytest-colors-{uuid.uuid4().hex[:8]}", install=["pip install pytest==8.4.2"],
                       test_command="pytest -rA -p no:cacheprovider")
    (Path(spec.source.location) / "pytest.ini").write_text("[pytest]\naddopts = --color=yes\n")
    with pytest.raises(BuildError) as info:
        build_env(spec, client=client)
    assert "pytest passed 1 tests, but the log parser parse_log_pytest named none of them" in str(info.value)
    assert "add `--color=no` to test_command" in info.value.hint and f"srl-swe envs build {spec.name}" in info.value.hint
    assert not any(spec.image in (image.tags or []) for image in client.images.list())
    fixed = parse_env({**spec.to_dict(), "test_command": DEFAULT_TEST_COMMAND}, spec.path)
    try:
        assert build_env(fixed, client=client).tests_passed == 1
    finally:
        client.images.remove(fixed.image, force=True)


def test_sdist_with_another_sha256_fails_at_the_fetch_step(client, tmp_path, inflection):
    spec, _ = inflection
    data = {**spec.to_dict(), "name": f"pytest-sha-{uuid.uuid4().hex[:8]}",
            "source": {"pypi": "inflection==0.5.1", "sha256": "0" * 64}}
    with pytest.raises(BuildError) as info:
        build_env(parse_env(data, tmp_path / f"{data['name']}.yaml"), client=client)
    assert "fetch-source.sh" in info.value.step and "fetch the source" in info.value.step
    assert "differs from source.sha256" in str(info.value)


def test_failing_install_names_the_install_step(client, tmp_path):
    spec = _local_spec(tmp_path, f"pytest-broken-{uuid.uuid4().hex[:8]}", install=["echo installing", "exit 3"])
    with pytest.raises(BuildError) as info:
        build_env(spec, client=client)
    assert "install.sh" in info.value.step and "install commands" in info.value.step
    assert "returned a non-zero code: 3" in str(info.value) and "[install] $ exit 3" in str(info.value)
