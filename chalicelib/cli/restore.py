"""``python -m chalicelib.cli restore --jurisdiction UK --table enclave-data-uk-restored``.

Re-applies every erasure recorded in the live audit trail to a restored copy of a jurisdiction's
personal-data table (see ``chalicelib.services.restore``). Run it with the deployment's settings
(``ENCLAVE_REGION`` …) before traffic is switched to the restored table. Prints a JSON report; exit 0.
Naming a live table of the jurisdiction (the data or key table itself) is refused before anything is
read or written: the error on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    restore = subparsers.add_parser(
        "restore", help="re-apply recorded erasures to a restored data table before it serves traffic")
    restore.add_argument("--jurisdiction", required=True, help="law pack code of the table (PH, AU, UK, US)")
    restore.add_argument("--table", required=True, help="name of the restored copy of the data table")
    restore.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.composition import container
    from chalicelib.domain.errors import BadRequest

    try:
        report = container().restore(args.table).reapply(args.jurisdiction.upper())
    except BadRequest as refused:
        sys.stderr.write(f"restore: {refused.message}\n")
        return 2
    json.dump(report.view(), sys.stdout)
    sys.stdout.write("\n")
    return 0
