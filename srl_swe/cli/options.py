"""The command-line options several commands share, spelled once: which tasks, from which file, which instances.

Every command that works on tasks takes the same three: ``--env NAME …`` (registered
environments whose tasks to use; repeatable), ``--instances FILE`` (a SWE-bench rows file
instead), ``--instance-ids ID …`` (only these; repeatable, commas allowed). Earlier spellings
stay accepted for one release: ``--tasks FILE`` and ``--instance-id ID``.
"""
from __future__ import annotations

import argparse
from typing import Sequence

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
