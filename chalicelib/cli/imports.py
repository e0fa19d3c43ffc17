"""``python -m chalicelib.cli import FILE --tenant T --kind learners``: a bulk import from the command line.

Starts the import (``POST .../imports``), uploads FILE to the presigned URL with the headers the API
names, then follows ``GET .../imports/{id}`` with a progress bar on stderr until it is done, and prints
the final report (state, counts, the error report: rows, fields, codes) as JSON on stdout. Exit code 0
when every row is in, 3 when some rows failed (see the report), 1 when the import failed as a whole.

Against the local platform by default: the endpoint of the tenant's home region and a ``tenant_admin``
token signed in to the emulator. Elsewhere: ``--endpoint`` and ``--token`` (or ``ENCLAVE_TOKEN``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

BAR = 30
POLL_SECONDS = 0.5


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("import", help="import learners or results from a CSV or OneRoster file")
    parser.add_argument("file", type=Path, help="a CSV with a header, or a OneRoster zip")
    parser.add_argument("--tenant", required=True, help="tenant id")
    parser.add_argument("--kind", choices=("learners", "results"), default="learners")
    parser.add_argument("--format", choices=("csv", "oneroster"), help="default: oneroster for a .zip, else csv")
    parser.add_argument("--map", action="append", default=[], metavar="HEADER=COLUMN",
                        help="the file's header name for one of ours (repeat), e.g. --map 'First Name=given_name'")
    parser.add_argument("--endpoint", help="the API of the tenant's home region (default: the local platform's)")
    parser.add_argument("--token", help="a tenant admin's ID token (default: $ENCLAVE_TOKEN, or a local one)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the import to finish")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    if not args.file.is_file():
        print(f"error: no file {args.file}", file=sys.stderr)
        return 2
    mapping = dict(item.split("=", 1) for item in args.map if "=" in item)
    if len(mapping) != len(args.map):
        print("error: --map takes HEADER=COLUMN", file=sys.stderr)
        return 2
    fmt = args.format or ("oneroster" if args.file.suffix.lower() == ".zip" else "csv")
    try:
        endpoint, token = _where(args.tenant, args.endpoint, args.token or os.environ.get("ENCLAVE_TOKEN"))
        base = f"{endpoint.rstrip('/')}/v1/tenants/{args.tenant}/imports"
        body: dict[str, Any] = {"kind": args.kind, "format": fmt, **({"mapping": mapping} if mapping else {})}
        started = _call("POST", base, token, body)
        _upload(started["upload"], args.file.read_bytes())
        report = _follow(f"{base}/{started['import_id']}", token, args.timeout, sys.stderr)
    except (OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    if report["state"] != "completed":
        return 1
    return 3 if report["failed"] else 0


def _where(tenant: str, endpoint: str | None, token: str | None) -> tuple[str, str]:
    """The endpoint and token to use: given, or the local platform's (tenant's home region, a tenant admin)."""
    if endpoint and token:
        return endpoint, token
    from chalicelib.adapters.aws import AwsClients
    from chalicelib.adapters.cognito_admin import find_user_pool, sign_in
    from chalicelib.cli.token import DEFAULT_REGION, _home_region
    from chalicelib.settings import load_local_settings

    local = load_local_settings()
    clients = AwsClients(endpoint_url=local.emulator_url, max_attempts=2, emulator_credentials=True)
    region = _home_region(clients, tenant) or DEFAULT_REGION
    if token is None:
        pool = find_user_pool(clients.cognito(region), region)
        if pool is None:
            raise RuntimeError(f"no user pool in {region} at {local.emulator_url}; is `make run` up?")
        token = sign_in(clients.cognito(region), pool, f"tenant_admin-{tenant}-{region}", "tenant_admin", tenant)
    return endpoint or local.endpoint_of(region), token


def _call(method: str, url: str, token: str, body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - the API's own URL
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise RuntimeError(f"{method} {url} answered {exc.code}: {detail}") from None


def _upload(upload: dict[str, Any], data: bytes) -> None:
    # urllib would label the body a form (and a server may parse it as one): say it is bytes
    headers = {"Content-Type": "application/octet-stream", **upload["headers"]}
    request = urllib.request.Request(upload["url"], data=data, method="PUT",  # noqa: S310 - the presigned URL
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=300):  # noqa: S310
            return
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the upload was refused ({exc.code})") from None


def _follow(url: str, token: str, timeout: float, out: TextIO) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        report = _call("GET", url, token)
        line = progress_line(report)
        if line != shown:
            out.write(("\r" if out.isatty() else "") + line + ("" if out.isatty() else "\n"))
            out.flush()
            shown = line
        if report["state"] in ("completed", "failed"):
            if out.isatty():
                out.write("\n")
            return report
        if time.monotonic() > deadline:
            raise RuntimeError(f"the import is still {report['state']} after {timeout:.0f} s; follow it with GET {url}")
        time.sleep(POLL_SECONDS)


def progress_line(report: dict[str, Any]) -> str:
    """``[#########.....................]  30% 6,000/20,000 rows, 12 failed (processing)``."""
    percent = int(report.get("progress", 0))
    filled = BAR * percent // 100
    rows = int(report.get("rows", 0))
    handled = int(report.get("done", 0)) + int(report.get("failed", 0))
    return (f"[{'#' * filled}{'.' * (BAR - filled)}] {percent:3d}% {handled:,}/{rows:,} rows, "
            f"{int(report.get('failed', 0)):,} failed ({report['state']})")
