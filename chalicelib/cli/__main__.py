"""``python -m chalicelib.cli``: the top-level parser; subcommands are imported only when chosen.

Each subcommand module has ``add_parser(subparsers)``, which adds its parser and sets ``handler``
(``args -> int`` exit code) as a default. ``audit verify`` must work with nothing but a file, so
``token`` (which talks to the emulator through boto3) is imported only when it is the one asked for.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

LAZY_SUBCOMMANDS = {  # name -> (module, help shown while the module is not imported)
    "edge": ("edge", "reconcile the global entry's routing table with the directory"),
    "import": ("imports", "import learners or results from a CSV or OneRoster file, with a progress bar"),
    "migrate-incidents": ("migrate_incidents", "let GET /v1/incidents list incidents recorded before it (one-off)"),
    "migrate-keys": ("migrate_keys", "move key items from a data table to the key table (one-off)"),
    "restore": ("restore", "re-apply recorded erasures to a restored data table"),
    "token": ("token", "sign in a user of the local platform and print an ID token"),
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The parser; a lazy subcommand's module is imported only when ``command`` names it."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="Enclave command line tools.")
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       metavar="{audit," + ",".join(LAZY_SUBCOMMANDS) + "}")
    from chalicelib.cli import audit, witness

    witness.add_parser(audit.add_parser(subparsers))
    for name, (module, help_text) in LAZY_SUBCOMMANDS.items():
        if command == name:
            importlib.import_module(f"chalicelib.cli.{module}").add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list[0] if args_list else None)
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"{args.command}: choose a subcommand (see --help)")
    try:
        code = handler(args)
    except KeyboardInterrupt:
        return 130
    return 0 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main())
