"""Malformed input files through every command that reads them (issue 11, item 6: no traceback, no silence).

Each case is a file built in tmp_path and handed to the CLI in-process, with options chosen so the
command fails on reading it before any container or model is needed. Every one must end in a
single ``error: ...`` line naming the file (and the record and field where there is one), a
non-zero exit and no traceback; the silently wrong results of old (the last of two predictions
winning, ``FAIL_TO_PASS: 5`` graded as an infrastructure error, ``learning_rate: abc`` trained
with, rollout keeping the first of two rows evaluate refuses) are rejections now.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import yaml

from srl_swe.cli import main
from srl_swe.evaluation.convert import load_instances, load_task_rows
from srl_swe.predictions import load_predictions
from srl_swe.train import pipeline

DEPTH = 100_000
"""Nesting far past Python's recursion limit (json and yaml both recurse per level)."""
ID, ID2 = "o__r-1", "o__r-2"
ROW = {"instance_id": ID, "repo": "o/r", "base_commit": "abc", "version": "1.0", "problem_statement": "a bug",
       "patch": "diff --git a/x.py b/x.py\n", "test_patch": "diff --git a/tests/t.py b/tests/t.py\n",
       "FAIL_TO_PASS": ["t1"], "PASS_TO_PASS": [], "image": "img:latest", "eval_script": "#!/bin/bash\n",
       "log_parser": "parse_log_pytest", "eval_type": "pass_and_fail", "bug_patch": "diff --git a/x.py b/x.py\n"}
"""A swebench 5.x row: graded as it is, so every check below is the shared row check, not the conversion's."""
ROW2 = {**ROW, "instance_id": ID2}
SPEC = {"name": "demo", "description": "a demo env", "source": {"pypi": "inflection==0.5.1"}, "python": "3.11",
        "install": ["pip install -e ."], "test_command": "pytest -rA", "test_files": ["tests/**/*.py"],
        "source_files": ["demo/**/*.py"], "log_parser": "parse_log_pytest"}


def jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def deep() -> bytes:
    return b"[" * DEPTH + b"]" * DEPTH


def without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


def assert_clean_error(capsys, argv: list[str], path: Path | str, *names: str) -> str:
    """Run the CLI; its one `error:` line, which must name `path` and each of `names`."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code != 0, out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert str(path) in errors[0], errors[0]
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- task rows (--instances / --tasks)

ROW_FILES = {  # case: (file name, content, what the message names besides the file)
    "non_utf8_jsonl": ("rows.jsonl", jsonl(ROW).replace(b"a bug", b"a b\xffg"), ["record 0", "line 1", "not UTF-8"]),
    "non_utf8_json": ("rows.json", json.dumps([ROW]).encode().replace(b"a bug", b"a b\xffg"), ["not UTF-8"]),
    "truncated_json": ("rows.json", json.dumps([ROW]).encode()[:60], ["not valid JSON"]),
    "truncated_jsonl": ("rows.jsonl", jsonl(ROW, ROW2)[:-40], ["record 1", "line 2", "not valid JSON"]),
    "deep_json": ("rows.json", deep(), ["nested too deeply"]),
    "deep_jsonl": ("rows.jsonl", jsonl(ROW) + deep() + b"\n", ["record 1", "line 2", "nested too deeply"]),
    "empty": ("rows.jsonl", b"", ["holds no instances"]),
    "empty_list": ("rows.json", b"[]", ["holds no instances"]),
    "list_for_row": ("rows.json", b"[[1, 2]]", ["record 0", "expected an object"]),
    "scalar": ("rows.json", b"42", ["expected a JSON list"]),
    "int_instance_id": ("rows.jsonl", jsonl({**ROW, "instance_id": 5}), ["record 0", "'instance_id'", "int 5"]),
    "no_instance_id": ("rows.jsonl", jsonl(without(ROW, "instance_id")), ["record 0", "'instance_id'", "missing"]),
    "fail_to_pass_int": ("rows.jsonl", jsonl({**ROW, "FAIL_TO_PASS": 5}), [f"record 0 ({ID})", "'FAIL_TO_PASS'"]),
    "fail_to_pass_cut_json": ("rows.jsonl", jsonl({**ROW, "FAIL_TO_PASS": '["t1"'}), ["'FAIL_TO_PASS'", "not valid JSON"]),
    "problem_statement_int": ("rows.jsonl", jsonl({**ROW, "problem_statement": 5}), ["'problem_statement'"]),
    "duplicate_ids": ("rows.jsonl", jsonl(ROW, ROW2, ROW), ["'instance_id'", f"{ID} (records 0, 2)"]),
    "not_parquet": ("rows.parquet", b"not a parquet file", ["not a readable parquet file"]),
}
AGENT_ROW_FILES = {  # rows a grader can use but an agent cannot (rollout, recording, RLVR need the issue)
    "no_problem_statement": ("rows.jsonl", jsonl(without(ROW, "problem_statement")), [f"record 0 ({ID})",
                                                                                        "'problem_statement'"]),
}


def _row_commands(tmp_path: Path) -> dict[str, tuple[list, bool]]:
    """command: (argv with {} for the file, whether it gives the rows to an agent)."""
    log = write(tmp_path, "test_output.txt", b"nothing\n")
    out = tmp_path / "out"
    return {
        "evaluate": (["evaluate", "--instances", "{}", "--run-id", "r", "--output-dir", out], False),
        "evaluate_convert": (["evaluate", "convert", "--instances", "{}", "--out", out / "rows.jsonl"], False),
        "evaluate_regrade": (["evaluate", "regrade", "--instances", "{}", "--instance-id", ID, "--log", log], False),
        "rollout": (["rollout", "--instances", "{}", "--model", "oracle", "--mode", "oracle-file", "--out",
                     out / "preds.jsonl"], True),
        "rollout_tasks": (["rollout", "--tasks", "{}", "--model", "oracle", "--mode", "oracle-file", "--out",
                           out / "preds.jsonl"], True),
        "trajectories_record": (["trajectories", "record", "--instances", "{}", "--out", out / "t.jsonl"], True),
        "trajectories_record_tasks": (["trajectories", "record", "--tasks", "{}", "--out", out / "t.jsonl"], True),
        "trajectories_verify": (["trajectories", "verify", out / "none.jsonl", "--instances", "{}"], True),
    }


ROW_COMMANDS = ("evaluate", "evaluate_convert", "evaluate_regrade", "rollout", "rollout_tasks", "trajectories_record",
                "trajectories_record_tasks", "trajectories_verify")
AGENT_COMMANDS = ("rollout", "rollout_tasks", "trajectories_record", "trajectories_record_tasks", "trajectories_verify")


def _fill(argv: list, path: Path) -> list:
    return [path if a == "{}" else a for a in argv]


@pytest.mark.parametrize("case", sorted(ROW_FILES))
@pytest.mark.parametrize("command", ROW_COMMANDS)
def test_bad_task_rows_are_a_clean_error_in_every_command(capsys, tmp_path, command, case):
    if case == "not_parquet":
        pytest.importorskip("datasets")
    name, data, names = ROW_FILES[case]
    path = write(tmp_path, name, data)
    argv, _ = _row_commands(tmp_path)[command]
    assert_clean_error(capsys, _fill(argv, path), path, *names)


@pytest.mark.parametrize("case", sorted(AGENT_ROW_FILES))
@pytest.mark.parametrize("command", AGENT_COMMANDS)
def test_rows_an_agent_cannot_use_are_rejected_up_front(capsys, tmp_path, command, case):
    name, data, names = AGENT_ROW_FILES[case]
    path = write(tmp_path, name, data)
    argv, _ = _row_commands(tmp_path)[command]
    assert_clean_error(capsys, _fill(argv, path), path, *names)


@pytest.mark.parametrize("case", ["int_instance_id", "fail_to_pass_int", "duplicate_ids", "deep_jsonl"])
def test_train_rlvr_reads_its_tasks_with_the_same_checks(capsys, tmp_path, case):
    pytest.importorskip("trl")
    name, data, names = ROW_FILES[case]
    path = write(tmp_path, name, data)
    assert_clean_error(capsys, ["train", "rlvr", "--instances", path, "--output-dir", tmp_path / "rlvr"], path, *names)


def test_one_check_of_task_rows_for_evaluate_and_rollout(tmp_path):
    """What evaluate refuses, rollout refuses (it used to keep the first of two rows); what one reads, both read."""
    path = write(tmp_path, "rows.jsonl", jsonl(ROW, ROW))
    for read in (load_instances, lambda p: load_task_rows(p, None)):
        with pytest.raises(Exception, match=f"{ID} \\(records 0, 1\\)"):
            read(path)
    classic_style = {**ROW, "FAIL_TO_PASS": '["t1"]', "version": 1.0}  # HF datasets store test lists as JSON text
    path = write(tmp_path, "ok.json", json.dumps({ID: classic_style}).encode())
    assert load_instances(path) == [classic_style]
    assert [r["instance_id"] for r in load_task_rows(path, None)] == [ID]


def test_a_dataset_name_that_cannot_be_loaded_offline(capsys, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'o/dataset' on the Hub (OfflineModeIsEnabled)\n(more)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.chdir(tmp_path)
    for argv in (["evaluate", "convert", "--instances", "o/dataset", "--out", tmp_path / "rows.jsonl"],
                 ["rollout", "--instances", "o/dataset", "--model", "oracle", "--mode", "oracle-file",
                  "--out", tmp_path / "p.jsonl"]):
        assert_clean_error(capsys, argv, "o/dataset", "Hugging Face dataset", "OfflineModeIsEnabled")


# --------------------------------------------------------------------------- predictions

PREDICTION = {"instance_id": ID, "model_name_or_path": "m", "model_patch": "diff --git a/x b/x\n"}
PREDICTION2 = {**PREDICTION, "instance_id": ID2}
PREDICTION_FILES = {
    "non_utf8": ("preds.jsonl", jsonl(PREDICTION).replace(b"diff", b"d\xffff"), ["record 0", "not UTF-8"]),
    "truncated_jsonl": ("preds.jsonl", jsonl(PREDICTION)[:30], ["record 0", "not valid JSON"]),
    "truncated_json": ("preds.json", json.dumps([PREDICTION]).encode()[:30], ["not valid JSON"]),
    "deep_json": ("preds.json", deep(), ["nested too deeply"]),
    "deep_jsonl": ("preds.jsonl", deep() + b"\n", ["record 0", "nested too deeply"]),
    "empty": ("preds.jsonl", b"", ["holds no predictions"]),
    "list_for_prediction": ("preds.json", b"[[1]]", ["record 0", "must be an object"]),
    "scalars_by_id": ("preds.json", b'{"a": 1}', ["expected a JSON list"]),
    "int_instance_id": ("preds.jsonl", jsonl({**PREDICTION, "instance_id": 5}), ["record 0", "'instance_id'"]),
    "no_instance_id": ("preds.jsonl", jsonl(without(PREDICTION, "instance_id")), ["'instance_id'", "missing"]),
    "no_model_patch": ("preds.jsonl", jsonl(without(PREDICTION, "model_patch")), ["'model_patch'", "missing"]),
    "int_model_patch": ("preds.jsonl", jsonl({**PREDICTION, "model_patch": 5}), [f"record 0 ({ID})", "'model_patch'"]),
    "int_model_name": ("preds.jsonl", jsonl({**PREDICTION, "model_name_or_path": 5}), ["'model_name_or_path'"]),
    "duplicate_ids": ("preds.jsonl", jsonl(PREDICTION, PREDICTION2, PREDICTION, PREDICTION2),
                      [f"{ID} (records 0, 2)", f"{ID2} (records 1, 3)"]),
    "unknown_instance": ("preds.jsonl", jsonl({**PREDICTION, "instance_id": "zz"}), ["not in the dataset: zz"]),
}


@pytest.mark.parametrize("case", sorted(PREDICTION_FILES))
def test_bad_predictions_are_rejected_before_anything_is_evaluated(capsys, tmp_path, case):
    rows = write(tmp_path, "rows.jsonl", jsonl(ROW, ROW2))
    name, data, names = PREDICTION_FILES[case]
    path = write(tmp_path, name, data)
    assert_clean_error(capsys, ["evaluate", "--instances", rows, "--predictions", path, "--run-id", "r",
                                "--output-dir", tmp_path / "out"], path, *names)


def test_duplicate_predictions_never_let_the_last_one_win(tmp_path):
    path = write(tmp_path, "preds.jsonl", jsonl(PREDICTION, {**PREDICTION, "model_patch": ""}))
    with pytest.raises(Exception, match=f"appear more than once.*{ID} \\(records 0, 1\\)"):
        load_predictions(str(path), [ROW])
    path = write(tmp_path, "ok.json", json.dumps({ID: {**PREDICTION, "model_patch": None}}).encode())
    assert load_predictions(str(path), [ROW])[ID]["model_patch"] is None


RESUMED_FILES = {  # the --out file rollout reads back to skip finished tasks (its last line may be torn: cut, not read)
    "non_utf8": jsonl(PREDICTION).replace(b"diff", b"d\xffff") + jsonl(PREDICTION2),
    "deep": deep() + b"\n" + jsonl(PREDICTION2),
    "int_instance_id": jsonl({**PREDICTION, "instance_id": 5}) + jsonl(PREDICTION2),
}


@pytest.mark.parametrize("case", sorted(RESUMED_FILES))
def test_a_bad_predictions_file_to_resume_is_a_clean_error(capsys, tmp_path, case):
    rows = write(tmp_path, "rows.jsonl", jsonl(ROW))
    path = write(tmp_path, "preds.jsonl", RESUMED_FILES[case])
    assert_clean_error(capsys, ["rollout", "--instances", rows, "--model", "oracle", "--mode", "oracle-file",
                                "--out", path], path, "line 1")


# --------------------------------------------------------------------------- training configs

RUN_CONFIGS = {  # train srl|rlvr --config FILE
    "learning_rate_abc": (b"learning_rate: abc\n", ["learning_rate", "'abc'", "float"]),
    "unknown_key": (b"no_such_key: 1\n", ["'no_such_key'"]),
    "non_utf8": (b"model: m\xff\n", ["not UTF-8"]),
    "list": (b"- 1\n- 2\n", ["mapping"]),
    "deep": (deep() + b"\n", ["nested too deeply"]),
    "truncated": (b"max_steps: 3\nmodel: [a, b\n", ["not valid YAML"]),
    "model_int": (b"model: 5\n", ["model must be str"]),
    "max_steps_float": (b"max_steps: 2.5\n", ["max_steps must be int"]),
    "resume_int": (b"resume: 1\n", ["resume must be bool"]),
    "trainer_args_list": (b"trainer_args: [1]\n", ["trainer_args"]),
}
PIPELINE_CONFIGS = {  # train pipeline --config FILE, demo --config FILE
    "stage_learning_rate_abc": (b"stage_options:\n  srl:\n    learning_rate: abc\n", ["stage srl", "learning_rate"]),
    "shared_max_steps_word": (b"shared:\n  max_steps: many\n", ["max_steps must be int"]),
    "stages_string": (b"stages: sft\n", ["stages must be list"]),
    "stage_options_list": (b"stage_options: [1]\n", ["stage_options"]),
    "run_field_at_top": (b"learning_rate: 1.0e-6\n", ["'learning_rate'", "PipelineConfig"]),
    "non_utf8": (b"model: m\xff\n", ["not UTF-8"]),
    "deep": (deep() + b"\n", ["nested too deeply"]),
    "truncated": (b"stages: [sft\n", ["not valid YAML"]),
}


@pytest.fixture
def no_training(monkeypatch):
    """Trainers that fail the test if reached: a config must be rejected before any training (or torch import)."""
    def reached(*args, **kwargs):
        raise AssertionError("a bad config reached training")

    for module, name in (("srl_swe.train.srl", "train_srl"), ("srl_swe.train.rlvr", "train_rlvr")):
        monkeypatch.setitem(sys.modules, module, types.SimpleNamespace(**{name: reached}))
    monkeypatch.setattr(pipeline, "run_pipeline", reached)


@pytest.mark.parametrize("case", sorted(RUN_CONFIGS))
@pytest.mark.parametrize("trainer", ["srl", "rlvr"])
def test_bad_run_configs_are_rejected_naming_file_and_key(capsys, tmp_path, no_training, trainer, case):
    data, names = RUN_CONFIGS[case]
    path = write(tmp_path, "config.yaml", data)
    assert_clean_error(capsys, ["train", trainer, "--config", path, "--output-dir", tmp_path / "run"], path, *names)


@pytest.mark.parametrize("case", sorted(PIPELINE_CONFIGS))
@pytest.mark.parametrize("command", [["train", "pipeline"], ["demo"]])
def test_bad_pipeline_configs_are_rejected_before_any_stage_runs(capsys, tmp_path, no_training, command, case):
    data, names = PIPELINE_CONFIGS[case]
    path = write(tmp_path, "pipeline.yaml", data)
    assert_clean_error(capsys, [*command, "--config", path, "--output-dir", tmp_path / "run"], path, *names)


# --------------------------------------------------------------------------- environment specs and their task files

def _spec_bytes(**change) -> bytes:
    return yaml.safe_dump({**SPEC, **change}, sort_keys=False).encode()


SPEC_FILES = {
    "non_utf8": (_spec_bytes().replace(b"a demo env", b"a d\xffmo env"), ["not UTF-8"]),
    "deep": (deep() + b"\n", ["nested too deeply"]),
    "truncated": (b"name: [demo\n", ["not valid YAML"]),
    "list": (b"- demo\n", ["mapping"]),
    "no_name": (yaml.safe_dump(without(SPEC, "name")).encode(), ["'name'"]),
    "timeout_word": (_spec_bytes(timeout="long"), ["'timeout'"]),
}
TASK_FILES = {
    "non_utf8": (jsonl(ROW).replace(b"a bug", b"a b\xffg"), ["line 1", "not UTF-8"]),
    "deep": (deep() + b"\n", ["line 1", "nested too deeply"]),
    "int_instance_id": (jsonl({**ROW, "instance_id": 5}), ["record 0", "'instance_id'"]),
    "duplicate_ids": (jsonl(ROW, ROW), [f"{ID} (records 0, 1)"]),
    "no_problem_statement": (jsonl(without(ROW, "problem_statement")), ["'problem_statement'"]),
}


@pytest.mark.parametrize("case", sorted(SPEC_FILES))
@pytest.mark.parametrize("command", [["envs", "build"], ["envs", "validate"], ["rollout", "--model", "oracle",
                                                                           "--mode", "oracle-file", "--env"]])
def test_bad_env_spec_files_are_a_clean_error(capsys, tmp_path, command, case):
    data, names = SPEC_FILES[case]
    path = write(tmp_path / "envs", "demo.yaml", data)
    extra = ["--out", tmp_path / "p.jsonl"] if command[0] == "rollout" else []
    assert_clean_error(capsys, [*command, path, *extra], path, *names)


@pytest.mark.parametrize("case", sorted(TASK_FILES))
def test_bad_env_task_files_are_a_clean_error(capsys, tmp_path, case):
    spec = write(tmp_path / "envs", "demo.yaml", _spec_bytes())
    data, names = TASK_FILES[case]
    tasks = write(tmp_path / "envs" / "tasks", "demo.jsonl", data)
    assert_clean_error(capsys, ["rollout", "--model", "oracle", "--mode", "oracle-file", "--env", spec, "--out",
                                tmp_path / "p.jsonl"], tasks, *names)


# --------------------------------------------------------------------------- other files commands read

SUMMARY = {"model": "m", "setting": "s", "resolved_ids": [], "unresolved_ids": [], "not_applied_ids": [],
           "empty_patch_ids": [], "error_ids": [], "missing_image_ids": []}
SUMMARY_FILES = {
    "non_utf8": (json.dumps(SUMMARY).encode().replace(b'"m"', b'"\xff"'), ["not UTF-8"]),
    "deep": (deep(), ["nested too deeply"]),
    "truncated": (json.dumps(SUMMARY).encode()[:40], ["not valid JSON"]),
    "list": (b"[1]", ["not an srl-swe evaluation summary"]),
    "resolved_ids_int": (json.dumps({**SUMMARY, "resolved_ids": 5}).encode(), ["'resolved_ids'"]),
}


@pytest.mark.parametrize("case", sorted(SUMMARY_FILES))
def test_bad_run_summaries_are_a_clean_error_in_report(capsys, tmp_path, case):
    data, names = SUMMARY_FILES[case]
    path = write(tmp_path / "run", "m.r.summary.json", data)
    assert_clean_error(capsys, ["report", tmp_path / "run", "--out", tmp_path / "table"], path, *names)


def test_a_non_utf8_patch_to_regrade_is_a_clean_error(capsys, tmp_path):
    rows = write(tmp_path, "rows.jsonl", jsonl(ROW))
    log = write(tmp_path, "test_output.txt", b"nothing\n")
    patch = write(tmp_path, "patch.diff", b"diff --git a/x b/x\n+\xff\n")
    assert_clean_error(capsys, ["evaluate", "regrade", "--instances", rows, "--instance-id", ID, "--log", log,
                                "--patch", patch], patch, "line 2", "not UTF-8")


TRAJECTORY_FILES = {  # only the cases the trajectory loaders (owned elsewhere) already report cleanly
    "truncated_json": ("t.json", b'[{"messages": ['),
    "truncated_jsonl": ("t.jsonl", b'{"messages": ['),
    "list_of_lists": ("t.json", b"[[1]]"),
    "scalar": ("t.json", b"5"),
    "int_instance_id": ("t.jsonl", b'{"instance_id": 5, "messages": []}\n'),
}


@pytest.mark.parametrize("case", sorted(TRAJECTORY_FILES))
@pytest.mark.parametrize("command", [["data", "stats"], ["data", "convert"], ["data", "steps"], ["replay", "--data"]])
def test_bad_trajectory_files_are_a_clean_error(capsys, tmp_path, command, case):
    name, data = TRAJECTORY_FILES[case]
    path = write(tmp_path, name, data)
    extra = ["--out", tmp_path / "out.jsonl"] if command[0] == "data" and command[1] != "stats" else []
    assert_clean_error(capsys, [*command, path, *extra], path)


def test_a_bad_override_is_not_blamed_on_a_good_config_file(capsys, tmp_path, no_training):
    path = write(tmp_path, "config.yaml", b"max_steps: 3\n")
    message = assert_clean_error(capsys, ["train", "srl", "--config", path, "--set", "learning_rate=abc"], path,
                                 "with --set", "learning_rate must be float")
    assert message.startswith(f"error: {path} with --set:")


@pytest.mark.parametrize("case", sorted(SPEC_FILES))
@pytest.mark.parametrize("command", [["tasks", "synthesize"], ["tasks", "restate"]])
def test_bad_env_spec_files_are_a_clean_error_in_the_task_commands(capsys, tmp_path, command, case):
    data, names = SPEC_FILES[case]
    path = write(tmp_path / "envs", "demo.yaml", data)
    assert_clean_error(capsys, [*command, path, "--out", tmp_path / "tasks.jsonl"], path, *names)


@pytest.mark.parametrize("command, case", [(command, case) for command in (["tasks", "synthesize"], ["tasks", "restate"])
                                            for case in sorted(TASK_FILES)
                                            if case != "no_problem_statement" or command[1] == "restate"])
def test_bad_task_files_are_a_clean_error_before_any_container_starts(capsys, tmp_path, monkeypatch, command, case):
    """A tasks file to extend (synthesize) or rewrite (restate) is read, and rejected, before Docker is needed."""
    from srl_swe.tasks import synthesize

    def no_docker(*args, **kwargs):
        raise AssertionError("a container was asked for before the tasks file was read")

    monkeypatch.setattr(synthesize, "Bench", no_docker)
    spec = write(tmp_path / "envs", "demo.yaml", _spec_bytes())
    data, names = TASK_FILES[case]
    tasks = write(tmp_path, "tasks.jsonl", data)
    assert_clean_error(capsys, [*command, spec, "--out", tasks], tasks, *names)
