"""F8: the local platform stays fast as a tenant grows (enrolment and read rate at 100 and at N learners).

The whole local platform (``devtools.platform.start``: the emulator with its O(items touched)
DynamoDB, the four endpoints) on free ports and a temporary data folder. One UK tenant; the rate of
100 sequential enrolments and of 100 reads of random learners is measured when the tenant holds 100
learners, then the tenant is filled through the same API (4 threads, not measured) to N learners
and the same rates are measured again. The goal: each rate at N at least 80% of its rate at 100.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.common import free_port
from chalicelib.settings import PROJECT_ROOT, REGIONS, LocalPlatformSettings
from devtools.platform import start

HOME = "eu-west-2"
MEASURED = 100


class Client:
    """One tenant's staff, calling the eu-west-2 endpoint over keep-alive connections."""

    def __init__(self, local: LocalPlatformSettings) -> None:
        self.local = local
        self.session = requests.Session()
        admin = self.token("--role", "platform_admin", "--region", HOME)
        reply = self.session.post(f"{local.endpoint_of(HOME)}/v1/tenants", timeout=30,
                                  headers={"Authorization": f"Bearer {admin}"},
                                  json={"name": "Growth Review Centre", "kind": "school", "jurisdiction": "UK"})
        reply.raise_for_status()
        self.tenant = str(reply.json()["tenant_id"])
        self.staff = self.token("--role", "tenant_staff", "--tenant", self.tenant)
        self.learners: list[str] = []

    def token(self, *args: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "ENCLAVE_MOTO_PORT": str(self.local.moto_port),
               "ENCLAVE_PORT_BASE": str(self.local.port_base)}
        done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "token", *args], capture_output=True,
                              text=True, env=env, cwd=PROJECT_ROOT, timeout=60, check=True)
        return done.stdout.strip()

    def _call(self, session: requests.Session, method: str, path: str, body: Any = None) -> Any:
        reply = session.request(method, f"{self.local.endpoint_of(HOME)}/v1/tenants/{self.tenant}{path}",
                                json=body, timeout=60, headers={"Authorization": f"Bearer {self.staff}"})
        reply.raise_for_status()
        return reply.json()

    def enrol(self, n: int, session: requests.Session | None = None) -> None:
        learner = self._call(session or self.session, "POST", "/learners", {
            "given_name": "Learner", "family_name": f"Growth{n}", "email": f"learner{n}@example.org",
            "date_of_birth": "2009-09-09"})
        self.learners.append(str(learner["learner_id"]))

    def read(self, learner_id: str) -> None:
        self._call(self.session, "GET", f"/learners/{learner_id}")


def _rates(client: Client, rng: random.Random) -> tuple[float, float]:
    began = time.perf_counter()
    for n in range(MEASURED):
        client.enrol(len(client.learners) + n + 1_000_000)
    enrol_rate = MEASURED / (time.perf_counter() - began)
    chosen = rng.sample(client.learners, MEASURED)
    began = time.perf_counter()
    for learner_id in chosen:
        client.read(learner_id)
    return enrol_rate, MEASURED / (time.perf_counter() - began)


def _fill(client: Client, target: int, threads: int = 4) -> None:
    missing = target - len(client.learners)
    sessions = [requests.Session() for _ in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        for done, _ in enumerate(pool.map(lambda n: client.enrol(n, sessions[n % threads]), range(missing))):
            if done % 1000 == 0:
                print(f"  growth: {len(client.learners):,} learners", file=sys.stderr, flush=True)


def _local_settings(state_dir: Path) -> LocalPlatformSettings:
    while True:
        base = free_port()
        local = LocalPlatformSettings(moto_port=free_port(), port_base=base, state_dir=state_dir, fresh=True)
        ports = {local.moto_port, *(local.port_of(region) for region in REGIONS)}
        if len(ports) == 1 + len(REGIONS):
            return local


def run(learners: int = 20_000) -> list[dict[str, object]]:
    rng = random.Random(8)
    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as folder:
        local = _local_settings(Path(folder))
        platform = start(local)
        try:
            client = Client(local)
            _fill(client, MEASURED)
            small = _rates(client, rng)
            _fill(client, learners)
            large = _rates(client, rng)
        finally:
            platform.stop()
    rows: list[dict[str, object]] = []
    for what, at_small, at_large in (("enrol", small[0], large[0]), ("read", small[1], large[1])):
        rows.append({"operation": what, f"per_s_at_{MEASURED}": round(at_small, 1),
                     f"per_s_at_{learners}": round(at_large, 1), "ratio": round(at_large / at_small, 3),
                     "meets_goal": at_large >= 0.8 * at_small})
    return rows
