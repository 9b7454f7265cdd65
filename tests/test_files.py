"""Result files survive a kill: atomic replacement, synced appends, torn last lines dropped and redone."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from srl_swe import files
from srl_swe.agent import recorder
from srl_swe.core import ToolCall
from srl_swe.errors import InvalidRecordError
from srl_swe.files import append_line, atomic_open, drop_torn_line, write_atomic
from srl_swe.predictions import done_ids
from srl_swe.trajectory import load_trajectories, write_jsonl
from srl_swe.trajectory.model import Task, Trajectory, Turn


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_replaces_the_whole_file_and_keeps_its_mode(tmp_path):
    target = tmp_path / "report.json"
    write_atomic(target, '{"a": 1}')
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == '{"a": 1}' and target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600
    target.chmod(0o640)
    write_atomic(target, b"[1, 2]")
    assert target.read_bytes() == b"[1, 2]" and target.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_a_failure_mid_write_leaves_the_old_content_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text("old, complete")

    def no_sync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_sync)  # the data is written, the sync fails: an in-place write would be torn
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new content that never became durable")
    assert target.read_text() == "old, complete"
    assert _leftovers(tmp_path) == []


def test_an_exception_while_streaming_leaves_the_old_file(tmp_path):
    target = tmp_path / "steps.jsonl"
    target.write_text('{"old": 1}\n')
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write('{"new": 1}\n{"new": ')
        raise RuntimeError("killed half way")
    assert target.read_text() == '{"old": 1}\n' and _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(target, "a"):
            pass


def test_drop_torn_line_cuts_only_an_incomplete_last_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n{"id": 3, "na')
    assert drop_torn_line(path) == '{"id": 3, "na'
    assert path.read_text() == '{"id": 1}\n{"id": 2}\n'
    assert drop_torn_line(path) == "" and path.read_text() == '{"id": 1}\n{"id": 2}\n'
    path.write_text('{"id": 1}\n{"id": 2}')  # complete, but without its newline: the next append must not join it
    assert drop_torn_line(path) == ""
    with path.open("a") as handle:
        append_line(handle, '{"id": 3}')
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [1, 2, 3]
    path.write_text('{"id": 1}\nnot json\n{"id": 3}\n')  # a bad line before the last is the reader's to report
    assert drop_torn_line(path) == "" and path.read_text() == '{"id": 1}\nnot json\n{"id": 3}\n'
    path.write_bytes(b'{"id": 1}\n{"id": "\xff"}\n')  # ended by its newline, so written whole: bad, not torn
    assert drop_torn_line(path) == "" and path.read_bytes() == b'{"id": 1}\n{"id": "\xff"}\n'
    path.write_text("")
    assert drop_torn_line(path) == ""
    path.write_text('[\n  {"id": 1}\n]\n')  # one pretty-printed document, not JSON lines: left whole
    assert drop_torn_line(path) == "" and path.read_text() == '[\n  {"id": 1}\n]\n'


def test_predictions_resume_cuts_a_torn_line_without_rewriting_the_file(tmp_path, monkeypatch):
    path = tmp_path / "preds.jsonl"
    path.write_text('{"instance_id": "a", "model_patch": ""}\n{"instance_id": "b", "mod')
    monkeypatch.setattr(Path, "write_text", lambda *a, **k: pytest.fail("the predictions file was rewritten"))
    assert done_ids(path) == {"a"}
    assert path.read_bytes() == b'{"instance_id": "a", "model_patch": ""}\n'


def test_write_jsonl_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "t.jsonl"
    out.write_text("previous\n")

    def broken(trajectory):
        raise RuntimeError("a trajectory that cannot be written")

    monkeypatch.setattr(Trajectory, "to_dict", broken)
    with pytest.raises(RuntimeError):
        write_jsonl([_trajectory("x")], out)
    assert out.read_text() == "previous\n"


# --------------------------------------------------------------------------- srl-swe trajectories record


def _trajectory(iid: str) -> Trajectory:
    turn = Turn("look", ToolCall("execute_bash", {"command": "ls"}), "README")
    return Trajectory(iid, Task(iid, f"fix {iid}", repo="o/r", base_commit="abc"), [turn], source_format="recorded",
                      metadata={"resolved": True, "reward": 1.0})


@pytest.fixture
def fake_expert(monkeypatch):
    """record_trajectories without Docker: every task is 'recorded' at once; the ids recorded are listed."""
    recorded: list[str] = []

    class Env:
        def __init__(self, task, config):
            self.task = task

        def close(self):
            pass

    class Expert:
        def __init__(self, task):
            pass

        def actions(self):
            return iter(())

    def episode(env, actions, **kwargs):
        recorded.append(env.task["instance_id"])
        return recorder.Episode(_trajectory(env.task["instance_id"]), 1.0, {})

    monkeypatch.setattr(recorder, "SWEEnv", Env)
    monkeypatch.setattr(recorder, "ScriptedExpert", Expert)
    monkeypatch.setattr(recorder, "record_episode", episode)
    return recorded


TASKS = [{"instance_id": f"t-{i}"} for i in (1, 2, 3)]


def test_record_appends_each_trajectory_and_ends_sorted(tmp_path, fake_expert, monkeypatch):
    out = tmp_path / "rec" / "expert.jsonl"
    appended: list[str] = []
    monkeypatch.setattr(recorder, "append_line", lambda handle, line: (appended.append(line), append_line(handle, line)))
    summary = recorder.record_trajectories(TASKS, out, workers=1)
    assert (summary["recorded"], summary["trajectories"], summary["failed"]) == (3, 3, [])
    assert len(appended) == 3  # one synced line per episode, not a rewrite of the file
    assert [t.id for t in load_trajectories(out).trajectories] == ["t-1", "t-2", "t-3"]


def test_a_torn_last_record_line_is_dropped_with_a_warning_and_its_task_recorded_again(tmp_path, fake_expert, caplog):
    out = tmp_path / "expert.jsonl"
    write_jsonl([_trajectory("t-1")], out)
    whole = json.dumps(_trajectory("t-2").to_dict(), ensure_ascii=False)
    with out.open("a") as handle:  # killed while appending t-2's line
        handle.write(whole[: len(whole) // 2])
    with caplog.at_level(logging.WARNING, logger=recorder.__name__):
        summary = recorder.record_trajectories(TASKS, out, workers=1)
    assert "partly written last line" in caplog.text and str(out) in caplog.text
    assert sorted(fake_expert) == ["t-2", "t-3"]  # t-1 was kept, the torn t-2 recorded again
    assert (summary["already_recorded"], summary["recorded"], summary["trajectories"]) == (1, 2, 3)
    assert [t.id for t in load_trajectories(out).trajectories] == ["t-1", "t-2", "t-3"]


def test_a_malformed_record_line_in_the_middle_stays_an_error_naming_file_and_line(tmp_path, fake_expert):
    out = tmp_path / "expert.jsonl"
    lines = [json.dumps(_trajectory(i).to_dict()) for i in ("t-1", "t-3")]
    out.write_text(lines[0] + "\n{not json\n" + lines[1] + "\n")
    with pytest.raises(InvalidRecordError, match=r"expert\.jsonl.*line 2"):
        recorder.record_trajectories(TASKS, out, workers=1)
    assert fake_expert == [] and out.read_text() == lines[0] + "\n{not json\n" + lines[1] + "\n"
