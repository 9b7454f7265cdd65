"""Repository environment specs (envs/*.yaml): loading, validation errors, globs, tasks, CLI wiring.

Fast and without Docker; the image builds are in tests/test_images.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from srl_swe import cli
from srl_swe.cli import options as cli_options
from srl_swe.data import DEFAULT_ENVS, default_dataset_path, resolve_dataset
from srl_swe.errors import InvalidRecordError, SRLSweError
from srl_swe.images import bug_patch_of, env_context, task_image_tag
from srl_swe.registry import (
    EnvSpecError,
    Registry,
    list_envs,
    load_env,
    parse_env,
)
from srl_swe.resources import resource
from srl_swe.trajectory import load_trajectories

SHIPPED = ("boltons", "cachetools", "inflection", "parse", "toolz")

GOOD = {
    "name": "demo",
    "description": "a demo env",
    "source": {"pypi": "inflection==0.5.1"},
    "python": "3.11",
    "install": ["pip install -e . pytest==8.4.2"],
    "test_command": "pytest -rA -p no:cacheprovider",
    "test_files": ["tests/**/*.py"],
    "source_files": ["demo/**/*.py"],
    "log_parser": "parse_log_pytest",
}


def write_spec(directory: Path, data: dict, name: str | None = None) -> Path:
    path = directory / f"{name or data.get('name', 'demo')}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --------------------------------------------------------------------------- shipped specs


def test_shipped_envs_load():
    specs = {s.name: s for s in list_envs()}
    assert set(SHIPPED) <= set(specs)
    for name in SHIPPED:
        spec = load_env(name)
        assert spec == specs[name]
        assert spec.path == resource("envs") / f"{name}.yaml"
        assert spec.image == f"srl-swe/env.{name}:latest"
        assert spec.source.kind == "pypi" and spec.source.package == name and spec.source.version
        assert spec.python == "3.11" and spec.log_parser == "parse_log_pytest"
        assert spec.tasks_path == resource("envs") / "tasks" / f"{name}.jsonl"
        assert spec.description and "/" in spec.repo_name
        assert spec.task_count == len(spec.load_tasks())


def test_shipped_eval_scripts_come_from_the_one_writer():
    """Each shipped row's script is what `tasks restate` writes: ':' markers once each, test files restored around them."""
    for name in SHIPPED:
        spec = load_env(name)
        for row in spec.load_tasks():
            lines = row["eval_script"].splitlines()
            start, end = lines.index(": '>>>>> Start Test Output'"), lines.index(": '>>>>> End Test Output'")
            assert start + 2 == end and row["eval_script"].count(">>>>> Start Test Output") == 1, row["instance_id"]
            restore = lines[start - 1]
            assert restore.startswith(f"git checkout {row['base_commit']} ") and lines[end + 1] == restore, row["instance_id"]
            assert all(spec.is_test_file(path) for path in restore.split()[3:]), row["instance_id"]


def test_load_by_path_and_unknown_name(tmp_path):
    assert load_env(resource("envs") / "toolz.yaml").name == "toolz"
    assert load_env(str(resource("envs") / "toolz.yaml")).name == "toolz"
    with pytest.raises(SRLSweError, match="no repository environment named 'nope'.*toolz"):
        load_env("nope")
    assert list_envs(root=tmp_path) == []


def test_shipped_globs_split_tests_from_library():
    toolz = load_env("toolz")
    assert toolz.is_test_file("toolz/tests/test_itertoolz.py")
    assert toolz.is_test_file("toolz/sandbox/tests/test_core.py")
    assert toolz.is_test_file("/testbed/toolz/tests/test_itertoolz.py")
    assert not toolz.is_source_file("toolz/tests/test_itertoolz.py")
    assert toolz.is_source_file("toolz/itertoolz.py") and toolz.is_source_file("./toolz/sandbox/core.py")
    assert not toolz.is_source_file("setup.py") and not toolz.is_source_file("toolz/itertoolz.pyc")
    inflection = load_env("inflection")
    assert inflection.is_test_file("test_inflection.py") and not inflection.is_test_file("docs/conf.py")
    assert inflection.is_source_file("inflection/__init__.py")
    # declared test files add to the defaults of every repository, and conftest.py files always count
    assert inflection.is_test_file("docs/test_inflection.py") and inflection.is_test_file("tests/helpers.py")
    assert inflection.is_test_file("conftest.py") and toolz.is_test_file("toolz/conftest.py")
    assert not toolz.is_source_file("toolz/conftest.py")
    cachetools = load_env("cachetools")
    assert cachetools.is_source_file("src/cachetools/func.py") and cachetools.is_test_file("tests/test_func.py")


# --------------------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"test_command": None}, "test_command", "is required"),
        ({"log_parser": None}, "log_parser", "is required"),
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"name": "Demo"}, "name", "lower-case"),
        ({"python": "3.8"}, "python", "not available"),
        ({"python": 3.11}, None, None),  # an unquoted version number is accepted
        ({"log_parser": "parse_log_pytset"}, "log_parser", "PARSER_REGISTRY"),
        ({"install": "pip install -e ."}, None, None),  # one string is a one-command list
        ({"install": []}, "install", "at least one"),
        ({"install": ["pip install -e .", 3]}, "install[1]", "non-empty string"),
        ({"test_files": {"a": 1}}, "test_files", "list of strings"),
        ({"test_command": ""}, "test_command", "must not be empty"),
        ({"source": "toolz==1.2.0"}, "source", "must be a mapping"),
        ({"source": {"pypi": "toolz"}}, "source.pypi", "name==version"),
        ({"source": {"pypi": "toolz>=1.0"}}, "source.pypi", "name==version"),
        ({"source": {"pypi": "toolz==1.2.0", "git": "https://x"}}, "source", "exactly one"),
        ({"source": {}}, "source", "exactly one"),
        ({"source": {"git": "https://github.com/pytoolz/toolz"}}, "source.ref", "needs a ref"),
        ({"source": {"pypi": "toolz==1.2.0", "ref": "x"}}, "source.ref", "unknown key"),
        ({"source": {"pypi": "toolz==1.2.0", "sha256": "abc"}}, "source.sha256", "64"),
        ({"source": {"path": "does/not/exist"}}, "source.path", "not a directory"),
        ({"timeout": 0}, "timeout", "positive"),
        ({"repo": "no-slash"}, "repo", "owner/name"),
    ],
)
def test_validation_errors_name_file_and_field(tmp_path, change, field, message):
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    path = write_spec(tmp_path, data, name="demo")
    if message is None:
        assert load_env(path).name == "demo"
        return
    with pytest.raises(EnvSpecError) as info:
        load_env(path)
    text = str(info.value)
    assert str(path) in text and f"field {field!r}" in text and message in text, text
    assert info.value.field == field and isinstance(info.value, InvalidRecordError)


def test_name_must_match_file_and_yaml_must_be_a_mapping(tmp_path):
    path = write_spec(tmp_path, GOOD, name="other")
    with pytest.raises(EnvSpecError, match=r"other\.yaml, field 'name': 'demo' must equal the file name 'other'"):
        load_env(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(EnvSpecError, match=r"bad\.yaml: is not valid YAML"):
        load_env(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(EnvSpecError, match=r"bad\.yaml: must be a YAML mapping"):
        load_env(bad)
    with pytest.raises(EnvSpecError, match="no such spec file"):
        load_env(tmp_path / "missing.yaml")


def test_path_and_git_sources(tmp_path):
    (tmp_path / "src_dir").mkdir()
    spec = load_env(write_spec(tmp_path, {**GOOD, "source": {"path": "src_dir"}}))
    assert spec.source.kind == "path" and spec.source.location == str(tmp_path / "src_dir")
    spec = load_env(write_spec(tmp_path, {**GOOD, "source": {"git": "https://github.com/x/y", "ref": "v1.0"}}))
    assert (spec.source.kind, spec.source.ref, spec.source.version) == ("git", "v1.0", "v1.0")
    assert str(spec.source) == "git:https://github.com/x/y@v1.0"


def test_known_failing_are_deselected_and_quoted():
    spec = parse_env({**GOOD, "known_failing": ["tests/test_a.py::test_x[a b]", "tests/test_b.py::test_y"]},
                     "demo.yaml")
    assert spec.full_test_command == ("pytest -rA -p no:cacheprovider --deselect 'tests/test_a.py::test_x[a b]' "
                                      "--deselect tests/test_b.py::test_y")
    assert spec.test_command_for(["tests/test_a.py"]).endswith("--deselect tests/test_b.py::test_y tests/test_a.py")


def test_spec_round_trips_through_yaml(tmp_path):
    spec = parse_env({**GOOD, "known_failing": ["t::x"], "git_exclude": ["*.log"], "repo": "o/n", "timeout": 60},
                     tmp_path / "demo.yaml")
    path = Registry(tmp_path).add(spec)
    again = load_env(path)
    assert again == spec and again.path == path
    with pytest.raises(SRLSweError, match="already exists"):
        Registry(tmp_path).add(spec)
    assert Registry(tmp_path).add(spec, overwrite=True) == path
    assert Registry(tmp_path).names() == ["demo"]


# --------------------------------------------------------------------------- tasks


def test_tasks_are_read_from_envs_tasks(tmp_path):
    registry = Registry(tmp_path)
    spec = load_env(write_spec(tmp_path, GOOD))
    assert spec.task_count == 0 and spec.load_tasks() == [] and registry.tasks("demo") == []
    (tmp_path / "tasks").mkdir()
    rows = [{"instance_id": "demo-0001", "problem_statement": "a", "patch": "x"},
            {"instance_id": "demo-0002", "problem_statement": "b", "patch": "y"}]
    spec.tasks_path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    assert spec.task_count == 2 and spec.load_tasks() == rows and registry.tasks("demo") == rows
    spec.tasks_path.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(InvalidRecordError, match=r"demo\.jsonl, record line 2: not valid JSON"):
        spec.load_tasks()
    spec.tasks_path.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n")
    with pytest.raises(InvalidRecordError, match=r"demo-0001 \(records 0, 1\)"):
        spec.load_tasks()


def test_find_task_sees_a_changed_task_file_and_hands_out_copies(tmp_path):
    registry = Registry(tmp_path)
    spec = load_env(write_spec(tmp_path, GOOD))
    assert registry.find_task("demo-0001") is None  # no task file yet
    (tmp_path / "tasks").mkdir()
    row = {"instance_id": "demo-0001", "problem_statement": "a", "patch": "x", "FAIL_TO_PASS": ["t"]}
    spec.tasks_path.write_text(json.dumps(row) + "\n")
    found = registry.find_task("demo-0001")
    assert found == row and registry.find_task("demo-0002") is None
    found["FAIL_TO_PASS"].append("changed by a caller")
    assert registry.find_task("demo-0001") == row
    spec.tasks_path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "instance_id": "demo-0002"}) + "\n")
    assert registry.find_task("demo-0002")["instance_id"] == "demo-0002"
    spec.tasks_path.write_text(json.dumps(row) + "\n{not json\n")
    with pytest.raises(InvalidRecordError, match=r"demo\.jsonl, record line 2"):
        registry.find_task("demo-0001")


def test_task_rows_give_the_bug_patch_and_image_tag():
    spec = load_env("toolz")
    assert bug_patch_of({"bug_patch": "B", "patch": "F"}) == ("B\n", False)
    assert bug_patch_of({"patch": "F\n"}) == ("F\n", True)
    with pytest.raises(InvalidRecordError, match="field 'bug_patch'"):
        bug_patch_of({"instance_id": "x"}, "toolz.jsonl", 3)
    assert task_image_tag(spec, {"image": "srl-swe/task.toolz:0007"}) == "srl-swe/task.toolz:0007"
    assert task_image_tag(spec, {"instance_id": "toolz/bug#1"}) == "srl-swe/task.toolz:toolz-bug-1"


def test_env_build_context_holds_the_spec_scripts(tmp_path):
    spec = parse_env({**GOOD, "install": ["pip install -e .", "pip install 'pytest==8.4.2'"],
                      "known_failing": ["tests/test_a.py::test_net"], "git_exclude": ["*.sqlite"]}, "demo.yaml")
    context = env_context(spec, tmp_path / "ctx")
    assert (context / "Dockerfile").read_text() == resource("docker", "env", "Dockerfile").read_text()
    install = (context / "build/install.sh").read_text()
    assert "set -euo pipefail" in install and "pip install 'pytest==8.4.2'\n" in install
    assert "SETUPTOOLS_SCM_PRETEND_VERSION=0.5.1" in install
    assert (context / "build/test-command.sh").read_text().endswith(
        "pytest -rA -p no:cacheprovider --deselect tests/test_a.py::test_net\n")
    assert (context / "build/git-exclude").read_text().rstrip().endswith("*.sqlite")
    assert {p.name for p in (context / "build").iterdir()} == {
        "fetch-source.sh", "install.sh", "commit.sh", "git-exclude", "run-tests.sh", "test-command.sh"}


# --------------------------------------------------------------------------- CLI


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_envs_list_json_has_repositories(capsys):
    code, out, _ = run(capsys, "envs", "list", "--json")
    data = json.loads(out)
    assert code == 0 and "gymnasium" in data
    repos = {r["name"]: r for r in data["repositories"]}
    assert set(SHIPPED) <= set(repos)
    for row in repos.values():
        assert {"name", "source", "image", "image_built", "task_count"} <= set(row)
        assert isinstance(row["image_built"], bool) and isinstance(row["task_count"], int)
    assert repos["toolz"]["source"] == "pypi:toolz==1.2.0" and repos["toolz"]["image"] == "srl-swe/env.toolz:latest"


def test_cli_envs_add_writes_a_valid_spec(capsys, tmp_path):
    code, out, err = run(capsys, "envs", "add", "slugify", "--pypi", "python-slugify==9.2.0", "--envs-dir",
                         str(tmp_path), "--test-command", "pytest -rA tests", "--repo", "un33k/python-slugify")
    assert code == 0, err
    spec = load_env(tmp_path / "slugify.yaml")
    assert spec.source.location == "python-slugify==9.2.0" and spec.test_command == "pytest -rA tests"
    assert spec.install == ("pip install -e . pytest==8.4.2",) and spec.source_files[0] == "slugify/**/*.py"
    code, _, err = run(capsys, "envs", "add", "slugify", "--pypi", "python-slugify==9.2.0", "--envs-dir", str(tmp_path))
    assert code == 2 and "already exists" in err
    code, _, err = run(capsys, "envs", "add", "bad", "--pypi", "python-slugify>=9", "--envs-dir", str(tmp_path))
    assert code == 2 and "field 'source.pypi'" in err and not (tmp_path / "bad.yaml").exists()
    code, _, err = run(capsys, "envs", "add", "none", "--envs-dir", str(tmp_path))
    assert code == 2 and "exactly one source" in err


def test_cli_envs_validate_names_unknown_env(capsys):
    code, _, err = run(capsys, "envs", "validate", "no-such-env")
    assert code == 2 and "no repository environment named 'no-such-env'" in err


def test_cli_parser_has_images_and_envs_commands():
    parser = cli.build_parser()
    args = parser.parse_args(["images", "build", "--env", "toolz", "--env", "parse", "--tasks", "--rebuild"])
    assert args.env == ["toolz", "parse"] and args.tasks and args.rebuild
    args = parser.parse_args(["envs", "build", "toolz", "--tasks"])
    assert args.names == ["toolz"] and args.tasks
    args = parser.parse_args(["envs", "validate", "toolz", "--workers", "3", "--json", "--instance-id", "srl-swe__toolz-0001"])
    assert args.name == "toolz" and args.workers == 3 and args.json and args.instance_ids == ["srl-swe__toolz-0001"]
    args = parser.parse_args(["trajectories", "record", "toolz", "--out", "t.jsonl", "--json"])
    assert args.json and args.env_names == ["toolz"] and args.env is None


def test_commit_scripts_use_the_published_metadata():
    from srl_swe.images import COMMIT_ENV, DOCKER_DIR

    for script in (DOCKER_DIR / "env" / "commit.sh", DOCKER_DIR / "task" / "apply-bug.sh"):
        text = script.read_text()
        for key, value in COMMIT_ENV.items():
            assert f"{key}={value}" in text or f'{key}="{value}"' in text, (script, key)


def test_shared_options_have_one_spelling_and_keep_the_old_ones():
    """--env, --instances, --instance-ids mean the same in every command; --tasks FILE and --instance-id still work."""
    parser = cli.build_parser()
    for argv in (["trajectories", "record", "--out", "t.jsonl"], ["trajectories", "verify", "t.jsonl"], ["train", "rlvr"],
                 ["rollout", "--mode", "agentic", "--out", "p.jsonl"]):
        args = parser.parse_args([*argv, "--env", "toolz", "--env", "parse"])
        assert args.env == ["toolz", "parse"], argv
        args = parser.parse_args([*argv, "--tasks", "rows.jsonl"])
        assert args.instances == "rows.jsonl" and args.env is None, argv
    for argv in (["evaluate"], ["rollout", "--mode", "agentic", "--out", "p.jsonl"], ["envs", "validate", "toolz"]):
        args = parser.parse_args([*argv, "--instance-ids", "a,b", "c", "--instance-id", "d"])
        assert cli_options.instance_ids(args.instance_ids) == ["a", "b", "c", "d"], argv
    assert parser.parse_args(["images", "build", "--env", "toolz", "parse", "--tasks"]).env == ["toolz", "parse"]


def test_the_default_dataset_records_exactly_the_tasks_of_its_environments():
    """`make data` and the experiments' resolve rates select srl-swe:default's tasks by DEFAULT_ENVS."""
    recorded = {t.id for t in load_trajectories(default_dataset_path()).trajectories}
    assert recorded == {row["instance_id"] for name in DEFAULT_ENVS for row in load_env(name).load_tasks()}


def test_every_task_of_the_larger_pool_has_its_recorded_expert_trajectory():
    """The shipped environments beyond srl-swe:default: each pinned to its sdist's hash, with tasks, and every task
    recorded in srl-swe:pool (scripts/build_pool.py drops a task the harness or the expert could not pass)."""
    pool = [spec for spec in list_envs() if spec.name not in DEFAULT_ENVS]
    rows = {row["instance_id"] for spec in pool for row in spec.load_tasks()}
    recorded = {t.id for t in load_trajectories(resolve_dataset("srl-swe:pool")).trajectories}
    assert recorded == rows
    for spec in pool:
        assert spec.source.kind == "pypi" and spec.source.sha256 and spec.description and spec.task_count > 0
