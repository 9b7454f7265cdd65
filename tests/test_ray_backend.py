"""The Ray backend on a real local cluster (loopback, 2 CPUs): same results and files as the local backend,
workers killed mid-unit retried with nothing lost, runs resumed across backends, no container left."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from srl_swe.backend import BackendConfig, memory_bytes, run_each
from srl_swe.errors import SRLSweError
from srl_swe.evaluation.engine import EvaluationConfig, evaluate, instance_reports
from srl_swe.sandbox import LABEL_MANAGED
from srl_swe.sandbox.runtime import LABEL_OWNER_PID, _owner_gone

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "srl_swe" / "resources" / "envs" / "tasks" / "inflection.jsonl"
IDS = ["srl-swe__inflection-0001", "srl-swe__inflection-0002"]
HARMLESS = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+applies, fixes nothing\n"
NOT_A_PATCH = "diff --git a/no_such_file.py b/no_such_file.py\n--- a/no_such_file.py\n+++ b/no_such_file.py\n@@ -1 +1 @@\n-x\n+y\n"


@pytest.fixture(scope="module")
def cluster(ray_cluster):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # this module is not importable in workers
    return ray_cluster


RAY = BackendConfig("ray")


def double(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return 2 * x


def die_once(marker: str) -> int:
    """Kills its own worker the first time (as the OOM killer or a lost node would), then returns its pid."""
    if not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def test_backend_config_and_memory_sizes():
    with pytest.raises(SRLSweError, match="unknown backend 'k8s'"):
        BackendConfig("k8s")
    assert memory_bytes("4g") == 4 * 2**30 and memory_bytes("512m") == 512 * 2**20 and memory_bytes("1024") == 1024
    assert memory_bytes("1.5GB") == int(1.5 * 2**30)
    with pytest.raises(SRLSweError, match="not a memory size: 'lots'"):
        memory_bytes("lots")


def test_ray_and_local_give_the_same_results_and_errors(cluster):
    jobs = [(1,), (-2,), (3,)]
    for backend in (BackendConfig(), RAY):
        got = {job: (result, type(error).__name__ if error else None, str(error) if error else None)
               for job, result, error in run_each(double, jobs, backend, workers=2, cpus=1, memory="64m")}
        assert got == {(1,): (2, None, None), (-2,): (None, "ValueError", "negative: -2"), (3,): (6, None, None)}


def test_a_unit_whose_worker_dies_runs_again_in_another(cluster, tmp_path):
    marker = tmp_path / "died"
    [(job, pid, error)] = list(run_each(die_once, [(str(marker),)], RAY, workers=1, memory="64m"))
    assert error is None and pid != int(marker.read_text())  # a new worker finished what the killed one began


def test_a_unit_whose_worker_keeps_dying_is_an_error_not_a_hang(cluster, tmp_path):
    marker = tmp_path / "died"
    [(job, result, error)] = list(run_each(die_once, [(str(marker),)], BackendConfig("ray", max_retries=0),
                                           workers=1, memory="64m"))
    assert result is None and isinstance(error, SRLSweError) and "ray could not finish this unit" in str(error)


# --------------------------------------------------------------------------- evaluation on Ray (Docker)


def _predictions(path: Path, patches: list[str]) -> str:
    path.write_text("".join(json.dumps({"instance_id": iid, "model_name_or_path": "m", "model_patch": patch}) + "\n"
                            for iid, patch in zip(IDS, patches)))
    return str(path)


def _evaluate(tmp: Path, predictions: str, backend: BackendConfig, run_id: str = "r", ids: list[str] = IDS):
    return evaluate(EvaluationConfig(instances=str(TASKS), predictions=predictions, run_id=run_id, output_dir=str(tmp),
                                     instance_ids=ids, workers=2, memory="1g", backend=backend))


def _files(summary) -> dict[str, set[str]]:
    return {folder.name: {path.name for path in folder.iterdir()} for folder in Path(summary.log_dir).glob("*/*")}


def _started_by_ray(labels: dict) -> bool:
    """Whether a container's owner is a Ray worker, or a process that died (a killed worker)."""
    try:
        return b"ray::" in Path(f"/proc/{labels.get(LABEL_OWNER_PID)}/cmdline").read_bytes()
    except OSError:
        return _owner_gone(labels)


def _worker_containers(client) -> list:
    """Managed containers of Ray workers (other processes of the machine may run sandboxes of their own)."""
    return [c for c in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_MANAGED}=true"})
            if _started_by_ray(c.attrs.get("Labels") or {})]


@contextlib.contextmanager
def killing_the_first_worker(client):
    """While the block runs, SIGKILL the first Ray worker seen running a container (mid-unit); yields the pids killed."""
    killed: list[int] = []

    def kill() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for container in _worker_containers(client):
                killed.append(int(container.attrs["Labels"][LABEL_OWNER_PID]))
                os.kill(killed[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        yield killed
    finally:
        killer.join()


def test_evaluation_on_ray_writes_what_the_local_backend_writes(cluster, inflection_tasks, docker_client, tmp_path):
    for name, patches in (("gold", None), ("partial", [HARMLESS, NOT_A_PATCH])):
        predictions = "gold" if patches is None else _predictions(tmp_path / f"{name}.jsonl", patches)
        local = _evaluate(tmp_path / f"{name}-local", predictions, BackendConfig())
        remote = _evaluate(tmp_path / f"{name}-ray", predictions, RAY)
        mine, theirs = local.to_dict(), remote.to_dict()
        for key in ("resolved_ids", "unresolved_ids", "not_applied_ids", "error_ids", "total", "per_repository"):
            assert mine[key] == theirs[key], key
        assert instance_reports(local) == instance_reports(remote)
        assert _files(local) == _files(remote)
    assert mine["unresolved_ids"] == [IDS[0]] and mine["not_applied_ids"] == [IDS[1]]
    assert not _worker_containers(docker_client)


def test_a_worker_killed_mid_instance_is_retried_and_nothing_is_lost(cluster, inflection_tasks, docker_client, tmp_path):
    with killing_the_first_worker(docker_client) as killed:
        summary = _evaluate(tmp_path, "gold", RAY).to_dict()
    assert killed, "no worker container appeared"
    assert summary["resolved_ids"] == IDS and summary["error_ids"] == []
    for iid in IDS:  # one whole set of files each, written once
        report = tmp_path / "logs" / "run_evaluation" / "r" / "gold" / iid / "report.json"
        assert json.loads(report.read_text())[iid]["resolved"] is True
    assert not _worker_containers(docker_client)  # the killed worker's container was removed too


def test_a_run_resumes_across_backends(cluster, inflection_tasks, docker_client, tmp_path):
    first = _evaluate(tmp_path, "gold", BackendConfig(), ids=IDS[:1]).to_dict()
    assert first["evaluated_now"] == 1
    second = _evaluate(tmp_path, "gold", RAY).to_dict()
    assert second["evaluated_now"] == 1 and second["resolved_ids"] == IDS  # the local backend's instance is kept
    third = _evaluate(tmp_path, "gold", BackendConfig()).to_dict()
    assert third["evaluated_now"] == 0 and third["resolved_ids"] == IDS


def test_cli_evaluate_joins_a_running_cluster(cluster, inflection_tasks, tmp_path):
    done = subprocess.run([sys.executable, "-m", "srl_swe.cli", "evaluate", "--instances", str(TASKS), "--run-id", "cli",
                           "--instance-ids", IDS[0], "--output-dir", str(tmp_path), "--backend", "ray",
                           "--ray-address", cluster, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["resolved_ids"] == [IDS[0]]


def test_cli_refuses_an_address_without_the_ray_backend(capsys):
    from srl_swe.cli import main

    assert main(["evaluate", "--instances", str(TASKS), "--run-id", "x", "--ray-address", "127.0.0.1:1"]) != 0
    assert "--ray-address needs the ray backend" in capsys.readouterr().err


def _log_layout(work_dir: Path, run_ids: dict[str, str]) -> set[tuple[str, ...]]:
    """(mode, model, instance, file) of every harness log under a validation's work dir."""
    root = work_dir / "logs" / "run_evaluation"
    return {(run_ids[path.relative_to(root).parts[0]],) + path.relative_to(root).parts[1:]
            for path in root.rglob("*") if path.is_file()}


def test_validation_on_ray_gives_the_local_verdicts_and_logs(cluster, inflection_tasks, docker_client, tmp_path):
    from srl_swe.tasks.validate import validate_env

    reports = {name: validate_env("inflection", instance_ids=IDS, work_dir=tmp_path / name, modes=("gold", "no-patch"),
                                  backend=backend) for name, backend in (("local", BackendConfig()), ("ray", RAY))}
    assert reports["local"].ok and reports["ray"].ok
    for mode in ("gold", "no-patch"):
        mine, theirs = reports["local"].runs[mode], reports["ray"].runs[mode]
        assert (mine.resolved, mine.unresolved, mine.errors, mine.mismatches) == \
               (theirs.resolved, theirs.unresolved, theirs.errors, theirs.mismatches)
    assert reports["ray"].runs["gold"].resolved == IDS and reports["ray"].runs["no-patch"].unresolved == IDS
    layouts = [_log_layout(report.work_dir, {run.run_id: mode for mode, run in report.runs.items()})
               for report in reports.values()]
    assert layouts[0] == layouts[1] and ("gold", "gold", IDS[0], "report.json") in layouts[0]
    assert not _worker_containers(docker_client)


def test_recording_on_ray_matches_the_local_recording(cluster, inflection_tasks, docker_client, tmp_path):
    from srl_swe.agent.recorder import record_trajectories
    from srl_swe.trajectory import load_trajectories

    rows = inflection_tasks[:1]
    for name, backend in (("local", BackendConfig()), ("ray", RAY)):
        summary = record_trajectories(rows, tmp_path / f"{name}.jsonl", workers=1, backend=backend)
        assert summary["recorded"] == 1 and summary["failed"] == []
    [mine], [theirs] = (load_trajectories(tmp_path / f"{name}.jsonl").trajectories for name in ("local", "ray"))
    assert [turn.action for turn in mine.turns] == [turn.action for turn in theirs.turns] and mine.turns
    assert mine.metadata["resolved"] and theirs.metadata["resolved"] and mine.metadata["patch"] == theirs.metadata["patch"]
    assert not _worker_containers(docker_client)


# --------------------------------------------------------------------------- live episodes on Ray


def test_agentic_rollouts_on_ray_give_the_local_predictions(cluster, inflection_tasks, docker_client, tmp_path):
    from helpers import read_jsonl

    from srl_swe.rollout import OraclePolicy, RolloutConfig, run_rollout

    rows = inflection_tasks
    summary = run_rollout(rows, OraclePolicy(rows), RolloutConfig(mode="agentic", backend=RAY), tmp_path / "p.jsonl",
                          batch_size=2, progress=False)
    assert (summary.written, summary.failed) == (2, [])
    assert {p["instance_id"]: p["model_patch"] for p in read_jsonl(tmp_path / "p.jsonl")} == \
           {r["instance_id"]: r["patch"] for r in rows}  # the expert's edits, diffed by git on the actor's node
    assert not _worker_containers(docker_client)


def test_a_graded_live_episode_in_an_actor_resolves_and_a_dead_actor_is_an_infra_error(cluster, inflection_tasks,
                                                                                        docker_client):
    from srl_swe.agent.recorder import record_episode
    from srl_swe.agent.scripted_expert import ScriptedExpert
    from srl_swe.gym.live import SWEEnv
    from srl_swe.gym.remote import open_env

    task = inflection_tasks[0]
    env = open_env(SWEEnv, RAY, task=task)
    try:
        episode = record_episode(env, ScriptedExpert(task).actions())  # what RLVR runs: graded on the actor's node
    finally:
        env.close()
    assert episode.reward == 1.0 and episode.info["resolved"] and episode.info["reward_valid"]

    env = open_env(SWEEnv, RAY, task=task)
    try:
        env.reset()
        [container] = [c for c in _worker_containers(docker_client)]
        os.kill(int(container.attrs["Labels"][LABEL_OWNER_PID]), signal.SIGKILL)
        _, reward, terminated, _, info = env.step('<function=execute_bash>\n<parameter=command>ls</parameter>\n</function>')
    finally:
        env.close()
    assert terminated and reward == 0.0 and info["reward_valid"] is False and "died" in info["infra_error"]
    assert not _worker_containers(docker_client)


def test_a_node_without_the_task_image_builds_it_before_grading(cluster, inflection_tasks, docker_client, tmp_path):
    image = inflection_tasks[1]["image"]
    docker_client.images.remove(image, force=True)
    summary = _evaluate(tmp_path, "gold", RAY, ids=IDS[1:]).to_dict()
    assert summary["resolved_ids"] == IDS[1:] and summary["missing_image_ids"] == []
    assert docker_client.images.get(image)


def test_synthesis_with_ray_workers_keeps_the_local_tasks(cluster, inflection_tasks, docker_client, tmp_path):
    """Same seed and candidates: checks in actors on the cluster (with the driver's baseline and line map) keep the
    same tasks, in the same order, as local workers."""
    from srl_swe.registry import load_env
    from srl_swe.tasks.synthesize import SynthesisConfig, Synthesizer

    kept = {}
    for name, backend in (("local", BackendConfig()), ("ray", RAY)):
        config = SynthesisConfig(max_tasks=50, seed=3, repeats=2, max_candidates=6, workers=2, use_cache=False,
                                 cache_dir=tmp_path / name, backend=backend)
        synth = Synthesizer(load_env("inflection"), config, tasks_path=tmp_path / f"{name}.jsonl")
        report = synth.run()
        assert report.tried == 6 and not report.rejected.get("error"), report.to_dict()
        kept[name] = [(row["mutation"]["id"], row["FAIL_TO_PASS"], row["PASS_TO_PASS"], row["base_commit"])
                      for row in synth.rows]
    assert kept["ray"] == kept["local"] and kept["local"]
    assert not _worker_containers(docker_client)


def test_an_agentic_episode_whose_worker_is_killed_starts_again_in_a_new_actor(cluster, inflection_tasks, docker_client,
                                                                                tmp_path):
    from helpers import read_jsonl

    from srl_swe.rollout import OraclePolicy, RolloutConfig, run_rollout

    rows = inflection_tasks[:1]
    with killing_the_first_worker(docker_client) as killed:
        summary = run_rollout(rows, OraclePolicy(rows), RolloutConfig(mode="agentic", backend=RAY), tmp_path / "p.jsonl",
                              progress=False)
    assert killed and (summary.written, summary.failed) == (1, [])
    assert read_jsonl(tmp_path / "p.jsonl")[0]["model_patch"] == rows[0]["patch"]
    assert not _worker_containers(docker_client)
