"""The `srl-swe` command line: stable JSON, conversions, errors naming file and record."""
import json
import subprocess
import sys


from srl_swe.cli import main
from srl_swe.data import default_dataset_path
from srl_swe.trajectory import load_trajectories


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_json_counts_the_file(capsys):
    code, out, _ = run(capsys, "data", "stats", str(default_dataset_path()), "--json")
    stats = json.loads(out)
    trajectories = load_trajectories(default_dataset_path()).trajectories
    assert code == 0
    assert stats["trajectories"] == len(trajectories)
    assert stats["steps"] == sum(len(t.actions) for t in trajectories)
    assert sum(stats["tools"].values()) == stats["steps"] and stats["invalid"] == 0
    assert {"source", "format", "message_turns", "steps_per_trajectory"} <= set(stats)


def test_stats_on_the_swe_gym_sample(capsys, shared_data):
    path = shared_data / "trajectories" / "swe-gym-openhands-sampled.json"
    raw = json.loads(path.read_text())
    expected_steps = sum(len(m.get("tool_calls") or []) for r in raw for m in r["messages"] if m["role"] == "assistant")
    code, out, _ = run(capsys, "data", "stats", str(path), "--json")
    stats = json.loads(out)
    assert (stats["trajectories"], stats["steps"], stats["format"]) == (len(raw), expected_steps, "openhands_fc")


def test_convert_then_steps(capsys, tmp_path, shared_data):
    src = shared_data / "trajectories" / "swe-play-openhands-xml.json"
    out = tmp_path / "canon.jsonl"
    assert run(capsys, "data", "convert", str(src), "--out", str(out))[0] == 0
    assert load_trajectories(out).trajectories == load_trajectories(src).trajectories
    steps_out = tmp_path / "steps.jsonl"
    assert run(capsys, "data", "steps", str(out), "--out", str(steps_out), "--context", "full")[0] == 0
    rows = [json.loads(line) for line in steps_out.read_text().splitlines()]
    assert len(rows) == sum(len(t.actions) for t in load_trajectories(out).trajectories)
    assert {"trajectory_id", "step_index", "tool_name", "prompt", "expert_action"} <= set(rows[0])
    code, out, _ = run(capsys, "data", "steps", str(out), "--out", str(steps_out), "--context", "full", "--json")
    assert code == 0 and json.loads(out)["steps"] == len(rows)
    code, out, _ = run(capsys, "data", "convert", str(src), "--out", str(tmp_path / "again.jsonl"), "--json")
    assert code == 0 and json.loads(out)["trajectories"] == len(load_trajectories(src).trajectories)


def test_bad_input_names_file_record_and_field(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = json.loads(default_dataset_path().read_text().splitlines()[0])
    broken = dict(good)
    del broken["task"]
    bad.write_text(json.dumps(good) + "\n" + json.dumps(broken) + "\n")
    code, _, err = run(capsys, "data", "stats", str(bad), "--json")
    assert code == 2 and "bad.jsonl" in err and "record 1" in err and "task" in err
    code, out, err = run(capsys, "data", "stats", str(bad), "--json", "--skip-invalid")
    assert code == 0 and json.loads(out)["invalid"] == 1 and json.loads(out)["trajectories"] == 1


def test_envs_list_json(capsys):
    code, out, _ = run(capsys, "envs", "list", "--json")
    assert code == 0 and "srl_swe/Replay-v0" in [e["id"] for e in json.loads(out)["gymnasium"]]


def test_console_script_runs_the_demo():
    result = subprocess.run([sys.executable, "-m", "srl_swe.cli", "replay", "--policy", "oracle"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "mean step reward 1.000" in result.stdout


def test_replay_json_reports_every_step(capsys):
    code, out, _ = run(capsys, "replay", "--policy", "oracle", "--data", "srl-swe:synthetic", "--json")
    data = json.loads(out)
    assert code == 0 and data["trajectories"] == 6 and data["mean_reward"] == 1.0
    assert len(data["rows"]) == data["steps"] and all(r["format_ok"] and r["reward"] == 1.0 for r in data["rows"])


def test_embedded_datasets_have_names(capsys):
    code, out, _ = run(capsys, "data", "stats", "srl-swe:synthetic", "--json")
    assert code == 0 and json.loads(out)["trajectories"] == 6
    code, _, err = run(capsys, "data", "stats", "srl-swe:nope", "--json")
    assert code == 2 and "srl-swe:default" in err
