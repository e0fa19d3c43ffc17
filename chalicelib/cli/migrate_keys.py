"""``python -m chalicelib.cli migrate-keys --jurisdiction UK``: key items out of the data table.

Moves every wrapped learner key and tenant key version still held in the jurisdiction's data table
into its key table (see ``chalicelib.services.keys.migration``). Run with the deployment's settings;
prints a JSON report; exit 0. Safe to run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    migrate = subparsers.add_parser(
        "migrate-keys", help="move key items from a data table to the jurisdiction's key table (one-off)")
    migrate.add_argument("--jurisdiction", required=True, help="law pack code (PH, AU, UK, US)")
    migrate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.composition import container

    report = container().key_migration.migrate(args.jurisdiction.upper())
    json.dump(report.view(), sys.stdout)
    sys.stdout.write("\n")
    return 0
