"""The line map synthesis screens with: the real pytest plugin run here (no sandbox), its JSON, and the time a
screen of a few tests is given before it counts as a timeout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from srl_swe.registry import load_env
from srl_swe.resources import resource
from srl_swe.tasks import line_map
from srl_swe.tasks.synthesize import SynthesisConfig, Synthesizer

PROJECT = {
    "mod.py": "import time\n\nTABLE = {'a': 1}\n\n\ndef slow(x):\n    time.sleep(0.2)\n    return x + 1\n\n\n"
              "def fast(x):\n    return x * 2\n",
    "test_mod.py": "from mod import fast, slow\n\n\ndef test_slow():\n    assert slow(1) == 2\n\n\n"
                   "def test_fast():\n    assert fast(2) == 4\n",
}


def measure(tmp_path: Path, project: dict[str, str] = PROJECT) -> line_map.LineMap:
    for name, text in project.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(resource("synthesis")), "SRL_SWE_LINE_MAP": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_line_map"],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([sys.executable, str(resource("synthesis", "dump_line_map.py")), str(tmp_path / "data"),
                    str(tmp_path / "map.json")], cwd=tmp_path, env=env, check=True, timeout=120)
    return line_map.parse((tmp_path / "map.json").read_text())


def test_the_plugin_maps_lines_to_tests_and_times_each_test(tmp_path):
    measured = measure(tmp_path)
    assert sorted(measured.tests) == ["test_mod.py::test_fast", "test_mod.py::test_slow"]
    assert measured.tests_reaching("mod.py", 7, 8) == {"test_mod.py::test_slow"}
    assert measured.tests_reaching("mod.py", 3, 3) is None  # module level: runs at import, reaches every test
    assert measured.seconds["test_mod.py::test_slow"] >= 0.2 > measured.seconds["test_mod.py::test_fast"]
    again = line_map.LineMap.from_json(json.loads(json.dumps(measured.to_json())))
    assert again == measured


def test_the_projects_coverage_settings_and_warnings_as_errors_do_not_stop_the_map(tmp_path):
    """python-slugify: its coverage `source` names a module never imported, and `filterwarnings = error` made
    coverage's warning about it end the measured run before the map was saved."""
    strict = {**PROJECT, "pyproject.toml": '[tool.coverage.run]\nsource = ["mod", "absent"]\n\n'
                                           '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'}
    assert measure(tmp_path, strict).tests_reaching("mod.py", 12, 12) == {"test_mod.py::test_fast"}


def test_a_map_cached_before_timings_were_kept_times_nothing(tmp_path):
    data = measure(tmp_path).to_json()
    del data["seconds"]
    old = line_map.LineMap.from_json(data)
    assert old.seconds_of({"test_mod.py::test_fast"}) is None
    assert old.tests_reaching("mod.py", 12, 12) == {"test_mod.py::test_fast"}


def test_a_screen_may_run_five_times_its_tests_and_pytests_start(tmp_path):
    synth = Synthesizer(load_env("inflection"), SynthesisConfig(), tasks_path=tmp_path / "t.jsonl")
    synth.line_map = line_map.LineMap(["a", "b"], {}, {"a": 0.5, "b": 30.0})
    synth.collect_seconds = 1.5
    bench = SimpleNamespace(timeout=100.0)
    assert synth._limit(bench, {"a"}) == 5 * (1.5 + 0.5) + 10
    assert synth._limit(bench, {"a", "b"}) == 100.0  # never more than a run of the whole suite may take
    synth.line_map.seconds.pop("a")
    assert synth._limit(bench, {"a"}) == 100.0  # an untimed test: the suite's limit
    synth.config.test_timeout = 7.0
    synth.line_map.seconds["a"] = 0.5
    assert synth._limit(bench, {"a"}) == 100.0  # a fixed limit is the user's: the bench already holds it
