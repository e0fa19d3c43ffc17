"""The local platform stays fast as a tenant grows (enrolment and read rate at 100 and at N learners).

The whole local platform (``devtools.platform.start``: the emulator with its O(items touched)
DynamoDB, the four endpoints) on free ports (``devtools.ports``: 20000-30000, probed) and a
temporary data folder, snapshots included. One UK tenant. At 100 learners, then at N, the rate of
sequential enrolments and of sequential reads of random learners is measured, ``ROUNDS`` rounds of
``MEASURED`` requests each, and the median round is kept (after 20 unmeasured reads to warm up).
Between the two, the tenant is filled to N learners through the same public API (``threads``
concurrent clients, each enrolment with an ``Idempotency-Key``, retried on a 5xx or a dropped
connection; not measured, but its rate is reported). The goal: each rate at N at least 80% of its
rate at 100. Measured minutes apart on a shared machine, the two rates also differ by whatever else
the machine did meanwhile; so the end of the run alternates rounds on the grown tenant with rounds on
a second platform's 100-learner tenant, and the goal is judged on those (``ratio``); the rates minutes
apart stay beside them (``ratio_minutes_apart``). The emulator journals every write (on disk before
it is answered); ``journal_cost`` measures the same rates at 100 learners with the journal off and on
(``ENCLAVE_JOURNAL=0``), same run, rounds alternated.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from devtools.platform import PlatformError, RunningPlatform, start
from devtools.ports import free_local_settings

HOME = "eu-west-2"
MEASURED = 100
ROUNDS = 3
ATTEMPTS = 4


class Client:
    """One tenant's staff, calling the eu-west-2 endpoint over keep-alive connections (one per thread)."""

    def __init__(self, local: LocalPlatformSettings) -> None:
        self.local = local
        self.session = requests.Session()
        admin = self.token("--role", "platform_admin", "--region", HOME)
        reply = self.session.post(f"{local.endpoint_of(HOME)}/v1/tenants", timeout=30,
                                  headers={"Authorization": f"Bearer {admin}", "Idempotency-Key": "growth"},
                                  json={"name": "Growth Review Centre", "kind": "review_center", "jurisdiction": "UK"})
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

    def _call(self, session: requests.Session, method: str, path: str, body: Any = None,
              key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.staff}", **({"Idempotency-Key": key} if key else {})}
        for attempt in range(ATTEMPTS):
            try:
                reply = session.request(method, f"{self.local.endpoint_of(HOME)}/v1/tenants/{self.tenant}{path}",
                                        json=body, timeout=60, headers=headers)
            except requests.ConnectionError:
                if attempt + 1 == ATTEMPTS or key is None:
                    raise
                continue
            if reply.status_code < 500 or key is None or attempt + 1 == ATTEMPTS:
                reply.raise_for_status()
                return reply.json()
        raise AssertionError("unreachable")

    def enrol(self, n: int, session: requests.Session | None = None) -> None:
        learner = self._call(session or self.session, "POST", "/learners", {
            "given_name": "Learner", "family_name": f"Growth{n}", "email": f"learner{n}@growth.example",
            "date_of_birth": "2009-09-09"}, key=f"growth-{n}")
        self.learners.append(str(learner["learner_id"]))

    def read(self, learner_id: str) -> None:
        self._call(self.session, "GET", f"/learners/{learner_id}")

    def seal(self) -> None:
        """The tenant's trail sealed up to now (an officer's status read seals what is pending): a fill's
        trail is not still being chained while the grown tenant is measured."""
        officer = self.token("--role", "compliance_officer", "--region", HOME)
        reply = self.session.get(f"{self.local.endpoint_of(HOME)}/v1/tenants/{self.tenant}/audit/status",
                                 headers={"Authorization": f"Bearer {officer}"}, timeout=600)
        reply.raise_for_status()


def _rates(client: Client, rng: random.Random) -> tuple[float, float]:
    """Median over ``ROUNDS`` rounds of ``MEASURED`` sequential enrolments, then of reads."""
    enrol_rates, read_rates = [], []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        for _ in range(MEASURED):
            client.enrol(1_000_000 + len(client.learners))
        enrol_rates.append(MEASURED / (time.perf_counter() - began))
    for _ in range(ROUNDS):
        chosen = rng.sample(client.learners, MEASURED)
        began = time.perf_counter()
        for learner_id in chosen:
            client.read(learner_id)
        read_rates.append(MEASURED / (time.perf_counter() - began))
    return statistics.median(enrol_rates), statistics.median(read_rates)


def _fill(client: Client, target: int, threads: int) -> float:
    """Enrol up to ``target`` learners through the API with ``threads`` clients; the rate it reached."""
    first, missing = len(client.learners), target - len(client.learners)
    sessions = [requests.Session() for _ in range(threads)]
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for done, _ in enumerate(pool.map(lambda n: client.enrol(first + n, sessions[n % threads]), range(missing))):
            if done and done % 2000 == 0:
                print(f"  growth: {len(client.learners):,} learners, {done / (time.perf_counter() - began):.0f}/s",
                      file=sys.stderr, flush=True)
    return missing / (time.perf_counter() - began) if missing > 0 else 0.0


def _start(state_dir: Path, journal: bool = True) -> RunningPlatform:
    for attempt in range(2):  # another process may take a probed port before the platform binds it
        try:
            local = free_local_settings(state_dir=state_dir, fresh=True).model_copy(update={"journal": journal})
            return start(local, quiet=True)
        except PlatformError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _one_round(client: Client, rng: random.Random) -> tuple[float, float]:
    """One round: ``MEASURED`` sequential enrolments, then ``MEASURED`` reads of random learners; their rates."""
    began = time.perf_counter()
    for _ in range(MEASURED):
        client.enrol(1_000_000 + len(client.learners))
    enrol_rate = MEASURED / (time.perf_counter() - began)
    chosen = rng.sample(client.learners, MEASURED)
    began = time.perf_counter()
    for learner_id in chosen:
        client.read(learner_id)
    return enrol_rate, MEASURED / (time.perf_counter() - began)


def journal_cost(threads: int = 4, rounds: int = 5) -> list[dict[str, object]]:
    """Enrolment and read rates at 100 learners, journal off and on: two platforms, rounds interleaved.

    The machine's other load drifts during a run; alternating the rounds (off, on, on, off, ...) and
    keeping each side's median cancels most of the drift."""
    rng = random.Random(8)
    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as off_folder, \
            tempfile.TemporaryDirectory(prefix="enclave-bench-") as on_folder:
        platforms = {False: _start(Path(off_folder), False)}
        try:
            platforms[True] = _start(Path(on_folder), True)
            clients = {journal: Client(platform.local) for journal, platform in platforms.items()}
            for client in clients.values():
                _fill(client, MEASURED, threads)
                for learner_id in client.learners[:20]:
                    client.read(learner_id)
            measured: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for round_ in range(rounds):
                for journal in (False, True) if round_ % 2 == 0 else (True, False):
                    measured[journal].append(_one_round(clients[journal], rng))
        finally:
            for platform in platforms.values():
                platform.stop()
    rows: list[dict[str, object]] = []
    for index, what in enumerate(("enrol", "read")):
        without = statistics.median(rates[index] for rates in measured[False])
        with_journal = statistics.median(rates[index] for rates in measured[True])
        rows.append({"operation": what, "per_s_journal_off": round(without, 1),
                     "per_s_journal_on": round(with_journal, 1), "on_vs_off": round(with_journal / without, 3),
                     "rounds": rounds})
    return rows


def _interleaved(first: Client, second: Client, rng: random.Random, rounds: int) -> tuple[list[float], list[float]]:
    """Median enrolment and read rates of each client over ``rounds`` alternated rounds (drift cancels out)."""
    measured: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    for round_ in range(rounds):
        for side in (0, 1) if round_ % 2 == 0 else (1, 0):
            measured[side].append(_one_round((first, second)[side], rng))
    return ([statistics.median(rates[0] for rates in measured[side]) for side in (0, 1)],
            [statistics.median(rates[1] for rates in measured[side]) for side in (0, 1)])


def run(learners: int = 20_000, threads: int = 4, journal: bool = True,
        rounds: int = 5) -> list[dict[str, object]]:
    """The rates at 100 learners, then at ``learners`` (as ever: minutes apart), and at the end the grown
    platform's rates alternated round by round with a second platform's tenant that holds 100 learners
    (plus the measured enrolments): the same moment's load for both, which is what ``meets_goal`` uses."""
    rng = random.Random(8)
    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as folder, \
            tempfile.TemporaryDirectory(prefix="enclave-bench-") as reference_folder:
        platforms = [_start(Path(folder), journal)]
        try:
            platforms.append(_start(Path(reference_folder), journal))
            client, reference = Client(platforms[0].local), Client(platforms[1].local)
            for each in (client, reference):
                _fill(each, MEASURED, threads)
                for learner_id in each.learners[:20]:  # warm-up, not measured: first connections, caches
                    each.read(learner_id)
            client.seal()
            small = _rates(client, rng)
            fill_rate = _fill(client, learners, threads)
            client.seal()
            large = _rates(client, rng)
            enrol, read = _interleaved(reference, client, rng, rounds)
        finally:
            for platform in platforms:
                platform.stop()
    rows: list[dict[str, object]] = []
    for what, at_small, at_large, same_time in (("enrol", small[0], large[0], enrol),
                                                ("read", small[1], large[1], read)):
        rows.append({"operation": what, f"per_s_at_{MEASURED}": round(at_small, 1),
                     f"per_s_at_{learners}": round(at_large, 1), "ratio_minutes_apart": round(at_large / at_small, 3),
                     f"interleaved_per_s_at_{MEASURED}": round(same_time[0], 1),
                     f"interleaved_per_s_at_{learners}": round(same_time[1], 1),
                     "ratio": round(same_time[1] / same_time[0], 3), "meets_goal": same_time[1] >= 0.8 * same_time[0],
                     "journal": journal, "fill_per_s": round(fill_rate, 1), "fill_threads": threads})
    return rows
