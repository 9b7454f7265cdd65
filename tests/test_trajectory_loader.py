"""Loader behaviour: canonical round trip, parquet, bad input, skip_invalid, the Hub path."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from srl_swe.errors import InvalidRecordError, SRLSweError, UnknownFormatError
from srl_swe.trajectory import LoadResult, Task, ToolCall, Trajectory, Turn, load_trajectories, write_jsonl

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trajectories"
#: the trajectory files below FIXTURES (not its README nor mini-swe-agent's preds.json), as paths relative to it
TRAJECTORY_FIXTURES = sorted(
    str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.suffix in (".json", ".jsonl", ".traj") and p.name != "preds.json"
)


@pytest.fixture(scope="module")
def gym_records(shared_data):
    return json.loads((shared_data / "trajectories" / "swe-gym-openhands-sampled.json").read_text())


def _write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def _write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


# --------------------------------------------------------------------------- canonical JSONL


@pytest.mark.parametrize("name", TRAJECTORY_FIXTURES)
def test_canonical_round_trip_fixtures(tmp_path, name):
    _assert_round_trip(tmp_path, FIXTURES / name)


@pytest.mark.parametrize("name", ["swe-gym-openhands-sampled.json", "swe-play-openhands-xml.json"])
def test_canonical_round_trip_real_samples(tmp_path, shared_data, name):
    _assert_round_trip(tmp_path, shared_data / "trajectories" / name)


def _assert_round_trip(tmp_path: Path, source: Path) -> None:
    first = load_trajectories(source)
    out = tmp_path / "canonical" / "out.jsonl"
    write_jsonl(first.trajectories, out)
    assert len(out.read_text().splitlines()) == len(first)
    again = load_trajectories(out)
    assert again.format == "canonical"
    assert again.trajectories == first.trajectories
    assert [t.source_format for t in again] == [t.source_format for t in first]
    # and once more: canonical -> canonical is byte-identical
    out2 = tmp_path / "again.jsonl"
    write_jsonl(again, out2)
    assert out2.read_text() == out.read_text()


def test_write_jsonl_one_to_dict_per_line(tmp_path):
    traj = Trajectory(
        id="t1",
        task=Task(id="a__b-1", problem_statement="Fix it", repo="a/b"),
        turns=[Turn("look", ToolCall("execute_bash", {"command": "ls"}), "x.py"), Turn("done", None, None)],
        source_format="openhands_fc",
        metadata={"resolved": True},
    )
    path = tmp_path / "t.jsonl"
    write_jsonl([traj], path)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [traj.to_dict()]
    assert load_trajectories(path).trajectories == [traj]


# --------------------------------------------------------------------------- parquet


def test_parquet_input_matches_json(tmp_path, shared_data):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    source = shared_data / "trajectories" / "swe-play-openhands-xml.json"
    records = json.loads(source.read_text())
    path = tmp_path / "swe_play.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    from_parquet = load_trajectories(path)
    assert from_parquet.format == "openhands_text"
    assert from_parquet.trajectories == load_trajectories(source).trajectories


def test_parquet_tool_calls(tmp_path, gym_records):
    """SWE-Gym as a parquet table: tool_calls become struct columns with null-filled keys."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{k: v for k, v in r.items() if k not in ("tools", "test_result")} for r in gym_records]
    gym = tmp_path / "gym.parquet"
    pq.write_table(pa.Table.from_pylist(rows), gym)
    expected = load_trajectories(_write_json(tmp_path / "gym.json", rows)).trajectories
    assert load_trajectories(gym).trajectories == expected


def test_parquet_json_string_messages(tmp_path):
    """SWE-smith-trajectories' parquet stores `messages` as a JSON string."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    smith_rows = [json.loads(line) for line in (FIXTURES / "swe_smith_text.jsonl").read_text().splitlines()]
    for row in smith_rows:
        if not isinstance(row["messages"], str):
            row["messages"] = json.dumps(row["messages"])
    smith = tmp_path / "smith.parquet"
    pq.write_table(pa.Table.from_pylist(smith_rows), smith)
    result = load_trajectories(smith)
    assert result.format == "swe_smith_text"
    assert result.trajectories == load_trajectories(FIXTURES / "swe_smith_text.jsonl").trajectories


# --------------------------------------------------------------------------- bad input


def _fc_record(**overrides):
    record = {
        "instance_id": "octo__widgets-12_0",
        "messages": [
            {"role": "system", "content": "You are an agent."},
            {"role": "user", "content": "<pr_description>\nWidgets break.\n</pr_description>"},
            {
                "role": "assistant",
                "content": "Look around.",
                "tool_calls": [{"id": "c1", "function": {"name": "execute_bash", "arguments": '{"command": "ls"}'}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "OBSERVATION:\nwidgets.py"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c2", "function": {"name": "finish", "arguments": "{}"}}]},
        ],
    }
    record.update(overrides)
    return record


def _broken_args():
    record = _fc_record()
    record["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"command": "ls"'
    return record


def _orphan_tool_message():
    record = _fc_record()
    record["messages"].insert(4, {"role": "tool", "tool_call_id": "c9", "content": "OBSERVATION:\nextra"})
    return record


def _check(exc: InvalidRecordError, path: Path, record, field):
    assert exc.source == str(path) and exc.record == record and exc.field == field
    message = str(exc)
    assert str(path) in message and f"record {record}" in message
    if field:
        assert repr(field) in message


@pytest.mark.parametrize(
    "record, field, reason",
    [
        (_broken_args(), "messages[2].tool_calls[0].function.arguments", "not valid JSON"),
        (_fc_record(messages=None), "messages", "unknown shape"),
        ({k: v for k, v in _fc_record().items() if k != "messages"}, "messages", "unknown shape"),
        ({"foo": 1, "bar": [1]}, "messages", "unknown shape"),
        (_orphan_tool_message(), "messages[4].tool_call_id", "answers no tool call"),
        (_fc_record(messages=[{"role": "user", "content": "hi"}, {"content": "no role"}]), "messages[1].role", "missing"),
        (_fc_record(messages='[{"role": "user", "content": "x"'), "messages", "not valid JSON"),
    ],
)
def test_bad_openhands_fc_records_name_file_record_and_field(tmp_path, record, field, reason):
    path = _write_json(tmp_path / "bad.json", [_fc_record(), record])
    with pytest.raises(InvalidRecordError, match=reason) as info:
        load_trajectories(path)
    _check(info.value, path, 1, field)


def test_bad_text_and_sharegpt_records(tmp_path):
    smith = json.loads((FIXTURES / "swe_smith_text.jsonl").read_text().splitlines()[1])
    smith["messages"][0]["role"] = "narrator"
    path = _write_jsonl(tmp_path / "smith.jsonl", [smith])
    with pytest.raises(InvalidRecordError, match="unknown role") as info:
        load_trajectories(path, format="swe_smith_text")
    _check(info.value, path, 0, "messages[0].role")

    conv = [
        {"from": "human", "value": "Fix the widget."},
        {"from": "gpt", "value": "ok"},
        {"from": "gpt", "value": 'Run it.\n<tool_call>{"name": "bash", "arguments": {"command": </tool_call>'},
    ]
    path = _write_json(tmp_path / "sg.json", [{"conversations": conv[:2]}, {"conversations": conv}])
    with pytest.raises(InvalidRecordError, match="<tool_call> block is not valid JSON") as info:
        load_trajectories(path)
    _check(info.value, path, 1, "conversations[2].value")


def test_bad_swe_agent_action(tmp_path):
    traj = json.loads((FIXTURES / "marshmallow-code__marshmallow-1867.traj").read_text())
    traj["trajectory"][1]["action"] = "str_replace_editor view /testbed/a.py --colour red"
    path = _write_json(tmp_path / "x.traj", traj)
    with pytest.raises(InvalidRecordError, match="unexpected str_replace_editor argument '--colour'") as info:
        load_trajectories(path)
    _check(info.value, path, 0, "trajectory[1].action")
    traj["trajectory"][1]["action"] = "str_replace_editor create /testbed/a.py --file_text 'unclosed"
    with pytest.raises(InvalidRecordError, match="cannot split") as info:
        load_trajectories(_write_json(path, traj))
    _check(info.value, path, 0, "trajectory[1].action")


@pytest.mark.parametrize(
    "mutate, field, reason",
    [
        (lambda r: r["turns"][0].update(action={"name": "execute_bash", "arguments": ["ls"]}), "turns[0].action.arguments", "JSON object"),
        (lambda r: r["task"].pop("problem_statement"), "task.problem_statement", "must be a string"),
        (lambda r: r["turns"][1].update(observation=3), "turns[1].observation", "string or null"),
        (lambda r: r["turns"][0].update(actoin=None), "turns[0]", "unknown key"),
        (lambda r: r.update(turns={"a": 1}), "turns", "must be a list"),
        (lambda r: r["turns"][0]["action"].update(name=None), "turns[0].action.name", "tool name"),
    ],
)
def test_bad_canonical_records(tmp_path, mutate, field, reason):
    good = load_trajectories(FIXTURES / "openhands_fc.json").trajectories[0].to_dict()
    bad = copy.deepcopy(good)
    mutate(bad)
    path = _write_jsonl(tmp_path / "c.jsonl", [good, bad])
    with pytest.raises(InvalidRecordError, match=reason) as info:
        load_trajectories(path)
    _check(info.value, path, 1, field)


def test_malformed_jsonl_line_names_record_and_line(tmp_path):
    good = json.dumps(_fc_record())
    path = _write_jsonl(tmp_path / "t.jsonl", [good, "", '{"messages": [', good])
    with pytest.raises(InvalidRecordError, match=r"line 3: not valid JSON") as info:
        load_trajectories(path)
    _check(info.value, path, 1, None)


def test_malformed_json_file_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"messages": []},\n  {"messages": [}\n]\n')
    with pytest.raises(InvalidRecordError, match=r"not valid JSON: .*line 3 column 17") as info:
        load_trajectories(path, skip_invalid=True)  # a whole-file error cannot be skipped
    assert str(path) in str(info.value) and info.value.record is None


def test_non_object_record(tmp_path):
    path = _write_json(tmp_path / "t.json", [_fc_record(), 42])
    with pytest.raises(InvalidRecordError, match="record is a JSON number") as info:
        load_trajectories(path)
    _check(info.value, path, 1, None)


def test_unknown_format_names_the_file(tmp_path):
    path = _write_jsonl(tmp_path / "mystery.jsonl", [{"question": "2+2", "answer": "4"}])
    with pytest.raises(UnknownFormatError, match="mystery.jsonl: no known trajectory format") as info:
        load_trajectories(path)
    assert "answer, question" in str(info.value)
    with pytest.raises(UnknownFormatError, match="unknown format 'xml'"):
        load_trajectories(FIXTURES / "sharegpt.json", format="xml")
    with pytest.raises(UnknownFormatError, match="cannot read files ending in '.csv'"):
        load_trajectories(_write_json(tmp_path / "t.csv", []))
    with pytest.raises(SRLSweError, match="no such file"):
        load_trajectories(tmp_path / "missing.jsonl")


def test_skip_invalid_collects_and_continues(tmp_path):
    records = [
        json.dumps({"foo": 1}),  # unknown shape before the first valid record
        json.dumps(_fc_record()),
        '{"messages": [',  # malformed line
        json.dumps(_broken_args()),
        json.dumps(_fc_record(instance_id="octo__widgets-13_1")),
    ]
    path = _write_jsonl(tmp_path / "mixed.jsonl", records)
    with pytest.raises(InvalidRecordError) as info:
        load_trajectories(path)
    assert info.value.record == 0
    result = load_trajectories(path, skip_invalid=True)
    assert isinstance(result, LoadResult) and result.format == "openhands_fc" and result.source == str(path)
    assert [t.id for t in result] == ["octo__widgets-12_0", "octo__widgets-13_1"]
    assert [(e.record, e.field) for e in result.invalid] == [
        (0, "messages"),
        (2, None),
        (3, "messages[2].tool_calls[0].function.arguments"),
    ]


def test_a_file_that_holds_nothing_is_an_error_not_zero_trajectories(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(InvalidRecordError, match="empty.jsonl: empty file"):
        load_trajectories(path)


def test_bytes_that_are_not_utf8_and_json_nested_too_deeply_name_their_place(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'\n{"a": "\xff"}\n')
    with pytest.raises(InvalidRecordError, match=r"bad.jsonl, record 0: line 2: not UTF-8 text: byte 0xff"):
        load_trajectories(bad)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidRecordError, match="deep.json: not readable as JSON: nested too deeply"):
        load_trajectories(deep)


# --------------------------------------------------------------------------- directories of run outputs


def _run_dir(tmp_path: Path) -> Path:
    """A run directory as the agents leave it: trajectories beside files that hold none."""
    run = tmp_path / "run"
    (run / "marshmallow-code__marshmallow-1867").mkdir(parents=True)
    (run / "marshmallow-code__marshmallow-1867" / "marshmallow-code__marshmallow-1867.traj").write_text(
        (FIXTURES / "marshmallow-code__marshmallow-1867.traj").read_text())
    (run / "octo__widgets-12.traj").write_text("")  # a run killed before its first save
    (run / "empty.jsonl").write_text("")
    (run / "preds.json").write_text(json.dumps({"marshmallow-code__marshmallow-1867": {"model_name_or_path": "m", "model_patch": ""}}))
    (run / "metadata.json").write_text(json.dumps({"agent_class": "CodeActAgent", "max_iterations": 100}))
    _write_jsonl(run / "output.jsonl", [_fc_record()])
    return run


def test_directory_load_skips_files_that_hold_no_trajectories(tmp_path):
    run = _run_dir(tmp_path)
    for skip_invalid in (False, True):
        result = load_trajectories(run, skip_invalid=skip_invalid)
        assert sorted(t.id for t in result) == ["marshmallow-code__marshmallow-1867", "octo__widgets-12_0"] and result.invalid == []
        assert result.format == "mixed:openhands_fc,swe_agent_traj"
        reasons = {Path(s.path).name: s.reason for s in result.skipped}
        assert sorted(reasons) == ["empty.jsonl", "metadata.json", "octo__widgets-12.traj", "preds.json"]
        assert reasons["empty.jsonl"] == reasons["octo__widgets-12.traj"] == "empty file"
        assert "no known trajectory format recognises its records" in reasons["preds.json"]
    assert [t.id for t in load_trajectories(f"{run}/**/*.traj")] == ["marshmallow-code__marshmallow-1867"]


def test_directory_load_with_a_malformed_file(tmp_path):
    """A file that is not JSON is bad input, not a skipped file: an error, or with skip_invalid one invalid entry."""
    run = _run_dir(tmp_path)
    (run / "broken.json").write_text('{"messages": [')
    with pytest.raises(InvalidRecordError, match="not valid JSON"):
        load_trajectories(run)
    result = load_trajectories(run, skip_invalid=True)
    assert len(result) == 2 and [(e.source, e.record) for e in result.invalid] == [(str(run / "broken.json"), None)]


def test_an_empty_file_given_alone_is_an_error(tmp_path):
    path = tmp_path / "x.traj"
    path.write_text("")
    with pytest.raises(InvalidRecordError, match="empty file") as info:
        load_trajectories(path, skip_invalid=True)
    assert info.value.source == str(path)


# --------------------------------------------------------------------------- details


def test_ids_default_to_file_and_index(tmp_path):
    conv = [{"from": "human", "value": "Fix it."}, {"from": "gpt", "value": "<function=bash><parameter=command>ls</parameter></function>"}]
    path = _write_jsonl(tmp_path / "runs.jsonl", [{"conversations": conv}, {"conversations": conv}])
    assert [t.id for t in load_trajectories(path)] == ["runs-0", "runs-1"]
    traj = json.loads((FIXTURES / "marshmallow-code__marshmallow-1867.traj").read_text())
    del traj["replay_config"]
    assert load_trajectories(_write_json(tmp_path / "django__django-11099.traj", traj)).trajectories[0].id == "django__django-11099"


def test_scaffold_argument_accepts_name_and_object():
    from srl_swe.scaffold import load_scaffold

    by_name = load_trajectories(FIXTURES / "sharegpt.json", scaffold="openhands")
    by_object = load_trajectories(FIXTURES / "sharegpt.json", scaffold=load_scaffold("openhands"))
    assert by_name.trajectories == by_object.trajectories


def test_hub_dataset_name_goes_to_datasets(monkeypatch):
    """A source that is no local path is a Hugging Face dataset: `load_dataset(name, split=split)`.

    No network here, so `datasets.load_dataset` is replaced by a stand-in returning rows.
    """
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in (FIXTURES / "swe_smith_text.jsonl").read_text().splitlines()]
    calls = []

    def fake_load_dataset(name, split):
        calls.append((name, split))
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    result = load_trajectories("SWE-bench/SWE-smith-trajectories", split="xml", progress=False)
    assert calls == [("SWE-bench/SWE-smith-trajectories", "xml")]
    assert result.format == "swe_smith_text" and len(result) == 2
    rows.append({"messages": "[", "instance_id": "x"})
    result = load_trajectories("SWE-bench/SWE-smith-trajectories", split="xml", skip_invalid=True, progress=False)
    assert len(result.invalid) == 1 and "SWE-bench/SWE-smith-trajectories[xml], record 2" in str(result.invalid[0])


@pytest.mark.parametrize("first", ["srl_swe.actions", "srl_swe.trajectory", "srl_swe.steps"])
def test_import_order_has_no_cycle(first):
    code = f"import {first}; from srl_swe.trajectory import FORMATS, load_trajectories; print(len(FORMATS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "9"
