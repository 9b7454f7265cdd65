"""Run a policy over tasks and write SWE-bench predictions, resumably.

Each finished task appends one line ``{instance_id, model_name_or_path, model_patch}`` to the
predictions file (flushed at once, so a killed run loses at most the tasks in flight) and one
line of details (answers, edits, localization, trajectory, errors, optional grade) to a
sidecar file. A rerun skips the tasks already in the predictions file. A task whose failure
is transient (sandbox, endpoint) gets no prediction, so the next run retries it; a task the
model answered badly gets its (possibly empty) patch.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tqdm import tqdm

from ..errors import SRLSweError
from ..evaluation.grader import grade_patch
from ..predictions import append_record, details_path_for, done_ids, drop_cut_line
from ..records import check_unique_ids
from .modes import Outcome, RolloutConfig, run_batch
from .policies import Policy


@dataclass
class RolloutSummary:
    """What a run did (the ``rollout --json`` object; keys are only ever added)."""

    predictions: str
    details: str
    mode: str
    model: str
    selected: int = 0
    """Tasks chosen by --instance-ids/--limit."""
    already_done: int = 0
    """Of those, tasks found in the predictions file and skipped."""
    written: int = 0
    """Predictions written by this run."""
    empty_patches: int = 0
    """Written predictions whose patch is empty."""
    failed: list[str] = field(default_factory=list)
    """'instance_id: reason' of tasks left without a prediction (rerun to retry them)."""
    graded: int = 0
    resolved: int = 0
    tampering_attempts: int = 0
    """Test-machinery files reverted and tampering found while grading (srl_swe.evaluation.integrity)."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_rows(rows: Iterable[dict[str, Any]], instance_ids: Sequence[str] | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
    """Rows in file order, kept by ``instance_ids`` (when given), at most ``limit``; two rows of one id are an
    error, as `evaluate` has it (a rollout that kept the first would grade against rows evaluate refuses)."""
    rows = list(rows)
    check_unique_ids(rows, "task rows", "row")
    if instance_ids:
        known = {r["instance_id"] for r in rows}
        missing = [i for i in instance_ids if i not in known]
        if missing:
            raise SRLSweError(f"unknown instance id(s): {', '.join(missing[:10])}")
        wanted = set(instance_ids)
        rows = [r for r in rows if r["instance_id"] in wanted]
    return rows[:limit] if limit is not None else rows


def run_rollout(rows: Sequence[dict[str, Any]], policy: Policy, config: RolloutConfig, predictions: str | Path, *,
                details: str | Path | None = None, batch_size: int = 1, grade: bool = False,
                max_consecutive_failures: int = 5, progress: bool = True,
                on_outcome: Callable[[Outcome], None] | None = None) -> RolloutSummary:
    """Roll ``policy`` out on ``rows`` (already selected) into ``predictions``; skip the ids already there.

    ``grade`` also grades each patch with the task's tests, guarded against tampering
    (:func:`~srl_swe.evaluation.grader.grade_patch` with ``integrity``), into the details. After ``max_consecutive_failures`` transient failures in a row the run stops
    with an error (an endpoint or the Docker daemon is down); what was written stays.
    """
    predictions, start = Path(predictions), time.monotonic()
    details = Path(details) if details else details_path_for(predictions)
    done = done_ids(predictions)
    todo = [r for r in rows if r["instance_id"] not in done]
    summary = RolloutSummary(str(predictions), str(details), config.mode, policy.name, selected=len(rows),
                             already_done=len(rows) - len(todo))
    predictions.parent.mkdir(parents=True, exist_ok=True)
    details.parent.mkdir(parents=True, exist_ok=True)
    if details.exists():
        drop_cut_line(details)
    bar = None
    if progress and todo:
        bar = tqdm(total=len(todo), desc=f"rollout {config.mode}", unit="task")
    streak = 0
    by_id = {r["instance_id"]: r for r in todo}
    try:
        with predictions.open("a", encoding="utf-8") as preds, details.open("a", encoding="utf-8") as log:
            for begin in range(0, len(todo), max(1, batch_size)):
                batch = todo[begin:begin + max(1, batch_size)]
                for outcome in run_batch(batch, policy, config):
                    record = {"instance_id": outcome.instance_id, "model_name_or_path": policy.name, "mode": config.mode,
                              "written": outcome.patch is not None, "error": outcome.error, **outcome.details}
                    if outcome.patch is None:
                        summary.failed.append(f"{outcome.instance_id}: {outcome.error}")
                        streak += 1
                    else:
                        streak = 0
                        if grade:
                            result = grade_patch(by_id[outcome.instance_id], outcome.patch, integrity=True)
                            record["grade"] = {"resolved": result.resolved, "applied": result.applied,
                                               "fail_to_pass": result.fail_to_pass, "infra_error": result.infra_error,
                                               "integrity": result.integrity.to_dict()}
                            summary.graded += 1
                            summary.resolved += int(result.resolved)
                            summary.tampering_attempts += result.integrity.attempts
                        append_record(preds, {"instance_id": outcome.instance_id, "model_name_or_path": policy.name,
                                        "model_patch": outcome.patch})
                        summary.written += 1
                        summary.empty_patches += int(not outcome.patch.strip())
                    append_record(log, record)
                    if on_outcome:
                        on_outcome(outcome)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(written=summary.written, failed=len(summary.failed))
                if max_consecutive_failures and streak >= max_consecutive_failures:
                    raise SRLSweError(f"{streak} tasks in a row failed (last: {summary.failed[-1]}); "
                                      f"fix the cause and rerun: the {summary.written} prediction(s) written are kept")
    finally:
        if bar is not None:
            bar.close()
        summary.seconds = round(time.monotonic() - start, 1)
    return summary
