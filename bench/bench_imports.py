"""Bulk import rate on the local platform against the same rows through single API calls, same run.

The whole local platform (``devtools.platform.start``, free ports, a temporary data folder), two UK
tenants. The same N learner rows go into one as a CSV import (``POST .../imports``, the presigned PUT,
the worker inside the platform, followed with ``GET .../imports/{id}`` every 0.2 s until ``completed``)
and into the other as N sequential ``POST .../learners`` calls over one keep-alive connection (half
before the import, half after it, so both see the same machine; between phases the chains are sealed,
untimed). Each rate is rows per second of wall time; the goal: the import at least 5x the single calls.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from devtools.platform import start
from devtools.ports import free_local_settings

HOME = "eu-west-2"
HEADER = ["given_name", "family_name", "email", "date_of_birth", "guardian_name", "guardian_email", "programme"]


def rows(count: int) -> list[list[str]]:
    return [[f"Given{n}", f"Family{n}", f"learner{n}@bench.example", f"{2005 + n % 10}-0{1 + n % 9}-1{n % 9}",
             f"Carer {n}", f"carer{n}@bench.example", "Year 11"] for n in range(count)]


class Tenant:
    def __init__(self, local: LocalPlatformSettings, name: str) -> None:
        self.local = local
        self.session = requests.Session()
        admin = _token(local, "--role", "platform_admin", "--region", HOME)
        reply = self.session.post(f"{self.base()}/v1/tenants", headers={"Authorization": f"Bearer {admin}"},
                                  json={"name": name, "kind": "school", "jurisdiction": "UK"}, timeout=30)
        reply.raise_for_status()
        self.tenant = str(reply.json()["tenant_id"])
        self.admin = _token(local, "--role", "tenant_admin", "--tenant", self.tenant)
        self.officer = _token(local, "--role", "compliance_officer", "--region", HOME)

    def base(self) -> str:
        return self.local.endpoint_of(HOME)

    def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        reply = self.session.request(method, f"{self.base()}/v1/tenants/{self.tenant}{path}", json=body,
                                     headers={"Authorization": f"Bearer {token}"}, timeout=300)
        reply.raise_for_status()
        return reply.json()

    def sealed(self) -> None:
        """Every event of the tenant chained (the read seals what is pending): untimed between phases."""
        self.call("GET", "/audit/verify", self.officer)


def _token(local: LocalPlatformSettings, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "ENCLAVE_MOTO_PORT": str(local.moto_port),
           "ENCLAVE_PORT_BASE": str(local.port_base)}
    done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "token", *args], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=60, check=True)
    return done.stdout.strip()


def api_calls(tenant: Tenant, batch: list[list[str]]) -> float:
    """Seconds to enrol ``batch`` one POST at a time."""
    started = time.perf_counter()
    for row in batch:
        tenant.call("POST", "/learners", tenant.admin, {
            "given_name": row[0], "family_name": row[1], "email": row[2], "date_of_birth": row[3],
            "guardian": {"name": row[4], "email": row[5]}, "programme": row[6]})
    return time.perf_counter() - started


def imported(tenant: Tenant, batch: list[list[str]]) -> tuple[float, dict[str, Any]]:
    """Seconds from ``POST .../imports`` to ``completed``, and the final report."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(batch)
    data = out.getvalue().encode()
    started = time.perf_counter()
    created = tenant.call("POST", "/imports", tenant.admin, {"kind": "learners"})
    put = requests.put(created["upload"]["url"], data=data, headers=created["upload"]["headers"], timeout=120)
    put.raise_for_status()
    while True:
        report = tenant.call("GET", f"/imports/{created['import_id']}", tenant.admin)
        if report["state"] in ("completed", "failed"):
            return time.perf_counter() - started, report
        time.sleep(0.2)


def run(count: int = 2000) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="enclave-bench-imports-") as folder:
        local = free_local_settings().model_copy(update={"state_dir": Path(folder), "fresh": True})
        platform = start(local, quiet=True)
        try:
            by_import, by_api = Tenant(local, "Import School"), Tenant(local, "API School")
            batch = rows(count)
            half = count // 2
            api_seconds = api_calls(by_api, batch[:half])
            by_api.sealed()
            import_seconds, report = imported(by_import, batch)
            by_import.sealed()
            api_seconds += api_calls(by_api, batch[half:])
        finally:
            platform.stop()
    if report["created"] != count:
        raise RuntimeError(f"the import wrote {report['created']} of {count} rows: {report}")
    api_rate, import_rate = count / api_seconds, count / import_seconds
    return [
        {"way": "single API calls (POST .../learners, sequential)", "rows": count,
         "seconds": round(api_seconds, 1), "rows_per_s": round(api_rate, 1), "ratio": 1.0},
        {"way": "CSV import (upload, worker in the platform, until completed)", "rows": count,
         "seconds": round(import_seconds, 1), "rows_per_s": round(import_rate, 1),
         "ratio": round(import_rate / api_rate, 2)},
    ]


if __name__ == "__main__":
    from bench.common import markdown_table

    print(markdown_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
