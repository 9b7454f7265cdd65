"""Classic SWE-bench instances -> swebench 5.x rows (srl_swe.evaluation.convert).

Checked on the real Verified and Lite-dev rows in ../shared/data: image names, log parsers, the
eval script's test files and test command (against independent derivations and against the
commands the real 4.x harness traced in the shared eval logs), make_test_spec acceptance; and
the clear errors for bad input.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

pytest.importorskip("swebench")
unidiff = pytest.importorskip("unidiff")

from swebench.harness.constants import END_TEST_OUTPUT, NON_TEST_EXTS, START_TEST_OUTPUT  # noqa: E402
from swebench.harness.log_parsers import PARSER_REGISTRY  # noqa: E402
from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY  # noqa: E402
from swebench.harness.utils import make_test_spec  # noqa: E402

from srl_swe.errors import InvalidRecordError, SRLSweError  # noqa: E402
from srl_swe.patches import files_existing_before  # noqa: E402
from srl_swe.evaluation.convert import (  # noqa: E402
    SPECS_PATH,
    convert_file,
    convert_instances,
    load_instances,
    load_repo_specs,
    official_image_name,
    to_harness_row,
    write_rows,
)

DATASETS = ("verified-mini.jsonl", "lite-dev.jsonl")
DJANGO_TEST = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
EXPECTED_PARSER = {
    "django/django": "parse_log_django",
    "sphinx-doc/sphinx": "parse_log_sphinx",
    "sqlfluff/sqlfluff": "parse_log_sqlfluff",
    "pvlib/pvlib-python": "parse_log_pvlib",
    "pydicom/pydicom": "parse_log_pydicom",
    "pylint-dev/astroid": "parse_log_astroid",
    "pyvista/pyvista": "parse_log_pyvista",
    "marshmallow-code/marshmallow": "parse_log_marshmallow",
}
VERIFIED_AND_LITE_REPOS = {
    "astropy/astropy", "django/django", "matplotlib/matplotlib", "mwaskom/seaborn", "pallets/flask",
    "psf/requests", "pydata/xarray", "pylint-dev/pylint", "pytest-dev/pytest", "scikit-learn/scikit-learn",
    "sphinx-doc/sphinx", "sympy/sympy",
    # the Lite dev split
    "sqlfluff/sqlfluff", "marshmallow-code/marshmallow", "pvlib/pvlib-python", "pydicom/pydicom",
    "pylint-dev/astroid", "pyvista/pyvista",
}

SWE_GYM_REPOS = {
    "getmoto/moto", "python/mypy", "pandas-dev/pandas", "iterative/dvc", "conan-io/conan", "pydantic/pydantic",
    "dask/dask", "bokeh/bokeh", "modin-project/modin", "Project-MONAI/MONAI", "facebookresearch/hydra",
}


def read_rows(shared_data: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (shared_data / "swebench" / name).read_text().splitlines() if line.strip()]


def script_lines(script: str) -> list[str]:
    """The script's commands, a heredoc command cut to its first line."""
    out, lines, i = [], script.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if "<<'" in line:
            delimiter = line.split("<<'", 1)[1].rstrip("'")
            out.append(line.split(" <<'", 1)[0])
            i += 1
            while lines[i] != delimiter:
                i += 1
        elif line not in ("#!/bin/bash", "set -uxo pipefail"):
            out.append(line)
        i += 1
    return out


def runner_line(script: str) -> str:
    lines = script_lines(script)
    start = lines.index(f": '{START_TEST_OUTPUT}'")
    assert lines[start + 2] == f": '{END_TEST_OUTPUT}'"
    return lines[start + 1]


def expected_directives(row: dict) -> list[str]:
    """Test files of a test_patch, derived with unidiff (not the converter's regex)."""
    paths = []
    for patched in unidiff.PatchSet(row["test_patch"]):
        path = patched.target_file if patched.target_file != "/dev/null" else patched.source_file
        path = path[2:]
        if not any(path.endswith(ext) for ext in NON_TEST_EXTS):
            paths.append(path)
    if row["repo"] == "django/django":
        paths = [p[:-3] if p.endswith(".py") else p for p in paths]
        paths = [p[len("tests/"):] if p.startswith("tests/") else p for p in paths]
        paths = [p.replace("/", ".") for p in paths]
    return paths


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_shared_row_converts_to_a_row_make_test_spec_accepts(shared_data, dataset):
    classic = read_rows(shared_data, dataset)
    rows = convert_file(shared_data / "swebench" / dataset)
    assert len(rows) == len(classic) > 0
    for before, row in zip(classic, rows):
        iid = row["instance_id"]
        assert iid == before["instance_id"] and row["patch"] == before["patch"]
        assert row["image"] == f"swebench/sweb.eval.x86_64.{iid.lower().replace('__', '_1776_')}:latest"
        assert "__" not in row["image"]
        assert row["log_parser"] == EXPECTED_PARSER[row["repo"]]
        assert PARSER_REGISTRY[row["log_parser"]] is MAP_REPO_TO_PARSER_PY[row["repo"]]
        assert row["eval_type"] == "pass_and_fail"
        assert row["FAIL_TO_PASS"] == json.loads(before["FAIL_TO_PASS"])
        assert row["PASS_TO_PASS"] == json.loads(before["PASS_TO_PASS"])

        spec = make_test_spec(row)
        assert spec.image == row["image"] and spec.log_parser == row["log_parser"]
        assert spec.FAIL_TO_PASS == row["FAIL_TO_PASS"]
        # 5.x records the test command's exit status right after it: the script's shape is the one it expects
        traced = spec.eval_script.splitlines()
        assert traced[traced.index(f": '{END_TEST_OUTPUT}'") - 1] == "SWEBENCH_TEST_EXIT_CODE=$?"

        script = row["eval_script"]
        lines = script_lines(script)
        assert lines[:3] == ["source /opt/miniconda3/bin/activate", "conda activate testbed", "cd /testbed"]
        assert f"\n{before['test_patch']}\nEOF_114329324912\n" in script
        test_files = [f.source_file[2:] for f in unidiff.PatchSet(before["test_patch"]) if f.source_file != "/dev/null"]
        if test_files:
            reset = f"git checkout {before['base_commit']} {' '.join(test_files)}"
            assert lines.count(reset) == 2 and lines[-1] == reset
        else:  # the test_patch only adds files (sqlfluff-2419, pydicom-901): nothing to reset
            assert not any(line.startswith("git checkout") for line in lines)

        command = runner_line(script)
        runner = {"django/django": DJANGO_TEST, "sphinx-doc/sphinx": "tox --current-env -epy39 -v --"}.get(row["repo"], "pytest -rA")
        assert command == " ".join([runner, *expected_directives(before)])


def test_pinned_examples_of_the_test_command(shared_data):
    rows = {r["instance_id"]: r for r in convert_file(shared_data / "swebench" / "verified-mini.jsonl")}
    rows.update({r["instance_id"]: r for r in convert_file(shared_data / "swebench" / "lite-dev.jsonl")})
    django = rows["django__django-11790"]
    assert runner_line(django["eval_script"]) == f"{DJANGO_TEST} auth_tests.test_forms"
    lines = script_lines(django["eval_script"])
    assert lines[3:7] == ["sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen", "export LANG=en_US.UTF-8",
                          "export LANGUAGE=en_US:en", "export LC_ALL=en_US.UTF-8"]
    assert "python -m pip install -e ." in lines
    assert runner_line(rows["pvlib__pvlib-python-1072"]["eval_script"]) == "pytest -rA pvlib/tests/test_temperature.py"
    assert "python -m pip install -e .[all]" in script_lines(rows["pvlib__pvlib-python-1072"]["eval_script"])
    assert "python -m pip install -e '.[dev]'" in script_lines(rows["marshmallow-code__marshmallow-1343"]["eval_script"])


def test_eval_scripts_match_what_the_real_harness_ran(shared_data):
    """Every command of our script appears, in order, among the commands traced (`set -x`) in the real logs."""
    rows = {r["instance_id"]: r for r in convert_file(shared_data / "swebench" / "lite-dev.jsonl")}
    log_dirs = sorted(p for p in (shared_data / "eval_logs" / "lite-dev-deepseek-chat").iterdir() if p.is_dir())
    assert len(log_dirs) == 10
    for folder in log_dirs:
        traced = []
        for line in (folder / "test_output.txt").read_text().splitlines():
            if line.startswith("+ "):
                try:
                    traced.append(shlex.split(line[2:]))
                except ValueError:
                    pass
        position = 0
        for command in script_lines(rows[folder.name]["eval_script"]):
            words = shlex.split(command)
            while position < len(traced) and traced[position] != words:
                position += 1
            assert position < len(traced), f"{folder.name}: {command!r} is not in the harness's trace (in order)"
            position += 1


def test_files_existing_before_agrees_with_unidiff_on_every_shared_patch(shared_data):
    for dataset in DATASETS:
        for row in read_rows(shared_data, dataset):
            for patch in (row["test_patch"], row["patch"]):
                expected = [f.source_file[2:] for f in unidiff.PatchSet(patch)
                            if f.source_file != "/dev/null" and f.source_file.startswith("a/")]
                assert files_existing_before(patch) == expected, row["instance_id"]


def test_files_existing_before_skips_new_files_and_reads_only_headers():
    patch = (
        "diff --git a/test/fixtures/q.sql b/test/fixtures/q.sql\n"
        "--- a/test/fixtures/q.sql\n+++ b/test/fixtures/q.sql\n@@ -1,2 +1,1 @@\n"
        "--- a comment removed from the SQL file\n SELECT 1\n"
        "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+def test_x(): pass\n"
        "diff --git a/tests/old.py b/tests/renamed.py\nsimilarity index 90%\nrename from tests/old.py\n"
        "rename to tests/renamed.py\n--- a/tests/old.py\n+++ b/tests/renamed.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    )
    assert files_existing_before(patch) == ["test/fixtures/q.sql", "tests/old.py"]


BASE = "0123456789abcdef0123456789abcdef01234567"


def classic(repo="sympy/sympy", version="1.1", instance_id="sympy__sympy-1", test_patch=None, **extra):
    test_patch = test_patch or (
        "diff --git a/sympy/core/tests/test_basic.py b/sympy/core/tests/test_basic.py\n"
        "--- a/sympy/core/tests/test_basic.py\n+++ b/sympy/core/tests/test_basic.py\n@@ -1 +1,2 @@\n x = 1\n+y = 2\n"
    )
    row = {"instance_id": instance_id, "repo": repo, "version": version, "base_commit": BASE, "patch": "",
           "test_patch": test_patch, "FAIL_TO_PASS": '["test_a"]', "PASS_TO_PASS": "[]"}
    row.update(extra)
    return row


@pytest.mark.parametrize(("repo", "version", "runner", "install", "parser"), [
    ("sympy/sympy", "1.1", "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose",
     "python -m pip install -e .", "parse_log_sympy"),
    ("psf/requests", "2.0", "pytest -rA", "python -m pip install .", "parse_log_requests"),
    ("django/django", "1.9", "./tests/runtests.py --verbosity 2", "python setup.py install", "parse_log_django"),
    ("astropy/astropy", "1.3", "pytest -rA -vv -o console_output_style=classic --tb=no",
     "python -m pip install -e .[test] --verbose", "parse_log_astropy"),
    ("astropy/astropy", "v5.3", "pytest -rA", "python -m pip install -e .[test] --verbose", "parse_log_astropy"),
    ("mwaskom/seaborn", "0.12", "pytest --no-header -rA", "python -m pip install -e .[dev]", "parse_log_seaborn"),
    ("matplotlib/matplotlib", "3.8", "pytest -rA", 'python -m pip install --no-build-isolation -e ".[dev]"',
     "parse_log_matplotlib"),
    ("scikit-learn/scikit-learn", "1.3", "pytest -rA",
     "python -m pip install -v --no-use-pep517 --no-build-isolation -e .", "parse_log_scikit"),
    ("pydata/xarray", "2022.06", "pytest -rA", "python -m pip install -e .", "parse_log_xarray"),
    ("pylint-dev/pylint", "2.15", "pytest -rA", "python -m pip install -e .", "parse_log_pylint"),
    ("pytest-dev/pytest", "5.4", "pytest -rA", "python -m pip install -e .", "parse_log_pytest"),
    ("pallets/flask", "2.3", "pytest -rA", "python -m pip install -e .", "parse_log_flask"),
])
def test_repositories_outside_the_shared_samples(repo, version, runner, install, parser):
    row = to_harness_row(classic(repo=repo, version=version))
    directive = "sympy.core.tests.test_basic" if repo == "django/django" else "sympy/core/tests/test_basic.py"
    assert runner_line(row["eval_script"]) == f"{runner} {directive}"
    assert install in script_lines(row["eval_script"])
    assert row["log_parser"] == parser
    make_test_spec(row)


def test_specs_cover_every_repository_of_verified_lite_and_lite_dev():
    specs = load_repo_specs()
    assert VERIFIED_AND_LITE_REPOS <= set(specs)
    assert SWE_GYM_REPOS <= set(specs)
    assert all(spec.versions for spec in specs.values())
    assert specs["django/django"].test_directives == "django_modules"
    assert specs.source == str(SPECS_PATH.resolve())


def test_official_image_names():
    assert official_image_name("django__django-11099") == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    assert (official_image_name("Project-MONAI__MONAI-3209", "myorg")
            == "myorg/sweb.eval.x86_64.project-monai_1776_monai-3209:latest")
    assert official_image_name("django__django-11099", None) == "sweb.eval.x86_64.django__django-11099:latest"
    assert official_image_name("x__y-1", tag="v2", arch="arm64") == "swebench/sweb.eval.arm64.x_1776_y-1:v2"
    row = to_harness_row(classic(), namespace="mirror.local")
    assert row["image"] == "mirror.local/sweb.eval.x86_64.sympy_1776_sympy-1:latest"


def test_rows_already_in_5x_form_pass_through_unchanged():
    row = to_harness_row(classic())
    row["eval_script"] = "#!/bin/bash\necho custom\n"
    row["image"] = "local/custom:1"
    again = convert_instances([row, {**row, "instance_id": "other", "repo": "no/such-repo", "version": "9"}])
    assert again[0] == row and again[0] is not row
    assert again[1]["eval_script"] == "#!/bin/bash\necho custom\n"


def test_a_test_patch_that_only_adds_files_has_no_reset():
    patch = ("diff --git a/sympy/core/tests/test_new.py b/sympy/core/tests/test_new.py\nnew file mode 100644\n"
             "--- /dev/null\n+++ b/sympy/core/tests/test_new.py\n@@ -0,0 +1 @@\n+def test_x(): pass\n")
    row = to_harness_row(classic(test_patch=patch))
    assert not any(line.startswith("git checkout") for line in script_lines(row["eval_script"]))
    assert runner_line(row["eval_script"]).endswith("bin/test -C --verbose sympy/core/tests/test_new.py")


def test_lists_given_as_lists_are_kept():
    row = to_harness_row(classic(FAIL_TO_PASS=["a", "b"], PASS_TO_PASS=["c"]))
    assert row["FAIL_TO_PASS"] == ["a", "b"] and row["PASS_TO_PASS"] == ["c"]


# --------------------------------------------------------------------------- errors


def error_of(rows, **kwargs) -> InvalidRecordError:
    with pytest.raises(InvalidRecordError) as info:
        convert_instances(rows, source="in.jsonl", **kwargs)
    return info.value


def test_unknown_repository_names_file_record_and_field():
    err = error_of([classic(), classic(repo="no-org/no-repo", version="4.1", instance_id="no-org__no-repo-7")])
    assert (err.source, err.record, err.field) == ("in.jsonl", "1 (no-org__no-repo-7)", "repo")
    assert "no-org/no-repo" in str(err) and "repo_specs.yaml" in str(err)


def test_unknown_version_names_the_spec_file():
    err = error_of([classic(version="0.0.1")])
    assert (err.record, err.field) == ("0 (sympy__sympy-1)", "version")
    assert "'0.0.1'" in str(err) and "repo_specs.yaml" in str(err) and "1.14" in str(err)


@pytest.mark.parametrize(("change", "field"), [
    ({"base_commit": None}, "base_commit"),
    ({"test_patch": ""}, "test_patch"),
    ({"test_patch": "not a diff"}, "test_patch"),
    ({"FAIL_TO_PASS": "[not json"}, "FAIL_TO_PASS"),
    ({"PASS_TO_PASS": {"a": 1}}, "PASS_TO_PASS"),
    ({"image": "x"}, "eval_script"),
    ({"instance_id": 7}, "instance_id"),
    ({"version": None}, "version"),
])
def test_bad_fields(change, field):
    err = error_of([{**classic(), **change}])
    assert err.field == field and err.source == "in.jsonl"


def test_missing_instance_id_and_duplicates():
    row = classic()
    del row["instance_id"]
    assert error_of([row]).field == "instance_id"
    err = error_of([classic(), classic()])
    assert (err.record, err.field) == ("1 (sympy__sympy-1)", "instance_id") and "duplicate of record 0" in str(err)
    assert error_of(["not an object"]).record == "0"


def test_a_test_patch_without_test_files_is_an_error():
    patch = "diff --git a/data/x.json b/data/x.json\n--- a/data/x.json\n+++ b/data/x.json\n@@ -1 +1 @@\n-1\n+2\n"
    assert error_of([classic(test_patch=patch)]).field == "test_patch"


def test_a_spec_file_with_an_unknown_test_name_is_rejected(tmp_path):
    bad = tmp_path / "specs.yaml"
    bad.write_text("test_commands: {pytest: pytest -rA}\nrepositories:\n  a/b:\n    groups:\n"
                   "      - {versions: ['1.0'], test: nose}\n")
    with pytest.raises(InvalidRecordError) as info:
        load_repo_specs(bad)
    assert str(bad.resolve()) in str(info.value) and info.value.field == "test" and "nose" in str(info.value)
    good = tmp_path / "good.yaml"
    good.write_text("test_commands: {t: python -m pytest -q}\nrepositories:\n  sympy/sympy:\n    groups:\n"
                    "      - {versions: ['1.1'], test: t}\n")
    row = convert_instances([classic()], specs=good)[0]
    assert runner_line(row["eval_script"]) == "python -m pytest -q sympy/core/tests/test_basic.py"
    assert row["log_parser"] == "parse_log_sympy"
    with pytest.raises(InvalidRecordError) as info:
        convert_instances([classic(version="1.2")], specs=good)
    assert str(good.resolve()) in str(info.value)


# --------------------------------------------------------------------------- loading


def test_load_instances_reads_jsonl_json_and_parquet_alike(shared_data, tmp_path):
    source = shared_data / "swebench" / "lite-dev.jsonl"
    rows = load_instances(source)
    assert len(rows) == 23 and rows == read_rows(shared_data, "lite-dev.jsonl")
    as_json = tmp_path / "rows.json"
    as_json.write_text(json.dumps(rows))
    assert load_instances(as_json) == rows
    as_dict = tmp_path / "by_id.json"
    as_dict.write_text(json.dumps({r["instance_id"]: r for r in rows}))
    assert load_instances(as_dict) == rows
    datasets = pytest.importorskip("datasets")
    as_parquet = tmp_path / "rows.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(as_parquet))
    assert load_instances(as_parquet) == rows
    assert convert_file(as_parquet) == convert_file(source)


def test_write_rows_round_trips(shared_data, tmp_path):
    rows = convert_file(shared_data / "swebench" / "lite-dev.jsonl")
    for name in ("out.jsonl", "out.json"):
        assert load_instances(write_rows(rows, tmp_path / name)) == rows


def test_load_instances_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instance_id": "a"}\n\n{oops\n')
    with pytest.raises(InvalidRecordError) as info:
        load_instances(bad)
    assert info.value.source == str(bad) and info.value.record == 1 and "line 3" in str(info.value)
    scalar = tmp_path / "scalar.json"
    scalar.write_text("42")
    with pytest.raises(InvalidRecordError):
        load_instances(scalar)
    with pytest.raises(SRLSweError, match="not a readable"):
        load_instances(tmp_path / "missing.jsonl")


# --------------------------------------------------------------------------- SWE-Gym
# Values below come from SWE-Gym's harness fork (github.com/SWE-Gym/SWE-Bench-Fork @ 242429c1,
# swebench/harness/constants.py and test_spec.py) and the commands its harness traced in the real
# SWE-Gym evaluation logs in ../shared/data/trajectories, not from repo_specs.yaml.

MOTO_PATCH = (
    "diff --git a/tests/test_cloudfront/test_cloudfront_invalidation.py b/tests/test_cloudfront/test_cloudfront_invalidation.py\n"
    "--- a/tests/test_cloudfront/test_cloudfront_invalidation.py\n"
    "+++ b/tests/test_cloudfront/test_cloudfront_invalidation.py\n"
    "@@ -40,3 +40,4 @@ def test_create_invalidation():\n"
    "     )\n"
    "+    resp[\"Invalidation\"].should.have.key(\"Id\")\n"
    "     resp.should.have.key(\"Location\")\n"
)
MYPY_PATCH = (
    "diff --git a/test-data/unit/check-dataclasses.test b/test-data/unit/check-dataclasses.test\n"
    "--- a/test-data/unit/check-dataclasses.test\n+++ b/test-data/unit/check-dataclasses.test\n"
    "@@ -1519,6 +1519,30 @@ class Some:\n"
    " [builtins fixtures/dataclasses.pyi]\n"
    "+[case testDataclassWithSlotsDerivedFromNonSlot]\n"
    "+# flags: --python-version 3.10\n"
    "+from dataclasses import dataclass\n"
    "+\n"
    "+[case testDataclassWithSlotsConflict]\n"
    "+# flags: --python-version 3.10\n"
    "diff --git a/test-data/unit/check-plugin-attrs.test b/test-data/unit/check-plugin-attrs.test\n"
    "--- a/test-data/unit/check-plugin-attrs.test\n+++ b/test-data/unit/check-plugin-attrs.test\n"
    "@@ -1631,6 +1631,24 @@ class C:\n"
    "+[case testAttrsClassWithSlotsDerivedFromNonSlots]\n"
    "+import attrs\n"
    "+\n"
    "+[case testRuntimeSlotsAttr]\n"
    "+from attr import dataclass\n"
)
MONAI_PATCH = (
    "diff --git a/tests/test_ssim_loss.py b/tests/test_ssim_loss.py\n"
    "--- a/tests/test_ssim_loss.py\n+++ b/tests/test_ssim_loss.py\n"
    "@@ -34,6 +34,14 @@ def test_shape(self, input_param, input_data, expected_val):\n"
    "         result = SSIMLoss(**input_param).forward(**input_data)\n"
    "+    def test_grad(self):\n"
    "+        pass\n"
)
PANDAS_PATCH = (
    "diff --git a/pandas/tests/frame/test_constructors.py b/pandas/tests/frame/test_constructors.py\n"
    "--- a/pandas/tests/frame/test_constructors.py\n+++ b/pandas/tests/frame/test_constructors.py\n"
    "@@ -10,3 +10,5 @@ class TestDataFrameConstructors:\n"
    "     def test_empty(self):\n"
    "+        pass\n"
    "diff --git a/pandas/tests/io/data/csv/gh-50238.csv b/pandas/tests/io/data/csv/gh-50238.csv\n"
    "new file mode 100644\n--- /dev/null\n+++ b/pandas/tests/io/data/csv/gh-50238.csv\n"
    "@@ -0,0 +1,2 @@\n+a,b\n+1,2\n"
)
CONAN_PATCH = (
    "diff --git a/conans/test/integration/command/install/install_test.py b/conans/test/integration/command/install/install_test.py\n"
    "--- a/conans/test/integration/command/install/install_test.py\n"
    "+++ b/conans/test/integration/command/install/install_test.py\n"
    "@@ -1 +1,2 @@\n import os\n+import textwrap\n"
    "diff --git a/conans/test/unittests/tools/files/test_zipping.py b/conans/test/unittests/tools/files/test_zipping.py\n"
    "new file mode 100644\n--- /dev/null\n+++ b/conans/test/unittests/tools/files/test_zipping.py\n"
    "@@ -0,0 +1 @@\n+def test_zip(): pass\n"
)

SWE_GYM_CASES = [
    # instance_id, repo, version, base_commit, test_patch, image, parser, test command, install, eval_commands, reset files
    ("getmoto__moto-6387", "getmoto/moto", "4.1", "7b4cd492ffa6768dfbd733b3ca5f55548d308d00", MOTO_PATCH,
     "xingyaoww/sweb.eval.x86_64.getmoto_s_moto-6387:latest", "parse_log_pytest",
     "pytest -n0 -rA tests/test_cloudfront/test_cloudfront_invalidation.py", "make init", [],
     ["tests/test_cloudfront/test_cloudfront_invalidation.py"]),
    ("python__mypy-15976", "python/mypy", "1.6", "d7b24514d7301f86031b7d1e2215cf8c2476bec0", MYPY_PATCH,
     "xingyaoww/sweb.eval.x86_64.python_s_mypy-15976:latest", "parse_log_pytest",
     "pytest -n0 -rA -k 'testDataclassWithSlotsDerivedFromNonSlot or testDataclassWithSlotsConflict"
     " or testAttrsClassWithSlotsDerivedFromNonSlots or testRuntimeSlotsAttr'",
     "python -m pip install -r test-requirements.txt; python -m pip install -e .; hash -r", [],
     ["test-data/unit/check-dataclasses.test", "test-data/unit/check-plugin-attrs.test"]),
    ("Project-MONAI__MONAI-5686", "Project-MONAI/MONAI", "1.1", "25130db17751bb709e841b9727f34936a84f9093",
     MONAI_PATCH, "xingyaoww/sweb.eval.x86_64.project-monai_s_monai-5686:latest", "parse_log_pytest",
     "pytest -rA tests/test_ssim_loss.py",
     "sed -i '/^git+https:\\/\\/github.com\\/Project-MONAI\\//d' requirements-dev.txt; python -m pip install "
     "types-pkg-resources==0.1.3 pytest; pip install -r requirements-dev.txt;python setup.py develop;", [],
     ["tests/test_ssim_loss.py"]),
    ("pandas-dev__pandas-50238", "pandas-dev/pandas", "2.0", "749d59db6e5935f4b4ccd2c3a2aa87f18d0b9b5d",
     PANDAS_PATCH, "xingyaoww/sweb.eval.x86_64.pandas-dev_s_pandas-50238:latest", "parse_log_pytest",
     "pytest -rA --tb=long pandas/tests/frame/test_constructors.py",  # the new .csv is data: neither run nor reset
     "python -m pip install 'numpy<2'; python -m pip install -ve . --no-build-isolation "
     "-Ceditable-verbose=true; pip uninstall pytest-qt -y;", [],
     ["pandas/tests/frame/test_constructors.py"]),
    ("conan-io__conan-13729", "conan-io/conan", "2.0", "2a4a4ae2e2ee37b1bd1be5ba1e95d2b44cc4b2ec", CONAN_PATCH,
     "xingyaoww/sweb.eval.x86_64.conan-io_s_conan-13729:latest", "parse_log_pytest",
     "pytest -n0 -rA conans/test/integration/command/install/install_test.py "
     "conans/test/unittests/tools/files/test_zipping.py",
     "echo 'cython<3' > /tmp/constraint.txt; export PIP_CONSTRAINT=/tmp/constraint.txt; python -m pip install "
     "-r conans/requirements.txt; python -m pip install -r conans/requirements_server.txt; python -m pip "
     "install -r conans/requirements_dev.txt", ["export PYTHONPATH=${PYTHONPATH:-}:$(pwd)"],
     ["conans/test/integration/command/install/install_test.py"]),
]


@pytest.mark.parametrize(("iid", "repo", "version", "base", "test_patch", "image", "parser", "command", "install",
                          "env", "reset"), SWE_GYM_CASES, ids=[c[0] for c in SWE_GYM_CASES])
def test_swe_gym_rows(iid, repo, version, base, test_patch, image, parser, command, install, env, reset):
    before = classic(repo=repo, version=version, instance_id=iid, test_patch=test_patch, base_commit=base,
                     FAIL_TO_PASS='["t1"]', PASS_TO_PASS='["t2", "t3"]', problem_statement="x", hints_text="")
    row = convert_instances([before])[0]
    assert row["image"] == image
    assert row["log_parser"] == parser and PARSER_REGISTRY[parser]
    assert row["eval_type"] == "pass_and_fail"
    lines = script_lines(row["eval_script"])
    assert lines[:3 + len(env)] == ["source /opt/miniconda3/bin/activate", "conda activate testbed", "cd /testbed", *env]
    assert runner_line(row["eval_script"]) == command
    reset_line = f"git checkout {base} {' '.join(reset)}"
    assert lines.count(reset_line) == 2 and lines[-1] == reset_line
    assert lines.index(install) < lines.index(reset_line) < lines.index("git apply -v -")
    assert f"\n{test_patch}\nEOF_114329324912\n" in row["eval_script"]

    spec = make_test_spec(row)
    assert (spec.image, spec.log_parser, spec.FAIL_TO_PASS, spec.PASS_TO_PASS) == (image, parser, ["t1"], ["t2", "t3"])
    traced = spec.eval_script.splitlines()
    assert traced[traced.index(f": '{END_TEST_OUTPUT}'") - 1] == "SWEBENCH_TEST_EXIT_CODE=$?"
    # the shell reads the -k expression as one argument
    assert shlex.split(command) == shlex.split(runner_line(row["eval_script"]))


def simple_commands(command: str) -> list[list[str]]:
    """A command line's simple commands (split at ; && || |), each as its words: what `set -x` traces."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    out, words = [], []
    for token in lexer:
        if token in (";", "&&", "||", "|"):
            out.append(words)
            words = []
        else:
            words.append(token)
    return [w for w in [*out, words] if w]


def test_swe_gym_eval_scripts_match_what_swe_gyms_harness_ran(shared_data):
    """Our script's commands appear, in order, among those the SWE-Gym harness traced for real instances.

    The traces (SWE-Gym/OpenHands-Sampled-Trajectories, test_result.test_output) have the fork's
    script: no output markers, and `git diff <base>` without `-c core.fileMode=false`; those
    informational lines are left out of the comparison. The test patches are not in the traces:
    the rows above carry patches touching the traced test files (and, for mypy, the traced cases).
    """
    cases = {c[0]: c for c in SWE_GYM_CASES}
    trajectories = json.loads((shared_data / "trajectories" / "swe-gym-openhands-sampled.json").read_text())
    checked = 0
    for trajectory in trajectories:
        iid = trajectory["instance_id"].rsplit("_", 1)[0]
        if iid not in cases:
            continue
        _, repo, version, base, test_patch, *_ = cases[iid]
        output = trajectory["test_result"]["test_output"]
        traced = []
        for line in output.splitlines():
            if line.startswith("+ "):
                try:
                    traced.append(shlex.split(line[2:]))
                except ValueError:
                    pass
        assert ["git", "diff", base] in traced  # the row's base commit is the traced one
        row = to_harness_row(classic(repo=repo, version=version, instance_id=iid, test_patch=test_patch,
                                     base_commit=base))
        position = 0
        for command in script_lines(row["eval_script"]):
            if command.startswith((": '", "git -c core.fileMode=false diff")):
                continue
            for words in simple_commands(command):
                while position < len(traced) and traced[position] != words:
                    position += 1
                assert position < len(traced), f"{iid}: {words!r} is not in the harness's trace (in order)"
                position += 1
        checked += 1
    assert checked == 3  # getmoto__moto-6387, python__mypy-15976, Project-MONAI__MONAI-5686


def test_swe_gym_image_namespace_choices():
    moto = classic(repo="getmoto/moto", version="4.1", instance_id="getmoto__moto-6387")
    sympy = classic()
    # "swebench" (the default, and the CLI's) means: each repository's own publisher
    for rows in (convert_instances([moto, sympy]), convert_instances([moto, sympy], namespace="swebench")):
        assert [r["image"] for r in rows] == ["xingyaoww/sweb.eval.x86_64.getmoto_s_moto-6387:latest",
                                              "swebench/sweb.eval.x86_64.sympy_1776_sympy-1:latest"]
    # a mirror keeps each publisher's spelling of "__"
    rows = convert_instances([moto, sympy], namespace="registry.local/swe")
    assert [r["image"] for r in rows] == ["registry.local/swe/sweb.eval.x86_64.getmoto_s_moto-6387:latest",
                                          "registry.local/swe/sweb.eval.x86_64.sympy_1776_sympy-1:latest"]
    # locally built images keep "__"
    for namespace in (None, ""):
        rows = convert_instances([moto], namespace=namespace)
        assert rows[0]["image"] == "sweb.eval.x86_64.getmoto__moto-6387:latest"
    assert (official_image_name("Project-MONAI__MONAI-6969", "xingyaoww", double_underscore="_s_")
            == "xingyaoww/sweb.eval.x86_64.project-monai_s_monai-6969:latest")


def test_mypy_versions_pick_the_forks_k_command_and_no_cases_selects_everything():
    patch = ("diff --git a/mypy/test/teststubtest.py b/mypy/test/teststubtest.py\n"
             "--- a/mypy/test/teststubtest.py\n+++ b/mypy/test/teststubtest.py\n@@ -1 +1,2 @@\n x = 1\n+y = 2\n")
    row = to_harness_row(classic(repo="python/mypy", version="1.10", instance_id="python__mypy-17000",
                                 test_patch=patch))
    # no "[case ...]" in the patch: SWE-Gym's harness ran `-k ""`, i.e. every test
    assert runner_line(row["eval_script"]) == "pytest -rA -k ''"
    row = to_harness_row(classic(repo="python/mypy", version="0.800", instance_id="python__mypy-10000",
                                 test_patch=MYPY_PATCH))
    assert runner_line(row["eval_script"]).startswith("pytest -n0 -rA -k 'testDataclassWithSlotsDerivedFromNonSlot or ")
    assert ("python -m pip install -r test-requirements.txt; python -m pip install -e .; "
            "pip install pytest pytest-xdist; hash -r;") in script_lines(row["eval_script"])


@pytest.mark.parametrize(("repo", "version", "runner", "install", "parser"), [
    ("pydantic/pydantic", "2.7", "pytest -rA --tb=short -vv -o console_output_style=classic --no-header",
     'export PATH="$HOME/.local/bin:$PATH"; pdm add pre-commit; make install;', "parse_log_pytest_v2"),
    ("dask/dask", "2022.6", "pytest -n0 -rA --color=no", "python -m pip install --no-deps -e .", "parse_log_pytest"),
    ("bokeh/bokeh", "3.3", "pytest -rA -n0", "python -m pip install -e .; python -m pip install bokeh_sampledata;",
     "parse_log_pytest"),
    ("bokeh/bokeh", "2.4", "pytest -rA -n0",
     'pip install "setuptools<66" "jinja2<3.1"; printf "1\\n" | python setup.py develop; bokeh sampledata;',
     "parse_log_pytest"),
    ("modin-project/modin", "0.19", "pytest -n0 -rA",
     "python -m pip install -e .; python -m pip install numpy==1.23.1 protobuf==3.20.1;", "parse_log_pytest"),
    ("iterative/dvc", "3.49", "pytest -rA", None, "parse_log_pytest"),
    ("facebookresearch/hydra", "1.3", "pytest -rA --tb=long", "pip install -r requirements/dev.txt; pip install -e .;",
     "parse_log_pytest"),
    ("pandas-dev/pandas", "2.2", "pytest -rA --tb=long",
     "python -m pip install -ve . --no-build-isolation -Ceditable-verbose=true; pip uninstall pytest-qt -y;",
     "parse_log_pytest"),
])
def test_other_swe_gym_repositories(repo, version, runner, install, parser):
    owner, name = repo.split("/")
    row = to_harness_row(classic(repo=repo, version=version, instance_id=f"{owner}__{name}-1"))
    assert runner_line(row["eval_script"]) == f"{runner} sympy/core/tests/test_basic.py"
    lines = script_lines(row["eval_script"])
    if install:
        assert install in lines
    else:  # dvc 3.4+: the 3.3-and-older pins are not appended
        assert not any('"pytest<8"' in line for line in lines) and any(line.startswith("python -m pip install --upgrade pip") for line in lines)
    assert row["log_parser"] == parser
    assert row["image"] == f"xingyaoww/sweb.eval.x86_64.{owner.lower()}_s_{name.lower()}-1:latest"
    make_test_spec(row)


def test_a_spec_file_naming_an_unknown_image_set_is_rejected(tmp_path):
    bad = tmp_path / "specs.yaml"
    bad.write_text("test_commands: {t: pytest}\nimage_sets: {gym: {namespace: me, double_underscore: _s_}}\n"
                   "repositories:\n  a/b:\n    images: gymm\n    groups:\n      - {versions: ['1.0'], test: t}\n")
    with pytest.raises(InvalidRecordError) as info:
        load_repo_specs(bad)
    assert info.value.field == "images" and "gymm" in str(info.value)
    bad.write_text(bad.read_text().replace("gymm", "gym").replace("double_underscore: _s_", "separator: _s_"))
    with pytest.raises(InvalidRecordError, match="double_underscore"):
        load_repo_specs(bad)
