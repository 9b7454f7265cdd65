"""Generate the embedded sample of expert trajectories (a synthetic, self-made dataset).

Six tiny Python repositories, each with one injected bug and a test that exposes it. A
scripted expert explores (directory view, test run, grep, file view), fixes the bug with
`str_replace_editor`, re-runs the tests and finishes. File views, grep hits and edit
snippets are computed from the repository files; test outputs come from really running
pytest on a temporary copy (paths shown as /testbed). It is the Docker-free sample
(`srl-swe:synthetic`) beside the trajectories recorded in live Docker sandboxes (`srl-swe:default`).

Regenerate with: `python -m srl_swe.agent.synthetic` (writes srl_swe/data/synthetic_trajectories.jsonl)
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..data import SYNTHETIC_TRAJECTORIES
from ..trajectory import write_jsonl
from ..trajectory.model import Task, ToolCall, Trajectory, Turn

WORKDIR = "/testbed"


@dataclass(frozen=True)
class SyntheticBug:
    name: str
    module: str
    fixed_source: str
    fix_old: str
    """The buggy snippet (what the expert's str_replace replaces)."""
    fix_new: str
    """The correct snippet, present exactly once in `fixed_source`."""
    test: str
    issue: str
    symbol: str


BUGS = [
    SyntheticBug(
        "clamp-upper-bound", "numtools/bounds.py",
        'def clamp(value, low, high):\n    """Limit value to the closed interval [low, high]."""\n    if value < low:\n        return low\n    if value > high:\n        return high\n    return value\n',
        "    if value > high:\n        return value", "    if value > high:\n        return high",
        "from numtools.bounds import clamp\n\n\ndef test_clamp_inside():\n    assert clamp(5, 0, 10) == 5\n\n\ndef test_clamp_above():\n    assert clamp(12, 0, 10) == 10\n",
        "clamp() returns values above the upper bound: clamp(12, 0, 10) gives 12 instead of 10.", "clamp",
    ),
    SyntheticBug(
        "slugify-separator", "texttools/slug.py",
        'import re\n\n\ndef slugify(text):\n    """Lower-case words joined by hyphens."""\n    words = re.findall(r"[a-z0-9]+", text.lower())\n    return "-".join(words)\n',
        '    return "_".join(words)', '    return "-".join(words)',
        'from texttools.slug import slugify\n\n\ndef test_slugify():\n    assert slugify("Hello, World!") == "hello-world"\n',
        'slugify("Hello, World!") returns "hello_world"; slugs must use hyphens.', "slugify",
    ),
    SyntheticBug(
        "mean-of-empty", "stats/summary.py",
        'def mean(values):\n    """Arithmetic mean; 0.0 for an empty sequence."""\n    values = list(values)\n    if not values:\n        return 0.0\n    return sum(values) / len(values)\n',
        "    return sum(values) / len(values)", "    if not values:\n        return 0.0\n    return sum(values) / len(values)",
        "from stats.summary import mean\n\n\ndef test_mean_empty():\n    assert mean([]) == 0.0\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n",
        "mean([]) raises ZeroDivisionError although the docstring promises 0.0.", "mean",
    ),
    SyntheticBug(
        "leap-year-century", "calendar_utils/leap.py",
        'def is_leap_year(year):\n    """Gregorian leap year rule."""\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n',
        "year % 400 != 0)", "year % 400 == 0)",
        "from calendar_utils.leap import is_leap_year\n\n\ndef test_centuries():\n    assert is_leap_year(2000)\n    assert not is_leap_year(1900)\n",
        "is_leap_year(2000) is False, but 2000 was a leap year.", "is_leap_year",
    ),
    SyntheticBug(
        "cart-total-discount", "shop/cart.py",
        'class Cart:\n    def __init__(self):\n        self.items = []\n\n    def add(self, price, quantity=1):\n        self.items.append((price, quantity))\n\n    def total(self, discount=0.0):\n        subtotal = sum(price * qty for price, qty in self.items)\n        return round(subtotal * (1 - discount), 2)\n',
        "(1 + discount)", "(1 - discount)",
        "from shop.cart import Cart\n\n\ndef test_discount():\n    cart = Cart()\n    cart.add(10.0, 2)\n    assert cart.total(discount=0.25) == 15.0\n",
        "Cart.total(discount=0.25) charges more than the undiscounted price.", "total",
    ),
    SyntheticBug(
        "stack-peek-index", "collections_extra/stack.py",
        'class Stack:\n    def __init__(self):\n        self._items = []\n\n    def push(self, item):\n        self._items.append(item)\n\n    def peek(self):\n        if not self._items:\n            raise IndexError("peek from empty stack")\n        return self._items[-1]\n',
        "        return self._items[0]", "        return self._items[-1]",
        "from collections_extra.stack import Stack\n\n\ndef test_peek_returns_top():\n    s = Stack()\n    s.push(1)\n    s.push(2)\n    assert s.peek() == 2\n",
        "Stack.peek() returns the bottom element instead of the most recently pushed one.", "peek",
    ),
]


def _files(bug: SyntheticBug) -> dict[str, str]:
    assert bug.fixed_source.count(bug.fix_new) == 1, bug.name
    buggy_source = bug.fixed_source.replace(bug.fix_new, bug.fix_old)
    package = bug.module.split("/")[0]
    return {
        "README.md": f"# {package}\n\nA small utility package.\n",
        f"{package}/__init__.py": "",
        bug.module: buggy_source,
        f"tests/test_{Path(bug.module).stem}.py": bug.test,
    }


def _cat_n(text: str, start: int = 1) -> str:
    return "\n".join(f"{i:6}\t{line}" for i, line in enumerate(text.split("\n"), start))


def _view_dir(files: dict[str, str]) -> str:
    entries = sorted({f"{WORKDIR}/{p}" for p in files} | {f"{WORKDIR}/{p.split('/')[0]}/" for p in files if "/" in p})
    return f"Here's the files and directories up to 2 levels deep in {WORKDIR}, excluding hidden items:\n{WORKDIR}/\n" + "\n".join(entries)


def _grep(files: dict[str, str], pattern: str) -> str:
    hits = []
    for path in sorted(files):
        for number, line in enumerate(files[path].split("\n"), 1):
            if re.search(pattern, line):
                hits.append(f"{WORKDIR}/{path}:{number}:{line}")
    return "\n".join(hits)


def _pytest(files: dict[str, str]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in files.items():
            target = Path(tmp, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=tmp, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        output = (result.stdout + result.stderr).replace(tmp, WORKDIR)
    output = re.sub(r" in \d+\.\d+s", " in 0.01s", output).rstrip()  # keep the file deterministic
    return output + f"\n[The command completed with exit code {result.returncode}.]"


def expert_trajectory(bug: SyntheticBug) -> Trajectory:
    """The scripted expert's episode on one synthetic bug."""
    files = _files(bug)
    module_path = f"{WORKDIR}/{bug.module}"
    test_cmd = f"cd {WORKDIR} && python -m pytest -q tests"
    grep_cmd = f"grep -rn 'def {bug.symbol}' {WORKDIR} --include=*.py"
    old, new = bug.fix_old, bug.fix_new
    turns = [
        Turn("Let me look at the layout of the repository first.",
             ToolCall("str_replace_editor", {"command": "view", "path": WORKDIR}), _view_dir(files)),
        Turn("Let me run the test suite to see what fails.",
             ToolCall("execute_bash", {"command": test_cmd}), _pytest(files)),
        Turn(f"The failure involves `{bug.symbol}`. Let me find where it is defined.",
             ToolCall("execute_bash", {"command": grep_cmd}),
             _grep(files, rf"def {bug.symbol}") + "\n[The command completed with exit code 0.]"),
        Turn("Let me read the implementation.",
             ToolCall("str_replace_editor", {"command": "view", "path": module_path}),
             f"Here's the result of running `cat -n` on {module_path}:\n" + _cat_n(files[bug.module])),
    ]
    assert files[bug.module].count(old) == 1, bug.name
    fixed = files[bug.module].replace(old, new)
    turns.append(Turn("I see the bug; let me fix it.",
                      ToolCall("str_replace_editor", {"command": "str_replace", "path": module_path, "old_str": old, "new_str": new}),
                      f"The file {module_path} has been edited. Here's the result of running `cat -n` on a snippet of {module_path}:\n"
                      + _cat_n(fixed) + "\nReview the changes and make sure they are as expected. Edit the file again if necessary."))
    files[bug.module] = fixed
    turns.append(Turn("Now let me re-run the tests to confirm the fix.", ToolCall("execute_bash", {"command": test_cmd}), _pytest(files)))
    turns.append(Turn("The tests pass; the fix is complete.",
                      ToolCall("finish", {"message": f"Fixed {bug.symbol} in {bug.module}.", "task_completed": "true"}), None))
    return Trajectory(
        id=f"synthetic__{bug.name}",
        task=Task(id=f"synthetic__{bug.name}", problem_statement=bug.issue, repo=f"srl-swe/{bug.module.split('/')[0]}"),
        turns=turns,
        source_format="synthetic",
        metadata={"generator": "srl_swe.agent.synthetic", "resolved": True},
    )


def generate() -> list[Trajectory]:
    return [expert_trajectory(bug) for bug in BUGS]


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    out = Path(args[0]) if args else SYNTHETIC_TRAJECTORIES
    trajectories = generate()
    write_jsonl(trajectories, out)
    print(f"wrote {len(trajectories)} trajectories to {out}")


if __name__ == "__main__":
    main()
