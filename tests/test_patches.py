"""The patch module: every diff it writes is one the real ``git apply`` accepts and that reproduces the target
file byte for byte, for arbitrary text (form feeds, carriage returns, no final newline, new and deleted files);
reading a patch back keeps such lines whole."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from srl_swe.patches import changed_lines, files_existing_before, hunks, split_patch, touched_files, unified_diff
from srl_swe.rollout.edits import SearchReplace, apply_edits

from helpers import apply_with_git

texts = st.lists(st.sampled_from(["a", "b", " ", "\t", "\n", "\n", "\n", "\r", "\r\n", "\x0c", "é", "+", "-", "@", "\\"]),
                 max_size=40).map("".join)


@settings(max_examples=80, deadline=None)
@given(before=texts, after=texts)
def test_git_apply_accepts_every_diff_and_reproduces_the_file(tmp_path_factory, before, after):
    patch = unified_diff("pkg/mod.py", before, after)
    if before == after:
        assert patch == ""
        return
    files = apply_with_git(tmp_path_factory.mktemp("diff"), {"pkg/mod.py": before.encode()}, patch)
    assert files["pkg/mod.py"] == after.encode()
    assert touched_files(patch) == ["pkg/mod.py"] == files_existing_before(patch)


@settings(max_examples=30, deadline=None)
@given(text=texts)
def test_new_and_deleted_files_apply(tmp_path_factory, text):
    created = apply_with_git(tmp_path_factory.mktemp("new"), {"keep.txt": b"k\n"}, unified_diff("new/file.py", None, text))
    assert created["new/file.py"] == text.encode()
    deleted = apply_with_git(tmp_path_factory.mktemp("del"), {"keep.txt": b"k\n", "old.py": text.encode()},
                             unified_diff("old.py", text, None))
    assert "old.py" not in deleted


def test_lines_with_a_form_feed_or_a_carriage_return_stay_whole():
    before = "def f():\n\x0c    return 1\r\nx = 1\n"
    after = "def f():\n\x0c    return 2\r\nx = 1\n"
    patch = unified_diff("m.py", before, after)
    assert sorted(changed_lines(patch)) == ["\x0c    return 1\r", "\x0c    return 2\r"]
    (hunk,) = hunks(patch)
    assert (hunk.path, hunk.line, hunk.old.replace("\r", ""), hunk.new.replace("\r", "")) == (
        "m.py", 1, before.rstrip("\n").replace("\r", ""), after.rstrip("\n").replace("\r", ""))


def test_split_patch_names_each_file_by_its_path_after_the_patch():
    patch = unified_diff("a.py", "x\n", "y\n") + unified_diff("gone.py", "z\n", None) + unified_diff("new.py", None, "n\n")
    sections = split_patch(patch)
    assert [path for path, _ in sections] == ["a.py", "gone.py", "new.py"]
    assert "".join(section for _, section in sections) == patch
    assert files_existing_before(patch) == ["a.py", "gone.py"]


def test_an_edit_leaves_form_feeds_elsewhere_in_the_file_alone(tmp_path):
    text = "import os\n\x0c\ndef f():\n    return 1\n\x0c# end\n"
    result = apply_edits([SearchReplace("m.py", "    return 1", "    return 2")], {"m.py": text}.get, ["m.py"])
    assert result.files["m.py"] == text.replace("return 1", "return 2")
    assert apply_with_git(tmp_path, {"m.py": text.encode()}, result.patch)["m.py"] == result.files["m.py"].encode()
