"""``python -m chalicelib.cli migrate-incidents``: list incidents recorded before the list route.

Adds the ``by_lookup`` index attributes to this region's incident items that lack them, each with an
``incident.indexed`` audit event (see ``chalicelib.services.incident_migration``). Run with the
deployment's settings (``ENCLAVE_REGION`` …), once per region; prints a JSON report; exit 0. Safe to
run again: a second run indexes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    migrate = subparsers.add_parser(
        "migrate-incidents", help="let GET /v1/incidents list incidents recorded before it existed (one-off)")
    migrate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.composition import container

    report = container().incident_migration.migrate()
    json.dump(report.view(), sys.stdout)
    sys.stdout.write("\n")
    return 0
