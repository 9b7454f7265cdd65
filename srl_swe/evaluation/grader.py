"""Grade one patch for one SWE-bench 5.x row, the way the swebench harness does.

Same steps as `swebench.harness.run_evaluation.run_instance`: a fresh container of the
row's image, the patch applied with the harness's own `git apply` fallbacks, the row's
eval script (with the test exit code recorded), and the harness's parser and grading
(`swebench.harness.grading.get_eval_report`). Only the container orchestration is ours
(the Docker sandbox: no network, resource limits, removed at once).
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..patches import apply_patch
from ..sandbox.runtime import Sandbox, SandboxConfig, SandboxError

EVAL_PATH = "/eval.sh"
LOG_PATH = "/tmp/srl_swe_eval.log"


@dataclass
class GradeResult:
    """Outcome of grading one patch."""

    instance_id: str
    resolved: bool = False
    applied: bool = False
    fail_to_pass: float = 0.0
    """Fraction of FAIL_TO_PASS tests that pass with the patch."""
    pass_to_pass_regressions: list[str] = field(default_factory=list)
    """PASS_TO_PASS tests that fail with the patch."""
    report: dict[str, Any] = field(default_factory=dict)
    """The harness's report for this instance (the content of its report.json)."""
    infra_error: str | None = None
    """Set when grading itself failed (image missing, daemon error): not a verdict on the patch."""
    timed_out: bool = False
    """The eval script outran the grading timeout with the patch applied: unresolved (the patch may make the tests
    hang), a verdict on the patch, not an infrastructure failure."""
    log: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ContainerRun:
    """What happened in the container: the raw material of a harness report."""

    applied: bool = False
    apply_output: str = ""
    test_output: str = ""
    """The eval script's output (stdout and stderr), what the harness saves as test_output.txt."""
    timed_out: bool = False
    infra_error: str | None = None


def run_in_container(row: dict[str, Any], patch: str, *, timeout: float = 1800.0, config: SandboxConfig | None = None,
                     spec: Any = None) -> ContainerRun:
    """A fresh container of ``row["image"]``: apply ``patch``, run the eval script (of ``spec``, the
    row's TestSpec, made here when not given)."""
    from swebench.harness.utils import make_test_spec

    run = ContainerRun()
    spec = spec or make_test_spec(row)
    config = config or SandboxConfig(command_timeout=timeout)
    try:
        with Sandbox(row["image"], config) as sandbox:
            run.applied, run.apply_output = apply_patch(sandbox, patch)
            if not run.applied:
                return run
            sandbox.write_file(EVAL_PATH, spec.eval_script)
            result = sandbox.exec(f"/bin/bash {EVAL_PATH} > {LOG_PATH} 2>&1", timeout=timeout)
            run.test_output = sandbox.read_file(LOG_PATH)
            run.timed_out = result.timed_out
    except SandboxError as exc:
        run.infra_error = str(exc)
    return run


def grade_patch(row: dict[str, Any], patch: str, *, timeout: float = 1800.0, config: SandboxConfig | None = None) -> GradeResult:
    """Apply `patch` in a fresh container of `row["image"]`, run its eval script, grade with swebench."""
    return grade_run(row, patch, timeout=timeout, config=config)[0]


def grade_run(row: dict[str, Any], patch: str, *, timeout: float = 1800.0, config: SandboxConfig | None = None,
              spec: Any = None) -> tuple[GradeResult, ContainerRun]:
    """The one grading path: the verdict and the container run it came from (for the harness's log files).

    Not a verdict on the patch (``infra_error`` set): the container could not run. An eval script
    that outruns ``timeout`` with the patch applied is a verdict (unresolved, ``timed_out``): what
    the agent did can make tests hang, and that never counts as infrastructure. The report is the
    harness's ``get_eval_report`` on the eval script's output alone, as ``run_instance`` reads its
    test_output.txt.
    """
    from swebench.harness.constants import APPLY_PATCH_FAIL, APPLY_PATCH_PASS
    from swebench.harness.grading import compute_fail_to_pass, get_eval_report
    from swebench.harness.utils import make_test_spec

    instance_id = row["instance_id"]
    result = GradeResult(instance_id)
    spec = spec or make_test_spec(row)
    run = run_in_container(row, patch, timeout=timeout, config=config, spec=spec)
    if run.infra_error:
        result.infra_error = run.infra_error
        return result, run
    if not run.applied:
        result.log = f"{APPLY_PATCH_FAIL}:\n{run.apply_output}"
        result.report = {instance_id: {"patch_is_None": False, "patch_exists": True,
                                       "patch_successfully_applied": False, "resolved": False}}
        return result, run
    result.applied = True
    result.log = f"{APPLY_PATCH_PASS}:\n{run.apply_output}\n" + run.test_output
    if run.timed_out:
        result.timed_out = True
        return result, run
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp, "test_output.txt")
        log_path.write_text(run.test_output)
        prediction = {"instance_id": instance_id, "model_name_or_path": "srl-swe", "model_patch": patch}
        report = get_eval_report(spec, prediction, str(log_path), include_tests_status=True)
    entry = report[instance_id]
    result.report = report
    result.resolved = bool(entry.get("resolved"))
    status = entry.get("tests_status")
    if status:
        result.fail_to_pass = compute_fail_to_pass(status)
        result.pass_to_pass_regressions = list(status["PASS_TO_PASS"]["failure"])
    elif entry.get("infra_failure"):
        result.infra_error = entry.get("infra_failure_reason", "no test results in the log")
    return result, run
