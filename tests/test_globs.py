"""The one meaning of "test file": real ``**`` semantics, declared globs adding to the defaults, conftest.py always."""
from srl_swe.globs import ARTIFACT_FILES, DEFAULT_TEST_FILES, globs_of_test_files, literal, matches


def test_double_star_spans_zero_or_more_directories_and_star_stays_in_one_segment():
    assert matches("tests/test_x.py", ["tests/**/*.py"]) and matches("tests/a/b/test_x.py", ["tests/**/*.py"])
    assert matches("toolz/tests/test_a.py", ["toolz/**/tests/*.py"])
    assert not matches("src/pkg/mod.py", ["*.py"]) and matches("src/pkg/mod.py", ["**/*.py"])
    assert matches(".github/ci.py", ["**/*.py"])  # names starting with a dot are not special
    assert not matches("anything.py", [])
    assert matches("/testbed/tests/test_a.py", ["tests/**"]) and matches("./tests/test_a.py", ["tests/**"])


def test_default_test_files_are_tests_wherever_they_sit_and_nothing_else():
    globs = globs_of_test_files()
    for path in ["tests/test_a.py", "tests/data/x.json", "pkg/tests/helpers.py", "test/a.py", "test_top.py",
                 "pkg/sub/test_mod.py", "pkg/mod_test.py", "conftest.py", "pkg/sub/conftest.py"]:
        assert matches(path, globs), path
    for path in ["pkg/mod.py", "test_data/input.py", "pkg/testing.py", "setup.py", "docs/conf.py"]:
        assert not matches(path, globs), path


def test_declared_globs_extend_the_defaults_and_conftest_always_counts():
    globs = globs_of_test_files(["checks/*.py"])
    assert matches("checks/a.py", globs) and matches("tests/test_a.py", globs)
    own = globs_of_test_files(defaults=["spec/**"])  # a caller's own defaults still keep conftest.py
    assert matches("spec/a.py", own) and matches("pkg/conftest.py", own) and not matches("tests/test_a.py", own)
    assert globs_of_test_files(DEFAULT_TEST_FILES) == globs_of_test_files()  # no repeats


def test_literal_paths_and_artifacts():
    assert matches("weird[1].py", [literal("weird[1].py")]) and not matches("weird1.py", [literal("weird[1].py")])
    for path in ["pkg/__pycache__/m.cpython-311.pyc", "m.pyc", ".pytest_cache/v/x", "src/pkg.egg-info/PKG-INFO", ".coverage"]:
        assert matches(path, ARTIFACT_FILES), path
    assert not matches("pkg/mod.py", ARTIFACT_FILES)
