"""Validate an env's tasks with the real SWE-bench harness (swebench 5.0.2).

::

    from srl_swe.tasks.validate import validate_env
    report = validate_env("toolz", workers=2)     # ValidationReport; report.ok, report.to_dict()

Every task of ``envs/tasks/NAME.jsonl`` (or ``instance_ids``) goes through
``python -m swebench.harness.run_evaluation`` in a subprocess, in three runs:

``gold``
    ``-p gold``: the row's ``patch`` is applied to the task image and the ``eval_script`` run;
    every task must be **resolved** (FAIL_TO_PASS pass, PASS_TO_PASS stay passing).
``empty``
    predictions whose ``model_patch`` is ``""``. swebench 5.0.2 never starts a container for
    them: ``get_dataset_from_preds`` drops empty patches and ``make_run_report`` lists them
    under ``empty_patch_ids``, so none is resolved. Checked as such (every task must be in
    ``empty_patch_ids``, none in ``resolved_ids``) — it proves the harness scores "no fix" as
    unresolved, but runs no test.
``no-patch``
    so the "unchanged code fails" half of the contract is really tested, the harness's own
    negative mode runs too: ``run_instances(..., skip_patch=True)`` (the path
    ``run_instance`` takes for ``--no-patch``), which runs the eval script on the buggy task
    image untouched and grades it with ``get_eval_report``. Every task must come out
    **not resolved**, with every FAIL_TO_PASS test failing and every PASS_TO_PASS test passing.

Missing task images are built first with :func:`srl_swe.images.build_tasks` (which checks the
row's ``base_commit`` against the image); existing images are checked the same way (their
``/srl-swe/base_commit``). The summary goes to ``<work_dir>/summary.json``; the harness logs
stay under ``<work_dir>/logs/run_evaluation``. ``ok`` is false on any mismatch.
"""
from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import images
from ..backend import BackendConfig, run_each
from ..errors import SRLSweError
from ..files import write_atomic
from ..harness import run_harness
from ..image_registry import pull_missing
from ..registry import load_env, read_tasks
from ..resources import cache_dir

HARNESS = "swebench.harness.run_evaluation"
MODES = ("gold", "empty", "no-patch")


@dataclass
class RunResult:
    """One harness run over the env's tasks."""

    mode: str
    run_id: str
    total: int
    resolved: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    empty_patch: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Tasks without a report (the harness failed to evaluate them)."""
    mismatches: dict[str, str] = field(default_factory=dict)
    """instance_id -> why the outcome is not the expected one."""
    seconds: float = 0.0
    workers: int = 1

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def tasks_per_minute(self) -> float:
        return round(60.0 * self.total / self.seconds, 2) if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "run_id": self.run_id, "total": self.total, "resolved": len(self.resolved),
                "unresolved": len(self.unresolved), "empty_patch": len(self.empty_patch), "errors": self.errors,
                "resolved_rate": round(len(self.resolved) / self.total, 4) if self.total else 0.0,
                "mismatches": self.mismatches, "ok": self.ok, "seconds": round(self.seconds, 1),
                "workers": self.workers, "tasks_per_minute": self.tasks_per_minute}


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_env`."""

    env: str
    tasks: list[str]
    work_dir: Path
    runs: dict[str, RunResult] = field(default_factory=dict)
    image_problems: dict[str, str] = field(default_factory=dict)
    built_images: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.tasks) and not self.image_problems and all(r.ok for r in self.runs.values())

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "ok": self.ok, "tasks": len(self.tasks), "instance_ids": self.tasks,
                "work_dir": str(self.work_dir), "built_images": self.built_images,
                "image_problems": self.image_problems, "runs": {k: v.to_dict() for k, v in self.runs.items()},
                "seconds": round(self.seconds, 1),
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


# --------------------------------------------------------------------------- images


def _image_base_commit(client: Any, image: str) -> str:
    container = client.containers.create(image, command=["true"], network_disabled=True)
    try:
        chunks, _ = container.get_archive("/srl-swe/base_commit")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = tar.next()
            return tar.extractfile(member).read().decode().strip() if member else ""  # type: ignore[union-attr]
    finally:
        container.remove(force=True)


def _image_base_commit_or_none(client: Any, image: str) -> str | None:
    try:
        return _image_base_commit(client, image)
    except Exception:  # noqa: BLE001 - missing image or file: treated as stale
        return None


def ensure_task_images(spec: Any, rows: list[dict[str, Any]], *, jobs: int = 1, client: Any = None,
                       progress: Callable[[str], None] | None = None) -> tuple[list[str], dict[str, str]]:
    """Build the missing (or stale: another base commit) task images; check every image's base
    commit against its row. Returns (images built, {instance_id: problem})."""
    import docker

    say = progress or (lambda msg: None)
    client = client or images.docker_client()
    if not images.image_exists(spec.image, client):
        say(f"building the env image {spec.image}")
        images.build_env(spec, client=client, progress=None)
    missing = [row for row in rows if not images.image_exists(row["image"], client)]
    for row in rows:  # an image left by another tasks file under the same tag: build it again
        if row not in missing and _image_base_commit_or_none(client, row["image"]) != row["base_commit"]:
            say(f"{row['image']} is not at {row['base_commit'][:12]}: rebuilding it")
            client.images.remove(row["image"], force=True)
            missing.append(row)
    problems: dict[str, str] = {}
    built: list[str] = []
    if missing:
        say(f"building {len(missing)} task image(s) of {spec.name}")
        results, errors = images.build_tasks(spec, missing, jobs=jobs, client=client)
        built = [r.image for r in results]
        for err in errors:  # InvalidRecordError.record is the row's index in `missing`
            record = getattr(err, "record", None)
            iid = missing[record]["instance_id"] if isinstance(record, int) and record < len(missing) else \
                next((r["instance_id"] for r in missing if r["image"] == getattr(err, "image", None)), str(err)[:80])
            problems[iid] = f"task image build failed: {str(err).splitlines()[0]}"
    for row in rows:
        if row["image"] in built or row["instance_id"] in problems:
            continue
        try:
            actual = _image_base_commit(client, row["image"])
        except docker.errors.ImageNotFound:
            problems[row["instance_id"]] = f"image {row['image']} is missing"
            continue
        except docker.errors.NotFound:
            problems[row["instance_id"]] = f"image {row['image']} has no /srl-swe/base_commit"
            continue
        if actual != row["base_commit"]:
            problems[row["instance_id"]] = f"image {row['image']} is at {actual}, the row says {row['base_commit']}"
    return built, problems


# --------------------------------------------------------------------------- harness runs


def _instance_reports(work_dir: Path, run_id: str, model: str) -> dict[str, dict[str, Any]]:
    root = work_dir / "logs" / "run_evaluation" / run_id / model
    out: dict[str, dict[str, Any]] = {}
    if root.is_dir():
        for path in root.glob("*/report.json"):
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            out.update(data)
    return out


def run_gold(dataset: Path, ids: list[str], work_dir: Path, run_id: str, workers: int, timeout: int) -> RunResult:
    """``run_evaluation -p gold``: every task must be resolved."""
    t0 = time.monotonic()
    run_harness([sys.executable, "-m", HARNESS, "-d", str(dataset), "-p", "gold", "-id", run_id,
                 "--max_workers", str(workers), "-t", str(timeout), "--report_dir", str(work_dir)],
                work_dir, work_dir / f"{run_id}.log")
    result = RunResult("gold", run_id, len(ids), seconds=time.monotonic() - t0, workers=workers)
    summary = json.loads((work_dir / f"gold.{run_id}.json").read_text())
    result.resolved = sorted(summary.get("resolved_ids", []))
    result.unresolved = sorted(summary.get("unresolved_ids", []))
    result.errors = sorted(summary.get("error_ids", []))
    reports = _instance_reports(work_dir, run_id, "gold")
    for iid in ids:
        if iid not in result.resolved:
            status = reports.get(iid, {}).get("tests_status", {})
            failing = [t for part in ("FAIL_TO_PASS", "PASS_TO_PASS") for t in status.get(part, {}).get("failure", [])]
            result.mismatches[iid] = ("gold patch did not resolve it" + (f"; failing: {failing[:5]}" if failing else "")
                                      if iid not in result.errors else "the harness could not evaluate it (error)")
    return result


def run_empty(dataset: Path, ids: list[str], work_dir: Path, run_id: str, workers: int, timeout: int) -> RunResult:
    """``run_evaluation`` with ``model_patch: ""`` predictions: none may be resolved."""
    t0 = time.monotonic()
    preds = work_dir / f"{run_id}.predictions.jsonl"
    write_atomic(preds, "".join(json.dumps({"instance_id": i, "model_patch": "", "model_name_or_path": "empty"}) + "\n"
                                for i in ids))
    run_harness([sys.executable, "-m", HARNESS, "-d", str(dataset), "-p", str(preds), "-id", run_id,
                 "--max_workers", str(workers), "-t", str(timeout), "--report_dir", str(work_dir)],
                work_dir, work_dir / f"{run_id}.log")
    result = RunResult("empty", run_id, len(ids), seconds=time.monotonic() - t0, workers=workers)
    summary = json.loads((work_dir / f"empty.{run_id}.json").read_text())
    result.resolved = sorted(summary.get("resolved_ids", []))
    result.unresolved = sorted(summary.get("unresolved_ids", []))
    result.empty_patch = sorted(summary.get("empty_patch_ids", []))
    result.errors = sorted(summary.get("error_ids", []))
    for iid in ids:
        if iid in result.resolved:
            result.mismatches[iid] = "resolved with an empty patch"
        elif iid not in result.empty_patch and iid not in result.unresolved:
            result.mismatches[iid] = "not reported as empty or unresolved"
    return result


_NO_PATCH = """\
import json, sys
from swebench.harness.run_evaluation import run_instances
from swebench.harness.utils import load_swebench_dataset
dataset_path, run_id, workers, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ids = set(json.loads(sys.argv[5]))
instances = [i for i in load_swebench_dataset(dataset_path, "test") if i["instance_id"] in ids]
preds = {i["instance_id"]: {"instance_id": i["instance_id"], "model_patch": "", "model_name_or_path": "no-patch"}
         for i in instances}
run_instances(preds, instances, workers, run_id, timeout, skip_patch=True)
"""


def run_no_patch(dataset: Path, ids: list[str], work_dir: Path, run_id: str, workers: int, timeout: int) -> RunResult:
    """The harness's skip-patch mode: the buggy image as is; none may be resolved, FAIL_TO_PASS must fail."""
    t0 = time.monotonic()
    run_harness([sys.executable, "-c", _NO_PATCH, str(dataset), run_id, str(workers), str(timeout), json.dumps(ids)],
                work_dir, work_dir / f"{run_id}.log")
    result = RunResult("no-patch", run_id, len(ids), seconds=time.monotonic() - t0, workers=workers)
    reports = _instance_reports(work_dir, run_id, "no-patch")
    rows = {r["instance_id"]: r for r in json.loads(dataset.read_text())}
    for iid in ids:
        report = reports.get(iid)
        if report is None:
            result.errors.append(iid)
            result.mismatches[iid] = "the harness could not evaluate it (error)"
            continue
        status = report.get("tests_status", {})
        if report.get("resolved"):
            result.resolved.append(iid)
            result.mismatches[iid] = "resolved without any patch"
            continue
        result.unresolved.append(iid)
        f2p_ok = status.get("FAIL_TO_PASS", {}).get("success", [])
        p2p_bad = status.get("PASS_TO_PASS", {}).get("failure", [])
        if not report.get("patch_successfully_applied"):
            result.mismatches[iid] = "no parseable test output"
        elif f2p_ok:
            result.mismatches[iid] = f"FAIL_TO_PASS tests pass on the buggy code: {f2p_ok[:5]}"
        elif p2p_bad:
            result.mismatches[iid] = f"PASS_TO_PASS tests fail on the buggy code: {p2p_bad[:5]}"
        elif len(status.get("FAIL_TO_PASS", {}).get("failure", [])) != len(rows[iid]["FAIL_TO_PASS"]):
            result.mismatches[iid] = "not every FAIL_TO_PASS test was graded"
    return result


RUNNERS = {"gold": run_gold, "empty": run_empty, "no-patch": run_no_patch}


def validate_unit(mode: str, row: dict[str, Any], env_name: str, run_id: str, timeout: int,
                  build: bool) -> tuple[RunResult, dict[str, bytes]]:
    """One task in one mode as a backend unit on whatever node runs it: its task image made available there, the
    harness run on it alone in a scratch folder; returns the verdict and the harness's logs (paths relative to
    the work dir), which the driver writes into the run's folder."""
    iid = row["instance_id"]
    if build:
        spec = load_env(env_name)
        pull_missing([spec.image, row["image"]], images.docker_client())  # from a configured registry, if any
        _, problems = ensure_task_images(spec, [row])
        if problems:
            return RunResult(mode, run_id, 1, errors=[iid], mismatches={iid: problems[iid]}), {}
    with tempfile.TemporaryDirectory(prefix="srl-swe-validate-") as scratch:
        work = Path(scratch)
        dataset = work / "dataset.json"
        dataset.write_text(json.dumps([row], ensure_ascii=False))
        result = RUNNERS[mode](dataset, [iid], work, run_id, 1, timeout)
        return result, {str(path.relative_to(work)): path.read_bytes()
                        for path in (work / "logs").rglob("*") if path.is_file()}


def _run_mode_on(backend: BackendConfig, mode: str, rows: list[dict[str, Any]], env_name: str, out: Path,
                 run_id: str, workers: int, timeout: int, build: bool) -> RunResult:
    """A mode's harness run with one unit per task (Ray): the verdicts merged, the logs written under ``out``."""
    t0 = time.monotonic()
    merged = RunResult(mode, run_id, len(rows), workers=workers)
    jobs = [(mode, row, env_name, run_id, timeout, build) for row in rows]
    for (_, row, *_), shipped, error in run_each(validate_unit, jobs, backend, workers=workers, cpus=1, memory="4g"):
        if error is not None:
            merged.errors.append(row["instance_id"])
            merged.mismatches[row["instance_id"]] = f"the harness could not evaluate it ({type(error).__name__}: {error})"
            continue
        result, files = shipped
        for name in ("resolved", "unresolved", "empty_patch", "errors"):
            getattr(merged, name).extend(getattr(result, name))
        merged.mismatches.update(result.mismatches)
        for relative, data in files.items():
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(out / relative, data)
    for name in ("resolved", "unresolved", "empty_patch", "errors"):
        getattr(merged, name).sort()
    merged.seconds = time.monotonic() - t0
    return merged


# --------------------------------------------------------------------------- the job


def default_work_dir(env: str, stamp: str) -> Path:
    return cache_dir("validate", f"{env}-{stamp}")


def validate_env(name: str, *, workers: int = 2, instance_ids: Iterable[str] | None = None,
                 tasks_path: str | Path | None = None, work_dir: str | Path | None = None,
                 modes: Iterable[str] = MODES, timeout: int = 900, build: bool = True,
                 backend: BackendConfig | None = None, progress: Callable[[str], None] | None = None) -> ValidationReport:
    """Run the real harness over env ``name``'s tasks (gold must resolve 100 %, no fix 0 %); see the module doc.

    On Ray (``backend``) each task of each mode is one unit: the harness runs on the node that holds it, with that
    task alone, and its logs come back into the same folders; the harness's run-level report of each mode is not
    written (``summary.json`` has the merged verdicts)."""
    backend = backend or BackendConfig()

    say = progress or (lambda msg: None)
    t0 = time.monotonic()
    spec = load_env(name)
    path = Path(tasks_path) if tasks_path else spec.tasks_path
    rows = read_tasks(path)
    if instance_ids is not None:
        wanted = set(instance_ids)
        unknown = wanted - {r["instance_id"] for r in rows}
        if unknown:
            raise SRLSweError(f"{path} has no task(s) {sorted(unknown)}")
        rows = [r for r in rows if r["instance_id"] in wanted]
    if not rows:
        raise SRLSweError(f"{path} holds no tasks (make some with `srl-swe tasks synthesize {name}`)")
    modes = list(modes)
    for mode in modes:
        if mode not in MODES:
            raise SRLSweError(f"unknown validation mode {mode!r} (known: {', '.join(MODES)})")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
    out = Path(work_dir) if work_dir else default_work_dir(name, stamp)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    ids = [r["instance_id"] for r in rows]
    report = ValidationReport(name, ids, out)
    if build and backend.name == "local":  # on Ray each unit makes its image available on its own node
        report.built_images, report.image_problems = ensure_task_images(spec, rows, jobs=workers, progress=say)
    dataset = out / "dataset.json"
    write_atomic(dataset, json.dumps(rows, indent=1, ensure_ascii=False))
    for mode in modes:
        say(f"{name}: harness run '{mode}' over {len(ids)} task(s) with {workers} worker(s)"
            + (f" on {backend.name}" if backend.name != "local" else ""))
        run_id = f"{name}-{mode}-{stamp}"
        result = (RUNNERS[mode](dataset, ids, out, run_id, workers, timeout) if backend.name == "local"
                  else _run_mode_on(backend, mode, rows, name, out, run_id, workers, timeout, build))
        report.runs[mode] = result
        say(f"{name}: {mode}: {len(result.resolved)}/{len(ids)} resolved in {result.seconds:.0f}s"
            + (f"; MISMATCHES: {result.mismatches}" if result.mismatches else ""))
    report.seconds = time.monotonic() - t0
    write_atomic(out / "summary.json", json.dumps(report.to_dict(), indent=2) + "\n")
    return report
