"""End-to-end localization pieces: tokenizing code, BM25 ranking, reading the localization answer,
the file tree, reading a repository at a commit with git, and the prompt files."""
from __future__ import annotations

import pytest
from helpers import git, make_local_tasks

from srl_swe.errors import InvalidRecordError, SRLSweError
from srl_swe.rollout.modes import answer_paths, file_tree, repair_messages, RolloutConfig
from srl_swe.rollout.repo import LocalGit, Repo, RepoError, open_repo
from srl_swe.rollout.retrieval import chunk_file, match_paths, mentioned, rank_files, tokenize
from srl_swe.rollout.templates import load_prompt


def test_tokenize_splits_identifiers():
    tokens = tokenize("camelCaseName snake_case_name HTTPServer x")
    assert {"camelcasename", "camel", "case", "name", "snake", "http", "server"} <= set(tokens)
    assert "x" not in tokens and "the" not in tokenize("the")


def test_bm25_ranks_the_file_that_defines_what_the_issue_names():
    files = {
        "pkg/inflect.py": "def pluralize(word):\n    return word + 's'\n\n\ndef singularize(word):\n    return word[:-1]\n",
        "pkg/numbers.py": "def ordinal(number):\n    return str(number) + 'th'\n",
        "pkg/util.py": "import os\n\n\ndef read(path):\n    return open(path).read()\n",
    }
    ranking = rank_files("pluralize('cow') returns 'cows' but the plural should be 'kine'", files)
    assert ranking.top_files(1) == ["pkg/inflect.py"]
    assert ranking.chunks[0][0].path == "pkg/inflect.py" and ranking.chunks[0][1] > 0
    assert rank_files("bug in pkg.numbers when formatting", files).top_files(1) == ["pkg/numbers.py"]  # a module named


def test_mentioned_and_chunks():
    assert mentioned("pkg/util.py", "see pkg/util.py line 3") and mentioned("pkg/util.py", "pkg.util.read fails")
    assert mentioned("pkg/sub/__init__.py", "import pkg.sub")
    assert not mentioned("pkg/util.py", "mypkg/util.pyc")
    chunks = chunk_file("a.py", "\n".join(str(i) for i in range(100)), lines=40, overlap=10)
    assert [(c.start, c.end) for c in chunks] == [(1, 40), (31, 70), (61, 100)]


def test_answer_paths_reads_the_last_fenced_block_and_matches_real_files():
    answer = ("<think>maybe src/wrong.py</think>\nFirst I thought ```\nnot/this.py\n``` but no:\n"
              "```\n1. `pkg/ops.py`\n- /testbed/pkg/text.py\npkg/nothere.py\n```")
    names = answer_paths(answer)
    assert names == ["pkg/ops.py", "/testbed/pkg/text.py", "pkg/nothere.py"]
    known = ["pkg/ops.py", "pkg/text.py", "pkg/texts.py", "tests/test_ops.py"]
    assert match_paths(names, known) == ["pkg/ops.py", "pkg/text.py"]
    assert match_paths(["pkg/opps.py"], known) == ["pkg/ops.py"]  # a near miss, matched fuzzily
    assert answer_paths("the files are pkg/ops.py and pkg/text.py.") == ["pkg/ops.py", "pkg/text.py"]
    assert answer_paths("") == []


def test_file_tree_indents_directories_and_caps_the_listing():
    tree = file_tree(["b.py", "pkg/a.py", "pkg/sub/c.py"], 10, "... ({omitted} more files)")
    assert tree.splitlines() == ["b.py", "pkg/", "    a.py", "    sub/", "        c.py"]
    assert file_tree(["a.py", "b.py", "c.py"], 2, "... ({omitted} more files)").splitlines()[-1] == "... (1 more files)"


def test_repo_reads_files_at_the_base_commit_not_the_working_tree(tmp_path):
    root, rows = make_local_tasks(tmp_path)
    checkout = root / "calc"
    (checkout / "calc" / "ops.py").write_text("changed in the working tree\n")
    (checkout / "data.bin").write_bytes(b"\0\1\2")
    git(checkout, "add", "data.bin")
    git(checkout, "commit", "-qm", "later commit")
    with Repo(LocalGit(checkout), rows[0]["base_commit"]) as repo:
        assert "data.bin" not in repo.paths() and "calc/ops.py" in repo.paths()
        texts = repo.read_many(["calc/ops.py", "calc/missing.py", "calc/text.py"])
        assert texts["calc/ops.py"].startswith("def add(a, b):") and texts["calc/missing.py"] is None
        assert repo.select(["**/*.py"], ["tests/**"]) == ["calc/__init__.py", "calc/ops.py", "calc/text.py"]
    with Repo(LocalGit(checkout), "HEAD") as repo:
        assert repo.read("data.bin") is None  # binary: not text


def test_open_repo_says_what_is_missing(tmp_path):
    root, rows = make_local_tasks(tmp_path)
    assert open_repo(rows[0], root).description.startswith("checkout ")
    with pytest.raises(RepoError, match="no git checkout"):
        open_repo(rows[0], tmp_path / "elsewhere")
    with pytest.raises(RepoError, match="unknown revision|bad object|not a valid|fatal"):
        open_repo({**rows[0], "base_commit": "0" * 40}, root).paths()


def test_open_repo_without_a_checkout_names_the_missing_image(docker_client, tmp_path):
    _, rows = make_local_tasks(tmp_path)
    with pytest.raises(RepoError, match="no --repo-dir"):
        open_repo({**rows[0], "image": "srl-swe-test/no-such-image:0"}, None)


def test_prompt_files_load_and_can_be_overridden(tmp_path):
    repair = load_prompt("repair")
    assert "<<<<<<< SEARCH" in repair["edit_format"] and "{problem_statement}" in repair["user"]
    (tmp_path / "repair.yaml").write_text("system: S\nuser: '{problem_statement} | {files} | {edit_format} | {repo}'\n"
                                          "file_template: '<{path}>{content}'\ntruncated_note: ' [+{omitted}]'\nedit_format: E {{x}}\n")
    row = {"problem_statement": "  Issue  ", "repo": "o/r"}
    config = RolloutConfig(prompts_dir=str(tmp_path), max_file_lines=2)
    messages = repair_messages(row, {"a.py": "1\n2\n3\n"}, config)
    assert messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "Issue | <a.py>1\n2 [+1] | E {x} | o/r"}]
    (tmp_path / "localize.yaml").write_text("system: S\nuser: U\n")
    with pytest.raises(InvalidRecordError, match="localize.yaml, field 'snippet_template'"):
        load_prompt("localize", tmp_path)
    (tmp_path / "repair.yaml").write_text("system: S\nuser: '{nope}'\nfile_template: x\ntruncated_note: x\nedit_format: x\n")
    with pytest.raises(SRLSweError, match="bad template field"):
        repair_messages(row, {}, config)
