"""``python -m chalicelib.cli token``: sign a user of a regional pool into the local emulator.

Prints the ID token alone on stdout (diagnostics on stderr). The user is created on first use
with the role as its Cognito group and the tenant as ``custom:tenant_id``. REGION defaults to the
tenant's home region (looked up in the directory), else us-east-1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chalicelib.settings import REGIONS, Settings, load_local_settings

ROLES = ("platform_admin", "regional_admin", "compliance_officer", "tenant_admin", "tenant_staff")
DEFAULT_REGION = "us-east-1"
DIRECTORY_TABLE = Settings.directory_table


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("token", help="print an ID token of a local Cognito user")
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--tenant", help="tenant id (tenant roles)")
    parser.add_argument("--region", choices=REGIONS, help="pool region (default: the tenant's home region)")
    parser.add_argument("--sub", help="user name (default: derived from role, tenant and region)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.adapters.aws import AwsClients
    from chalicelib.adapters.cognito_admin import find_user_pool, sign_in

    if args.role in ("tenant_admin", "tenant_staff") and not args.tenant:
        print("error: --tenant is required for tenant roles", file=sys.stderr)
        return 2
    local = load_local_settings()
    clients = AwsClients(endpoint_url=local.emulator_url, max_attempts=2, emulator_credentials=True)
    try:
        region = args.region or _home_region(clients, args.tenant) or DEFAULT_REGION
        pool = find_user_pool(clients.cognito(region), region)
        if pool is None:
            print(f"error: no Enclave user pool in {region} at {local.emulator_url}; is `make run` up?",
                  file=sys.stderr)
            return 1
        username = args.sub or "-".join(p for p in (args.role, args.tenant, region) if p)
        token = sign_in(clients.cognito(region), pool, username, args.role, args.tenant)
    except (BotoCoreError, ClientError) as exc:
        print(f"error: the emulator at {local.emulator_url} refused: {exc}", file=sys.stderr)
        return 1
    print(f"signed in {username} ({args.role}) in the {region} pool", file=sys.stderr)
    print(token)
    return 0


def _home_region(clients: Any, tenant_id: str | None) -> str | None:
    """The tenant's home region from the directory, wherever the emulator keeps it."""
    if not tenant_id:
        return None
    from botocore.exceptions import ClientError

    for region in REGIONS:
        try:
            item = clients.dynamodb(region).get_item(
                TableName=DIRECTORY_TABLE, Key={"tenant_id": {"S": tenant_id}}).get("Item")
        except ClientError:
            continue
        if item:
            return str(item["home_region"]["S"])
    return None
