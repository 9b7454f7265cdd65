"""Grade one patch for one SWE-bench 5.x row, the way the swebench harness does.

Same steps as `swebench.harness.run_evaluation.run_instance`: a fresh container of the
row's image, the patch applied with the harness's own `git apply` fallbacks, the row's
eval script (with the test exit code recorded), and the harness's parser and grading
(`swebench.harness.grading.get_eval_report`). Only the container orchestration is ours
(the Docker sandbox: no network, resource limits, removed at once). With ``integrity=True`` (the live env,
RLVR) the run is guarded against an agent that games its tests (srl_swe.evaluation.integrity); without it
(``srl-swe evaluate``) the run is the harness's and the same checks are only reported.
"""
from __future__ import annotations

import re
import secrets
import shlex
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..patches import apply_patch
from ..sandbox.runtime import Sandbox, SandboxConfig, SandboxError
from .integrity import (GUARD_DIR, GUARD_SOURCE, IntegrityReport, changed_pytest_configs, config_files, framed_log,
                        guarded_script, inspect_log, markers_per_log, restored_files, split_machinery)

EVAL_PATH = "/eval.sh"
LOG_PATH = "/tmp/srl_swe_eval.log"
STATUS_LINE = "srl-swe-eval-status"
KILL_THE_REST = ('main=$(tr " " "\\n" < /proc/1/task/1/children | sort -n | head -1); '
                 'for d in /proc/[0-9]*; do p=${d#/proc/}; case " 1 $$ $PPID $main " in *" $p "*) ;; '
                 '*) kill -KILL "$p" 2>/dev/null;; esac; done')
"""Kill every process in the container but its init, its first child (the container's main command, which keeps it
up), this shell and the exec's ``timeout``: whatever the tests started, however detached, can write no more."""
GUARDED_OUTPUT_LIMIT = 64 * 2**20
"""Bytes of test output a guarded run keeps (it streams the output instead of writing a file the tests could rewrite)."""


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
    integrity: IntegrityReport = field(default_factory=IntegrityReport)
    """What the patch and the test run did to the test machinery (guarded grading scores any tampering 0)."""
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
    changed_configs: list[str] = field(default_factory=list)
    """Config files whose pytest section the patch changed (restored before the tests in a guarded run)."""
    test_blobs: dict[str, str] = field(default_factory=dict)
    """Guarded runs: the git blob id at the base commit of each test file the eval script restores."""


def _blob_ids(sandbox: Sandbox, base_commit: str, paths: list[str]) -> dict[str, str]:
    """``path -> blob id`` of ``paths`` in the base commit's tree (read before any code of the patch has run)."""
    if not paths:
        return {}
    listing = sandbox.exec(f"git ls-tree -r {base_commit} -- {' '.join(shlex.quote(p) for p in paths)}")
    blobs = {}
    for line in listing.output.splitlines():  # "<mode> <type> <id>\t<path>"
        meta, _, path = line.partition("\t")
        kind_and_id = meta.split(" ")[1:]
        if kind_and_id[:1] == ["blob"] and len(kind_and_id) == 2:
            blobs[path] = kind_and_id[1]
    return blobs


def _pytest_configs(sandbox: Sandbox, base_commit: str, paths: list[str], *, restore: bool) -> list[str]:
    """Of ``paths``, those whose pytest section differs from the base commit's; ``restore`` puts them back."""
    def at_base(path: str) -> str | None:
        result = sandbox.exec(f"git show {shlex.quote(f'{base_commit}:{path}')}")
        return result.output if result.exit_code == 0 else None

    def now(path: str) -> str | None:
        try:
            return sandbox.read_file(path)
        except (FileNotFoundError, IsADirectoryError):
            return None

    changed = changed_pytest_configs(paths, at_base, now)
    for path in changed if restore else ():
        quoted = shlex.quote(path)
        sandbox.exec(f"git checkout {base_commit} -- {quoted} 2>/dev/null || rm -f -- {quoted}")
    return changed


def _guarded_exec(sandbox: Sandbox, timeout: float) -> tuple[str, int | None]:
    """Run the guarded eval script; its output, and its exit status (None: it never came back).

    The output is streamed (no log file in the container that code under test could rewrite). When the script
    ends, every other process in the container is killed, so nothing left behind by the tests can write after
    it; then the status is written as the last line, with a nonce of this run, which the host alone reads.
    """
    nonce = secrets.token_hex(16)
    command = (f"timeout -k 2 {timeout:g} /bin/bash {EVAL_PATH} 2>&1; status=$?; {KILL_THE_REST}; "
               f"sleep 0.2; echo; echo \"{STATUS_LINE} {nonce} $status\"")
    result = sandbox.exec(command, timeout=timeout + 30)
    head, _, last = result.output.rstrip("\n").rpartition("\n")
    match = re.fullmatch(rf"{STATUS_LINE} {nonce} (\d+)", last)
    if not match:
        return result.output, None
    return head.removesuffix("\n") + "\n", int(match.group(1))


def run_in_container(row: dict[str, Any], patch: str, *, timeout: float = 1800.0, config: SandboxConfig | None = None,
                     spec: Any = None, integrity: bool = False) -> ContainerRun:
    """A fresh container of ``row["image"]``: apply ``patch``, run the eval script (of ``spec``, the
    row's TestSpec, made here when not given). ``integrity``: restore changed pytest configuration, load the guard,
    and frame the log from the host (:func:`srl_swe.evaluation.integrity.guarded_script`)."""
    from swebench.harness.utils import make_test_spec

    run = ContainerRun()
    spec = spec or make_test_spec(row)
    config = config or SandboxConfig(command_timeout=timeout)
    if integrity:
        config = replace(config, output_limit=max(config.output_limit, GUARDED_OUTPUT_LIMIT))
    try:
        with Sandbox(row["image"], config) as sandbox:
            run.applied, run.apply_output = apply_patch(sandbox, patch)
            if not run.applied:
                return run
            run.changed_configs = _pytest_configs(sandbox, row["base_commit"], config_files(patch), restore=integrity)
            if integrity:
                run.test_blobs = _blob_ids(sandbox, row["base_commit"], restored_files(spec.eval_script, row["base_commit"]))
                sandbox.write_file(f"{GUARD_DIR}/srl_swe_guard.py", GUARD_SOURCE.read_text())
                sandbox.write_file(EVAL_PATH, guarded_script(spec.eval_script))
                output, status = _guarded_exec(sandbox, timeout)
                run.timed_out = status is None or status in (124, 137)
                run.test_output = output if run.timed_out else framed_log(output, status, markers_per_log(spec.eval_script))
            else:
                sandbox.write_file(EVAL_PATH, spec.eval_script)
                result = sandbox.exec(f"/bin/bash {EVAL_PATH} > {LOG_PATH} 2>&1", timeout=timeout)
                run.test_output = sandbox.read_file(LOG_PATH)
                run.timed_out = result.timed_out
    except SandboxError as exc:
        run.infra_error = str(exc)
    return run


def grade_patch(row: dict[str, Any], patch: str, *, timeout: float = 1800.0, config: SandboxConfig | None = None,
                integrity: bool = False) -> GradeResult:
    """Apply `patch` in a fresh container of `row["image"]`, run its eval script, grade with swebench."""
    return grade_run(row, patch, timeout=timeout, config=config, integrity=integrity)[0]


def grade_run(row: dict[str, Any], patch: str, *, timeout: float = 1800.0, config: SandboxConfig | None = None,
              spec: Any = None, integrity: bool = False) -> tuple[GradeResult, ContainerRun]:
    """The one grading path: the verdict and the container run it came from (for the harness's log files).

    Not a verdict on the patch (``infra_error`` set): the container could not run. An eval script
    that outruns ``timeout`` with the patch applied is a verdict (unresolved, ``timed_out``): what
    the agent did can make tests hang, and that never counts as infrastructure. The report is the
    harness's ``get_eval_report`` on the eval script's output alone, as ``run_instance`` reads its
    test_output.txt.

    ``integrity``: test-machinery files are left out of the patch, and any tampering the log shows makes the
    verdict unresolved (:mod:`srl_swe.evaluation.integrity`); without it the same findings are only reported in
    ``result.integrity`` and the verdict is the harness's.
    """
    from swebench.harness.constants import APPLY_PATCH_FAIL, APPLY_PATCH_PASS
    from swebench.harness.grading import compute_fail_to_pass, get_eval_report, parse_test_exit_code
    from swebench.harness.utils import make_test_spec

    instance_id = row["instance_id"]
    result = GradeResult(instance_id)
    spec = spec or make_test_spec(row)
    kept, machinery = split_machinery(patch)
    run = run_in_container(row, kept if integrity else patch, timeout=timeout, config=config, spec=spec,
                           integrity=integrity)
    result.integrity.reverted = machinery + run.changed_configs
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
    result.integrity.tampering = inspect_log(run.test_output, log_parser=spec.log_parser, guarded=integrity,
                                             exit_code=parse_test_exit_code(run.test_output),
                                             markers=markers_per_log(spec.eval_script),
                                             test_blobs=run.test_blobs)
    result.resolved = bool(entry.get("resolved"))
    if integrity and result.integrity.tampering:
        result.resolved = entry["resolved"] = False
        entry["tampering"] = result.integrity.tampering
    status = entry.get("tests_status")
    if status:
        result.fail_to_pass = compute_fail_to_pass(status)
        result.pass_to_pass_regressions = list(status["PASS_TO_PASS"]["failure"])
    elif entry.get("infra_failure"):
        result.infra_error = entry.get("infra_failure_reason", "no test results in the log")
    return result, run
