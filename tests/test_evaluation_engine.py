"""`srl-swe evaluate`: our engine against the real swebench harness on registered tasks, resume,
crash isolation, missing images, bad predictions, and the report table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from srl_swe.cli import main
from srl_swe.errors import InvalidRecordError, SRLSweError
from srl_swe.evaluation import engine
from srl_swe.evaluation.engine import EvaluationConfig, evaluate, instance_reports
from srl_swe.predictions import load_predictions
from srl_swe.evaluation.report import collect, markdown_table, write_report

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "srl_swe" / "resources" / "envs" / "tasks" / "inflection.jsonl"
IDS = ["srl-swe__inflection-0001", "srl-swe__inflection-0002"]
NOT_A_PATCH = "diff --git a/no_such_file.py b/no_such_file.py\n--- a/no_such_file.py\n+++ b/no_such_file.py\n@@ -1 +1 @@\n-x\n+y\n"


def _rows() -> list[dict]:
    return [json.loads(line) for line in TASKS.read_text().splitlines() if json.loads(line)["instance_id"] in IDS]


HARMLESS = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+applies, fixes nothing\n"


def _write_predictions(path: Path, rows: list[dict], patches: list[str], model: str = "test-model") -> Path:
    path.write_text("".join(json.dumps({"instance_id": r["instance_id"], "model_name_or_path": model, "model_patch": p}) + "\n"
                            for r, p in zip(rows, patches)))
    return path


@pytest.fixture(scope="module")
def built(inflection_tasks):
    """The two inflection tasks (images built by the shared fixture)."""
    assert [row["instance_id"] for row in inflection_tasks] == IDS
    return _rows()


@pytest.mark.both_engines
def test_gold_resolves_every_task_and_a_rerun_evaluates_nothing(built, tmp_path):
    config = EvaluationConfig(instances=str(TASKS), predictions="gold", run_id="gold", output_dir=str(tmp_path),
                              instance_ids=IDS, workers=2)
    summary = evaluate(config).to_dict()
    assert summary["resolved"] == 2 and summary["total"] == 2 and summary["resolved_rate"] == 1.0
    assert summary["per_repository"]["jpvanhal/inflection"]["resolved"] == 2
    for iid in IDS:
        folder = tmp_path / "logs" / "run_evaluation" / "gold" / "gold" / iid
        assert {p.name for p in folder.iterdir()} >= {"patch.diff", "eval.sh", "test_output.txt", "report.json", "run_instance.log"}
        assert json.loads((folder / "report.json").read_text())[iid]["resolved"] is True
    run_report = json.loads((tmp_path / "gold.gold.json").read_text())  # swebench's own make_run_report
    assert run_report["resolved_ids"] == IDS and run_report["error_ids"] == []
    assert (tmp_path / "gold.gold.summary.md").read_text().count("| jpvanhal/inflection | 2 | 2 | 100.0 |") == 1

    again = evaluate(config).to_dict()  # resumable: finished instances are not rerun
    assert again["evaluated_now"] == 0 and again["resolved_ids"] == IDS


def test_cli_evaluate_prints_the_summary_json(built, tmp_path, capsys):
    assert main(["evaluate", "--instances", str(TASKS), "--predictions", "gold", "--run-id", "cli", "--output-dir", str(tmp_path),
                 "--instance-ids", IDS[0], "--setting", "oracle-file", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resolved_ids"] == [IDS[0]] and summary["setting"] == "oracle-file" and summary["engine"] == "srl-swe"
    assert json.loads((tmp_path / "gold.cli.summary.json").read_text())["resolved"] == 1


def test_cli_convert_writes_harness_rows(shared_data, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    assert main(["evaluate", "convert", "--instances", str(shared_data / "swebench" / "verified-mini.jsonl"), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 50 and all(r["image"].startswith("swebench/sweb.eval.x86_64.") and r["eval_script"] for r in rows)


@pytest.mark.both_engines
def test_empty_patches_resolve_nothing(built, tmp_path):
    summary = evaluate(EvaluationConfig(instances=str(TASKS), predictions="empty", run_id="empty",
                                        output_dir=str(tmp_path), instance_ids=IDS)).to_dict()
    assert summary["resolved"] == 0 and summary["empty"] == 2 and summary["empty_patch_ids"] == IDS


@pytest.mark.both_engines
def test_one_engine_matches_the_swebench_harness_report_for_report(built, tmp_path):
    """gold, a patch that applies but fixes nothing, a patch that does not apply: both engines agree."""
    rows = built
    preds = _write_predictions(tmp_path / "preds.jsonl", rows, [rows[0]["patch"], HARMLESS])
    bad = _write_predictions(tmp_path / "bad.jsonl", rows[:1], [NOT_A_PATCH], model="bad-model")
    results = {}
    for name in ("srl-swe", "swebench"):
        out = tmp_path / name
        summary = evaluate(EvaluationConfig(instances=str(TASKS), predictions=str(preds), run_id="parity", engine=name,
                                            output_dir=str(out), instance_ids=IDS))
        not_applied = evaluate(EvaluationConfig(instances=str(TASKS), predictions=str(bad), run_id="bad", engine=name,
                                                output_dir=str(out), instance_ids=IDS[:1]))
        results[name] = (summary, not_applied, json.loads((out / "test-model.parity.json").read_text()))
    ours, theirs = results["srl-swe"], results["swebench"]
    assert instance_reports(ours[0]) == instance_reports(theirs[0])
    assert ours[0].to_dict()["resolved_ids"] == [IDS[0]] and ours[0].to_dict()["unresolved_ids"] == [IDS[1]]
    for key in ("resolved_ids", "unresolved_ids", "error_ids", "completed_ids", "empty_patch_ids"):
        assert ours[2][key] == theirs[2][key], key
    for summary, bad_run, _ in (ours, theirs):
        assert bad_run.to_dict()["not_applied_ids"] == [IDS[0]] and bad_run.to_dict()["resolved"] == 0
    run_log = (tmp_path / "srl-swe" / "logs" / "run_evaluation" / "bad" / "bad-model" / IDS[0] / "run_instance.log").read_text()
    assert ">>>>> Patch Apply Failed" in run_log


def test_a_crashing_instance_loses_nothing_else(built, tmp_path, monkeypatch):
    real = engine.evaluate_instance

    def flaky(row, prediction, log_dir, **kw):
        if row["instance_id"] == IDS[0]:
            raise RuntimeError("worker died")
        return real(row, prediction, log_dir, **kw)

    monkeypatch.setattr(engine, "evaluate_instance", flaky)
    config = EvaluationConfig(instances=str(TASKS), predictions="gold", run_id="crash", output_dir=str(tmp_path),
                              instance_ids=IDS, workers=1)
    first = evaluate(config).to_dict()
    assert first["error_ids"] == [IDS[0]] and "worker died" in first["errors"][IDS[0]] and first["resolved_ids"] == [IDS[1]]
    monkeypatch.setattr(engine, "evaluate_instance", real)
    second = evaluate(config).to_dict()  # the rerun does only the instance that did not finish
    assert second["evaluated_now"] == 1 and second["resolved_ids"] == IDS


def test_an_instance_error_is_recorded_and_retried_on_resume(built, tmp_path, monkeypatch):
    from srl_swe.evaluation import grader

    real = grader.run_in_container
    monkeypatch.setattr(grader, "run_in_container",
                        lambda row, patch, **kw: (_ for _ in ()).throw(OSError("disk full")) if row["instance_id"] == IDS[0]
                        else real(row, patch, **kw))
    config = EvaluationConfig(instances=str(TASKS), predictions="gold", run_id="err", output_dir=str(tmp_path), instance_ids=IDS)
    first = evaluate(config).to_dict()
    assert first["error_ids"] == [IDS[0]] and "disk full" in first["errors"][IDS[0]] and first["resolved_ids"] == [IDS[1]]
    monkeypatch.setattr(grader, "run_in_container", real)
    second = evaluate(config).to_dict()
    assert second["evaluated_now"] == 1 and second["resolved_ids"] == IDS


def test_missing_official_images_are_named_before_anything_runs(docker_client, shared_data, tmp_path):
    instances = shared_data / "swebench" / "lite-dev.jsonl"
    ids = ["pvlib__pvlib-python-1072", "marshmallow-code__marshmallow-1343"]
    config = EvaluationConfig(instances=str(instances), predictions="gold", run_id="m", output_dir=str(tmp_path),
                              instance_ids=ids, pull=False)
    with pytest.raises(SRLSweError) as err:
        evaluate(config)
    assert "swebench/sweb.eval.x86_64.pvlib_1776_pvlib-python-1072:latest" in str(err.value)
    assert "swebench/sweb.eval.x86_64.marshmallow-code_1776_marshmallow-1343:latest" in str(err.value)
    assert not (tmp_path / "logs" / "run_evaluation" / "m" / "gold").exists()
    config.skip_missing_images = True
    summary = evaluate(config).to_dict()
    assert summary["missing_image_ids"] == sorted(ids) and summary["resolved"] == 0


def test_bad_predictions_name_file_record_and_field(tmp_path):
    rows = [{"instance_id": "a"}, {"instance_id": "b"}]
    path = tmp_path / "p.jsonl"
    path.write_text('{"instance_id": "a", "model_patch": ""}\n{"instance_id": "b"}\n')
    with pytest.raises(InvalidRecordError, match=r"p.jsonl, record 1 \(b\), field 'model_patch': missing"):
        load_predictions(str(path), rows)
    path.write_text('{"instance_id": "zz", "model_patch": "x"}\n')
    with pytest.raises(SRLSweError, match="not in the dataset: zz"):
        load_predictions(str(path), rows)
    path = tmp_path / "p.json"
    path.write_text('{"a": {"instance_id": "a", "model_patch": 3}}')
    with pytest.raises(InvalidRecordError, match="field 'model_patch': must be a string"):
        load_predictions(str(path), rows)
    assert load_predictions("gold", [{"instance_id": "a", "patch": "P"}])["a"]["model_patch"] == "P"


def test_cli_regrade_reproduces_every_shared_report(shared_data, capsys):
    logs = shared_data / "eval_logs" / "lite-dev-deepseek-chat"
    folders = sorted(p for p in logs.iterdir() if (p / "report.json").is_file())
    assert len(folders) == 10
    for folder in folders:
        iid = folder.name
        assert main(["evaluate", "regrade", "--instances", str(shared_data / "swebench" / "lite-dev.jsonl"),
                     "--instance-id", iid, "--log", str(folder / "test_output.txt")]) == 0
        ours = json.loads(capsys.readouterr().out)[iid]
        theirs = json.loads((folder / "report.json").read_text())[iid]
        assert ours["resolved"] == theirs["resolved"], iid
        for key in ("FAIL_TO_PASS", "PASS_TO_PASS"):
            assert ours["tests_status"][key] == theirs["tests_status"][key], (iid, key)


def _summary(tmp: Path, model: str, setting: str, resolved: list[str], unresolved: list[str], name: str = "r",
             created: str = "2026-11-27T10:00:00+00:00") -> None:
    folder = tmp / f"{model}-{setting}-{name}"
    folder.mkdir(parents=True)
    lists = {key: [] for key in ("not_applied_ids", "empty_patch_ids", "error_ids", "missing_image_ids")}
    (folder / f"{model}.{name}.summary.json").write_text(json.dumps(
        {"model": model, "setting": setting, "resolved_ids": resolved, "unresolved_ids": unresolved, **lists,
         "created_at": created, "log_dir": str(folder / "logs")}))


def test_report_builds_the_table5_layout_and_a_chart(tmp_path):
    _summary(tmp_path, "qwen-srl", "oracle-file", ["a", "b", "c"], list("defghij"))
    _summary(tmp_path, "qwen-srl", "agentic", ["a"], list("bcdefghij"))
    _summary(tmp_path, "qwen-sft", "end-to-end", ["a", "b"], list("cdefgh"))
    cells = collect([tmp_path])
    table = markdown_table(cells)
    lines = table.splitlines()
    assert lines[0] == "| model | oracle-file | end-to-end | agentic |"
    assert lines[2].startswith("| qwen-sft | – | [25.0 (2/8)](") and lines[2].endswith("| – |")
    assert lines[3].startswith("| qwen-srl | [30.0 (3/10)](") and "[10.0 (1/10)](" in lines[3]
    assert "qwen-srl.r.summary.md" in lines[3]
    md, png = write_report([tmp_path], tmp_path / "table", title="toolz tasks")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and md.read_text().startswith("# toolz tasks results")
    with pytest.raises(SRLSweError, match="no \\*.summary.json"):
        collect([tmp_path / "table"])


def test_report_json_lists_every_cell(tmp_path, capsys):
    from srl_swe import cli

    _summary(tmp_path, "qwen-srl", "oracle-file", ["a", "b", "c"], list("defghij"))
    _summary(tmp_path, "qwen-sft", "agentic", [], ["a", "b"])
    assert cli.main(["report", str(tmp_path), "--out", str(tmp_path / "table"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"].endswith("table.md") and data["chart"].endswith("table.png")
    assert data["cells"] == [
        {"model": "qwen-sft", "setting": "agentic", "resolved": 0, "total": 2, "resolved_rate": 0.0},
        {"model": "qwen-srl", "setting": "oracle-file", "resolved": 3, "total": 10, "resolved_rate": 0.3},
    ]


def test_report_merges_runs_of_one_model_and_setting_by_instance(tmp_path):
    _summary(tmp_path, "m", "agentic", ["toolz-1"], ["toolz-2"], name="toolz")
    _summary(tmp_path, "m", "agentic", [], ["parse-1", "parse-2"], name="parse")
    _summary(tmp_path, "m", "agentic", ["toolz-2"], [], name="toolz-rerun", created="2026-11-28T10:00:00+00:00")
    cell = collect([tmp_path])[("m", "agentic")]
    assert (cell.resolved, cell.total) == (2, 4)  # the later run of toolz-2 replaces the earlier one
    bad = tmp_path / "bad.summary.json"
    bad.write_text('{"model": "m"}')
    with pytest.raises(SRLSweError, match="bad.summary.json: not an srl-swe evaluation summary"):
        collect([bad])


def test_rows_with_image_assets_are_sent_to_the_swebench_engine(tmp_path):
    row = json.loads(TASKS.read_text().splitlines()[0])
    row["image_assets"] = [{"path": "tests/baseline.png", "url": "https://example.invalid/baseline.png"}]
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text(json.dumps(row) + "\n")
    with pytest.raises(SRLSweError, match="image_assets.*use --engine swebench"):
        evaluate(EvaluationConfig(instances=str(rows_file), predictions="gold", run_id="a", output_dir=str(tmp_path)))


# --------------------------------------------------------------------------- a killed run's report.json (no Docker)


@pytest.mark.parametrize("content", ['{"srl-swe__inflection-0001": {"patch_is_None": false, "resol', "", "[]", '"a string"',
                                     '{"srl-swe__inflection-0002": {"resolved": true}}', '{"srl-swe__inflection-0001": []}'],
                         ids=["truncated", "empty", "list", "string", "other-instance", "entry-not-an-object"])
def test_a_torn_or_foreign_report_json_is_evaluated_again(tmp_path, content):
    row = _rows()[0]
    (tmp_path / "report.json").write_text(content)
    assert engine._finished_outcome(tmp_path, row) is None  # not done: never a cached "error", never a crash
    assert not (tmp_path / "report.json").exists()  # swebench's make_run_report would stop at it


def test_a_complete_report_json_is_a_cached_result(tmp_path):
    row = _rows()[0]
    (tmp_path / "report.json").write_text(json.dumps({row["instance_id"]: {"resolved": False}}))
    done = engine._finished_outcome(tmp_path, row)
    assert (done.status, done.cached) == ("unresolved", True)


def test_evaluate_reruns_instances_whose_report_json_a_kill_tore(tmp_path, monkeypatch):
    rows = _rows()
    preds = _write_predictions(tmp_path / "preds.jsonl", rows, [HARMLESS, HARMLESS])
    model_dir = tmp_path / engine.LOG_ROOT / "r" / "test-model"
    for row, content in zip(rows, ['{"srl-swe__inflection-0001": {"resol', "[]"]):
        (model_dir / row["instance_id"]).mkdir(parents=True)
        (model_dir / row["instance_id"] / "report.json").write_text(content)
    (tmp_path / "test-model.r.summary.json").write_text("[]")  # a foreign summary must not crash the rerun either
    evaluated = []

    def fake_instance(row, prediction, log_dir, *, timeout, sandbox):
        evaluated.append(row["instance_id"])
        (log_dir / "report.json").write_text(json.dumps({row["instance_id"]: {"resolved": True}}))
        return engine.InstanceOutcome(row["instance_id"], row["repo"], "resolved")

    monkeypatch.setattr(engine, "evaluate_instance", fake_instance)
    monkeypatch.setattr(engine, "ensure_images", lambda rows, **kwargs: {})
    config = EvaluationConfig(instances=str(TASKS), predictions=str(preds), run_id="r", output_dir=str(tmp_path),
                              instance_ids=IDS, workers=1)
    first = evaluate(config).to_dict()
    assert sorted(evaluated) == IDS and (first["resolved"], first["error"]) == (2, 0)
    evaluated.clear()
    second = evaluate(config).to_dict()
    assert evaluated == [] and second["resolved"] == 2  # now finished: read back, not run again
    assert json.loads((tmp_path / "test-model.r.summary.json").read_text())["resolved"] == 2
