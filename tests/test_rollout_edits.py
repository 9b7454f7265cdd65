"""SEARCH/REPLACE edits: parsing, matching (exact, inside a line, whitespace-tolerant), new files, and diffs
that the real ``git apply`` accepts and that reproduce exactly the files the applier computed."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from srl_swe.rollout.edits import (
    SearchReplace,
    apply_edit,
    apply_edits,
    edit_answer,
    parse_edits,
    render_edits,
    resolve_path,
)

from helpers import apply_with_git

FILES = {
    "pkg/ops.py": "def sub(a, b):\n    # difference\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n",
    "pkg/__init__.py": "from .ops import sub, mul\n",
    "setup.cfg": "[metadata]\nname = pkg",  # no newline at the end
}


def git_apply(tmp_path: Path, files: dict[str, str], patch: str) -> dict[str, str]:
    """Commit ``files`` in a fresh repository, ``git apply`` the patch, return every file's new text."""
    applied = apply_with_git(tmp_path, {path: text.encode() for path, text in files.items()}, patch)
    return {path: data.decode() for path, data in applied.items()}


def apply(answer: str, files: dict[str, str] = FILES):
    return edit_answer(answer, files.get, list(files))


def test_exact_match_gives_a_diff_git_applies(tmp_path):
    result = apply("pkg/ops.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return a - b\n>>>>>>> REPLACE\n")
    assert [o.how for o in result.outcomes] == ["exact"]
    assert result.files["pkg/ops.py"] == FILES["pkg/ops.py"].replace("a + b", "a - b")
    assert result.patch.startswith("diff --git a/pkg/ops.py b/pkg/ops.py\n--- a/pkg/ops.py\n+++ b/pkg/ops.py\n@@ ")
    assert git_apply(tmp_path, FILES, result.patch)["pkg/ops.py"] == result.files["pkg/ops.py"]


def test_an_edit_inside_a_line_matches_as_text():
    result = apply("pkg/ops.py\n<<<<<<< SEARCH\na + b\n=======\na - b\n>>>>>>> REPLACE")
    assert [o.how for o in result.outcomes] == ["substring"]
    assert "    return a - b\n" in result.files["pkg/ops.py"]


def test_whitespace_tolerant_match_reindents_the_replacement(tmp_path):
    # the model dropped the indentation, doubled spaces and added a blank line
    answer = "pkg/ops.py\n<<<<<<< SEARCH\n# difference\n\nreturn a  +  b\n=======\n# difference\nreturn a - b\n>>>>>>> REPLACE\n"
    result = apply(answer)
    assert [o.how for o in result.outcomes] == ["whitespace"]
    assert result.files["pkg/ops.py"] == FILES["pkg/ops.py"].replace("a + b", "a - b")
    assert git_apply(tmp_path, FILES, result.patch)["pkg/ops.py"] == result.files["pkg/ops.py"]


def test_whitespace_tolerant_match_maps_two_space_indentation_to_four():
    content = "class A:\n    def f(self):\n        if x:\n            return 1\n        return 2\n"
    search = "def f(self):\n  if x:\n    return 1"
    replace = "def f(self):\n  if x:\n    if y:\n      return 3\n    return 1"
    new, how = apply_edit(content, search, replace)
    assert how == "whitespace"
    assert new == "class A:\n    def f(self):\n        if x:\n            if y:\n                return 3\n            return 1\n        return 2\n"


def test_trailing_whitespace_and_a_missing_final_newline_are_tolerated(tmp_path):
    result = apply("setup.cfg\n<<<<<<< SEARCH\nname = pkg   \n=======\nname = pkg2\n>>>>>>> REPLACE\n")
    assert result.files["setup.cfg"] == "[metadata]\nname = pkg2"  # still no newline at the end
    assert "\\ No newline at end of file" in result.patch
    assert git_apply(tmp_path, FILES, result.patch)["setup.cfg"] == "[metadata]\nname = pkg2"


def test_an_edit_that_matches_nothing_is_reported_and_skipped_the_others_apply(tmp_path):
    answer = ("pkg/ops.py\n<<<<<<< SEARCH\n    return a / b\n=======\n    return 0\n>>>>>>> REPLACE\n"
              "pkg/ops.py\n<<<<<<< SEARCH\n    return a * b\n=======\n    return b * a\n>>>>>>> REPLACE\n"
              "pkg/missing.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n")
    result = apply(answer)
    assert [(o.applied, o.reason) for o in result.outcomes] == [
        (False, "SEARCH text not found in the file"), (True, ""), (False, "no such file in the repository")]
    assert result.applied == 1 and len(result.failed) == 2
    assert git_apply(tmp_path, FILES, result.patch)["pkg/ops.py"] == FILES["pkg/ops.py"].replace("a * b", "b * a")


def test_no_match_anywhere_gives_an_empty_patch_not_an_error():
    result = apply("pkg/ops.py\n<<<<<<< SEARCH\nnothing like this\n=======\nx\n>>>>>>> REPLACE\n")
    assert result.patch == "" and result.applied == 0
    assert apply("no edits at all, just prose").patch == ""
    assert apply(None).parse_errors  # type: ignore[arg-type]


def test_multiple_blocks_in_several_files_apply_in_order(tmp_path):
    answer = """I will fix both.
```python
### pkg/ops.py
<<<<<<< SEARCH
    return a + b
=======
    return a - b
>>>>>>> REPLACE
```
```python
### pkg/ops.py
<<<<<<< SEARCH
    return a - b
=======
    return (a - b)
>>>>>>> REPLACE
<<<<<<< SEARCH
def mul(a, b):
=======
def mul(a, b):  # product
>>>>>>> REPLACE
```
pkg/__init__.py
```python
<<<<<<< SEARCH
from .ops import sub, mul
=======
from .ops import mul, sub
>>>>>>> REPLACE
```
"""
    result = apply(answer)
    assert result.applied == 4 and not result.parse_errors
    assert [o.edit.path for o in result.outcomes] == ["pkg/ops.py", "pkg/ops.py", "pkg/ops.py", "pkg/__init__.py"]
    assert "return (a - b)" in result.files["pkg/ops.py"] and "# product" in result.files["pkg/ops.py"]
    assert result.patch.count("diff --git") == 2
    assert git_apply(tmp_path, FILES, result.patch) == {**FILES, **result.files}


def test_an_empty_search_creates_a_new_file_or_appends(tmp_path):
    answer = ("pkg/extra.py\n<<<<<<< SEARCH\n=======\ndef add(a, b):\n    return a + b\n>>>>>>> REPLACE\n"
              "pkg/__init__.py\n<<<<<<< SEARCH\n=======\nfrom .extra import add\n>>>>>>> REPLACE\n")
    result = apply(answer)
    assert [o.how for o in result.outcomes] == ["new-file", "append"]
    assert "new file mode 100644\n--- /dev/null\n+++ b/pkg/extra.py" in result.patch
    applied = git_apply(tmp_path, FILES, result.patch)
    assert applied["pkg/extra.py"] == "def add(a, b):\n    return a + b\n"
    assert applied["pkg/__init__.py"] == "from .ops import sub, mul\nfrom .extra import add\n"


def test_a_new_file_outside_the_repository_is_refused():
    result = apply("../etc/passwd\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n")
    assert not result.outcomes[0].applied and result.patch == ""


def test_paths_are_resolved_like_a_model_writes_them():
    known = ["pkg/ops.py", "pkg/sub/ops.py", "README.md"]
    assert resolve_path("/testbed/pkg/ops.py", known) == "pkg/ops.py"
    assert resolve_path("./pkg/ops.py", known) == "pkg/ops.py"
    assert resolve_path("a/pkg/ops.py", known) == "pkg/ops.py"
    assert resolve_path("sub/ops.py", known) == "pkg/sub/ops.py"  # a unique suffix
    assert resolve_path("ops.py", known) is None  # ambiguous: no guess
    assert resolve_path("pkg/nope.py", known) is None


def test_parse_reads_fences_headers_and_reports_broken_blocks():
    text = ("<think>maybe <<<<<<< SEARCH here</think>\n`pkg/a.py`:\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
            "<<<<<<< SEARCH\nz\n=======\nw\n>>>>>>> REPLACE\n"
            "File: pkg/b.py\n<<<<<<< SEARCH\nno divider\n>>>>>>> REPLACE\n"
            "pkg/c.py\n<<<<<<< SEARCH\nq\n=======\nno end\n")
    edits, errors = parse_edits(text)
    assert edits == [SearchReplace("pkg/a.py", "x", "y"), SearchReplace("pkg/a.py", "z", "w")]
    assert len(errors) == 2 and "=======" in errors[0] and "REPLACE" in errors[1]
    assert parse_edits("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE")[1] == ["block at line 1: no file path before it"]


def test_render_and_parse_round_trip():
    edits = [SearchReplace("a.py", "x = 1\ny = 2", "x = 2"), SearchReplace("b/c.py", "", "new\n  file")]
    assert parse_edits(render_edits(edits)) == (edits, [])


def test_crlf_files_keep_their_line_endings():
    new, how = apply_edit("a = 1\r\nb = 2\r\n", "b = 2", "b = 3")
    assert (new, how) == ("a = 1\r\nb = 3\r\n", "exact")


lines = st.lists(st.sampled_from(["x = 1", "y = 2", "    z = x + y", "", "def f():", "    return z", "# note"]),
                 min_size=1, max_size=12)


@settings(max_examples=25, deadline=None)
@given(lines, st.data(), st.booleans())
def test_any_exact_line_edit_round_trips_through_git_apply(tmp_path_factory, body, data, final_newline):
    text = "\n".join(body) + ("\n" if final_newline else "")
    start = data.draw(st.integers(0, len(body) - 1))
    stop = data.draw(st.integers(start + 1, len(body)))
    replacement = data.draw(lines)
    search = "\n".join(body[start:stop])
    if not search.strip():
        return
    result = apply_edits([SearchReplace("m.py", search, "\n".join(replacement))], {"m.py": text}.get, ["m.py"])
    assert result.outcomes[0].applied
    if result.patch:
        tmp = tmp_path_factory.mktemp("prop")
        assert git_apply(tmp, {"m.py": text}, result.patch)["m.py"] == result.files["m.py"]
