"""A built wheel works on its own: installed into a fresh virtualenv outside the checkout, it computes
a reward, walks the replay env, lists the shipped environments and configs, and answers `--help`."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from srl_swe.data import DEFAULT_ENVS

REPO = Path(__file__).resolve().parent.parent
CHECK = textwrap.dedent("""
    import json, gymnasium as gym
    import srl_swe
    from srl_swe.baselines import BASELINES
    from srl_swe.rewards import srl_reward
    from srl_swe.scaffold import load_scaffold
    from srl_swe.train.config_io import load_yaml
    expert = "<function=execute_bash>\\n<parameter=command>ls</parameter>\\n</function>"
    rewards = [srl_reward("<think>look</think>" + expert, expert), srl_reward("prose", expert)]
    env = gym.make("srl_swe/Replay-v0")
    obs, info = env.reset(seed=0)
    steps, done = 0, False
    while not done:
        obs, reward, done, _, info = env.step(BASELINES["oracle"](obs, info))
        steps += 1
    print(json.dumps({"rewards": rewards, "steps": steps, "last_reward": reward, "package": srl_swe.__file__,
                      "tools": sorted(load_scaffold("openhands").tools), "demo_stages": load_yaml("demo")["stages"]}))
""")


@pytest.mark.slow
def test_the_wheel_works_from_a_fresh_virtualenv_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
                   check=True, capture_output=True, text=True)
    wheel = next(dist.glob("srl_swe-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("srl_swe/resources/agents/openhands.yaml", "srl_swe/resources/configs/demo.yaml",
                    "srl_swe/resources/configs/accelerate/zero3.yaml", "srl_swe/resources/docker/env/Dockerfile",
                    "srl_swe/resources/envs/toolz.yaml", "srl_swe/resources/envs/tasks/toolz.jsonl",
                    "srl_swe/resources/scripts/ensure_docker.sh", "srl_swe/resources/models/smollm2_chat_template.jinja",
                    "srl_swe/data/default_trajectories.jsonl", "srl_swe/rollout/prompts/repair.yaml"):
        assert shipped in names, f"{shipped} is not in {wheel.name}"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run([str(python), "-c", CHECK], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["rewards"] == [1.0, -1.0] and result["last_reward"] == 1.0 and result["steps"] > 1
    assert str(venv) in result["package"] and str(REPO) not in result["package"]
    assert "execute_bash" in result["tools"] and result["demo_stages"] == ["sft", "srl"]
    cli = venv / "bin" / "srl-swe"
    assert "srl-swe" in subprocess.run([str(cli), "--help"], capture_output=True, text=True, check=True).stdout
    listed = subprocess.run([str(cli), "envs", "list", "--json"], cwd=tmp_path, capture_output=True, text=True, check=True)
    shipped_envs = {path.stem for path in (REPO / "srl_swe" / "resources" / "envs").glob("*.yaml")}
    assert {e["name"] for e in json.loads(listed.stdout)["repositories"]} == shipped_envs >= set(DEFAULT_ENVS)
