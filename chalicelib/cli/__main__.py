"""Entry point of ``python -m chalicelib.cli``: dispatches to the sub-commands (imported lazily)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli")
    subparsers = parser.add_subparsers(dest="command", required=True)
    from chalicelib.cli import token

    token.add_parser(subparsers)
    try:
        from chalicelib.cli import audit
    except ImportError:
        pass
    else:
        audit.add_parser(subparsers)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
