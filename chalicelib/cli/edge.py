"""``python -m chalicelib.cli edge reconcile [--dry-run]``: repair the global entry's routing table.

Run with the deployment's settings (``ENCLAVE_REGION``, ``ENCLAVE_EDGE_KVS_ARN`` …): the routes to this
region are made equal to the live tenants homed here (``chalicelib.services.edge_routes``). The hourly
schedule ``edge_routes`` does the same. Prints a JSON report; exit 0, or 1 when the store could not be
updated.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    edge = subparsers.add_parser("edge", help="the global entry's routing table (CloudFront KeyValueStore)")
    actions = edge.add_subparsers(dest="edge_command", required=True)
    reconcile = actions.add_parser("reconcile", help="diff the directory against the store and repair drift")
    reconcile.add_argument("--dry-run", action="store_true", help="report the drift, change nothing")
    reconcile.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.adapters.edge_routes import EdgeSyncFailed
    from chalicelib.composition import container

    try:
        report = container().edge_routes.reconcile(dry_run=args.dry_run)
    except EdgeSyncFailed as exc:
        print(f"edge reconcile: {exc.message}", file=sys.stderr)
        return 1
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0
