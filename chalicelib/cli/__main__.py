"""``python -m chalicelib.cli``: the top-level parser; subcommands are imported only when chosen.

Each subcommand module has ``add_parser(subparsers)``, which adds its parser and sets ``handler``
(``args -> int`` exit code) as a default. ``audit verify`` must work with nothing but a file, so
``token`` (which talks to the emulator through boto3) is imported only when it is the one asked for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The parser; the module of ``token`` is imported only when ``command`` is ``token``."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="Enclave command line tools.")
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       metavar="{audit,edge,migrate-keys,restore,token}")
    from chalicelib.cli import audit

    audit.add_parser(subparsers)
    if command == "edge":
        from chalicelib.cli import edge

        edge.add_parser(subparsers)
    else:
        subparsers.add_parser("edge", help="reconcile the global entry's routing table with the directory")
    if command == "migrate-keys":
        from chalicelib.cli import migrate_keys

        migrate_keys.add_parser(subparsers)
    else:
        subparsers.add_parser("migrate-keys", help="move key items from a data table to the key table (one-off)")
    if command == "restore":
        from chalicelib.cli import restore

        restore.add_parser(subparsers)
    else:
        subparsers.add_parser("restore", help="re-apply recorded erasures to a restored data table")
    if command == "token":
        from chalicelib.cli import token

        token.add_parser(subparsers)
    else:
        subparsers.add_parser("token", help="sign in a user of the local platform and print an ID token")
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
