"""What the benchmarks share: statistics over repetitions, free ports, and an AWS emulator over HTTP.

The emulator is ``python -m devtools.emulator``: moto's server with the two faithfulness fixes the test
suite uses (``tests.integration.emulator``): transactions that do not copy whole tables, and each request applied
atomically. Without them a TransactWriteItems in moto costs time proportional to the table's size and
concurrent requests can corrupt moto's dicts: both would be measured as Enclave's cost, since
Enclave's every write is a transaction and its bare baselines use plain puts.
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.settings import PROJECT_ROOT, Settings
from devtools.provision import Provisioned, provision

HOST = "127.0.0.1"
DIRECTORY_REGION = "us-east-1"  # where the local platform keeps the directory (no global tables in moto)
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing"}


def spread(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    """Median, min and max of several repetitions (never one time alone)."""
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def ratio_text(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def run_child(argv: list[str], **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run a child process to completion: its result, wall milliseconds and CPU milliseconds (user +
    system, from ``RUSAGE_CHILDREN``: only children reaped meanwhile count, so call it from one thread
    while no other child ends). CPU time hardly moves when other work shares the machine; wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    wall_ms = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return done, wall_ms, cpu_ms


def free_port() -> int:
    """A port the kernel just gave out and released (loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def base_environment() -> dict[str, str]:
    """The children's environment. Bytecode caches are allowed (``PYTHONDONTWRITEBYTECODE`` dropped):
    the deployment package ships precompiled bytecode (``deploy/bytecode.py``), so a cold start
    measured while compiling Enclave's modules from source every time would measure a cost Lambda
    does not pay."""
    env = {**os.environ, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": DIRECTORY_REGION, "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wait_for(url: str, what: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2):  # a loopback URL we built
                return
        except urllib.error.HTTPError:
            return  # an answer, if not a 200: the server is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Emulator:
    """A running emulator with every region provisioned."""

    url: str
    pid: int
    clients: AwsClients
    provisioned: Provisioned
    jurisdictions: JurisdictionCatalog
    settings: Settings


@contextmanager
def emulator(regions: tuple[str, ...] | None = None) -> Iterator[Emulator]:
    """Start ``devtools.emulator`` on a free port, provision it like the local platform, stop it at exit."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "devtools.emulator", "--host", HOST, "--port", str(port)],
                               env=base_environment(), cwd=PROJECT_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://{HOST}:{port}"
        wait_for(f"{url}/moto-api/", "the AWS emulator", process)
        settings = Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION)
        jurisdictions = load_jurisdictions(settings.policy_dir / "jurisdictions")
        clients = AwsClients(endpoint_url=url, emulator_credentials=True)
        provisioned = (provision(clients, settings, jurisdictions) if regions is None
                       else provision(clients, settings, jurisdictions, regions))
        yield Emulator(url, process.pid, clients, provisioned, jurisdictions, settings)
    finally:
        stop(process)


def add_tenant(clients: AwsClients, tenant_id: str, jurisdiction: str, home_region: str,
               table: str = "enclave-directory") -> None:
    """A directory entry written straight to the emulator (set-up, not measured)."""
    from chalicelib.adapters.directory import TenantDirectory
    from chalicelib.composition import Container
    from chalicelib.domain.tenants import Tenant, TenantKind

    tenant = Tenant(tenant_id=tenant_id, name="Bench School", kind=TenantKind.SCHOOL, jurisdiction=jurisdiction,
                    home_region=home_region, created_at=datetime.now(UTC))
    # as onboarding does: the tenant key first (a tenant without one fails closed)
    settings = Settings(region=home_region, directory_region=DIRECTORY_REGION)
    Container(settings, clients=clients).tenant_keys.create(tenant)
    TenantDirectory(clients.dynamodb(DIRECTORY_REGION), table).add(tenant)


def markdown_table(rows: Sequence[dict[str, object]], columns: Sequence[str] | None = None) -> str:
    """Rows as a GitHub markdown table (columns: the union of the rows' keys, in first-seen order)."""
    if not rows:
        return "(no rows)"
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(column, "")) for column in columns) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|")
