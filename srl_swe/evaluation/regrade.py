"""Grade a finished SWE-bench test log again, without running anything.

::

    from srl_swe.evaluation.regrade import regrade, regrade_log_dir
    report = regrade(instance, "logs/run_evaluation/RUN/MODEL/ID/test_output.txt", patch_text)
    report[instance["instance_id"]]["resolved"]

``regrade`` takes a classic instance (converted with :func:`srl_swe.evaluation.convert.to_harness_row`)
or a swebench 5.x row, and a harness test log (``test_output.txt``: its text or its path), and returns
the instance's report in the shape of the harness's ``report.json``::

    {instance_id: {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved",
                   "infra_failure", ["infra_failure_reason"],
                   "tests_status": {"FAIL_TO_PASS": {"success": [...], "failure": [...]},
                                    "PASS_TO_PASS": {...}, "FAIL_TO_FAIL": {...}, "PASS_TO_FAIL": {...}}}}

The verdict is swebench's own: ``swebench.harness.grading.get_eval_report`` with the row's log
parser and eval type, on the row's TestSpec (``swebench.harness.utils.make_test_spec``).

A log whose test run printed no test result at all
    e.g. pytest stopped by an ImportError in a conftest.py, so not one test is reported.
    swebench 4.x (which wrote the report.json files of published runs) graded such a log as
    *patch applied, every expected test failed*: the start and end markers are there, the status
    map is empty, and a test absent from the map counts as failed. swebench 5.0.2 instead calls
    it "no parseable test output" (``get_logs_eval`` returns not-found when the map is empty and
    nothing shows that a suite ran): ``patch_successfully_applied`` false, no ``tests_status``,
    and an advisory ``infra_failure``/``infra_failure_reason`` from its log classifier.

    We keep 4.x's verdict, so a regrade reproduces the published report.json (and a run's numbers
    do not change with the swebench version): when swebench 5.x finds no results, the log has
    both markers and none of the harness's failure codes (patch apply failed, reset failed, tests
    errored or timed out), and the repository's parser finds no test in the log, the report is
    built from swebench's own ``get_eval_tests_report`` on the empty status map: patch applied,
    every FAIL_TO_PASS and PASS_TO_PASS test failed, resolution from ``get_resolution_status``.
    5.x's advisory infra fields are kept. This holds for every repository swebench has a parser
    for, not for named instances. It does not apply to ``fail_only`` rows: there an empty map
    would count every test as passing, the hole 5.x closed, so 5.x's verdict stands.

    Every other case (results present, markers missing, apply failure, the 5.x exit-code check)
    is swebench 5.0.2's verdict unchanged.

A missing ``prediction_patch`` (None) means "not given", not "the model produced None": the log
exists, so a patch was evaluated, and the report says ``patch_exists``.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

from ..errors import InvalidRecordError, SRLSweError
from ..files import write_atomic
from ..records import parse_test_names
from .convert import DEFAULT_NAMESPACE, RepoSpec, load_instances, to_harness_row

LOG_FILE = "test_output.txt"
PATCH_FILE = "patch.diff"
REPORT_FILE = "report.json"
MODEL_NAME = "srl-swe-regrade"


def _log_text_and_path(log: str | Path) -> tuple[str, Path | None]:
    """(log text, its file or None). A str is a path when it is one line naming an existing file."""
    if isinstance(log, Path):
        return log.read_text(errors="replace"), log
    if "\n" not in log and len(log) < 4096:
        candidate = Path(log)
        try:
            if candidate.is_file():
                return candidate.read_text(errors="replace"), candidate
        except OSError:
            pass
    return log, None


def _ran_without_results(spec: Any, content: str) -> bool:
    """4.x's 'applied, empty status map' case: markers there, no failure code, no test parsed."""
    from swebench.harness.constants import (APPLY_PATCH_FAIL, END_TEST_OUTPUT, RESET_FAILED, START_TEST_OUTPUT,
                                            TESTS_ERROR, TESTS_TIMEOUT, EvalType)
    from swebench.harness.log_parsers import PARSER_REGISTRY

    if EvalType(spec.eval_type) != EvalType.PASS_AND_FAIL:
        return False
    if any(code in content for code in (APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT)):
        return False
    if START_TEST_OUTPUT not in content or END_TEST_OUTPUT not in content:
        return False
    parse = PARSER_REGISTRY[spec.log_parser]
    between = content.split(START_TEST_OUTPUT)[1].split(END_TEST_OUTPUT)[0]
    return not parse(between, spec) and not parse(content, spec)


def regrade(row_or_instance: Mapping[str, Any], log_text_or_path: str | Path, prediction_patch: str | None = None,
            *, namespace: str | None = DEFAULT_NAMESPACE, specs: Mapping[str, RepoSpec] | None = None,
            source: str = "<regrade>") -> dict[str, Any]:
    """The harness report for one instance's test log: {instance_id: {..., "resolved", "tests_status"}}.

    `row_or_instance`: a swebench 5.x row or a classic instance (converted first; `namespace` and
    `specs` are passed to the conversion). `log_text_or_path`: the test_output.txt text or path.
    See the module docstring for the one case where the verdict differs from swebench 5.0.2's.
    """
    from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS, EvalType, ResolvedStatus
    from swebench.harness.grading import get_eval_report, get_eval_tests_report, get_resolution_status
    from swebench.harness.utils import make_test_spec

    row = to_harness_row(row_or_instance, namespace=namespace, specs=specs, source=source)
    instance_id = row["instance_id"]
    try:
        spec = make_test_spec(row)
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidRecordError(source, instance_id, None, f"swebench cannot build a TestSpec: {exc!r}") from exc
    if not isinstance(log_text_or_path, (str, Path)):
        raise SRLSweError(f"{instance_id}: the log must be its text or a path, not {type(log_text_or_path).__name__}")
    content, log_path = _log_text_and_path(log_text_or_path)
    prediction = {"instance_id": instance_id, "model_name_or_path": MODEL_NAME,
                  "model_patch": "" if prediction_patch is None else prediction_patch}
    with tempfile.TemporaryDirectory() as tmp:
        if log_path is None:
            log_path = Path(tmp, LOG_FILE)
            log_path.write_text(content)
        report = get_eval_report(spec, prediction, str(log_path), include_tests_status=True)
    entry = report[instance_id]
    if not entry["patch_successfully_applied"] and entry["patch_exists"] and _ran_without_results(spec, content):
        expected = {"instance_id": instance_id, FAIL_TO_PASS: spec.FAIL_TO_PASS, PASS_TO_PASS: spec.PASS_TO_PASS}
        tests = get_eval_tests_report({}, expected, eval_type=EvalType(spec.eval_type))
        entry["patch_successfully_applied"] = True
        entry["resolved"] = get_resolution_status(tests) == ResolvedStatus.FULL.value
        entry["tests_status"] = tests
    return report


def regrade_warnings(row_or_instance: Mapping[str, Any], log_text_or_path: str | Path, *,
                     namespace: str | None = DEFAULT_NAMESPACE, specs: Mapping[str, RepoSpec] | None = None,
                     source: str = "<regrade>") -> list[str]:
    """Why a regrade may not mean what it seems: the file is not a harness test log, or an expected test name can
    never match what the row's log parser emits (the pytest parsers split a line at whitespace)."""
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT
    from swebench.harness.log_parsers import PARSER_REGISTRY

    row = to_harness_row(row_or_instance, namespace=namespace, specs=specs, source=source)
    parser = PARSER_REGISTRY.get(str(row.get("log_parser", "")))
    content, _ = _log_text_and_path(log_text_or_path)
    warnings = []
    if START_TEST_OUTPUT not in content and END_TEST_OUTPUT not in content:
        warnings.append("not a harness test log: it has neither the start nor the end-of-test-output marker "
                        "(give the instance's test_output.txt)")
    expected = [name for field in ("FAIL_TO_PASS", "PASS_TO_PASS")
                for name in parse_test_names(row.get(field) or [], source, row["instance_id"], field)]
    cut = [name for name in expected if any(c.isspace() for c in name)]
    if cut and parser is not None and parser.__name__.startswith("parse_log_pytest"):
        warnings.append(f"{len(cut)} expected test name(s) hold whitespace, which {parser.__name__} cuts at: they can "
                        f"never match and always count as failed (e.g. {cut[0]!r})")
    return warnings


def regrade_run(log_dir: str | Path, instances: list[Mapping[str, Any]] | str | Path, *, out: str | Path | None = None,
                namespace: str | None = DEFAULT_NAMESPACE, specs: Mapping[str, RepoSpec] | None = None) -> dict[str, Any]:
    """Regrade a whole harness run folder in one process: the summary (counts, ids, warnings, each report entry);
    with ``out``, also ``out/<instance_id>/report.json`` per instance and ``out/summary.json``."""
    source = str(instances) if isinstance(instances, (str, Path)) else "<instances>"
    rows = load_instances(instances) if isinstance(instances, (str, Path)) else list(instances)  # read once
    reports = regrade_log_dir(log_dir, rows, namespace=namespace, specs=specs, source=source)
    by_id = {row["instance_id"]: row for row in rows if row["instance_id"] in reports}
    warnings = {iid: found for iid in reports
                if (found := regrade_warnings(by_id[iid], Path(log_dir, iid, LOG_FILE), namespace=namespace, specs=specs,
                                              source=source))}
    resolved = sorted(iid for iid, entry in reports.items() if entry.get("resolved"))
    summary = {"log_dir": str(log_dir), "total": len(reports), "resolved": len(resolved), "resolved_ids": resolved,
               "unresolved_ids": sorted(set(reports) - set(resolved)), "warnings": warnings, "reports": reports}
    if out is not None:
        for iid, entry in reports.items():
            Path(out, iid).mkdir(parents=True, exist_ok=True)
            write_atomic(Path(out, iid, REPORT_FILE), json.dumps({iid: entry}, indent=4))
        write_atomic(Path(out, "summary.json"), json.dumps(summary, indent=2))
    return summary


def regrade_log_dir(log_dir: str | Path, instances: list[Mapping[str, Any]] | str | Path, *,
                    namespace: str | None = DEFAULT_NAMESPACE, specs: Mapping[str, RepoSpec] | None = None,
                    source: str | None = None) -> dict[str, dict[str, Any]]:
    """Regrade every ``<log_dir>/<instance_id>/test_output.txt`` of a harness run (with its patch.diff).

    `log_dir` is a run's model folder (``logs/run_evaluation/RUN/MODEL``); `instances` the rows or
    their file; `source` names rows given as a list in errors. Returns {instance_id: report entry}, sorted by
    instance_id.
    """
    log_dir = Path(log_dir)
    if not log_dir.is_dir():
        raise SRLSweError(f"{log_dir}: not a directory of instance logs")
    source = source or (str(instances) if isinstance(instances, (str, Path)) else "<instances>")
    rows = load_instances(instances) if isinstance(instances, (str, Path)) else list(instances)
    by_id: dict[str, Mapping[str, Any]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or not row.get("instance_id"):
            raise InvalidRecordError(source, index, "instance_id", "missing")
        by_id[row["instance_id"]] = row
    reports: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in log_dir.iterdir() if (p / LOG_FILE).is_file()):
        if folder.name not in by_id:
            raise SRLSweError(f"{folder}: no instance {folder.name!r} in {source}")
        patch_file = folder / PATCH_FILE
        patch = patch_file.read_text() if patch_file.is_file() else None
        report = regrade(by_id[folder.name], folder / LOG_FILE, patch, namespace=namespace, specs=specs,
                         source=source)
        reports[folder.name] = report[folder.name]
    if not reports:
        raise SRLSweError(f"{log_dir}: no <instance_id>/{LOG_FILE} below it")
    return reports


def report_differences(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """How two report entries of one instance disagree on the verdict (empty: they agree).

    Compared: patch_successfully_applied, resolved, and the FAIL_TO_PASS / PASS_TO_PASS success
    and failure lists, exactly (both follow the order of the instance's test lists).
    """
    diffs = [f"{key}: {ours.get(key)!r} != {theirs.get(key)!r}"
             for key in ("patch_successfully_applied", "resolved") if bool(ours.get(key)) != bool(theirs.get(key))]
    for group in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        for outcome in ("success", "failure"):
            mine = list(((ours.get("tests_status") or {}).get(group) or {}).get(outcome, []))
            other = list(((theirs.get("tests_status") or {}).get(group) or {}).get(outcome, []))
            if mine == other:
                continue
            a, b = set(mine), set(other)
            if a == b:
                diffs.append(f"{group}.{outcome}: the same tests in another order")
            else:
                only_a, only_b = sorted(a - b), sorted(b - a)
                diffs.append(f"{group}.{outcome}: only ours {only_a[:5]}{'...' if len(only_a) > 5 else ''}, "
                             f"only theirs {only_b[:5]}{'...' if len(only_b) > 5 else ''}")
    return diffs


def check_parity(log_dir: str | Path, instances: list[Mapping[str, Any]] | str | Path, **kwargs: Any) -> dict[str, list[str]]:
    """Regrade a run's logs and compare each with the run's own report.json: {instance_id: differences}."""
    ours = regrade_log_dir(log_dir, instances, **kwargs)
    out: dict[str, list[str]] = {}
    for instance_id, entry in ours.items():
        report_file = Path(log_dir, instance_id, REPORT_FILE)
        if not report_file.is_file():
            out[instance_id] = [f"{report_file} is missing"]
            continue
        theirs = json.loads(report_file.read_text()).get(instance_id, {})
        out[instance_id] = report_differences(entry, theirs)
    return out


__all__ = ["regrade", "regrade_log_dir", "report_differences", "check_parity"]
