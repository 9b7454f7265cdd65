"""Docker sandboxes for agents: containers with a persistent shell (runtime, shell) and the tools run in them."""
from .runtime import (
    DEFAULT_IMAGE,
    LABEL_MANAGED,
    CommandResult,
    Sandbox,
    SandboxConfig,
    SandboxError,
    reap,
)

__all__ = [
    "DEFAULT_IMAGE",
    "LABEL_MANAGED",
    "CommandResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "reap",
]
