"""The package's layering: no import cycle between srl_swe's packages and top-level modules (README, module table)."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import srl_swe

ROOT = Path(srl_swe.__file__).parent


def unit_of(module: str) -> str:
    """`srl_swe.rollout.runner` -> `rollout`; `srl_swe.core` -> `core`; the package itself -> `srl_swe`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def import_edges() -> dict[str, set[str]]:
    """unit -> the other units it imports (at the top of a file or inside a function)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        parts = ["srl_swe", *path.relative_to(ROOT).with_suffix("").parts]
        package = parts[:-1]  # what a relative import starts from, for a module and for an __init__ alike
        module = ".".join(package if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                targets = [".".join(base + [node.module])] if node.module else [".".join(base + [a.name]) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("srl_swe"):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("srl_swe")]
            else:
                continue
            for target in targets:
                if unit_of(target) != unit_of(module):
                    edges[unit_of(module)].add(unit_of(target))
    return edges


def test_no_import_cycle_between_packages():
    edges = import_edges()
    assert {"trajectory", "models", "rewards"} <= edges["train"]  # the graph is read at all

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in edges.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    cyclic = {unit: sorted(u for u in edges[unit] if unit in reachable(u)) for unit in edges if unit in reachable(unit)}
    assert not cyclic, f"units in an import cycle, with the imports that close it: {cyclic}"
