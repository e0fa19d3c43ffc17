"""Throughput under load: concurrent keep-alive clients on Enclave's local endpoint vs a bare app on the same server.

Both servers run as the local platform runs them, against one emulator (``devtools.emulator``,
provisioned by ``devtools.provision``):

* ``enclave``: the eu-west-2 endpoint, ``python -m devtools.serve`` with the environment
  ``devtools.platform`` gives it (the platform's other three regions idle and are not started);
* ``bare``: the same local server (``devtools.serve --project-dir bench/bare``) serving
  ``bench/bare/app.py``: the same routes doing their data calls
  (one PutItem, GetItem or Query each) without authentication, authorization, encryption or audit.

The same workload runs against each: ``clients`` threads, each with one keep-alive
``http.client`` connection, share ``requests`` requests of a fixed, seeded mix on ``tenants`` UK
tenants (each thread keeps to one tenant and its own learners): 40 % read a learner, 20 % list a
learner's results, 25 % enrol a learner, 15 % record a result. Every answer is checked (status, and
the id asked for is the id answered): anything else is an error. Phases alternate (bare, enclave,
enclave, bare, ...) for ``rounds`` rounds, each on fresh tenants; throughput is the median over
rounds (min-max beside it), latency percentiles pool every request of the variant. CPU milliseconds
per request of the server and of the emulator (from ``/proc``) show where the time goes: with every
process on the same two cores, the throughput ratio at saturation tends to the ratio of total CPU per
request, the emulator's included, which in AWS is DynamoDB's and not ours. Goal: enclave at least
70 % of bare's throughput, 0 errors.

Run ``python -m bench.bench_load``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import DIRECTORY_REGION, HOST, Emulator, base_environment, emulator, free_port, stop, wait_for
from chalicelib.adapters.cognito_admin import sign_in
from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from devtools.platform import endpoint_environment

REGION = "eu-west-2"
JURISDICTION = "UK"
GOAL_RATIO = 0.7
BARE_DIR = Path(__file__).resolve().parent / "bare"
MIX = (("read_learner", 40), ("list_results", 20), ("create_learner", 25), ("add_result", 15))
RESULT = {"assessment": "Algebra", "score": 17, "max_score": 20, "taken_on": "2026-03-02"}


def learner_body(n: int) -> dict[str, Any]:
    return {"given_name": f"Ada{n}", "family_name": "Byron", "email": f"ada.{n}@example.org",
            "date_of_birth": "2010-12-10"}


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    tokens: dict[str, str] = field(default_factory=dict)  # tenant id -> bearer token (empty for bare)


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Client:
    """One keep-alive connection to a server, playing one tenant's share of the workload."""

    def __init__(self, server: Server, tenant_id: str, learners: list[str], seed: int) -> None:
        self._connection = http.client.HTTPConnection(HOST, server.port, timeout=60)
        self._connection.connect()  # before the clock starts: a burst of connects would overrun the listen backlog
        self._token = server.tokens.get(tenant_id)
        self._base = f"/v1/tenants/{tenant_id}/learners"
        self.learners = list(learners)
        self._random = random.Random(seed)
        self._counter = seed * 1_000_000

    def close(self) -> None:
        self._connection.close()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        payload = json.dumps(body) if body is not None else None
        for attempt in range(2):
            try:
                self._connection.request(method, path, body=payload, headers=headers)
                response = self._connection.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self._connection.close()  # the server closed an idle keep-alive connection: reconnect once
                if attempt:
                    raise
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, data[:200]

    def one(self) -> str | None:
        """One request of the mix; None when the answer is right, else what was wrong."""
        kind = self._random.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        learner = self._random.choice(self.learners)
        if kind == "read_learner":
            status, body = self.request("GET", f"{self._base}/{learner}")
            ok = status == 200 and isinstance(body, dict) and body.get("learner_id") == learner
        elif kind == "list_results":
            status, body = self.request("GET", f"{self._base}/{learner}/results")
            ok = status == 200 and isinstance(body, dict) and isinstance(body.get("items"), list)
        elif kind == "create_learner":
            self._counter += 1
            status, body = self.request("POST", self._base, learner_body(self._counter))
            ok = status == 201 and isinstance(body, dict) and body.get("given_name") == f"Ada{self._counter}"
            if ok:
                self.learners.append(str(body["learner_id"]))
        else:
            status, body = self.request("POST", f"{self._base}/{learner}/results", RESULT)
            ok = status == 201 and isinstance(body, dict) and str(body.get("result_id", "")).startswith("res_")
        return None if ok else f"{kind}: {status} {str(body)[:120]}"


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(server: Server, emulator_pid: int, tenants: dict[str, list[str]], clients: int, requests: int,
          seed: int) -> dict[str, Any]:
    """``requests`` requests from ``clients`` threads; throughput, latencies, errors and CPU per request."""
    tenant_ids = list(tenants)
    players = [Client(server, tenant_ids[i % len(tenant_ids)], tenants[tenant_ids[i % len(tenant_ids)]],
                      seed * 1000 + i) for i in range(clients)]
    remaining = iter(range(requests))
    lock = threading.Lock()
    outcome = Outcome()

    def work(player: Client) -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            started = time.perf_counter()
            try:
                error = player.one()
            except Exception as exc:  # a refused or broken connection is an error of the run, not a crash
                error = f"{type(exc).__name__}: {exc}"
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                outcome.latencies_ms.append(elapsed)
                if error:
                    outcome.errors.append(error)

    threads = [threading.Thread(target=work, args=(player,)) for player in players]
    cpu_before = (_cpu_seconds(server.process.pid), _cpu_seconds(emulator_pid))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cpu_after = (_cpu_seconds(server.process.pid), _cpu_seconds(emulator_pid))
    for player in players:
        player.close()
        tenants[player._base.split("/")[3]] = player.learners  # later phases read the learners enrolled now
    cpu = [None if a is None or b is None else (b - a) * 1000 / requests for a, b in zip(cpu_before, cpu_after,
                                                                                          strict=True)]
    return {"seconds": seconds, "throughput": requests / seconds, "latencies": outcome.latencies_ms,
            "errors": outcome.errors, "server_cpu_ms": cpu[0], "emulator_cpu_ms": cpu[1]}


@contextmanager
def servers(emulated: Emulator) -> Iterator[tuple[Server, Server]]:
    """The Enclave eu-west-2 endpoint and the bare app, each on a free port; stopped at exit."""
    local = LocalPlatformSettings(moto_port=int(emulated.url.rsplit(":", 1)[1]))
    enclave_env = {**endpoint_environment(local, emulated.provisioned, base_environment()), "ENCLAVE_REGION": REGION}
    bare_env = {**base_environment(), "AWS_ENDPOINT_URL": emulated.url, "AWS_DEFAULT_REGION": REGION,
                "BARE_DIRECTORY_REGION": DIRECTORY_REGION, "BARE_DATA_REGION": REGION,
                "BARE_DATA_TABLE": emulated.settings.data_table(JURISDICTION)}
    started: list[Server] = []
    try:
        port = free_port()
        started.append(Server("enclave", subprocess.Popen(
            [sys.executable, "-m", "devtools.serve", "--stage", "dev", "--host", HOST, "--port", str(port)],
            env=enclave_env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port))
        port = free_port()
        started.append(Server("bare", subprocess.Popen(
            [sys.executable, "-m", "devtools.serve", "--project-dir", str(BARE_DIR), "--stage", "dev",
             "--host", HOST, "--port", str(port)],
            env=bare_env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port))
        wait_for(f"http://{HOST}:{started[0].port}/v1/health", "the Enclave endpoint", started[0].process)
        wait_for(f"http://{HOST}:{started[1].port}/v1/tenants/none", "the bare app", started[1].process)
        yield started[0], started[1]
    finally:
        for server in started:
            stop(server.process)


def _onboard(enclave: Server, emulated: Emulator, count: int, tag: str) -> list[str]:
    """``count`` UK tenants through Enclave's API, and a tenant_staff token for each."""
    pool = emulated.provisioned.cognito_pools[REGION]
    cognito = emulated.clients.cognito(REGION)
    if "admin" not in enclave.tokens:
        enclave.tokens["admin"] = sign_in(cognito, pool, "bench-load-admin", "platform_admin", None)
    admin = Server("admin", enclave.process, enclave.port, {"-": enclave.tokens["admin"]})
    setup = Client(admin, "-", ["-"], 0)
    tenant_ids = []
    for n in range(count):
        status, body = setup.request("POST", "/v1/tenants", {"name": f"Load School {n}", "kind": "school",
                                                             "jurisdiction": JURISDICTION})
        if status != 201:
            raise RuntimeError(f"onboarding answered {status}: {body}")
        tenant_ids.append(str(body["tenant_id"]))
        enclave.tokens[body["tenant_id"]] = sign_in(cognito, pool, f"bench-load-{tag}-{n}", "tenant_staff",
                                                    body["tenant_id"])
    setup.close()
    return tenant_ids


def _seed(server: Server, tenant_ids: list[str], learners: int) -> dict[str, list[str]]:
    """``learners`` learners with one result each per tenant (set-up, not measured; warms the server)."""
    seeded: dict[str, list[str]] = {}
    for tenant_id in tenant_ids:
        client = Client(server, tenant_id, ["-"], 0)
        ids = []
        for n in range(learners):
            status, body = client.request("POST", f"/v1/tenants/{tenant_id}/learners", learner_body(n))
            if status != 201:
                raise RuntimeError(f"seeding {server.name} answered {status}: {body}")
            ids.append(str(body["learner_id"]))
            status, body = client.request("POST", f"/v1/tenants/{tenant_id}/learners/{ids[-1]}/results", RESULT)
            if status != 201:
                raise RuntimeError(f"seeding {server.name} answered {status}: {body}")
        client.close()
        seeded[tenant_id] = ids
    return seeded


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(clients: int = 8, requests: int = 300, rounds: int = 3, tenants: int = 4,
        seed_learners: int = 4) -> list[dict[str, object]]:
    """One row per variant: throughput (median, min-max over rounds), latency percentiles, errors, CPU.

    Every phase gets ``tenants`` fresh tenants seeded with ``seed_learners`` learners: the emulator's
    Query walks a whole partition (DynamoDB's does not), so phases on ever-growing partitions would
    measure the emulator's growth rather than the apps.
    """
    with emulator(regions=(REGION,)) as emulated, servers(emulated) as (enclave, bare):
        by_name = {"enclave": enclave, "bare": bare}
        phases: dict[str, list[dict[str, Any]]] = {"bare": [], "enclave": []}
        for round_ in range(rounds):
            order = ["bare", "enclave"] if round_ % 2 == 0 else ["enclave", "bare"]
            for name in order:
                tenant_ids = _onboard(enclave, emulated, tenants, tag=f"{round_}{name[0]}")
                seeded = _seed(by_name[name], tenant_ids, seed_learners)
                phases[name].append(phase(by_name[name], emulated.pid, seeded, clients, requests, round_ + 1))
    bare_rate = statistics.median(p["throughput"] for p in phases["bare"])
    rows: list[dict[str, object]] = []
    for name in ("bare", "enclave"):
        runs = phases[name]
        rates = [p["throughput"] for p in runs]
        latencies = [ms for p in runs for ms in p["latencies"]]
        errors = [e for p in runs for e in p["errors"]]
        server_cpu = [p["server_cpu_ms"] for p in runs if p["server_cpu_ms"] is not None]
        emulator_cpu = [p["emulator_cpu_ms"] for p in runs if p["emulator_cpu_ms"] is not None]
        rows.append({
            "variant": name, "clients": clients, "requests": requests * len(runs), "rounds": len(runs),
            "req_per_s": round(statistics.median(rates), 1),
            "req_per_s_min_max": f"{min(rates):.0f}-{max(rates):.0f}",
            "ratio_to_bare": round(statistics.median(rates) / bare_rate, 3),
            "p50_ms": round(_percentile(latencies, 0.50), 1), "p95_ms": round(_percentile(latencies, 0.95), 1),
            "p99_ms": round(_percentile(latencies, 0.99), 1), "errors": len(errors),
            "server_cpu_ms_per_req": round(statistics.median(server_cpu), 2) if server_cpu else "n/a",
            "emulator_cpu_ms_per_req": round(statistics.median(emulator_cpu), 2) if emulator_cpu else "n/a",
            "first_errors": "; ".join(sorted(set(errors))[:3]),
        })
    return rows


if __name__ == "__main__":
    from bench.common import markdown_table

    print(markdown_table(run()))
