"""What srl-swe shares with the swebench harness: the eval script's shape and the harness subprocess.

One writer of eval scripts serves both the registered repository tasks (srl_swe.tasks) and
the SWE-bench rows converted from the classic format (srl_swe.evaluation.convert), and one
helper runs ``swebench.harness`` in a subprocess for task validation and ``evaluate --engine
swebench``. It sits below both packages, so neither imports the other for it.

The script runs under ``set -x``; its markers are ``:`` no-ops, as in the 4.x harness, so
the trace line ``+ : '>>>>> Start Test Output'`` carries each marker exactly once. (An
``echo`` puts it in the log twice, trace and output, and the harness's split on the marker
then slices an empty part of the log.)
"""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from .errors import SRLSweError

TEST_PATCH_DELIMITER = "EOF_114329324912"
"""The heredoc delimiter the 4.x harness used for the test patch."""


def reset_test_files(base_commit: str, files: Iterable[str]) -> str | None:
    """``git checkout <base_commit> <files>``, files in the order given (None when there are none)."""
    paths = list(dict.fromkeys(files))
    return f"git checkout {base_commit} {' '.join(shlex.quote(p) for p in paths)}" if paths else None


def eval_script(setup: Sequence[str], test_command: str, *, reset: str | None = None, test_patch: str | None = None) -> str:
    """The bash the harness runs in the task container after the prediction's patch is applied.

    ``setup`` (environment, working directory), then ``reset`` (the test files restored from the
    base commit, so an agent's edits to them do not count), the ``test_patch`` if any, the
    ``test_command`` between the markers the harness slices the log with, and ``reset`` again.
    """
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT

    restore = [reset] if reset else []
    patch = [f"git apply -v - <<'{TEST_PATCH_DELIMITER}'\n{test_patch}\n{TEST_PATCH_DELIMITER}"] if test_patch else []
    lines = [*setup, *restore, *patch, f": '{START_TEST_OUTPUT}'", test_command, f": '{END_TEST_OUTPUT}'", *restore]
    return "\n".join(["#!/bin/bash", "set -uxo pipefail", *lines]) + "\n"


def run_harness(args: Sequence[str], cwd: Path, log_path: Path, *, timeout: float | None = None) -> None:
    """Run a swebench harness command with its output appended to ``log_path``; raise on a non-zero exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("a") as log:
        proc = subprocess.run(list(args), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SRLSweError(f"the swebench harness exited {proc.returncode} (log: {log_path}):\n{tail}")
