"""The Docker sandbox: persistent shell, exit codes, files, diffs, isolation, cleanup.

Needs a Docker daemon and the base image (``srl_swe/resources/scripts/ensure_docker.sh`` makes both; ``make test``
runs it). Without them the tests are skipped with that hint, unless SRL_SWE_REQUIRE_DOCKER=1
turns the skip into a failure.
"""
from __future__ import annotations

import os
import re
import time

import pytest

from srl_swe.sandbox import DEFAULT_IMAGE, LABEL_MANAGED, CommandResult, Sandbox, SandboxConfig, SandboxError
from srl_swe.sandbox.engines import init_process
from srl_swe.sandbox.runtime import LABEL_OWNER_PID, LABEL_SESSION

pytestmark = [pytest.mark.docker, pytest.mark.both_engines]  # make test runs it on Docker, then Podman


@pytest.fixture(scope="module")
def sb(docker_client):
    with Sandbox(DEFAULT_IMAGE, SandboxConfig(command_timeout=30), client=docker_client) as sandbox:
        yield sandbox


def test_run_returns_output_and_exit_codes(sb):
    r = sb.run("echo hello")
    assert isinstance(r, CommandResult)
    assert (r.output, r.exit_code, r.timed_out, r.truncated) == ("hello\n", 0, False, False)
    assert sb.run("false").exit_code == 1
    assert sb.run("exit_with() { return $1; }; exit_with 42").exit_code == 42
    r = sb.run("ls /nonexistent")
    assert r.exit_code == 2 and "No such file or directory" in r.output
    # stderr is merged in order; no trailing newline is invented
    assert sb.run("echo out; echo err >&2; printf tail").output == "out\nerr\ntail"


def test_cwd_env_and_functions_persist(sb):
    sb.run("mkdir -p /tmp/persist && cd /tmp/persist && export SRL_X=41 && SRL_Y=1 && f() { echo f$1; }")
    r = sb.run('echo "$PWD $SRL_X $SRL_Y"; f 2')
    assert r.output == "/tmp/persist 41 1\nf2\n"
    sb.run("cd /testbed")


def test_multiline_quotes_and_heredocs(sb):
    cmd = "cat <<'EOF'\nit's \"quoted\" $HOME `x`\nEOF\nfor i in 1 2; do\n  echo $i\ndone"
    assert sb.run(cmd).output == "it's \"quoted\" $HOME `x`\n1\n2\n"
    assert sb.run("echo 'unterminated").exit_code != 0  # a syntax error is an observation
    assert sb.run("echo recovered").output == "recovered\n"


def test_exit_restarts_the_shell_in_place(sb):
    sb.run("cd /tmp && export KEEP=1")
    r = sb.run("exit 3")
    assert r.exit_code == 3 and "shell exited" in r.output
    assert sb.run("echo $PWD $KEEP").output == "/tmp 1\n"
    sb.run("cd /testbed")


def test_exec_is_a_fresh_process_with_the_workdir(sb):
    sb.run("cd /tmp && export ONLY_IN_SHELL=1")
    r = sb.exec("echo $PWD ${ONLY_IN_SHELL:-unset}; cat")  # cat gets EOF
    assert (r.output, r.exit_code) == ("/testbed unset\n", 0)
    assert sb.exec("exit 5").exit_code == 5
    r = sb.exec("sleep 30", timeout=1)
    assert r.timed_out and r.exit_code == 124
    sb.run("cd /testbed")


def test_files_round_trip(sb):
    sb.write_file("sub/dir/hello.txt", "héllo\nwörld\n")
    assert sb.read_file("/testbed/sub/dir/hello.txt") == "héllo\nwörld\n"
    assert sb.run("cat sub/dir/hello.txt").output == "héllo\nwörld\n"
    blob = bytes(range(256))
    sb.write_file("/tmp/blob.bin", blob, mode=0o755)
    assert sb.read_file("/tmp/blob.bin", binary=True) == blob
    assert sb.run("stat -c %a /tmp/blob.bin").output == "755\n"
    sb.run("ln -sf /tmp/blob.bin /tmp/link")
    assert sb.read_file("/tmp/link", binary=True) == blob
    with pytest.raises(FileNotFoundError):
        sb.read_file("/no/such/file")
    with pytest.raises(IsADirectoryError):
        sb.read_file("/tmp")
    sb.run("rm -rf /testbed/sub")


def test_diff_against_base_commit(docker_client):
    with Sandbox(DEFAULT_IMAGE, SandboxConfig(workdir="/repo"), client=docker_client) as box:
        setup = (
            "git init -q . && printf 'a\\nb\\n' > kept.py && printf 'x\\n' > gone.py && "
            "printf '*.log\\n' > .gitignore && git add -A && git commit -qm base && git rev-parse HEAD"
        )
        r = box.run(setup)
        assert r.exit_code == 0, r.output
        base = r.output.strip()
        assert box.diff() == "" and box.diff(base) == ""
        box.run("printf 'a\\nB\\n' > kept.py && rm gone.py && mkdir -p pkg && printf 'new\\n' > pkg/new.py && echo noise > x.log")
        box.run("git add kept.py")  # a staged change counts the same
        status_before = box.run("git status --porcelain").output
        patch = box.diff(base)
        assert "diff --git a/kept.py b/kept.py" in patch and "+B" in patch
        assert "deleted file mode" in patch and "gone.py" in patch
        assert "diff --git a/pkg/new.py b/pkg/new.py" in patch and "+new" in patch
        assert "x.log" not in patch  # ignored files stay out
        assert box.run("git status --porcelain").output == status_before  # the real index is untouched
        # the patch applies to the base commit and reproduces the tree
        box.write_file("/tmp/p.diff", patch)
        r = box.run(f"git stash -u -q && git checkout -q {base} && git apply /tmp/p.diff && cat kept.py pkg/new.py")
        assert r.exit_code == 0 and r.output == "a\nB\nnew\n", r.output
        # a later commit: diff against the base still shows everything since the base
        box.run("git add -A && git commit -qm later")
        assert box.diff() == "" and "pkg/new.py" in box.diff(base)
        with pytest.raises(SandboxError, match="no-such-commit"):
            box.diff("no-such-commit")


def test_network_is_off_by_default(sb, docker_client):
    probe = (
        "python3 - <<'EOF'\nimport os, socket\nprint(sorted(os.listdir('/sys/class/net')))\n"
        "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=3)\n    print('connected')\n"
        "except OSError as e:\n    print('no network', type(e).__name__)\nEOF"
    )
    r = sb.run(probe)
    assert r.output.splitlines()[0] == "['lo']" and "no network" in r.output, r.output
    assert "connected" not in r.output
    with Sandbox(DEFAULT_IMAGE, SandboxConfig(network=True), client=docker_client) as box:
        assert "eth0" in box.run("ls /sys/class/net").output


def test_container_limits_and_labels(sb, docker_client):
    attrs = docker_client.api.inspect_container(sb.id)
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none" and host["Privileged"] is False and host["Init"] is True
    assert host["PidsLimit"] == sb.config.pids_limit and host["NanoCpus"] == int(sb.config.cpus * 1e9)
    assert host["Memory"] > 0 and not host["Binds"] and "NET_RAW" in host["CapDrop"]
    labels = attrs["Config"]["Labels"]
    assert labels[LABEL_MANAGED] == "true" and labels[LABEL_OWNER_PID] == str(os.getpid())
    assert labels[LABEL_SESSION] == sb.session_id
    assert sb.run("ps -o comm= -p 1").output.strip() == init_process()  # zombies get reaped


def test_close_removes_the_container_and_is_idempotent(docker_client):
    box = Sandbox(DEFAULT_IMAGE, client=docker_client)
    cid = box.id
    box.close()
    box.close()
    assert not docker_client.containers.list(all=True, filters={"id": cid})
    with pytest.raises(SandboxError):
        box.run("true")


@pytest.mark.parametrize("image, command", [("srl-swe/task.nosuch:0001", "srl-swe envs build nosuch --tasks"),
                                            ("srl-swe/env.nosuch:latest", "srl-swe envs build nosuch`"),
                                            ("srl-swe/no-such-image:latest", "docker pull")])
def test_a_missing_image_names_the_command_that_makes_it(docker_client, image, command):
    with pytest.raises(SandboxError, match=re.escape(f"image {image!r} is missing")) as error:
        Sandbox(image, client=docker_client)
    assert command in str(error.value)


def test_persistent_shell_is_fast(sb):
    sb.run("true")
    t0 = time.perf_counter()
    for _ in range(20):
        sb.run("true")
    per_call = (time.perf_counter() - t0) / 20
    assert per_call < 0.05, f"{per_call * 1000:.1f} ms per command through the persistent shell"
