"""What an agent can do wrong inside the sandbox, and how the sandbox survives it.

Each hazard runs INSIDE a container: a fork bomb, an endless loop, 100 MB of output, `rm -rf /`,
a process that ignores SIGTERM, a command that reads stdin, a runner killed with SIGKILL (its
container is an orphan that :func:`reap` removes) or SIGTERM (its container goes at once).
After each, the agent gets a clean observation and the sandbox (or a fresh one) still works.
"""
from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_swe.sandbox import DEFAULT_IMAGE, LABEL_MANAGED, Sandbox, SandboxConfig, reap
from srl_swe.sandbox.engines import engine_name
from srl_swe.sandbox.runtime import LABEL_OWNER_PID, SandboxError, can_limit_disk


pytestmark = [pytest.mark.docker, pytest.mark.both_engines]  # make test runs it on Docker, then Podman

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def box(docker_client):  # noqa: F811
    config = SandboxConfig(command_timeout=20, pids_limit=128, memory="512m", output_limit=20_000)
    with Sandbox(DEFAULT_IMAGE, config, client=docker_client) as sandbox:
        yield sandbox


def _works(sandbox: Sandbox) -> None:
    r = sandbox.run("echo alive && ls / >/dev/null && echo $((6 * 7))", timeout=10)
    assert (r.output, r.exit_code, r.timed_out) == ("alive\n42\n", 0, False), r


def test_endless_loop_times_out_and_shell_keeps_state(box):
    box.run("cd /tmp && export KEEP=yes")
    for command in ("python3 -c 'while True: pass'", "while :; do :; done"):  # a child; the shell itself
        t0 = time.monotonic()
        r = box.run(command, timeout=1.5)
        assert r.timed_out and r.exit_code == 124
        assert "timed out after 1.5 seconds" in r.output
        assert time.monotonic() - t0 < 6
        assert box.run("echo $PWD $KEEP").output == "/tmp yes\n"  # cwd and exported env survive
    assert box.run("ps -eo comm= | grep -c python3 || true").output.strip() == "0"
    _works(box)


def test_timeout_observation_is_clean(box):
    r = box.run("echo start; sleep 600 | cat", timeout=0.5)
    assert r.output == "start\n[sandbox: the command timed out after 0.5 seconds and was killed]\n"
    box.config.notes = False
    try:
        assert box.run("echo start; sleep 600", timeout=0.5).output == "start\n"
    finally:
        box.config.notes = True


def test_process_ignoring_sigterm_is_killed(box):
    cmd = "python3 -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(\"up\", flush=True); time.sleep(600)'"
    r = box.run(cmd, timeout=1.5)
    assert r.timed_out and r.output.startswith("up\n")
    r = box.run("sh -c 'trap \"\" TERM INT HUP; sleep 600' & sleep 600", timeout=1)  # background too
    assert r.timed_out
    assert box.run("ps -eo args= | grep -c '^sleep 600' || true").output.strip() == "0"
    _works(box)


def test_what_the_shell_starts_after_the_kill_is_killed_too(box):
    """The shell goes on with the next command once its foreground child is killed; what that starts (here an
    orphan, which `wait` cannot see) must not outlive the timeout. Repeated: the shell and the kill race."""
    for _ in range(5):
        r = box.run("sleep 600; (sleep 777 &)", timeout=1)
        assert r.timed_out
        assert box.run("ps -eo args= | grep -c '^sleep 777' || true").output == "0\n"
    _works(box)


def test_reading_stdin_gets_eof(box):
    t0 = time.monotonic()
    r = box.run("read line; echo \"read=[$line] rc=$?\"; cat; python3 -c 'import sys; print(repr(sys.stdin.read()))'", timeout=10)
    assert not r.timed_out and time.monotonic() - t0 < 5
    assert r.output == "read=[] rc=1\n''\n"
    _works(box)


def test_100mb_of_output_is_truncated_without_host_memory(box):
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = box.run("head -c 100000000 /dev/zero | tr '\\0' x; echo; echo THE-END", timeout=60)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert r.exit_code == 0 and r.truncated and not r.timed_out
    assert len(r.output) < 21_000 and "output truncated" in r.output and "100000009 bytes" in r.output
    assert r.output.startswith("x" * 1000) and r.output.endswith("THE-END\n")
    assert grown_mb < 50, f"host memory grew by {grown_mb:.0f} MB"
    r = box.run("yes", timeout=1.5)  # endless output: both limits at once
    assert r.timed_out and r.truncated and "timed out" in r.output
    _works(box)


def test_fork_bomb_is_contained(box):
    t0 = time.monotonic()
    r = box.run("bomb() { bomb | bomb & }; bomb; sleep 600", timeout=3)
    assert r.timed_out and r.exit_code == 124
    assert time.monotonic() - t0 < 15
    _works(box)
    # the bomb is gone: the two shells (control and worker) are the only live bash processes but the worker's own
    # children (its output relay, before it execs perl); counted with builtins, as `ls | wc` would see relays too
    count = r"""n=0; for d in /proc/[0-9]*; do read -r l 2>/dev/null <"$d/stat" || continue; s=${l##*) }; set -- $s
                [[ $l == *" (bash) "* && $1 != Z && $2 != $$ ]] && n=$((n + 1)); done; echo $n"""
    assert box.run(count).output == "2\n"


def test_rm_rf_root_stays_inside(box, docker_client):  # noqa: F811
    host_files = [p for p in (Path("/usr/bin/docker-init").resolve(), Path("/etc/hostname"), ROOT / "pyproject.toml") if p.exists()]
    r = box.run("rm -rf --no-preserve-root / 2>&1 | tail -n 3; echo done", timeout=60)
    assert not r.timed_out and r.output.endswith("done\n")
    assert box.run("ls").exit_code == 127  # the container is wrecked: `ls` is gone ...
    assert box.run("echo shell-builtin").output == "shell-builtin\n"  # ... its shell still answers
    assert all(p.exists() for p in host_files)  # the host is not
    with Sandbox(DEFAULT_IMAGE, client=docker_client) as fresh:  # a fresh sandbox works
        _works(fresh)


def test_a_command_cannot_read_or_forge_the_shells_framing(box):
    """Nothing of the framing waits on the shell's stdin while a command runs, and its functions cannot be redefined."""
    r = box.run("timeout 2 cat /proc/$$/fd/0; echo read-nothing", timeout=10)
    assert r.output.endswith("read-nothing\n") and r.exit_code == 0 and "__SRL_SWE_" not in r.output
    r = box.run("__srl_ep() { printf '\\n%s 0 /fake\\n' \"$1\"; }; false", timeout=10)
    assert "readonly function" in r.output and r.exit_code == 1
    r = box.run("printf() { echo forged; }; false", timeout=10)
    assert r.exit_code == 1 and box.run("pwd").output == "/testbed\n"
    box.run("unset -f printf")
    _works(box)


def test_late_output_of_background_processes_never_reaches_a_later_command(box):
    """What a background job writes after its command ended is dropped; the job itself keeps running."""
    r = box.run("(sleep 1; echo late-1; touch /tmp/after) & (for i in 1 2 3 4 5 6; do sleep 0.5; echo late-2; done) &"
                " echo now", timeout=10)
    assert (r.output, r.exit_code) == ("now\n", 0), r
    r = box.run("sleep 2.5; echo second", timeout=10)
    assert (r.output, r.exit_code) == ("second\n", 0), r
    assert box.run("test -e /tmp/after && echo ran").output == "ran\n"  # not killed by a closed pipe
    r = box.run("(sleep 0.3; echo inside) & wait; echo waited", timeout=10)  # output before the end still counts
    assert (r.output, r.timed_out) == ("inside\nwaited\n", False), r
    r = box.run("wait; echo nothing-to-wait-for", timeout=5)  # a plain `wait` never waits for the relay
    assert (r.output, r.timed_out) == ("nothing-to-wait-for\n", False), r
    box.run("mv /usr/bin/perl /usr/bin/perl.off")  # without perl the shell writes directly: late output mixes in
    assert box.run("(sleep 0.5; echo unrelayed) & echo direct", timeout=10).output == "direct\n"
    assert box.run("mv /usr/bin/perl.off /usr/bin/perl; sleep 1; echo back").output == "unrelayed\nback\n"
    _works(box)


def test_text_a_shell_cannot_receive_is_refused_with_a_reason(box):
    for command, reason in (("echo a\x00b", "NUL"), ("echo \udcff", "not valid UTF-8")):
        r = box.run(command)
        assert r.exit_code == 2 and reason in r.output and "not run" in r.output
    _works(box)


def test_files_and_the_container_log_have_limits(docker_client):  # noqa: F811
    config = SandboxConfig(file_size_limit=2**20, log_limit="1m")
    with Sandbox(DEFAULT_IMAGE, config, client=docker_client) as sandbox:
        r = sandbox.run("head -c 5000000 /dev/zero > /tmp/big; echo status $?; stat -c %s /tmp/big")
        assert "File size limit exceeded" in r.output and r.output.endswith(f"{2**20}\n")
        if engine_name() == "podman":  # Podman keeps the limit in its own inspect field
            libpod = docker_client.api._get(docker_client.api.base_url + f"/v4.0.0/libpod/containers/{sandbox.id}/json")
            assert libpod.json()["HostConfig"]["LogConfig"]["Size"] == "1MB"
        else:
            host = sandbox.container.attrs["HostConfig"]
            assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}}




def test_the_whole_container_has_a_disk_limit_where_the_daemon_can_set_one(docker_client):  # noqa: F811
    """Files each under the per-file limit stop together at the container's disk limit (what it writes; the image is not counted)."""
    if not can_limit_disk(docker_client):
        pytest.skip("this daemon's storage cannot limit a container's disk (ensure_docker.sh starts one on btrfs)")
    with Sandbox(DEFAULT_IMAGE, SandboxConfig(disk="1g", file_size_limit=2**30), client=docker_client) as sandbox:
        assert sandbox.container.attrs["HostConfig"]["StorageOpt"] == {"size": "1g"}
        r = sandbox.run("for i in 1 2 3; do head -c 500000000 /dev/zero > /tmp/f$i || echo refused $i; done; "
                        "du -cm /tmp/f* | tail -1", timeout=120)
        assert "Disk quota exceeded" in r.output and "refused" in r.output, r
        assert int(r.output.split()[-2]) <= 1024  # MB written in all (du rounds up)
        sandbox.run("rm -f /tmp/f*")
        _works(sandbox)  # the limit refuses writes; the sandbox goes on
@pytest.mark.parametrize("loop", ["while :; do :; done", "python3 -c 'while True: pass'"])
def test_a_timed_out_busy_loop_is_gone_when_the_result_returns(box, loop):
    r = box.run(loop, timeout=2)
    assert r.timed_out and r.exit_code == 124
    assert box.run("ls /proc/[0-9]*/cmdline 2>/dev/null | xargs -n1 cat 2>/dev/null | tr '\\0' ' ' | grep -c 'while [T]rue' || true",
                   timeout=10).output.strip() == "0"
    _works(box)


RUNNER = """
import sys, time
from srl_swe.sandbox import Sandbox
sb = Sandbox()
sb.run("sleep 600 &")
print(sb.id, flush=True)
time.sleep(600)
"""


THREADED_RUNNER = """
import threading, time
from srl_swe.sandbox import Sandbox
from srl_swe.sandbox.runtime import install_exit_hooks
install_exit_hooks()  # as the CLI does, in the main thread
box = []
worker = threading.Thread(target=lambda: box.append(Sandbox()))  # as agentic rollouts start theirs
worker.start(); worker.join()
print(box[0].id, flush=True)
time.sleep(600)
"""


def _start_runner(code: str = RUNNER) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    cid = proc.stdout.readline().strip()
    assert cid, "the runner did not start a sandbox"
    return proc, cid


def test_sigkilled_runner_leaves_an_orphan_that_reap_removes(docker_client):  # noqa: F811
    proc, cid = _start_runner()
    assert cid not in reap()  # a live owner's container is never reaped
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert docker_client.containers.get(cid).status == "running"  # the orphan
    assert cid not in reap(max_age=3600)  # too young for this call
    assert cid in reap()
    assert not docker_client.containers.list(all=True, filters={"id": cid})


@pytest.mark.parametrize("code", [RUNNER, THREADED_RUNNER], ids=["main-thread", "worker-thread"])
def test_sigterm_to_the_runner_removes_its_container(docker_client, code):  # noqa: F811
    proc, cid = _start_runner(code)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == -signal.SIGTERM  # a hang, not a time limit: removal takes 1-3 s
    assert not docker_client.containers.list(all=True, filters={"id": cid})


def test_timeouts_do_not_leak_exec_processes(box):
    for _ in range(3):
        assert box.run("sleep 600", timeout=0.5).timed_out
    procs = box.exec("ps -eo args=").output.splitlines()
    assert not [p for p in procs if p.startswith("sleep 600")], procs
    assert len([p for p in procs if p.startswith("bash --noprofile")]) == 2, procs  # worker + control


def test_a_sigkilled_evaluate_leaves_no_container_after_the_next_command(inflection_tasks, docker_client, tmp_path):  # noqa: F811
    """SIGKILL gives `evaluate` no chance to clean up; the next command that starts a container removes its orphan."""
    from srl_swe.registry import load_env

    row = inflection_tasks[0]
    module = "inflection/__init__.py"
    hang = f"diff --git a/{module} b/{module}\n--- a/{module}\n+++ b/{module}\n@@ -1,0 +1,2 @@\n+while True:\n+    pass\n"
    preds = tmp_path / "hang.jsonl"
    preds.write_text(json.dumps({"instance_id": row["instance_id"], "model_name_or_path": "hang", "model_patch": hang}) + "\n")
    tasks = str(load_env("inflection").tasks_path)
    command = [sys.executable, "-m", "srl_swe.cli", "evaluate", "--instances", tasks, "--instance-ids", row["instance_id"],
               "--output-dir", str(tmp_path), "--timeout", "600", "--no-pull"]
    proc = subprocess.Popen([*command, "--predictions", str(preds), "--run-id", "killed"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    owned = {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_OWNER_PID}={proc.pid}"]}
    deadline = time.monotonic() + 120
    while not docker_client.containers.list(filters=owned) and time.monotonic() < deadline:
        time.sleep(0.5)
    orphans = [c.id for c in docker_client.containers.list(filters=owned)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert orphans, "evaluate started no container"
    assert docker_client.containers.list(all=True, filters={"id": orphans[0]})  # SIGKILL left it behind
    subprocess.run([*command, "--predictions", "gold", "--run-id", "next"], cwd=ROOT, check=True, capture_output=True)
    assert not docker_client.containers.list(all=True, filters=owned)


def test_a_daemon_that_dies_is_a_sandbox_error(box, monkeypatch):
    """The client's own exceptions (connection refused when the daemon dies) surface as SandboxError."""
    import requests

    def refused(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(box.client.api, "exec_create", refused)
    monkeypatch.setattr(box.container, "get_archive", refused)
    for call in (lambda: box.exec("true"), lambda: box.diff(), lambda: box.read_file("/etc/hostname")):
        with pytest.raises(SandboxError, match="Docker daemon failed.*Connection refused"):
            call()
