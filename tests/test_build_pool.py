"""scripts/build_pool.py: the pieces that decide what ships (no containers)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from srl_swe.registry import load_env, read_tasks, tasks_file

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_pool", ROOT / "scripts" / "build_pool.py")
build_pool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_pool)


def test_rows_that_fail_validation_or_recording_are_removed_and_the_rest_kept_whole(tmp_path):
    rows = load_env("toolz").load_tasks()[:3]
    path = tasks_file(tmp_path, "toolz")
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert build_pool.drop_rows(tmp_path, "toolz", {rows[1]["instance_id"], "not-a-row"}) == 1
    assert read_tasks(path) == [rows[0], rows[2]]
    assert build_pool.drop_rows(tmp_path, "toolz", set()) == 0


def test_the_report_is_the_last_json_object_after_progress_lines():
    output = "baseline run 1/3: 12 tests\n{not json\n{\n  \"kept\": [\"a\"],\n  \"tried\": 4\n}\n"
    assert build_pool.last_json(output) == {"kept": ["a"], "tried": 4}
    assert build_pool.last_json('{"tried": 1}') == {"tried": 1}


def test_the_table_says_where_a_package_stopped():
    state = {"a==1": {"tests": 10, "tasks": 2, "kinds": {"off_by_one": 2}, "image_mb": 300.0,
                      "seconds": {"build": 50.0, "synthesize": 60.0, "task_images": 5.0, "validate": 6.0, "record": 7.0}},
             "b==2": {"seconds": {"build": 9.0}, "error": "build exited 1:\nboom"}}
    lines = build_pool.table(state).splitlines()
    assert lines[2] == "| a==1 | 10 | 2 | off_by_one 2 | 300.0 | 50.0 | 60.0 | 18.0 |"
    assert lines[3].startswith("| b==2 (stopped at build) |")
