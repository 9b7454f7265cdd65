"""`srl-swe evaluate`: score predictions the way the swebench harness does, with our containers.

::

    from srl_swe.evaluation.engine import EvaluationConfig, evaluate
    summary = evaluate(EvaluationConfig(instances="envs/tasks/toolz.jsonl", predictions="gold", run_id="r1"))

Each instance goes through exactly the harness's steps (see :mod:`.grader`): its image, the
patch applied with the harness's ``git apply`` fallbacks, its eval script, and swebench's own
``get_eval_report``. The files are the harness's, in its layout, so every swebench tool reads
them::

    OUTPUT/logs/run_evaluation/RUN_ID/MODEL/INSTANCE_ID/{patch.diff,eval.sh,test_output.txt,report.json,run_instance.log}
    OUTPUT/MODEL.RUN_ID.json                  swebench's run report (its own make_run_report)
    OUTPUT/MODEL.RUN_ID.summary.{json,md}     our summary: resolved, applied, empty, errors, per repository

What differs is only the orchestration: a container is removed at once (never a 15 s
``docker stop`` on a PID 1 that ignores SIGTERM), no network by default, resource limits, and
the run is resumable: an instance with a report.json, or whose patch did not apply, is
finished and not run again; one that failed for infrastructure reasons is. One instance's
crash is written to its run_instance.log and never stops the others.

``engine="swebench"`` hands the same rows and predictions to ``python -m
swebench.harness.run_evaluation`` itself (same output layout), for parity checks.

Classic instances (SWE-bench Verified/Lite) are converted to 5.x rows first (:mod:`.convert`).
Before anything runs, every image is looked up; a missing one is pulled, or built when it is
one of our registered environments' task images. If no registry answers, the run stops at once
and names the missing images (``skip_missing_images`` evaluates the rest and lists them).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..backend import BackendConfig, run_each
from ..errors import SRLSweError
from ..files import write_atomic
from ..harness import run_harness
from ..image_registry import pull_missing
from ..images import docker_client, image_exists
from ..predictions import load_predictions, recorded_mode
from ..registry import list_envs
from ..sandbox.runtime import SandboxConfig
from ..tasks.validate import ensure_task_images
from .convert import convert_instances, load_instances
from .grader import grade_run
from .integrity import IntegrityReport

ENGINES = ("srl-swe", "swebench")
INTEGRITY_FILE = "integrity.json"
"""Beside an instance's report.json when grading saw signs of tampering (srl-swe engine)."""
LOG_ROOT = Path("logs") / "run_evaluation"

log = logging.getLogger(__name__)


@dataclass
class EvaluationConfig:
    """One evaluation run."""

    instances: str
    """A .json/.jsonl/.parquet file of SWE-bench rows (classic or 5.x), or a Hugging Face dataset name."""
    predictions: str = "gold"
    """A predictions file (.jsonl, or .json list / {instance_id: prediction}), ``gold`` or ``empty``."""
    run_id: str = "srl-swe"
    workers: int = 2
    engine: str = "srl-swe"
    output_dir: str = "."
    instance_ids: list[str] | None = None
    split: str = "test"
    timeout: float = 1800.0
    """Seconds the eval script may run."""
    namespace: str | None = "swebench"
    """Registry namespace of the official instance images (for classic rows)."""
    pull: bool = True
    """Pull missing images (registered environments' task images are built instead)."""
    skip_missing_images: bool = False
    """Evaluate what can be evaluated and list the rest, instead of stopping before the run."""
    network: bool = False
    cpus: float = 2.0
    memory: str = "4g"
    setting: str = ""
    """A label for results tables (oracle-file, end-to-end, agentic, ...); read from the predictions' sidecar when empty."""
    backend: BackendConfig = field(default_factory=BackendConfig)
    """Where instances run (srl-swe engine): threads here, or Ray tasks that ship the harness's files back."""


@dataclass
class InstanceOutcome:
    """How one instance ended."""

    instance_id: str
    repo: str
    status: str
    """resolved | unresolved | not_applied | empty | error | missing_image | skipped (no prediction)"""
    detail: str = ""
    seconds: float = 0.0
    cached: bool = False
    tampering: list[str] = field(default_factory=list)
    """What the patch and its test run did to the test machinery (reported beside the harness's verdict, which it
    does not change here: srl_swe.evaluation.integrity)."""


def integrity_flags(report: IntegrityReport) -> list[str]:
    """One line per tampering sign: each test-machinery file the patch changes, then each finding in the log."""
    return [f"changes test machinery: {path}" for path in report.reverted] + report.tampering


@dataclass
class EvaluationSummary:
    """The outcome of :func:`evaluate`; ``to_dict()`` is the summary JSON."""

    run_id: str
    model: str
    engine: str
    setting: str
    instances_file: str
    predictions_file: str
    log_dir: Path
    run_report: Path | None
    outcomes: list[InstanceOutcome] = field(default_factory=list)
    seconds: float = 0.0
    """This call's wall time."""
    previous_seconds: float = 0.0
    """Wall time of the earlier calls of a resumed run (from the summary they left)."""
    workers: int = 1

    def ids(self, status: str) -> list[str]:
        return sorted(o.instance_id for o in self.outcomes if o.status == status)

    @property
    def evaluated(self) -> int:
        """Instances that ran in this call (not taken from an earlier run)."""
        return sum(1 for o in self.outcomes if not o.cached and o.status not in ("empty", "missing_image", "skipped"))

    def to_dict(self) -> dict[str, Any]:
        total = len([o for o in self.outcomes if o.status != "skipped"])
        counts = {s: len(self.ids(s)) for s in ("resolved", "unresolved", "not_applied", "empty", "error", "missing_image")}
        by_repo: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for o in self.outcomes:
            if o.status != "skipped":
                by_repo[o.repo]["total"] += 1
                by_repo[o.repo][o.status] += 1
        repos = {repo: {"total": c["total"], "resolved": c["resolved"],
                        "applied": c["resolved"] + c["unresolved"], "empty": c["empty"],
                        "errors": c["error"] + c["missing_image"],
                        "resolved_rate": round(c["resolved"] / c["total"], 4)}
                 for repo, c in sorted(by_repo.items())}
        return {
            "run_id": self.run_id, "model": self.model, "engine": self.engine, "setting": self.setting,
            "instances_file": self.instances_file, "predictions_file": self.predictions_file,
            "total": total, **counts,
            "applied": counts["resolved"] + counts["unresolved"],
            "resolved_rate": round(counts["resolved"] / total, 4) if total else 0.0,
            "resolved_ids": self.ids("resolved"), "unresolved_ids": self.ids("unresolved"),
            "not_applied_ids": self.ids("not_applied"), "empty_patch_ids": self.ids("empty"),
            "error_ids": self.ids("error"), "missing_image_ids": self.ids("missing_image"),
            "errors": {o.instance_id: o.detail for o in self.outcomes if o.status in ("error", "missing_image")},
            "tampering": {o.instance_id: o.tampering for o in self.outcomes if o.tampering},
            "tampering_attempts": sum(len(o.tampering) for o in self.outcomes),
            "per_repository": repos,
            "log_dir": str(self.log_dir), "run_report": str(self.run_report) if self.run_report else None,
            "workers": self.workers, "seconds": round(self.seconds, 1),
            "cumulative_seconds": round(self.previous_seconds + self.seconds, 1),
            "evaluated_now": self.evaluated,
            "instances_per_minute": round(60 * self.evaluated / self.seconds, 2) if self.seconds and self.evaluated else None,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def to_markdown(self) -> str:
        d = self.to_dict()
        lines = [f"# {d['model']} · run {d['run_id']}" + (f" · {d['setting']}" if d["setting"] else ""), "",
                 f"{d['resolved']} of {d['total']} resolved ({100 * d['resolved_rate']:.1f} %); engine {d['engine']}, "
                 f"{d['workers']} worker(s), {d['seconds']} s.", "",
                 "| | count |", "|---|---:|"]
        for key in ("total", "resolved", "unresolved", "applied", "not_applied", "empty", "error", "missing_image"):
            lines.append(f"| {key.replace('_', ' ')} | {d[key]} |")
        lines += ["", "| repository | instances | resolved | resolved % | applied | empty | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for repo, r in d["per_repository"].items():
            lines.append(f"| {repo} | {r['total']} | {r['resolved']} | {100 * r['resolved_rate']:.1f} | {r['applied']} | "
                         f"{r['empty']} | {r['errors']} |")
        if d["errors"]:
            lines += ["", "## Errors", ""] + [f"- `{iid}`: {why.splitlines()[0] if why else ''}" for iid, why in d["errors"].items()]
        if d["tampering"]:
            lines += ["", "## Tampering signs (the verdicts above are the harness's)", ""]
            lines += [f"- `{iid}`: {'; '.join(flags)}" for iid, flags in d["tampering"].items()]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- inputs


def load_rows_for(config: EvaluationConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every instance, those ``config.instance_ids`` selects) as 5.x harness rows."""

    rows = convert_instances(load_instances(config.instances, split=config.split), namespace=config.namespace,
                             source=str(config.instances))
    if not config.instance_ids:
        return rows, rows
    wanted = set(config.instance_ids)
    unknown = wanted - {row["instance_id"] for row in rows}
    if unknown:
        raise SRLSweError(f"{config.instances}: no instance {', '.join(sorted(unknown))}")
    return rows, [row for row in rows if row["instance_id"] in wanted]


def model_dir_name(model: str) -> str:
    return (model or "None").replace("/", "__")


# --------------------------------------------------------------------------- images


def ensure_images(rows: list[dict[str, Any]], *, pull: bool = True, client: Any = None,
                  say: Callable[[str], None] = lambda msg: None) -> dict[str, str]:
    """Make every row's image available locally. Returns {instance_id: why its image is missing}.

    Our registered environments' task images are built offline; any other missing image is
    pulled. After the first pull that cannot reach a registry no more are tried: each would
    fail the same way, slowly."""
    import docker

    client = client or docker_client()
    missing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        try:
            client.images.get(row["image"])
        except docker.errors.ImageNotFound:
            missing[row["image"]].append(row)
    if not missing:
        return {}
    pull_missing(list(missing), client)  # a configured registry first (srl_swe.image_registry); then build or pull
    missing = {image: group for image, group in missing.items() if not image_exists(image, client)}
    problems: dict[str, str] = {}
    envs = {spec.repo: spec for spec in list_envs() if spec.repo}
    ours: dict[str, list[dict[str, Any]]] = defaultdict(list)  # registered envs' task images: built, not pulled
    for image in list(missing):
        if image.startswith("srl-swe/") and missing[image][0]["repo"] in envs:
            for row in missing.pop(image):
                ours[row["repo"]].append(row)
    for repo, spec_rows in sorted(ours.items()):
        say(f"building {len(spec_rows)} task image(s) of {envs[repo].name}")
        _, env_problems = ensure_task_images(envs[repo], spec_rows, client=client, progress=say)
        problems.update(env_problems)
    unreachable = ""
    for image, group in missing.items():
        why = ""
        if not pull:
            why = f"image {image} is not present locally (pulling is off)"
        elif unreachable:
            why = f"image {image} is not present locally and no registry answers ({unreachable})"
        else:
            say(f"pulling {image}")
            try:
                name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
                client.images.pull(name, tag=tag or "latest")
            except docker.errors.APIError as exc:
                reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0][:300]
                if "not found" in reason.lower() or "manifest unknown" in reason.lower():
                    why = f"image {image} is not present locally and the registry does not have it ({reason})"
                else:
                    unreachable = reason
                    why = f"image {image} is not present locally and no registry answers ({reason})"
            except Exception as exc:  # noqa: BLE001 - connection errors of any kind: no registry
                unreachable = f"{type(exc).__name__}: {exc}"[:300]
                why = f"image {image} is not present locally and no registry answers ({unreachable})"
        if why:
            for row in group:
                problems[row["instance_id"]] = why
    return problems


# --------------------------------------------------------------------------- one instance


def _report_entry(report: Path, iid: str) -> dict[str, Any] | None:
    """``report.json``'s entry for ``iid``; None when the file is torn (a kill mid-write) or holds something else."""
    try:
        entry = json.loads(report.read_text()).get(iid)
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON (UnicodeDecodeError too), not an object
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("resolved"), bool) else None


def _recorded_flags(path: Path) -> list[str]:
    """The tampering signs an earlier run wrote beside its report (none when it wrote none or the file is unreadable)."""
    try:
        flags = json.loads(path.read_text()).get("flags", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [str(flag) for flag in flags] if isinstance(flags, list) else []


def _finished_outcome(log_dir: Path, row: dict[str, Any]) -> InstanceOutcome | None:
    """The outcome recorded by an earlier run of this instance, if it finished.

    A report.json that is not a report of this instance is no result: it is removed (swebench's
    run report would stop at it) and the instance evaluated again, never cached as an error.
    """
    from swebench.harness.constants import APPLY_PATCH_FAIL, LOG_INSTANCE, LOG_REPORT

    iid = row["instance_id"]
    report = log_dir / LOG_REPORT
    if report.is_file():
        entry = _report_entry(report, iid)
        if entry is not None:
            return InstanceOutcome(iid, row["repo"], "resolved" if entry["resolved"] else "unresolved", cached=True,
                                   tampering=_recorded_flags(log_dir / INTEGRITY_FILE))
        log.warning("%s is no report of %s (a run killed while writing it?): evaluating it again", report, iid)
        with contextlib.suppress(OSError):
            report.unlink()
    instance_log = log_dir / LOG_INSTANCE
    if instance_log.is_file() and APPLY_PATCH_FAIL in instance_log.read_text(errors="replace"):
        return InstanceOutcome(iid, row["repo"], "not_applied", "the patch does not apply", cached=True)
    return None


def evaluate_instance(row: dict[str, Any], prediction: dict[str, Any], log_dir: Path, *,
                      timeout: float, sandbox: SandboxConfig) -> InstanceOutcome:
    """Grade one instance (:func:`~srl_swe.evaluation.grader.grade_run`) and write the harness's files into ``log_dir``."""
    from swebench.harness.constants import APPLY_PATCH_FAIL, APPLY_PATCH_PASS, LOG_INSTANCE, LOG_REPORT, LOG_TEST_OUTPUT
    from swebench.harness.utils import make_test_spec

    iid, start = row["instance_id"], time.perf_counter()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / LOG_INSTANCE).open("w")

    def note(message: str) -> None:
        log.write(f"{datetime.now().isoformat(timespec='seconds')} - {message}\n")
        log.flush()

    def outcome(status: str, detail: str = "") -> InstanceOutcome:
        return InstanceOutcome(iid, row["repo"], status, detail, round(time.perf_counter() - start, 2))

    try:
        patch = prediction.get("model_patch") or ""
        (log_dir / "patch.diff").write_text(patch)
        spec = make_test_spec(row)
        (log_dir / "eval.sh").write_text(spec.eval_script)
        note(f"evaluating {iid} in a fresh container of {row['image']} (srl-swe engine)")
        grade, run = grade_run(row, patch, timeout=timeout, config=sandbox, spec=spec)
        if run.infra_error:
            note(f"infrastructure error: {run.infra_error}")
            return outcome("error", run.infra_error)
        if not run.applied:
            note(f"{APPLY_PATCH_FAIL}:\n{run.apply_output}")
            return outcome("not_applied", "the patch does not apply")
        note(f"{APPLY_PATCH_PASS}:\n{run.apply_output}")
        (log_dir / LOG_TEST_OUTPUT).write_text(run.test_output + (f"\n\nTimeout error: {timeout} seconds exceeded."
                                                                  if run.timed_out else ""))
        if run.timed_out:
            note(f"Test timed out after {timeout} seconds.")
            return outcome("error", f"the eval script timed out after {timeout:.0f} s")  # the harness's verdict
        flags = integrity_flags(grade.integrity)
        if flags:  # written before report.json, which marks the instance done
            write_atomic(log_dir / INTEGRITY_FILE, json.dumps({"flags": flags, **grade.integrity.to_dict()}, indent=2))
            note("tampering signs (the harness's verdict stands): " + "; ".join(flags))
        write_atomic(log_dir / LOG_REPORT, json.dumps(grade.report, indent=4))
        note(f"Result for {iid}: resolved: {grade.resolved}")
        return replace(outcome("resolved" if grade.resolved else "unresolved"), tampering=flags)
    except Exception as exc:  # noqa: BLE001 - one instance's crash never stops the run
        note(f"Error in evaluating {iid}: {exc}\n{traceback.format_exc()}")
        return outcome("error", f"{type(exc).__name__}: {exc}")
    finally:
        log.close()


# --------------------------------------------------------------------------- engines


def _evaluate_unit(row: dict[str, Any], prediction: dict[str, Any], log_dir: str, timeout: float,
                   sandbox: SandboxConfig, ship: bool, pull: bool) -> tuple[InstanceOutcome, dict[str, bytes]]:
    """One instance as a backend unit. Where the run's folder may be on another machine (``ship``), the image is
    made available on this node first and the harness's files are written into a scratch folder and returned, for
    the driver to write into the run's folder; otherwise they go straight into ``log_dir``."""
    if not ship:
        return evaluate_instance(row, prediction, Path(log_dir), timeout=timeout, sandbox=sandbox), {}
    problems = ensure_images([row], pull=pull)
    if problems:
        return InstanceOutcome(row["instance_id"], row["repo"], "missing_image", problems[row["instance_id"]]), {}
    with tempfile.TemporaryDirectory(prefix="srl-swe-eval-") as scratch:
        outcome = evaluate_instance(row, prediction, Path(scratch), timeout=timeout, sandbox=sandbox)
        return outcome, {path.name: path.read_bytes() for path in Path(scratch).iterdir() if path.is_file()}


def _store_shipped(log_dir: Path, files: dict[str, bytes]) -> None:
    """Write a remote unit's files into the run's folder, report.json last: it marks the instance finished."""
    from swebench.harness.constants import LOG_REPORT

    log_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda name: name == LOG_REPORT):
        write_atomic(log_dir / name, files[name])


def _run_ours(todo: list[tuple[dict[str, Any], dict[str, Any]]], run_dir: Path, config: EvaluationConfig,
              progress: Callable[[InstanceOutcome], None]) -> list[InstanceOutcome]:
    sandbox = SandboxConfig(network=config.network, cpus=config.cpus, memory=config.memory,
                            command_timeout=config.timeout, notes=False)
    ship = config.backend.name != "local"
    folders = {row["instance_id"]: run_dir / model_dir_name(pred["model_name_or_path"]) / row["instance_id"]
               for row, pred in todo}
    jobs = [(row, pred, str(folders[row["instance_id"]]), config.timeout, sandbox, ship, config.pull) for row, pred in todo]
    outcomes: list[InstanceOutcome] = []
    for (row, *_), result, error in run_each(_evaluate_unit, jobs, config.backend, workers=config.workers,
                                             cpus=config.cpus, memory=config.memory):
        if error is not None:  # a crashed unit costs its own instance only
            outcomes.append(InstanceOutcome(row["instance_id"], row["repo"], "error", f"{type(error).__name__}: {error}"))
        else:
            outcome, files = result
            if files:
                _store_shipped(folders[row["instance_id"]], files)
            outcomes.append(outcome)
        progress(outcomes[-1])
    return outcomes


def _run_swebench(todo: list[tuple[dict[str, Any], dict[str, Any]]], run_dir: Path, output: Path,
                  config: EvaluationConfig) -> list[InstanceOutcome]:
    """Delegate to ``python -m swebench.harness.run_evaluation`` (same rows, same predictions)."""
    if not todo:
        return []
    rows_file = run_dir / "srl_swe_instances.json"
    preds_file = run_dir / "srl_swe_predictions.jsonl"
    run_dir.mkdir(parents=True, exist_ok=True)
    rows_file.write_text(json.dumps([row for row, _ in todo]))
    preds_file.write_text("".join(json.dumps(pred) + "\n" for _, pred in todo))
    command = [sys.executable, "-m", "swebench.harness.run_evaluation", "-d", str(rows_file.resolve()),
               "-p", str(preds_file.resolve()), "-id", config.run_id, "--max_workers", str(max(1, config.workers)),
               "--timeout", str(int(config.timeout)), "--report_dir", str(output.resolve())]
    run_harness(command, output, run_dir / "swebench_harness.log")
    outcomes = []
    for row, pred in todo:
        log_dir = run_dir / model_dir_name(pred["model_name_or_path"]) / row["instance_id"]
        done = _finished_outcome(log_dir, row)
        if done:
            done.cached = False  # the harness ran it in this call
        outcomes.append(done or InstanceOutcome(row["instance_id"], row["repo"], "error", f"no report; see {log_dir}"))
    return outcomes


def _write_run_report(predictions: dict[str, dict[str, Any]], rows: list[dict[str, Any]], run_id: str, output: Path) -> Path | None:
    """swebench's own run report (``make_run_report``), written where the harness would write it."""
    from swebench.harness.reporting import make_run_report

    if not predictions:
        return None
    with contextlib.chdir(output), contextlib.redirect_stdout(io.StringIO()):
        return output / make_run_report(predictions, rows, run_id, None, ".")


def evaluate(config: EvaluationConfig, *, say: Callable[[str], None] = lambda msg: None,
             progress: Callable[[InstanceOutcome], None] = lambda outcome: None) -> EvaluationSummary:
    """Evaluate ``config.predictions`` on ``config.instances``; see the module docstring."""
    if config.engine not in ENGINES:
        raise SRLSweError(f"unknown engine {config.engine!r}; choose one of {', '.join(ENGINES)}")
    if config.engine == "swebench" and config.backend.name != "local":
        raise SRLSweError("the swebench engine runs its own process pool on this machine; "
                          f"--backend {config.backend.name} needs --engine srl-swe")
    start = time.perf_counter()
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    run_dir = output / LOG_ROOT / config.run_id
    all_rows, rows = load_rows_for(config)
    predictions = load_predictions(config.predictions, all_rows)
    selected = {row["instance_id"] for row in rows}
    predictions = {iid: pred for iid, pred in predictions.items() if iid in selected}
    models = {pred["model_name_or_path"] for pred in predictions.values()}
    model = sorted(models)[0] if models else "None"
    outcomes: list[InstanceOutcome] = []
    todo: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for row in rows:
        iid = row["instance_id"]
        pred = predictions.get(iid)
        if pred is None:
            outcomes.append(InstanceOutcome(iid, row["repo"], "skipped", "no prediction"))
        elif not (pred.get("model_patch") or "").strip():
            outcomes.append(InstanceOutcome(iid, row["repo"], "empty", "empty patch"))
        else:
            done = _finished_outcome(run_dir / model_dir_name(pred["model_name_or_path"]) / iid, row)
            if done:
                outcomes.append(done)
            else:
                todo.append((row, pred))
    with_assets = [row["instance_id"] for row, _ in todo if row.get("image_assets")]
    if with_assets and config.engine == "srl-swe":
        raise SRLSweError(f"{len(with_assets)} instance(s) carry image_assets (binary test baselines the harness downloads), "
                          f"which this engine does not stage: {', '.join(with_assets[:5])}; use --engine swebench")
    if todo and config.backend.name == "local":  # on Ray each node makes its own images available
        problems = ensure_images([row for row, _ in todo], pull=config.pull, say=say)
        if problems and not config.skip_missing_images:
            images = sorted({row["image"] for row, _ in todo if row["instance_id"] in problems})
            raise SRLSweError(f"{len(images)} image(s) missing for {len(problems)} instance(s); nothing was run:\n"
                              + "\n".join(f"  {problems[row['instance_id']]}" for row, _ in todo if row["instance_id"] in problems)
                              + "\n(--skip-missing-images evaluates the others and lists these)")
        outcomes += [InstanceOutcome(row["instance_id"], row["repo"], "missing_image", problems[row["instance_id"]])
                     for row, _ in todo if row["instance_id"] in problems]
        todo = [(row, pred) for row, pred in todo if row["instance_id"] not in problems]
    if todo:
        say(f"evaluating {len(todo)} instance(s) with the {config.engine} engine, {config.workers} worker(s)"
            + (f" on {config.backend.name}" if config.backend.name != "local" else ""))
        if config.engine == "swebench":
            outcomes += _run_swebench(todo, run_dir, output, config)
        else:
            outcomes += _run_ours(todo, run_dir, config, progress)
    order = {row["instance_id"]: i for i, row in enumerate(rows)}
    outcomes.sort(key=lambda o: order[o.instance_id])
    summary = EvaluationSummary(
        run_id=config.run_id, model=model, engine=config.engine,
        setting=config.setting or (recorded_mode(config.predictions) if config.predictions not in ("gold", "empty") else config.predictions),
        instances_file=str(config.instances), predictions_file=str(config.predictions), log_dir=run_dir,
        run_report=_write_run_report(predictions, rows, config.run_id, output), outcomes=outcomes,
        seconds=time.perf_counter() - start, workers=config.workers)
    stem = output / f"{model_dir_name(model)}.{config.run_id}.summary"
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):  # a torn or foreign summary: start again
        previous = json.loads(Path(f"{stem}.json").read_text())
        summary.previous_seconds = float(previous.get("cumulative_seconds", previous.get("seconds", 0.0)))
    write_atomic(f"{stem}.json", json.dumps(summary.to_dict(), indent=2) + "\n")
    write_atomic(f"{stem}.md", summary.to_markdown())
    return summary


def instance_reports(summary: EvaluationSummary) -> dict[str, dict[str, Any]]:
    """{instance_id: the content of its report.json} for a finished run (parity checks read these)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(summary.log_dir).glob("*/*/report.json")):
        out.update(json.loads(path.read_text()))
    return out
