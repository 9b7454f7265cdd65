"""Task synthesis and harness validation against the real Docker engine and swebench 5.0.2.

Uses the smallest env (inflection): synthesizes one task into a temporary tasks file (every
swebench 5.x field, markers in the eval script, base_commit equal to what the task image
build commits, resumable), then runs the real harness on ONE shipped task of
envs/tasks/inflection.jsonl with the gold patch (resolved), an empty patch (not resolved) and
no patch at all (not resolved, FAIL_TO_PASS failing). Skipped only when no Docker daemon
answers (SRL_SWE_REQUIRE_DOCKER=1 turns the skip into a failure); a missing env image is built.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import replace

import pytest
from conftest import docker_client_or_skip

from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT

from srl_swe.patches import changed_lines
from srl_swe.registry import load_env, read_tasks
from srl_swe.tasks.mutations import find_mutations
from srl_swe.tasks.synthesize import ROW_FIELDS, Bench, SynthesisConfig, Synthesizer, make_eval_script, synthesize_tasks

ENV = "inflection"


def test_eval_script_wraps_the_tests_in_the_markers():
    script = make_eval_script("pytest -rA tests/test_a.py", "abc123", ["tests/test_a.py", "tests/conftest.py"])
    lines = script.splitlines()
    assert lines[:2] == ["#!/bin/bash", "set -uxo pipefail"]
    start, end = lines.index(f": '{START_TEST_OUTPUT}'"), lines.index(f": '{END_TEST_OUTPUT}'")
    assert lines[start + 1:end] == ["pytest -rA tests/test_a.py"]
    restore = "git checkout abc123 tests/conftest.py tests/test_a.py"
    assert lines[start - 1] == restore and lines[end + 1] == restore


@pytest.fixture(scope="module")
def env():
    """The inflection env spec with its image built (a no-op when it is current)."""
    from srl_swe.images import build_env, image_exists

    client = docker_client_or_skip(timeout=600)
    spec = load_env(ENV)
    if not image_exists(spec.image, client):
        build_env(spec, client=client)
    return spec


@pytest.mark.docker
def test_synthesize_writes_complete_resumable_rows(env, tmp_path):
    from srl_swe.images import task_base_commit
    from swebench.harness.utils import make_test_spec

    path = tmp_path / "tasks" / f"{ENV}.jsonl"
    config = SynthesisConfig(max_tasks=1, seed=0, workers=1, repeats=2, max_candidates=40, use_cache=False,
                             cache_dir=tmp_path / "cache")
    report = synthesize_tasks(ENV, config, tasks_path=path)
    rows = read_tasks(path)
    assert len(rows) == 1 and report.kept == [rows[0]["instance_id"]], report.to_dict()
    row = rows[0]
    for name in ROW_FIELDS:
        assert name in row, name
    assert re.fullmatch(rf"srl-swe__{ENV}-\d{{4}}", row["instance_id"])
    assert row["image"] == f"srl-swe/task.{ENV}:{row['instance_id'][-4:]}"
    assert row["repo"] == env.repo_name and row["log_parser"] == env.log_parser and row["eval_type"] == "pass_and_fail"
    assert row["test_patch"] == "" and row["FAIL_TO_PASS"] and row["PASS_TO_PASS"]
    assert not set(row["FAIL_TO_PASS"]) & set(row["PASS_TO_PASS"])
    script = row["eval_script"]
    assert script.index(f": '{START_TEST_OUTPUT}'") < script.index(f": '{END_TEST_OUTPUT}'")
    assert f"git checkout {row['base_commit']} " in script
    # the gold patch is the bug patch inverted; the statement never quotes a line either touches
    assert sorted(changed_lines(row["patch"])) == sorted(changed_lines(row["bug_patch"]))
    assert row["patch"].startswith(f"diff --git a/{row['mutation']['file']} b/{row['mutation']['file']}")
    statement_lines = {line.strip().lstrip("E>").strip() for line in row["problem_statement"].splitlines()}
    for line in changed_lines(row["patch"]):
        text = line.strip()
        assert text not in statement_lines or len(text) < 3, text
        assert len(text) < 8 or text not in row["problem_statement"], text
    assert row["FAIL_TO_PASS"][0] in row["problem_statement"]
    # base_commit is exactly what docker/task/apply-bug.sh commits for this bug
    assert row["base_commit"] == task_base_commit(env, row["bug_patch"])
    assert make_test_spec(row).FAIL_TO_PASS == row["FAIL_TO_PASS"]
    # a rerun finds the file complete and touches nothing
    before = path.read_text()
    again = synthesize_tasks(ENV, config, tasks_path=path)
    assert again.kept == [] and again.existing == 1 and path.read_text() == before
    # a run killed while appending its row leaves it torn: the rerun drops it, says so, and makes the same task again
    path.write_text(before[: len(before) // 2])
    said: list[str] = []
    redone = synthesize_tasks(ENV, config, tasks_path=path, progress=said.append)
    assert redone.existing == 0 and redone.kept == [row["instance_id"]]
    assert any("dropped a partly written last row" in line for line in said), said
    [again_row] = read_tasks(path)
    assert {k: v for k, v in again_row.items() if k != "created_at"} == {k: v for k, v in row.items() if k != "created_at"}


@pytest.mark.docker
def test_real_harness_resolves_gold_and_not_empty_on_a_shipped_task(env, tmp_path):
    from srl_swe.tasks.validate import validate_env

    rows = env.load_tasks()
    assert len(rows) >= 10, f"{env.tasks_path} should ship at least 10 tasks"
    iid = rows[0]["instance_id"]
    report = validate_env(ENV, workers=1, instance_ids=[iid], work_dir=tmp_path / "validate")
    summary = json.loads((tmp_path / "validate" / "summary.json").read_text())
    assert summary["ok"] is report.ok is True, summary
    assert report.runs["gold"].resolved == [iid]
    assert report.runs["empty"].resolved == [] and report.runs["empty"].empty_patch == [iid]
    assert report.runs["no-patch"].resolved == [] and report.runs["no-patch"].unresolved == [iid]
    assert not report.image_problems


@pytest.mark.docker
def test_restate_of_the_shipped_tasks_moves_nothing(env, tmp_path):
    """The shipped rows are what the one writer makes today: restating them rewrites no statement and no script."""
    from srl_swe.tasks.synthesize import restate_tasks

    path = tmp_path / f"{ENV}.jsonl"
    path.write_bytes(env.tasks_path.read_bytes())
    changed = restate_tasks(ENV, tasks_path=path)
    assert changed == {"rows": len(env.load_tasks()), "problem_statement": 0, "eval_script": 0}
    assert path.read_bytes() == env.tasks_path.read_bytes()


@pytest.mark.docker
@pytest.mark.parametrize("mode", ["755", "644"])
def test_a_mutant_keeps_its_file_mode_in_patches_and_commits(env, tmp_path, mode):
    """An executable source file (as in some sdists) stays executable: no mode change in either patch."""
    shipped = read_tasks(env.tasks_path)[0]
    synth = Synthesizer(env, SynthesisConfig(repeats=1, use_cache=False, screen="suite"), tasks_path=tmp_path / "t.jsonl")
    bench = Bench(env, synth.config)
    try:
        path = shipped["mutation"]["file"]
        bench.sh(f"cd /testbed && chmod {mode} {path} && git -c user.name=t -c user.email=t@t commit -qam mode --allow-empty")
        synth._baseline(bench)
        mutation = next(m for m in find_mutations(synth.sources[path], path) if m.id == shipped["mutation"]["id"])
        outcome = synth.check(bench, mutation)
        assert outcome.kept, outcome.reason
        for patch in (outcome.bug_patch, outcome.gold_patch):
            assert "index " in patch and f" 100{mode}\n" in patch and "old mode" not in patch and "new mode" not in patch
        assert bench.sh(f"cd /testbed && stat -c %a {path}").strip() == mode  # restored as it was
    finally:
        bench.close()


@pytest.mark.docker
def test_a_test_inside_the_fixed_file_never_enters_fail_to_pass(env, tmp_path):
    """Doctests live in the module the fix edits and are not reset before grading: a patch could edit them instead."""
    shipped = next(r for r in read_tasks(env.tasks_path) if r["mutation"]["function"] == "camelize")
    path = shipped["mutation"]["file"]
    outcomes = {}
    for name, command in (("all", f"{env.test_command} --doctest-modules"),
                          ("doctests only", f"{env.test_command} --doctest-modules {path}")):
        spec = dataclasses.replace(env, test_command=command)
        synth = Synthesizer(spec, SynthesisConfig(repeats=1, use_cache=False, screen="suite"), tasks_path=tmp_path / "t.jsonl")
        bench = Bench(spec, synth.config)
        try:
            synth._baseline(bench)
            assert f"{path}::inflection.camelize" in synth.stable_pass  # the doctest runs and passes on clean code
            mutation = next(m for m in find_mutations(synth.sources[path], path) if m.id == shipped["mutation"]["id"])
            outcomes[name] = synth.check(bench, mutation)
        finally:
            bench.close()
    assert outcomes["all"].kept and outcomes["all"].fail_to_pass
    assert not any(t.startswith(f"{path}::") for t in outcomes["all"].fail_to_pass)
    assert (outcomes["doctests only"].kept, outcomes["doctests only"].reason) == (False, "only tests inside the fixed file fail")


@pytest.mark.docker
def test_failing_tests_the_parser_cuts_still_describe_the_bug(env, tmp_path):
    """inflection's `test_humanize[employee_salary-Employee salary]` is cut at its space by the log parser: never
    graded, but when the bug (humanize's arguments to one call swapped) makes it fail, the statement names it
    under its whole id (found by the eval command's run)."""
    path = "inflection/__init__.py"
    synth = Synthesizer(env, SynthesisConfig(repeats=2, use_cache=False, cache_dir=tmp_path), tasks_path=tmp_path / "t.jsonl")
    bench = Bench(env, synth.config)
    try:
        synth._baseline(bench)
        mutation = next(m for m in find_mutations(synth.sources[path], path) if m.id == "swap_arguments-c126f51662")
        outcome = synth.check(bench, mutation)
    finally:
        bench.close()
    assert "test_inflection.py::test_humanize[employee_salary-Employee" in synth.stable_cut
    assert outcome.kept and outcome.screen == "line map", outcome.reason
    assert "test_inflection.py::test_humanize[employee_salary-Employee" in outcome.cut_failing
    assert not set(outcome.cut_failing) & set(outcome.fail_to_pass)
    statement = synth.make_row(outcome, 1)["problem_statement"]
    assert "whose ids contain spaces" in statement and "`test_humanize[employee_salary-Employee salary]`" in statement


@pytest.mark.docker
def test_screening_with_the_line_map_keeps_the_same_tasks_as_the_whole_suite(env, tmp_path):
    """Same seed, same candidates: the tests that reach a mutant's lines decide as the whole suite does."""
    kept, screens = {}, {}
    for screen in ("suite", "coverage"):
        config = SynthesisConfig(max_tasks=50, seed=3, repeats=3, max_candidates=8, use_cache=False,
                                 cache_dir=tmp_path / screen, screen=screen)
        synth = Synthesizer(env, config, tasks_path=tmp_path / f"{screen}.jsonl")
        report = synth.run()
        kept[screen] = [(row["mutation"]["id"], row["FAIL_TO_PASS"], row["PASS_TO_PASS"]) for row in synth.rows]
        screens[screen] = report.screens
        assert report.unnamed_tests > 0  # inflection's parametrized ids hold spaces: counted, never silently dropped
    assert kept["coverage"] == kept["suite"] and kept["suite"]
    assert screens["suite"] == {"whole suite": sum(screens["suite"].values())}
    assert screens["coverage"]["line map"] > 0 and sum(screens["coverage"].values()) == sum(screens["suite"].values())
    assert list((tmp_path / "coverage").glob("inflection-*.linemap-*.json"))  # measured once, cached for reruns


@pytest.mark.docker
def test_a_stopped_run_keeps_whole_rows_and_says_why(env, tmp_path):
    config = SynthesisConfig(max_tasks=50, seed=0, repeats=1, use_cache=False, cache_dir=tmp_path, max_seconds=0)
    report = Synthesizer(env, config, tasks_path=tmp_path / "t.jsonl").run()
    assert report.stopped == "max_seconds (0 s)" and report.tried == 0
    synth = Synthesizer(env, replace(config, max_seconds=None), tasks_path=tmp_path / "t.jsonl")
    synth.on_update = lambda r: r.kept and synth.request_stop("SIGTERM")
    report = synth.run()
    assert report.stopped == "SIGTERM" and len(report.kept) == 1
    assert [row["instance_id"] for row in read_tasks(tmp_path / "t.jsonl")] == report.kept  # whole rows only
