"""Regrading harness test logs (srl_swe.evaluation.regrade) against the real harness's report.json.

Parity: every instance log of ../shared/data/eval_logs/lite-dev-deepseek-chat, regraded against
its lite-dev row, gives exactly the FAIL_TO_PASS/PASS_TO_PASS lists and the verdict of its
report.json. Then the edges: logs without results for other repositories, tampered logs,
missing markers, failure codes, fail_only rows, the 5.x exit-code check.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("swebench")

from swebench.harness.grading import get_eval_report  # noqa: E402
from swebench.harness.utils import make_test_spec  # noqa: E402

from srl_swe.errors import SRLSweError  # noqa: E402
from srl_swe.evaluation.convert import convert_file, to_harness_row  # noqa: E402
from srl_swe.evaluation.regrade import check_parity, regrade, regrade_log_dir, report_differences  # noqa: E402

LOGS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "eval_logs" / "lite-dev-deepseek-chat"
LOG_DIRS = sorted(p.name for p in LOGS.iterdir() if p.is_dir()) if LOGS.is_dir() else []
NO_RESULTS = ("pvlib__pvlib-python-1072", "pvlib__pvlib-python-1154", "pyvista__pyvista-4315")
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"


@pytest.fixture(scope="module")
def lite_dev(shared_data):
    return {r["instance_id"]: r for r in convert_file(shared_data / "swebench" / "lite-dev.jsonl")}


@pytest.fixture(scope="module")
def verified(shared_data):
    return {r["instance_id"]: r for r in convert_file(shared_data / "swebench" / "verified-mini.jsonl")}


def logs_dir(shared_data: Path) -> Path:
    return shared_data / "eval_logs" / "lite-dev-deepseek-chat"


@pytest.mark.parametrize("instance_id", LOG_DIRS)
def test_regrade_reproduces_the_harness_report(shared_data, instance_id):
    folder = logs_dir(shared_data) / instance_id
    expected = json.loads((folder / "report.json").read_text())[instance_id]
    classic = next(json.loads(line) for line in (shared_data / "swebench" / "lite-dev.jsonl").read_text().splitlines()
                   if json.loads(line)["instance_id"] == instance_id)
    report = regrade(classic, folder / "test_output.txt", (folder / "patch.diff").read_text())
    assert list(report) == [instance_id]
    ours = report[instance_id]
    for key in ("patch_is_None", "patch_exists", "patch_successfully_applied", "resolved"):
        assert ours[key] == expected[key], key
    for group in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        for outcome in ("success", "failure"):
            assert ours["tests_status"][group][outcome] == expected["tests_status"][group][outcome], (group, outcome)
    assert report_differences(ours, expected) == []


def test_the_shared_logs_cover_resolved_unresolved_and_no_result_runs(shared_data):
    reports = {i: json.loads((logs_dir(shared_data) / i / "report.json").read_text())[i] for i in LOG_DIRS}
    assert len(reports) == 10
    assert {i for i, r in reports.items() if r["resolved"]} == {
        "marshmallow-code__marshmallow-1343", "marshmallow-code__marshmallow-1359", "pydicom__pydicom-1256",
        "pylint-dev__astroid-1196", "sqlfluff__sqlfluff-1733"}
    for i in NO_RESULTS:  # every expected test listed as failed
        status = reports[i]["tests_status"]
        assert not status["FAIL_TO_PASS"]["success"] and not status["PASS_TO_PASS"]["success"]


@pytest.mark.parametrize("instance_id", NO_RESULTS)
def test_swebench_5_alone_calls_a_log_without_results_not_applied(shared_data, lite_dev, instance_id):
    """What regrade corrects: 5.0.2's get_eval_report gives no tests_status for these logs."""
    folder = logs_dir(shared_data) / instance_id
    prediction = {"instance_id": instance_id, "model_name_or_path": "m", "model_patch": (folder / "patch.diff").read_text()}
    plain = get_eval_report(make_test_spec(lite_dev[instance_id]), prediction, str(folder / "test_output.txt"), True)
    assert plain[instance_id]["patch_successfully_applied"] is False and "tests_status" not in plain[instance_id]
    ours = regrade(lite_dev[instance_id], folder / "test_output.txt")[instance_id]
    row = lite_dev[instance_id]
    assert ours["patch_successfully_applied"] is True and ours["resolved"] is False
    assert ours["tests_status"]["FAIL_TO_PASS"] == {"success": [], "failure": row["FAIL_TO_PASS"]}
    assert ours["tests_status"]["PASS_TO_PASS"] == {"success": [], "failure": row["PASS_TO_PASS"]}


def fake_log(body: str, *, extra: str = "") -> str:
    return f"+ cd /testbed\n{extra}+ : '{START}'\n{body}\n+ : '{END}'\n+ git checkout abc tests/x.py\n"


@pytest.mark.parametrize("instance_id", ["django__django-11790", "sphinx-doc__sphinx-8035"])
def test_a_run_without_results_fails_every_test_for_other_repositories_too(verified, instance_id):
    row = verified[instance_id]
    log = fake_log("ImportError while loading conftest '/testbed/tests/conftest.py'.\nE   SyntaxError: invalid syntax")
    entry = regrade(row, log, "diff")[instance_id]
    assert entry["patch_successfully_applied"] is True and entry["resolved"] is False
    assert entry["tests_status"]["FAIL_TO_PASS"]["failure"] == row["FAIL_TO_PASS"]
    assert entry["tests_status"]["PASS_TO_PASS"]["failure"] == row["PASS_TO_PASS"]


def test_a_django_log_with_results_is_graded_by_its_parser(verified):
    row = verified["django__django-11790"]
    body = "\n".join(f"{t} ... ok" for t in row["FAIL_TO_PASS"] + row["PASS_TO_PASS"])
    entry = regrade(row, fake_log(body))[row["instance_id"]]
    assert entry["resolved"] is True and entry["tests_status"]["FAIL_TO_PASS"]["success"] == row["FAIL_TO_PASS"]
    failing = row["FAIL_TO_PASS"][0]
    body = body.replace(f"{failing} ... ok", f"{failing} ... FAIL")
    entry = regrade(row, fake_log(body))[row["instance_id"]]
    assert entry["resolved"] is False and entry["tests_status"]["FAIL_TO_PASS"]["failure"] == [failing]


def test_a_tampered_real_log_changes_the_verdict(shared_data, lite_dev):
    instance_id = "pylint-dev__astroid-1196"
    text = (logs_dir(shared_data) / instance_id / "test_output.txt").read_text()
    target = lite_dev[instance_id]["FAIL_TO_PASS"][0]
    assert f"PASSED {target}" in text
    entry = regrade(lite_dev[instance_id], text.replace(f"PASSED {target}", f"FAILED {target}"))[instance_id]
    assert entry["resolved"] is False and entry["tests_status"]["FAIL_TO_PASS"]["failure"] == [target]


def test_log_text_and_log_path_give_the_same_report(shared_data, lite_dev):
    folder = logs_dir(shared_data) / "sqlfluff__sqlfluff-1733"
    row = lite_dev["sqlfluff__sqlfluff-1733"]
    by_path = regrade(row, folder / "test_output.txt")
    assert regrade(row, str(folder / "test_output.txt")) == by_path
    assert regrade(row, (folder / "test_output.txt").read_text()) == by_path
    assert by_path["sqlfluff__sqlfluff-1733"]["resolved"] is True


def test_without_markers_or_with_a_failure_code_the_patch_is_not_applied(verified):
    row = verified["django__django-11790"]
    body = "\n".join(f"{t} ... ok" for t in row["FAIL_TO_PASS"] + row["PASS_TO_PASS"])
    for log in (body, fake_log(body, extra=">>>>> Patch Apply Failed\n"), fake_log("", extra=">>>>> Tests Timed Out\n")):
        entry = regrade(row, log)[row["instance_id"]]
        assert entry["patch_successfully_applied"] is False and entry["resolved"] is False
        assert "tests_status" not in entry


def test_the_5x_exit_code_check_still_applies(verified):
    """All reported passing but the test command exited 1: 5.x distrusts the log, and so do we."""
    row = verified["django__django-11790"]
    body = "\n".join(f"{t} ... ok" for t in row["FAIL_TO_PASS"] + row["PASS_TO_PASS"])
    log = fake_log(body) + ">>>>> Test Exit Code: 1\n"
    entry = regrade(row, log)[row["instance_id"]]
    assert entry["patch_successfully_applied"] is False and entry["resolved"] is False
    assert regrade(row, fake_log(body) + ">>>>> Test Exit Code: 0\n")[row["instance_id"]]["resolved"] is True


def test_fail_only_rows_keep_the_5x_verdict_on_a_log_without_results():
    row = {"instance_id": "chartjs__Chart.js-1", "repo": "chartjs/Chart.js", "version": "4.0", "base_commit": "abc",
           "patch": "", "test_patch": "", "FAIL_TO_PASS": ["renders"], "PASS_TO_PASS": [],
           "image": "local/chartjs:1", "eval_script": "#!/bin/bash\n: '>>>>> Start Test Output'\n: '>>>>> End Test Output'\n",
           "log_parser": "parse_log_chart_js", "eval_type": "fail_only"}
    entry = regrade(row, fake_log("Failed to launch the browser"))[row["instance_id"]]
    assert entry["patch_successfully_applied"] is False and entry["resolved"] is False
    assert entry["infra_failure"] is True and entry["infra_failure_reason"] == "browser_launch_failed"


def test_no_patch_given_means_patch_exists(verified):
    row = verified["django__django-11790"]
    entry = regrade(row, fake_log(""))[row["instance_id"]]
    assert entry["patch_is_None"] is False and entry["patch_exists"] is True


def test_regrade_accepts_classic_and_converted_rows_alike(shared_data, lite_dev):
    folder = logs_dir(shared_data) / "pydicom__pydicom-1139"
    classic = {k: v for k, v in lite_dev["pydicom__pydicom-1139"].items()
               if k not in ("image", "eval_script", "log_parser", "eval_type")}
    assert regrade(classic, folder / "test_output.txt") == regrade(to_harness_row(classic), folder / "test_output.txt")


def test_regrade_log_dir_and_check_parity_over_the_whole_run(shared_data):
    source = shared_data / "swebench" / "lite-dev.jsonl"
    reports = regrade_log_dir(logs_dir(shared_data), source)
    assert sorted(reports) == LOG_DIRS
    assert sum(r["resolved"] for r in reports.values()) == 5
    assert check_parity(logs_dir(shared_data), source) == {i: [] for i in LOG_DIRS}


def test_regrade_log_dir_errors(shared_data, tmp_path):
    with pytest.raises(SRLSweError, match="not a directory"):
        regrade_log_dir(tmp_path / "absent", [])
    (tmp_path / "nobody__nothing-1").mkdir()
    (tmp_path / "nobody__nothing-1" / "test_output.txt").write_text("log")
    with pytest.raises(SRLSweError, match="no instance 'nobody__nothing-1'"):
        regrade_log_dir(tmp_path, shared_data / "swebench" / "lite-dev.jsonl")


def test_report_differences_names_what_disagrees():
    same = {"patch_successfully_applied": True, "resolved": True,
            "tests_status": {"FAIL_TO_PASS": {"success": ["a"], "failure": []},
                             "PASS_TO_PASS": {"success": ["b", "c"], "failure": []}}}
    assert report_differences(same, json.loads(json.dumps(same))) == []
    other = json.loads(json.dumps(same))
    other["resolved"] = False
    other["tests_status"]["PASS_TO_PASS"] = {"success": ["b"], "failure": ["c"]}
    diffs = report_differences(same, other)
    assert diffs[0] == "resolved: True != False"
    assert any(d.startswith("PASS_TO_PASS.failure") and "'c'" in d for d in diffs)
    reordered = json.loads(json.dumps(same))
    reordered["tests_status"]["PASS_TO_PASS"]["success"] = ["c", "b"]
    assert report_differences(same, reordered) == ["PASS_TO_PASS.success: the same tests in another order"]


def test_regrade_run_grades_a_whole_run_folder_and_writes_its_reports(shared_data, tmp_path):
    from srl_swe.cli import main

    source = shared_data / "swebench" / "lite-dev.jsonl"
    out = tmp_path / "regraded"
    assert main(["evaluate", "regrade", "--instances", str(source), "--run-dir", str(logs_dir(shared_data)),
                 "--out", str(out)]) in (0, None)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total"] == len(LOG_DIRS) and summary["resolved"] == 5 and summary["warnings"] == {}
    for iid in LOG_DIRS:
        ours = json.loads((out / iid / "report.json").read_text())[iid]
        theirs = json.loads((logs_dir(shared_data) / iid / "report.json").read_text())[iid]
        assert report_differences(ours, theirs) == []


def test_regrade_warns_about_names_the_parser_cuts_and_files_that_are_no_test_log(lite_dev):
    from srl_swe.evaluation.regrade import regrade_warnings

    row = dict(lite_dev["pylint-dev__astroid-1196"])  # graded by parse_log_pytest
    assert regrade_warnings(row, f"{START}\nPASSED a.py::t\n{END}\n") == []
    row["FAIL_TO_PASS"] = json.dumps(["tests/t.py::test_x[a b]"])
    found = regrade_warnings(row, "collected 3 items\n3 passed\n")
    assert len(found) == 2 and "not a harness test log" in found[0] and "'tests/t.py::test_x[a b]'" in found[1]
