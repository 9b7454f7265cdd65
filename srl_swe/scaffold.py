"""Agent scaffolds: tool schemas and prompt templates loaded from `agents/*.yaml`."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import SRLSweError
from .resources import resource

AGENTS_DIR = resource("agents")
DEFAULT_SCAFFOLD = "openhands"


@dataclass(frozen=True)
class Scaffold:
    """Tools (name -> JSON schema), name aliases and prompt templates of one agent scaffold."""

    name: str
    tools: dict[str, dict[str, Any]]
    aliases: dict[str, str]
    system_prompt: str
    instance_prompt: str
    observation_template: str
    omitted_history_note: str
    workdir: str
    descriptions: dict[str, str] = field(default_factory=dict)
    compact_tools: bool = False
    """List tools in the system prompt as one signature line each (short prompts for small models)."""

    def canonical_name(self, name: str) -> str:
        """Map an alias (e.g. SWE-agent's `bash`) onto the scaffold's own tool name."""
        return self.aliases.get(name, name)

    def parameter_order(self, tool: str) -> list[str]:
        return list(self.tools.get(tool, {}).get("properties", {}))

    def coerce(self, tool: str, key: str, value: Any) -> Any:
        """Give a textual argument the JSON type its schema declares (e.g. `"[1, 5]"` -> [1, 5])."""
        spec = self.tools.get(tool, {}).get("properties", {}).get(key)
        if spec is None or not isinstance(value, str):
            return value
        kind = spec.get("type")
        if kind in ("integer", "number", "array", "object", "boolean"):
            try:
                parsed = json.loads(value.strip())
            except (json.JSONDecodeError, ValueError):
                return value
            expected = {"integer": int, "number": (int, float), "array": list, "object": dict, "boolean": bool}[kind]
            if isinstance(parsed, expected) and not (kind in ("integer", "number") and isinstance(parsed, bool)):
                return parsed
        return value

    def tools_text(self) -> str:
        """The tool list as it appears in the system prompt."""
        if self.compact_tools:
            lines = []
            for name, schema in self.tools.items():
                required = set(schema.get("required", []))
                params = [k if k in required else f"[{k}]" for k in schema.get("properties", {})]
                lines.append(f"- {name}({', '.join(params)})")
            return "\n".join(lines)
        blocks = []
        for name, schema in self.tools.items():
            lines = [f"- {name}: {self.descriptions.get(name, '').strip()}"]
            required = set(schema.get("required", []))
            for key, spec in schema.get("properties", {}).items():
                flag = "required" if key in required else "optional"
                kind = spec.get("type", "string")
                enum = f", one of {spec['enum']}" if spec.get("enum") else ""
                lines.append(f"    {key} ({kind}, {flag}{enum}): {spec.get('description', '').strip()}")
            blocks.append("\n".join(lines))
        return "\n".join(blocks)

    def render_system_prompt(self) -> str:
        return self.system_prompt.format(tools=self.tools_text()).strip()

    def openai_tools(self) -> list[dict[str, Any]]:
        """The tools in OpenAI function-calling form (for chat templates and HTTP policies)."""
        return [
            {"type": "function", "function": {"name": n, "description": self.descriptions.get(n, ""), "parameters": s}}
            for n, s in self.tools.items()
        ]


def _scaffold_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = AGENTS_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    raise SRLSweError(f"unknown scaffold {name_or_path!r}: no file {candidate} and no such YAML path")


@lru_cache(maxsize=16)
def load_scaffold(name_or_path: str = DEFAULT_SCAFFOLD) -> Scaffold:
    """Load a scaffold by name (a file in `agents/`) or by path to a YAML file."""
    path = _scaffold_path(name_or_path)
    data = yaml.safe_load(path.read_text())
    if data.get("extends"):  # a variant: the base scaffold's file with these keys replaced
        base = yaml.safe_load(_scaffold_path(data["extends"]).read_text())
        data = {**base, **{k: v for k, v in data.items() if k != "extends"}}
    if data.get("tools_update"):  # a variant's own versions of some tools (same name: in place) or extra ones
        updates = {t["name"]: t for t in data["tools_update"]}
        tools = [updates.pop(t["name"], t) for t in data.get("tools", [])]
        data = {**data, "tools": tools + list(updates.values())}
    try:
        tools = {t["name"]: t["parameters"] for t in data["tools"]}
        return Scaffold(
            name=data["name"],
            tools=tools,
            aliases=dict(data.get("aliases") or {}),
            system_prompt=data["system_prompt"],
            instance_prompt=data["instance_prompt"],
            observation_template=data["observation_template"],
            omitted_history_note=data["omitted_history_note"],
            workdir=data.get("workdir", "/testbed"),
            descriptions={t["name"]: t.get("description", "") for t in data["tools"]},
            compact_tools=bool(data.get("compact_tools", False)),
        )
    except (KeyError, TypeError) as exc:
        raise SRLSweError(f"{path}: malformed scaffold, missing {exc}") from exc
