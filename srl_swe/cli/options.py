"""The command-line options several commands share, spelled once: which tasks, from which file, which instances.

Every command that works on tasks takes the same three: ``--env NAME …`` (registered
environments whose tasks to use; repeatable), ``--instances FILE`` (a SWE-bench rows file
instead), ``--instance-ids ID …`` (only these; repeatable, commas allowed). Earlier spellings
stay accepted for one release: ``--tasks FILE`` and ``--instance-id ID``.
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

from ..backend import BACKENDS, BackendConfig
from ..errors import SRLSweError
from ..image_registry import REGISTRY_ENV, configured_registry

ROWS_HELP = "SWE-bench rows: a .json/.jsonl/.parquet file or a Hugging Face dataset name"


def add_env_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str) -> None:
    """``--env NAME [NAME …]``, repeatable; ``args.env`` is a list or None."""
    parser.add_argument("--env", nargs="+", action="extend", default=None, metavar="NAME", help=help)


def add_instances_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str = ROWS_HELP,
                         **kwargs) -> None:
    """``--instances FILE`` (``--tasks`` is its older spelling); ``args.instances``."""
    parser.add_argument("--instances", "--tasks", dest="instances", default=None, metavar="FILE", help=help, **kwargs)


def add_instance_ids_option(parser: argparse.ArgumentParser, help: str = "only these instances") -> None:
    """``--instance-ids ID [ID …]``, repeatable, commas allowed (``--instance-id`` too); ``args.instance_ids``."""
    parser.add_argument("--instance-ids", "--instance-id", dest="instance_ids", nargs="+", action="extend", default=None,
                        metavar="ID", help=f"{help} (space or comma separated; repeatable)")


def instance_ids(values: Sequence[str] | None) -> list[str] | None:
    """The ids given to ``--instance-ids``, commas split; None when none were given."""
    ids = [i.strip() for chunk in (values or []) for i in chunk.split(",") if i.strip()]
    return ids or None


def add_backend_options(parser: argparse.ArgumentParser, flag: str = "--backend") -> None:
    """``--backend local|ray`` (``flag``, where a command's ``--backend`` already names something else) and
    ``--ray-address``: where the command's independent units run; ``args.units_backend``, ``args.ray_address``."""
    parser.add_argument(flag, dest="units_backend", choices=BACKENDS, default="local",
                        help="local: threads of this process on this machine's engine; ray: one Ray task or actor per "
                             "unit, on any node of the cluster (pip install 'srl-swe[ray]')")
    parser.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                        help="with ray: a running cluster to join ('auto' finds the local one); "
                             "default: start a Ray runtime for this command")
    parser.add_argument("--registry", default=None, metavar="HOST:PORT",
                        help=f"pull the images a node lacks from this registry before building them "
                             f"(`srl-swe images push`; default: ${REGISTRY_ENV})")


def backend_config(args: argparse.Namespace) -> BackendConfig:
    """The :class:`BackendConfig` of :func:`add_backend_options`'s flags."""
    if args.ray_address and args.units_backend != "ray":
        raise SRLSweError("--ray-address needs the ray backend")
    if args.registry:  # this process's own image lookups (the local backend, the driver) use it too
        os.environ[REGISTRY_ENV] = args.registry
    return BackendConfig(args.units_backend, ray_address=args.ray_address, registry=configured_registry())
