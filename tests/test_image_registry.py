"""Images across machines, against a real registry on loopback: push and pull keep the image whole, runs pull what
their node lacks from a configured registry (locally and in Ray units), and failures name the next command."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from srl_swe import images
from srl_swe.backend import BackendConfig
from srl_swe.cli import main
from srl_swe.errors import SRLSweError
from srl_swe.evaluation.engine import EvaluationConfig, ensure_images, evaluate
from srl_swe.image_registry import REGISTRY_ENV, pull_image, pull_missing, push_image

TASKS = Path(__file__).resolve().parent.parent / "srl_swe" / "resources" / "envs" / "tasks" / "inflection.jsonl"


def _manifest_gets(log, image: str) -> int:
    """How often the registry served a manifest of ``image``'s repository (its access log; a pull asks for the tag
    with HEAD, then GETs the manifest by digest)."""
    return log.read_text().count(f'"GET /v2/{image.rsplit(":", 1)[0]}/manifests/')


def _manifest_gets_reach(log, image: str, expected: int, wait_s: float = 30) -> int:
    """The count of ``_manifest_gets`` once it reaches ``expected`` or ``wait_s`` passes: the registry writes a
    request's access-log line after it has answered, so the client can finish before the line is there."""
    deadline = time.monotonic() + wait_s
    while (count := _manifest_gets(log, image)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


@pytest.fixture
def task_image(inflection_tasks, docker_client):
    """The second inflection task's image, pushed to the registry by the test that uses it."""
    return inflection_tasks[1]["image"]


def test_push_then_pull_gives_back_the_same_image_under_its_own_name(registry_server, task_image, docker_client):
    registry, _ = registry_server
    built = docker_client.images.get(task_image)
    push_image(task_image, registry, docker_client)
    docker_client.images.remove(task_image)
    pull_image(task_image, registry, docker_client)
    pulled = docker_client.images.get(task_image)
    assert pulled.id == built.id and pulled.labels == built.labels
    assert pulled.tags == [task_image]  # the registry's transfer tag is gone again
    assert not any(registry in tag for image in docker_client.images.list() for tag in image.tags)


def test_a_configured_registry_is_asked_before_anything_is_built(registry_server, inflection_tasks, docker_client,
                                                                  monkeypatch):
    registry, log = registry_server
    row = inflection_tasks[1]
    push_image(row["image"], registry, docker_client)
    docker_client.images.remove(row["image"])
    monkeypatch.setenv(REGISTRY_ENV, registry)
    monkeypatch.setattr(images, "build_tasks", lambda *a, **k: pytest.fail("built instead of pulled"))
    served = _manifest_gets(log, row["image"])
    assert ensure_images([row], client=docker_client) == {}
    assert images.image_exists(row["image"], docker_client)
    assert _manifest_gets_reach(log, row["image"], served + 1) == served + 1


def test_an_image_the_registry_lacks_is_reported_and_then_built(registry_server, inflection_tasks, docker_client):
    registry, _ = registry_server
    missing = "srl-swe/task.inflection:no-such-task"
    failed = pull_missing([missing, inflection_tasks[0]["image"]], docker_client, registry)
    assert list(failed) == [missing] and "pulling srl-swe/task.inflection:no-such-task" in failed[missing]


def test_ray_units_pull_what_their_node_lacks_from_the_registry(registry_server, ray_cluster, inflection_tasks,
                                                                 docker_client, tmp_path):
    registry, log = registry_server
    row = inflection_tasks[1]
    push_image(row["image"], registry, docker_client)
    docker_client.images.remove(row["image"])
    served = _manifest_gets(log, row["image"])
    summary = evaluate(EvaluationConfig(instances=str(TASKS),
                                        instance_ids=[row["instance_id"]], run_id="reg", output_dir=str(tmp_path),
                                        backend=BackendConfig("ray", registry=registry))).to_dict()
    assert summary["resolved_ids"] == [row["instance_id"]]
    assert _manifest_gets_reach(log, row["image"], served + 1) == served + 1  # pulled on the node, not rebuilt there


def test_cli_push_and_pull_report_in_json_and_name_what_to_build(registry_server, docker_client, capsys):
    registry, _ = registry_server
    assert main(["images", "push", "--registry", registry, "--env", "inflection", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"registry": registry, "images": 1, "failed": []}
    assert main(["images", "pull", "--registry", registry, "--env", "inflection", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["failed"] == []
    assert main(["images", "push", "--registry", registry, "--image", "srl-swe/task.inflection:nope"]) == 2
    err = capsys.readouterr().err
    assert "cannot push srl-swe/task.inflection:nope: it is not here" in err and "srl-swe envs build inflection --tasks" in err


def test_push_to_a_registry_that_does_not_answer_is_a_clear_error(docker_client, inflection_tasks):
    with pytest.raises(SRLSweError, match="pushing srl-swe/env.inflection:latest to 127.0.0.1:9"):
        push_image("srl-swe/env.inflection:latest", "127.0.0.1:9", docker_client)
