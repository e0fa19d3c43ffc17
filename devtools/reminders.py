"""Run the hourly reminders job of the local platform now: ``python -m devtools.reminders [--region R] [--at T]``.

``make run`` runs it for every region once it is up and then every hour (``devtools.platform``); this command
runs it at once, against the emulator ``make run`` started, with the regional endpoints' settings. ``--at``
runs it as if it were that moment (ISO-8601, e.g. ``2027-01-10T09:00:00Z``: see which reminders a date would
send); the ledger still tells each person once per item and threshold. Prints each region's report as JSON;
the e-mails are in the console's Outbox (admins) and each user's Inbox.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.cognito_admin import find_user_pool
from chalicelib.composition import Container
from chalicelib.settings import REGIONS, LocalPlatformSettings, Settings, load_local_settings

DIRECTORY_REGION = "us-east-1"


def run(local: LocalPlatformSettings, region: str, at: datetime | None = None) -> dict[str, object]:
    clients = AwsClients(endpoint_url=local.emulator_url, emulator_credentials=True)
    pools = {r: pool for r in REGIONS if (pool := find_user_pool(clients.cognito(r), r)) is not None}
    if region not in pools:
        raise SystemExit(f"no Enclave user pool in {region} at {local.emulator_url}; is `make run` up?")
    settings = Settings(stage="dev", region=region, directory_region=DIRECTORY_REGION,
                        aws_endpoint_url=local.emulator_url, cognito_pools=pools,
                        endpoints={r: local.endpoint_of(r) for r in REGIONS}, console_origin=local.console_url)
    container = Container(settings, clients=clients, clock=(lambda: at) if at else (lambda: datetime.now(UTC)))
    return container.alerts.run("local-reminders")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", choices=REGIONS, action="append", help="a region (default: all four)")
    parser.add_argument("--at", type=lambda text: datetime.fromisoformat(text.replace("Z", "+00:00")),
                        help="run as of this moment (ISO-8601)")
    args = parser.parse_args(argv)
    local = load_local_settings()
    for region in args.region or REGIONS:
        print(json.dumps(run(local, region, args.at)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
