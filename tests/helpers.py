"""Helpers shared by several test files (git repositories made on the fly, JSONL reading)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "core.autocrlf=false"]


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout."""
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def apply_with_git(tmp: Path, files: dict[str, bytes], patch: str) -> dict[str, bytes]:
    """Commit ``files`` in a fresh repository, ``git apply --check`` then apply the patch; every file's new bytes."""
    repo = tmp / "repo"
    repo.mkdir()
    for path, data in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base", "--allow-empty")
    (tmp / "p.diff").write_bytes(patch.encode())
    for command in (["apply", "--check"], ["apply"]):
        run = subprocess.run(GIT + command + [str(tmp / "p.diff")], cwd=repo, capture_output=True, text=True)
        assert run.returncode == 0, f"git {' '.join(command)} failed: {run.stderr}\n{patch!r}"
    return {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}


BUGGY = {
    "calc/__init__.py": "from .ops import add, sub\nfrom .text import shout\n",
    "calc/ops.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    \"\"\"a minus b\"\"\"\n    return a + b\n",
    "calc/text.py": "def shout(text):\n    return text.lower() + '!'\n",
    "tests/test_calc.py": "from calc import sub, shout\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n\n\n"
                          "def test_shout():\n    assert shout('hi') == 'HI!'\n",
    "README.md": "# calc\nA calculator.\n",
}
FIXES = [
    ("local__calc-1", "`calc.ops.sub(3, 1)` returns 4 instead of 2: subtraction adds.", {"calc/ops.py": ("return a + b\n", "return a - b\n", 1)}),
    ("local__calc-2", "`shout('hi')` returns 'hi!' but should return 'HI!'; also add a `whisper` helper in calc/extra.py.",
     {"calc/text.py": ("text.lower()", "text.upper()", 1), "calc/extra.py": (None, "def whisper(text):\n    return text.lower()\n", 0)}),
]


def make_local_tasks(root: Path) -> tuple[Path, list[dict]]:
    """A checkout of the buggy package and one SWE-bench-like row per bug (gold patch = git diff of the fix)."""
    repo = root / "calc"
    for path, text in BUGGY.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "buggy")
    base = git(repo, "rev-parse", "HEAD").strip()
    rows = []
    for instance_id, issue, fix in FIXES:
        for path, (old, new, _) in fix.items():
            target = repo / path
            target.write_text(new if old is None else target.read_text().replace(old, new))
        git(repo, "add", "-A")
        patch = git(repo, "diff", "--cached", base)
        git(repo, "reset", "-q", "--hard", base)
        rows.append({"instance_id": instance_id, "repo": "local/calc", "base_commit": base, "patch": patch,
                     "problem_statement": issue, "FAIL_TO_PASS": [], "PASS_TO_PASS": []})
    return root, rows


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
