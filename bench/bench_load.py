"""Throughput under load: Enclave's local endpoint against a bare app making the same calls, per route kind.

Both servers run as the local platform runs them, against one emulator (``devtools.emulator``,
provisioned by ``devtools.provision``):

* ``enclave``: the eu-west-2 endpoint, ``python -m devtools.serve`` with the environment
  ``devtools.platform`` gives it (the platform's other three regions idle and are not started);
* ``bare_same_calls``: the same local server (``devtools.serve --project-dir bench/bare``) serving
  ``bench/bare/app.py``'s ``/same-calls`` routes: the DynamoDB calls Enclave's warm routes make, with the
  same items (a read: its read + one PutItem of a small audit item; a write: one TransactWriteItems of
  Enclave's puts, condition checks and a small audit item) without authentication, authorization,
  encryption or audit hashing. The fair baseline: the goal is read here;
* ``bare``: the same bare app's one-call routes (one PutItem, GetItem or Query each; no audit item), the
  baseline of earlier reports, kept for continuity: it leaves out the audit write Enclave must make, so
  its ratio overstates Enclave's own cost.

The same workload runs against each: ``clients`` keep-alive ``http.client`` connections share
``requests`` requests of a fixed, seeded mix on ``tenants`` UK tenants (each client keeps to one tenant
and its own learners). Kinds: ``mix`` (40 % read a learner, 20 % list a learner's results, 25 % enrol a
learner, 15 % record a result), ``read`` (the two reads alone) and ``write`` (the two writes alone); server
CPU per request is per kind because each kind runs as its own phase. Every answer is checked (status, and the
id asked for is the id answered): anything else is an error.

The clients run in generator processes of their own (``bench/load_generator.py``), one per core beyond the
server's (at least one, never the benchmark's own process), so that the client side is not what saturates;
each generator's CPU per request and the cores it used are reported beside the server's.

The ratio is paired, so that the shared machine's noise cancels: a round runs every phase once, each on fresh
tenants seeded alike (so the emulator's partitions are the same size for both apps), with each kind's two
phases (same-calls bare app, Enclave) back to back (both set up first, then measured one after the other), and
the order of the whole round reversed every other round (ABBA), so neither app always goes first or always
follows the other's writes. Each adjacent pair gives one ratio (Enclave's throughput / the same-calls app's);
the kind's ratio is the median of its pairs' ratios, their min-max beside it. ``warmup`` rounds run first and
are discarded (first requests, connection pools, caches). Throughput per variant is the median over the
measured rounds (min-max beside it), latency percentiles pool every measured request of the variant;
``load_1min_min_max`` is the machine's 1-minute load average when the variant's phases started (what else
ran). CPU milliseconds per request of the server, the emulator and the generators come from ``/proc`` and the
generators' own clocks: with every process on the same two cores, the throughput ratio at saturation tends to
the ratio of total CPU per request, the emulator's included, which in AWS is DynamoDB's and not ours.
Goal: enclave at least 85 % of the same-calls bare app's throughput for every kind, 0 errors.

Run ``python -m bench.bench_load``.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import DIRECTORY_REGION, HOST, Emulator, base_environment, emulator, free_port, stop, wait_for
from bench.load_generator import MIXES, RESULT, Client, learner_body
from chalicelib.adapters.cognito_admin import sign_in
from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from devtools.platform import endpoint_environment

REGION = "eu-west-2"
JURISDICTION = "UK"
GOAL_RATIO = 0.85
SERVER_CORES = 1  # the server under test is one process (one interpreter): the generators get the other cores
BARE_DIR = Path(__file__).resolve().parent / "bare"
KINDS = ("read", "write")
MIX = MIXES["mix"]  # the mixed workload (bench.bench_profile serves it in process)
# (variant, kind) phases of a round, in order; the same-calls bare app is the goal's baseline
PHASES = (("bare", "mix"), ("bare_same_calls", "mix"), ("enclave", "mix"),
          *((variant, kind) for kind in KINDS for variant in ("bare_same_calls", "enclave")))


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    tokens: dict[str, str] = field(default_factory=dict)  # tenant id -> bearer token (empty for bare)
    prefix: str = ""


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def generator_count() -> int:
    """One generator process per core beyond the server's, at least one."""
    return max(1, (os.cpu_count() or 1) - SERVER_CORES)


def _start_generators(server: Server, tenants: dict[str, list[str]], clients: int, requests: int, seed: int,
                      mix: str) -> list[subprocess.Popen[str]]:
    """The generator processes, each with its share of the clients and requests, connected and waiting."""
    count = min(generator_count(), clients)
    tenant_ids = list(tenants)
    specs = [{"tenant_id": tenant_ids[i % len(tenant_ids)], "token": server.tokens.get(tenant_ids[i % len(tenant_ids)]),
              "learners": tenants[tenant_ids[i % len(tenant_ids)]], "seed": seed * 1000 + i} for i in range(clients)]
    generators = []
    for g in range(count):
        job = {"port": server.port, "prefix": server.prefix, "mix": mix, "clients": specs[g::count],
               "requests": requests // count + (1 if g < requests % count else 0)}
        process = subprocess.Popen([sys.executable, "-m", "bench.load_generator"], cwd=PROJECT_ROOT, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=base_environment())
        assert process.stdin is not None
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        generators.append(process)
    for process in generators:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"a load generator did not start (exit code {process.wait()})")
    return generators


def phase(server: Server, emulator_pid: int, tenants: dict[str, list[str]], clients: int, requests: int,
          seed: int, mix: str = "mix") -> dict[str, Any]:
    """``requests`` requests from ``clients`` clients in generator processes; throughput, latencies, errors and
    CPU per request of the server, the emulator and the generators."""
    generators = _start_generators(server, tenants, clients, requests, seed, mix)
    load = os.getloadavg()[0]
    cpu_before = (_cpu_seconds(server.process.pid), _cpu_seconds(emulator_pid))
    started = time.perf_counter()
    for process in generators:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    answers = []
    for process in generators:
        out, _ = process.communicate(timeout=600)
        answers.append(json.loads(out.strip().splitlines()[-1]))
    seconds = time.perf_counter() - started
    cpu_after = (_cpu_seconds(server.process.pid), _cpu_seconds(emulator_pid))
    learners: dict[str, set[str]] = {}
    for answer in answers:
        for tenant_id, ids in answer["learners"]:
            learners.setdefault(tenant_id, set()).update(ids)
    for tenant_id, ids in learners.items():  # later phases read the learners enrolled now
        tenants[tenant_id] = sorted(ids)
    cpu = [None if a is None or b is None else (b - a) * 1000 / requests for a, b in zip(cpu_before, cpu_after,
                                                                                          strict=True)]
    generator_cpu = sum(float(a["cpu_s"]) for a in answers)
    return {"seconds": seconds, "throughput": requests / seconds,
            "latencies": [ms for a in answers for ms in a["latencies"]], "errors": [e for a in answers
                                                                                  for e in a["errors"]],
            "server_cpu_ms": cpu[0], "emulator_cpu_ms": cpu[1], "generator_cpu_ms": generator_cpu * 1000 / requests,
            "generator_cores": generator_cpu / seconds, "generators": len(generators), "load_1min": load}


@contextmanager
def servers(emulated: Emulator) -> Iterator[tuple[Server, Server]]:
    """The Enclave eu-west-2 endpoint and the bare app, each on a free port; stopped at exit."""
    local = LocalPlatformSettings(moto_port=int(emulated.url.rsplit(":", 1)[1]))
    enclave_env = {**endpoint_environment(local, emulated.provisioned, base_environment()), "ENCLAVE_REGION": REGION}
    bare_env = {**base_environment(), "AWS_ENDPOINT_URL": emulated.url, "AWS_DEFAULT_REGION": REGION,
                "BARE_DIRECTORY_REGION": DIRECTORY_REGION, "BARE_DATA_REGION": REGION,
                "BARE_DATA_TABLE": emulated.settings.data_table(JURISDICTION),
                "BARE_AUDIT_TABLE": emulated.settings.audit_table(JURISDICTION),
                "BARE_KEY_TABLE": emulated.settings.key_table(JURISDICTION)}
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
    setup = Client(enclave.port, enclave.tokens["admin"], "-", ["-"], 0)
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
        client = Client(server.port, server.tokens.get(tenant_id), tenant_id, ["-"], 0)
        base = f"{server.prefix}/v1/tenants/{tenant_id}/learners"
        ids = []
        for n in range(learners):
            status, body = client.request("POST", base, learner_body(n))
            if status != 201:
                raise RuntimeError(f"seeding {server.name} answered {status}: {body}")
            ids.append(str(body["learner_id"]))
            status, body = client.request("POST", f"{base}/{ids[-1]}/results", RESULT)
            if status != 201:
                raise RuntimeError(f"seeding {server.name} answered {status}: {body}")
        client.close()
        seeded[tenant_id] = ids
    return seeded


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _median(values: list[Any]) -> float | str:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else "n/a"


def _ratio(value: float | str, baseline: float | str, digits: int = 3) -> float | str:
    return round(value / baseline, digits) if isinstance(value, float) and isinstance(baseline, float) \
        and baseline else "n/a"


def _row(variant: str, kind: str, clients: int, requests: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [p["throughput"] for p in runs]
    latencies = [ms for p in runs for ms in p["latencies"]]
    errors = [e for p in runs for e in p["errors"]]
    return {
        "variant": variant, "kind": kind, "clients": clients, "requests": requests * len(runs), "rounds": len(runs),
        "req_per_s": round(statistics.median(rates), 1), "req_per_s_min_max": f"{min(rates):.0f}-{max(rates):.0f}",
        "p50_ms": round(_percentile(latencies, 0.50), 1), "p95_ms": round(_percentile(latencies, 0.95), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1), "errors": len(errors),
        "server_cpu_ms_per_req": _median([p["server_cpu_ms"] for p in runs]),
        "emulator_cpu_ms_per_req": _median([p["emulator_cpu_ms"] for p in runs]),
        "generators": runs[0]["generators"],
        "generator_cpu_ms_per_req": _median([p["generator_cpu_ms"] for p in runs]),
        "generator_cpu_cores": _median([p["generator_cores"] for p in runs]),
        "load_1min_min_max": f"{min(p['load_1min'] for p in runs):.1f}-{max(p['load_1min'] for p in runs):.1f}",
        "first_errors": "; ".join(sorted(set(errors))[:3]),
    }


def _pair_ratios(enclave: list[dict[str, Any]], same: list[dict[str, Any]]) -> list[float]:
    """Enclave's throughput over the same-calls app's, per round (the two phases ran back to back)."""
    return [mine["throughput"] / theirs["throughput"] for mine, theirs in zip(enclave, same, strict=True)]


def run(clients: int = 8, requests: int = 300, rounds: int = 3, tenants: int = 4,
        seed_learners: int = 4, phases: tuple[tuple[str, str], ...] = PHASES,
        warmup: int = 0) -> list[dict[str, object]]:
    """One row per (variant, kind): throughput (median, min-max over rounds), latency percentiles, errors, CPU
    per request of server, emulator and generators, and ratios to the same-calls bare app of the same kind
    (``ratio_to_same_calls``, the goal's: the median of the per-round paired ratios, ``pair_ratio_min_max``
    their spread) and to the one-call bare app's mix (``ratio_to_bare_1_call``).

    ``warmup`` rounds run first, in the same order, and are discarded. Every phase gets ``tenants`` fresh
    tenants seeded with ``seed_learners`` learners: the emulator's Query walks a whole partition (DynamoDB's
    does not), so phases on ever-growing partitions would measure the emulator's growth rather than the apps.
    """
    with emulator(regions=(REGION,)) as emulated, servers(emulated) as (enclave, bare):
        by_name = {"enclave": enclave, "bare": bare,
                   "bare_same_calls": Server("bare_same_calls", bare.process, bare.port, prefix="/same-calls")}
        measured: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in phases}
        for round_ in range(warmup + rounds):
            sequence = phases if round_ % 2 == 0 else tuple(reversed(phases))
            for _, group in itertools.groupby(sequence, key=lambda p: p[1]):
                # set up every phase of the kind first, so that its phases are measured seconds apart, not
                # a set-up's length apart: a burst of other work on the machine then hits both of a pair
                seeded = {(variant, kind): _seed(by_name[variant], _onboard(
                    enclave, emulated, tenants, tag=f"{round_}{variant[0]}{kind[0]}{len(variant)}"), seed_learners)
                    for variant, kind in group}
                for (variant, kind), learners in seeded.items():
                    result = phase(by_name[variant], emulated.pid, learners, clients, requests, round_ + 1, kind)
                    if round_ >= warmup:
                        measured[(variant, kind)].append(result)
    rows = {key: _row(*key, clients, requests, runs) for key, runs in measured.items()}
    one_call = rows.get(("bare", "mix"))
    for (variant, kind), row in rows.items():
        same = rows.get(("bare_same_calls", kind))
        pairs = _pair_ratios(measured[(variant, kind)], measured[("bare_same_calls", kind)]) if same else []
        row["ratio_to_same_calls"] = round(statistics.median(pairs), 3) if pairs else "n/a"
        row["pair_ratio_min_max"] = f"{min(pairs):.2f}-{max(pairs):.2f}" if pairs else "n/a"
        row["cpu_ratio_to_same_calls"] = _ratio(row["server_cpu_ms_per_req"], same["server_cpu_ms_per_req"], 2) \
            if same else "n/a"
        row["ratio_to_bare_1_call"] = (_ratio(float(row["req_per_s"]), float(one_call["req_per_s"]))
                                       if one_call and kind == "mix" else "")
    order = ("variant", "kind", "clients", "requests", "rounds", "req_per_s", "req_per_s_min_max",
             "ratio_to_same_calls", "pair_ratio_min_max", "ratio_to_bare_1_call", "p50_ms", "p95_ms", "p99_ms",
             "errors", "server_cpu_ms_per_req", "cpu_ratio_to_same_calls", "emulator_cpu_ms_per_req", "generators",
             "generator_cpu_ms_per_req", "generator_cpu_cores", "load_1min_min_max", "first_errors")
    return [{column: row[column] for column in order} for row in rows.values()]


def verdict(rows: list[dict[str, object]]) -> tuple[bool, str]:
    """Enclave against the same-calls bare app, per kind: >= 85 % of its throughput and 0 errors; the CPU per
    request beside it, the one-call figure for continuity and the generators' headroom."""
    by = {(str(r["variant"]), str(r["kind"])): r for r in rows}
    met, parts = True, []
    for kind in dict.fromkeys(str(r["kind"]) for r in rows):
        mine, same = by.get(("enclave", kind)), by.get(("bare_same_calls", kind))
        if mine is None or same is None:
            continue
        ratio = float(str(mine["ratio_to_same_calls"]))
        errors = int(str(mine["errors"])) + int(str(same["errors"]))
        met = met and ratio >= GOAL_RATIO and errors == 0
        parts.append(f"{kind} {ratio:.0%} (pairs {mine['pair_ratio_min_max']}; server CPU "
                     f"{mine['server_cpu_ms_per_req']} vs "
                     f"{same['server_cpu_ms_per_req']} ms/request)")
    text = "enclave's throughput as a share of the same-calls bare app's (median of paired rounds): " \
        + ", ".join(parts)
    one_call = by.get(("enclave", "mix"))
    if one_call is not None and one_call["ratio_to_bare_1_call"] != "":
        text += f"; {float(str(one_call['ratio_to_bare_1_call'])):.0%} of the one-call bare app (continuity)"
    busiest = max(float(str(r["generator_cpu_cores"])) for r in rows if r["generator_cpu_cores"] != "n/a")
    generators = max(int(str(r["generators"])) for r in rows)
    text += f"; {generators} generator process(es), busiest at {busiest:.2f} of {generators} core(s)"
    return met, text


if __name__ == "__main__":
    from bench.common import markdown_table

    result = run()
    print(markdown_table(result))
    print(verdict(result)[1])
