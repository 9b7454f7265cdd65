"""AST bug injection: every kind on small snippets, minimal span edits, patches that apply and
invert (checked with the real `git apply`), deterministic ids and order, and problem statements
that never show the patched code. No Docker."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap

import pytest

from srl_swe.tasks.mutations import (
    MUTATION_KINDS,
    Mutation,
    find_mutations,
    sample_mutations,
)
from srl_swe.patches import changed_lines, unified_diff
from srl_swe.tasks.problem import parse_failures, write_problem_statement
from srl_swe.tasks.synthesize import statement_tests

SNIPPET = textwrap.dedent('''\
    """A module docstring."""
    import math

    LIMIT = 10  # module level: never mutated


    def clamp(x, lo, hi):
        """Clamp x into [lo, hi]."""
        if lo > hi:
            raise ValueError("empty range")
        if x < lo:
            return lo
        if x >= hi:
            return hi
        return x


    def window(items, size=2):
        out = []
        for i in range(len(items) - size + 1):
            out.append(items[i:i + size])
        return out


    class Counter:
        def __init__(self, start=0):
            self.total = start
            self.enabled = True

        def add(self, value, times=1):
            if not self.enabled or value is None:
                return self.total
            step = value * times
            self.total += step
            step = step % 7
            return math.copysign(self.total, step)


    def first(seq, default=None):
        for item in seq[0:]:
            if item and item != 0:
                return item
        return default
''')


@pytest.fixture(scope="module")
def mutations() -> list[Mutation]:
    return find_mutations(SNIPPET, "pkg/mod.py")


def by_kind(mutations: list[Mutation], kind: str) -> list[Mutation]:
    return [m for m in mutations if m.kind == kind]


def test_every_kind_is_found(mutations):
    assert {m.kind for m in mutations} == set(MUTATION_KINDS)


@pytest.mark.parametrize("kind, before, after", [
    ("flip_comparison", "if x < lo:", "if x >= lo:"),
    ("flip_comparison", "if x >= hi:", "if x < hi:"),
    ("flip_comparison", "if not self.enabled or value is None:", "if not self.enabled or value is not None:"),
    ("flip_comparison", "if item and item != 0:", "if item and item == 0:"),
    ("comparison_boundary", "if x < lo:", "if x <= lo:"),
    ("off_by_one", "for i in range(len(items) - size + 1):", "for i in range((len(items) - size + 1) - 1):"),
    ("off_by_one", "for i in range(len(items) - size + 1):", "for i in range(len(items) - size + 2):"),
    ("off_by_one", "for item in seq[0:]:", "for item in seq[1:]:"),
    ("arithmetic_operator", "step = value * times", "step = value / times"),
    ("arithmetic_operator", "self.total += step", "self.total -= step"),
    ("arithmetic_operator", "step = step % 7", "step = step // 7"),
    ("boolean_operator", "if not self.enabled or value is None:", "if not self.enabled and value is None:"),
    ("negate_condition", "if x < lo:", "if not (x < lo):"),
    ("negate_condition", "if item and item != 0:", "if not (item and item != 0):"),
    ("swap_arguments", "return math.copysign(self.total, step)", "return math.copysign(step, self.total)"),
    ("change_constant", "self.enabled = True", "self.enabled = False"),
    ("change_constant", "step = step % 7", "step = step % 8"),
    ("wrong_variable", "return x", None),
])
def test_kind_rewrites_exactly_one_line(mutations, kind, before, after):
    """Each mutation rewrites one line in place; the rest of the file is byte-identical."""
    hits = []
    for m in by_kind(mutations, kind):
        mutated = m.apply(SNIPPET)
        old, new = SNIPPET.splitlines(), mutated.splitlines()
        if len(old) != len(new):
            continue
        diff = [(a, b) for a, b in zip(old, new) if a != b]
        if len(diff) == 1 and diff[0][0].strip() == before:
            hits.append(diff[0][1].strip())
    assert hits, f"no {kind} mutation of {before!r}"
    if after is not None:
        assert after in hits, hits


def test_negating_a_negation_removes_the_not():
    source = "def f(a, b, ready):\n    if not ready:\n        return 1\n    if not (a or b):\n        return 2\n    return 0\n"
    negations = by_kind(find_mutations(source, "m.py"), "negate_condition")
    assert {m.detail for m in negations} == {"drop `not`"}
    assert sorted(m.apply(source) for m in negations) == sorted([source.replace("if not ready:", "if ready:"),
                                                                source.replace("if not (a or b):", "if (a or b):")])


def test_drop_statement_and_guard_remove_whole_lines(mutations):
    dropped = {m.apply(SNIPPET).count("\n") for m in by_kind(mutations, "drop_statement") + by_kind(mutations, "drop_guard")}
    assert all(count <= SNIPPET.count("\n") for count in dropped)
    texts = [unified_diff("pkg/mod.py", SNIPPET, m.apply(SNIPPET)) for m in by_kind(mutations, "drop_guard")]
    assert any("-    if lo > hi:\n-        raise ValueError(\"empty range\")\n" in t for t in texts)
    returns = [m for m in by_kind(mutations, "drop_statement") if m.edits[0].original.strip() == "return lo"]
    assert returns and returns[0].apply(SNIPPET).count("        pass\n") == 1  # the only statement: `pass`


def test_only_function_bodies_are_mutated(mutations):
    for m in mutations:
        assert m.function in {"clamp", "window", "Counter.__init__", "Counter.add", "first"}, m
        assert "LIMIT" not in m.apply(SNIPPET).replace("LIMIT = 10", "")  # module level untouched
    assert all("Clamp x into" in m.apply(SNIPPET) for m in mutations)  # docstrings untouched


def test_every_mutation_parses_and_changes_the_ast(mutations):
    original = ast.dump(ast.parse(SNIPPET))
    for m in mutations:
        assert ast.dump(ast.parse(m.apply(SNIPPET))) != original, m


def test_ids_are_deterministic_and_unique(mutations):
    again = find_mutations(SNIPPET, "pkg/mod.py")
    assert [m.id for m in again] == [m.id for m in mutations]
    assert len({m.id for m in mutations}) == len(mutations)
    assert all(m.id.startswith(m.kind + "-") for m in mutations)
    other_path = find_mutations(SNIPPET, "pkg/other.py")
    assert not {m.id for m in other_path} & {m.id for m in mutations}


def test_sampling_is_seeded_and_diverse(mutations):
    a = sample_mutations(mutations, seed=3)
    assert [m.id for m in a] == [m.id for m in sample_mutations(list(reversed(mutations)), seed=3)]
    assert sorted(m.id for m in a) == sorted(m.id for m in mutations)
    assert [m.id for m in sample_mutations(mutations, seed=4)] != [m.id for m in a]
    head = a[:len(MUTATION_KINDS)]
    assert len({m.kind for m in head}) == len(MUTATION_KINDS)
    assert len(sample_mutations(mutations, seed=3, limit=5)) == 5


def test_kinds_filter_and_unknown_kind(mutations):
    only = find_mutations(SNIPPET, "pkg/mod.py", kinds=["swap_arguments"])
    assert only and {m.kind for m in only} == {"swap_arguments"}
    with pytest.raises(ValueError, match="unknown mutation kind"):
        find_mutations(SNIPPET, "pkg/mod.py", kinds=["nope"])
    assert find_mutations("def broken(:\n", "x.py") == []


def test_apply_refuses_another_source(mutations):
    with pytest.raises(ValueError, match="does not match"):
        mutations[0].apply(SNIPPET.replace("A module", "Another module"))


def test_unicode_columns_are_characters_not_bytes():
    src = 'def f(s):\n    if s == "héllo wörld" and len(s) > 3:\n        return "ü" + s\n    return s\n'
    ms = find_mutations(src, "u.py")
    flips = [m.apply(src) for m in ms if m.kind == "flip_comparison"]
    assert '    if s != "héllo wörld" and len(s) > 3:\n' in "".join(flips)
    assert '    if s == "héllo wörld" and len(s) <= 3:\n' in "".join(flips)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_patches_apply_and_invert_with_git(tmp_path, mutations):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    target = repo / "pkg" / "mod.py"
    target.write_text(SNIPPET)

    def git(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        assert (proc.returncode == 0) == ok, proc.stderr
        return proc

    git("init", "-q")
    for m in mutations[::3] + by_kind(mutations, "drop_guard"):
        bug, fix = m.bug_patch(SNIPPET), m.fix_patch(SNIPPET)
        assert bug.startswith("diff --git a/pkg/mod.py b/pkg/mod.py\n--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ ")
        assert sorted(changed_lines(bug)) == sorted(changed_lines(fix))
        (tmp_path / "bug.diff").write_text(bug)
        (tmp_path / "fix.diff").write_text(fix)
        git("apply", str(tmp_path / "bug.diff"))
        assert target.read_text() == m.apply(SNIPPET)
        git("apply", "--check", str(tmp_path / "bug.diff"), ok=False)  # already applied
        git("apply", str(tmp_path / "fix.diff"))
        assert target.read_text() == SNIPPET


def test_diff_marks_a_missing_final_newline(tmp_path):
    patch = unified_diff("a.py", "x = 1\ny = 2", "x = 1\ny = 3")
    assert patch.endswith("-y = 2\n\\ No newline at end of file\n+y = 3\n\\ No newline at end of file\n")
    assert unified_diff("a.py", "same\n", "same\n") == ""


# --------------------------------------------------------------------------- problem statements

PYTEST_OUTPUT = textwrap.dedent('''\
    ============================= test session starts ==============================
    collected 3 items

    tests/test_mod.py F.F                                                    [100%]

    =================================== FAILURES ===================================
    _________________________________ test_clamp __________________________________
    tests/test_mod.py:5: in test_clamp
        assert clamp(-1, 0, 3) == 0
    pkg/mod.py:11: in clamp
        if x >= lo:
    E   assert -1 == 0
    E    +  where -1 = clamp(-1, 0, 3)
    ____________________________ TestCounter.test_add[2] ___________________________
    tests/test_mod.py:20: in test_add
        c.add(2)
    pkg/mod.py:30: in add
        if x >= lo:
    E   TypeError: unsupported operand type(s)
    =========================== short test summary info ============================
    FAILED tests/test_mod.py::test_clamp - assert -1 == 0
    FAILED tests/test_mod.py::TestCounter::test_add[2] - TypeError: unsupported operand type(s)
    PASSED tests/test_mod.py::test_window
''')


def test_parse_failures_reads_sections():
    failures = parse_failures(PYTEST_OUTPUT)
    assert set(failures) == {"test_clamp", "TestCounter.test_add[2]"}
    assert failures["test_clamp"].frames[0] == ("tests/test_mod.py", "test_clamp", ["assert clamp(-1, 0, 3) == 0"])
    assert failures["TestCounter.test_add[2]"].error_lines == ["E   TypeError: unsupported operand type(s)"]


def test_problem_statement_shows_failures_but_never_the_patch(mutations):
    m = next(m for m in mutations if m.kind == "flip_comparison" and m.edits[0].original == "<")
    gold = m.fix_patch(SNIPPET)
    f2p = ["tests/test_mod.py::test_clamp", "tests/test_mod.py::TestCounter::test_add[2]", "tests/test_mod.py::test_gone"]
    text = write_problem_statement("pkg", f2p, PYTEST_OUTPUT, gold, test_files=["tests/test_mod.py"], total_tests=3)
    for test in f2p:
        assert test in text
    assert "assert clamp(-1, 0, 3) == 0" in text          # the test's own code
    assert "E   assert -1 == 0" in text                    # expected vs actual
    assert "TypeError: unsupported operand type(s)" in text
    assert "pkg/mod.py, in clamp" in text                  # where it went through ...
    assert "pkg/mod.py:11" not in text                     # ... but not the line
    for line in changed_lines(gold):
        assert line.strip() not in text, line
    assert "x >= lo" not in text and "x < lo" not in text
    assert "diff --git" not in text and "@@" not in text


def test_problem_statements_for_every_mutation_hide_the_changed_lines(mutations):
    """Even when the traceback quotes the mutated line, it is scrubbed."""
    for m in mutations[::5]:
        bad = m.apply(SNIPPET).splitlines()[m.line - 1] if m.line - 1 < len(m.apply(SNIPPET).splitlines()) else ""
        output = PYTEST_OUTPUT.replace("        if x >= lo:", "        " + bad.strip()).replace(
            "E   assert -1 == 0", "E   " + bad.strip())
        text = write_problem_statement("pkg", ["tests/test_mod.py::test_clamp"], output, m.fix_patch(SNIPPET))
        for line in changed_lines(m.fix_patch(SNIPPET)):
            if len(line.strip()) >= 3:
                assert line.strip() not in text.splitlines(), (m, line)


def test_recursion_is_folded_and_carets_dropped():
    frames = "pkg/mod.py:9: in clamp\n    return clamp(x - 1, lo, hi)\n" * 40
    output = ("=================================== FAILURES ===================================\n"
              "_________________________________ test_clamp __________________________________\n"
              "tests/test_mod.py:5: in test_clamp\n    assert clamp(5, 0, 3) == 3\n    ^^^^^^^^^^^^^\n"
              + frames + "E   RecursionError: maximum recursion depth exceeded\n"
              "=========================== short test summary info ============================\n")
    text = write_problem_statement("pkg", ["tests/test_mod.py::test_clamp"], output, "")
    assert "pkg/mod.py, in clamp  [40 times]" in text and text.count("pkg/mod.py, in clamp") == 1
    assert "^^^" not in text and "RecursionError" in text


def test_no_shipped_problem_statement_quotes_a_line_its_fix_adds():
    """The check the shipped pool passes: every task's statement is free of the gold patch's added lines."""
    from srl_swe.registry import list_envs

    rows = [row for spec in list_envs() for row in spec.load_tasks()]
    assert len(rows) >= 60
    for row in rows:
        added = [line[1:].strip() for line in row["patch"].splitlines() if line.startswith("+") and not line.startswith("+++")]
        statement = {line.strip().lstrip("E>").strip() for line in row["problem_statement"].splitlines()}
        for line in added:
            assert len(line) < 8 or line not in statement, (row["instance_id"], line)


def test_failures_the_log_parser_cannot_name_still_describe_the_bug():
    """A failing test whose id has a space never enters FAIL_TO_PASS (the parser cuts it), but when it fails with the
    bug only, its assertion is shown; other sections with spaces (collection errors) are not."""
    summary = "=========================== short test summary info"
    output = PYTEST_OUTPUT.replace(summary, textwrap.dedent('''\
        ______________________________ test_words[two words] ______________________________
        tests/test_mod.py:31: in test_words
            assert title("two words") == "Two Words"
        E   AssertionError: assert 'Two words' == 'Two Words'
        ___________________________ ERROR collecting tests/test_b.py ___________________________
        E   ImportError: no module named b
        ''') + summary)
    cut = ["tests/test_mod.py::test_words[two"]
    text = write_problem_statement("pkg", ["tests/test_mod.py::test_clamp"], output, "", cut_failing=cut)
    assert "(and 1 whose ids contain spaces)" in text
    assert "`test_words[two words]`:" in text and "E   AssertionError: assert 'Two words' == 'Two Words'" in text
    assert "ImportError" not in text and "collecting" not in text
    plain = write_problem_statement("pkg", ["tests/test_mod.py::test_clamp"], output, "")
    assert "two words" not in plain  # not known to fail with the bug only: not shown


def test_a_doctest_failure_is_shown_under_its_test_id(tmp_path):
    """Real pytest output of a failing doctest (no `E` lines): the example, what it expected and what it got."""
    (tmp_path / "mod.py").write_text('def double(x):\n    """\n    >>> double(2)\n    4\n    """\n    return x\n')
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "--doctest-modules", "--tb=short", "-p",
                          "no:cacheprovider", "mod.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "[doctest] mod.double" in run.stdout, run.stdout
    text = write_problem_statement("pkg", ["mod.py::mod.double"], run.stdout, "")
    assert "E   >>> double(2)" in text and "E   Expected:\nE       4\nE   Got:\nE       2" in text
    assert "(DocTestFailure)" in text


def test_a_statement_reruns_named_failures_and_the_functions_of_cut_ones():
    failed = {f"tests/test_mod.py::test_{i}" for i in range(7)} | {"tests/test_mod.py::test_words[two",
                                                                   "tests/test_mod.py::TestT::test_x[a"}
    assert statement_tests(failed) == [*(f"tests/test_mod.py::test_{i}" for i in range(5)),
                                       "tests/test_mod.py::TestT::test_x", "tests/test_mod.py::test_words"]
