"""``make demo`` (``python -m devtools.demo [--learners N]``): a realistic data set, through the public API.

One school in each of the four jurisdictions, ``--learners`` learners (default 5,000) spread over
them, each with an assessment result, research consents for one in five, an open and an overdue
data-subject request per school, a legal hold and an incident. Names and e-mail addresses are
generated from a fixed seed (no real people). Every POST carries an ``Idempotency-Key`` derived from
what it creates, so a re-run (or a run resumed after Ctrl-C) creates nothing twice. A progress bar
goes to stderr; what to try next (``WALKTHROUGH``, also in the README) goes to stdout at the end.

It talks to the platform ``make run`` serves (same ``ENCLAVE_*`` ports). When nothing answers there,
it starts the platform itself on those ports and data folder, seeds, and stops it: the data stays in
the data folder for the next ``make run``.
"""

from __future__ import annotations

import argparse
import random
import shlex
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings, load_local_settings
from devtools.platform import PlatformError, RunningPlatform, start

SCHOOLS = {"UK": ("eu-west-2", "Demo Hill School"), "AU": ("ap-southeast-2", "Demo Wattle College"),
           "US": ("us-east-1", "Demo Maple High"), "PH": ("ap-southeast-1", "Demo Narra Academy")}
# The first call that reads a tenant's audit chain (the access request) chains every event still
# pending; make run has no stream trigger doing it meanwhile, so after thousands of learners it is slow.
CALL_TIMEOUT = 900
SHARE = {"UK": 0.4, "AU": 0.2, "US": 0.2, "PH": 0.2}
GIVEN = ("Arlo", "Bryn", "Cato", "Dara", "Elio", "Fenn", "Gala", "Hale", "Ines", "Joss", "Kiri", "Lumi", "Mael",
         "Nour", "Odin", "Pia", "Quin", "Rhea", "Sage", "Tovi", "Uma", "Vale", "Wren", "Xia", "Yuki", "Zed")
SYLLABLES = ("bar", "cel", "dor", "fen", "gil", "hart", "kes", "lom", "mir", "nov", "pell", "quor", "ros", "sten",
             "tal", "ulv", "vex", "wyn")


class DemoError(RuntimeError):
    """The demo cannot seed: the message says why."""


@dataclass(frozen=True)
class Learner:
    jurisdiction: str
    n: int
    given_name: str
    family_name: str
    date_of_birth: str

    @property
    def email(self) -> str:
        return f"{self.given_name}.{self.family_name}.{self.n}@demo.example".lower()


def generated_learners(count: int, seed: int = 8) -> list[Learner]:
    """``count`` learners with invented names, the same on every run."""
    rng = random.Random(seed)  # noqa: S311 - invented names, not secrets
    learners, counts = [], {j: round(count * share) for j, share in SHARE.items()}
    counts["UK"] += count - sum(counts.values())
    for jurisdiction, quota in counts.items():
        for n in range(quota):
            family = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
            born = datetime(2006, 1, 1) + timedelta(days=rng.randrange(365 * 12))
            learners.append(Learner(jurisdiction, n, rng.choice(GIVEN), family, f"{born:%Y-%m-%d}"))
    return learners


class Api:
    """The local platform's public API, with tokens from ``python -m chalicelib.cli token``."""

    def __init__(self, local: LocalPlatformSettings) -> None:
        self.local = local
        self._tokens: dict[tuple[str, ...], str] = {}
        self._sessions = threading.local()
        self._token_lock = threading.Lock()  # one CLI at a time: two would both create the same Cognito user

    def token(self, *args: str) -> str:
        with self._token_lock:
            return self._token(args)

    def _token(self, args: tuple[str, ...]) -> str:
        if args not in self._tokens:
            env = {"PATH": "/usr/bin:/bin", "ENCLAVE_MOTO_PORT": str(self.local.moto_port),
                   "ENCLAVE_PORT_BASE": str(self.local.port_base)}
            done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "token", *args], capture_output=True,
                                  text=True, env=env, cwd=PROJECT_ROOT, timeout=60, check=False)
            if done.returncode != 0:
                raise DemoError(f"no token ({' '.join(args)}): {done.stderr.strip()}; is `make run` up?")
            self._tokens[args] = done.stdout.strip()
        return self._tokens[args]

    def call(self, region: str, method: str, path: str, token: str, body: Any = None, key: str | None = None) -> Any:
        session = getattr(self._sessions, "session", None) or requests.Session()
        self._sessions.session = session
        headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}
        try:
            reply = session.request(method, self.local.endpoint_of(region) + path, json=body, headers=headers,
                                    timeout=CALL_TIMEOUT)
        except requests.ConnectionError:
            raise DemoError(f"nothing answers at {self.local.endpoint_of(region)}: start `make run` first") from None
        if reply.status_code >= 400:
            raise DemoError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json() if reply.content else None


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self._lock = total, 0, threading.Lock()

    def step(self) -> None:
        with self._lock:
            self.done += 1
            if self.done % 25 == 0 or self.done == self.total:
                filled = 30 * self.done // self.total
                print(f"\r  [{'#' * filled}{' ' * (30 - filled)}] {self.done:,}/{self.total:,} learners",
                      end="\n" if self.done == self.total else "", file=sys.stderr, flush=True)


def ensure_tenant(api: Api, jurisdiction: str) -> tuple[str, datetime]:
    """The school's tenant id and when it was created (the same on a re-run: the key answers it)."""
    region, name = SCHOOLS[jurisdiction]
    admin = api.token("--role", "platform_admin", "--region", region)
    tenant = api.call(region, "POST", "/v1/tenants", admin, {"name": name, "kind": "school",
                                                              "jurisdiction": jurisdiction},
                      key=f"demo-tenant-{jurisdiction}")
    return str(tenant["tenant_id"]), datetime.fromisoformat(str(tenant["created_at"]).replace("Z", "+00:00"))


def seed_learner(api: Api, tenants: dict[str, str], learner: Learner) -> str:
    region, tid = SCHOOLS[learner.jurisdiction][0], tenants[learner.jurisdiction]
    staff = api.token("--role", "tenant_staff", "--tenant", tid)
    key = f"demo-{learner.jurisdiction}-{learner.n}"
    created = api.call(region, "POST", f"/v1/tenants/{tid}/learners", staff, {
        "given_name": learner.given_name, "family_name": learner.family_name, "email": learner.email,
        "date_of_birth": learner.date_of_birth}, key=key)
    learner_id = str(created["learner_id"])
    api.call(region, "POST", f"/v1/tenants/{tid}/learners/{learner_id}/results", staff, {
        "assessment": "Mathematics", "score": 40 + learner.n % 60, "max_score": 100,
        "taken_on": "2026-06-15"}, key=key + "-result")
    if learner.n % 5 == 0:
        api.call(region, "POST", f"/v1/tenants/{tid}/learners/{learner_id}/consents", staff, {
            "purpose": "research", "decision": "granted", "given_by": "guardian",
            "verification": "signed_form"}, key=key + "-consent")
    return learner_id


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_compliance(api: Api, tenants: dict[str, str], first: dict[str, list[str]], anchor: datetime) -> str:
    """Open and overdue requests in each tenant, a legal hold in the UK school, an incident; the incident id.

    Dates count from ``anchor`` (when the UK school was created), not from now, so that a re-run sends the
    same bodies and its Idempotency-Keys answer the first run's records."""
    long_ago = _at(anchor - timedelta(days=120))
    for jurisdiction, tid in tenants.items():
        region = SCHOOLS[jurisdiction][0]
        admin = api.token("--role", "tenant_admin", "--tenant", tid)
        ids = first[jurisdiction]
        api.call(region, "POST", f"/v1/tenants/{tid}/requests", admin, {"learner_id": ids[0], "type": "access"},
                 key=f"demo-request-open-{jurisdiction}")
        api.call(region, "POST", f"/v1/tenants/{tid}/requests", admin, {
            "learner_id": ids[1], "type": "rectification", "received_at": long_ago},
            key=f"demo-request-overdue-{jurisdiction}")
    uk_region = SCHOOLS["UK"][0]
    regional = api.token("--role", "regional_admin", "--region", uk_region)
    api.call(uk_region, "POST", f"/v1/tenants/{tenants['UK']}/legal-holds", regional, {
        "reason": "Demo: pending tribunal case", "learner_id": first["UK"][2]}, key="demo-hold-UK")
    incident = api.call(uk_region, "POST", "/v1/incidents", api.token("--role", "platform_admin", "--region",
                                                                      uk_region), {
        "discovered_at": _at(anchor),
        "tenant_ids": [tenants["UK"], tenants["AU"]], "summary": "Demo: a laptop with exam sheets was lost"},
        key="demo-incident")
    return str(incident["incident_id"])


def seed(local: LocalPlatformSettings, learners: int, threads: int = 4) -> dict[str, Any]:
    api = Api(local)
    created = {jurisdiction: ensure_tenant(api, jurisdiction) for jurisdiction in SCHOOLS}
    tenants = {jurisdiction: tenant_id for jurisdiction, (tenant_id, _) in created.items()}
    people = generated_learners(learners)
    progress = Progress(len(people))

    def one(learner: Learner) -> tuple[Learner, str]:
        learner_id = seed_learner(api, tenants, learner)
        progress.step()
        return learner, learner_id

    ids: dict[str, list[str]] = {j: [] for j in SCHOOLS}
    with ThreadPoolExecutor(threads) as pool:
        for learner, learner_id in pool.map(one, people):
            ids[learner.jurisdiction].append(learner_id)
    print("  requests, a legal hold, an incident (the first access request chains every tenant's audit events; "
          "minutes for thousands of learners)", file=sys.stderr, flush=True)
    incident = seed_compliance(api, tenants, ids, created["UK"][1])
    return {"tenants": tenants, "learners": ids, "incident": incident}


# What to try next, with the ids the run prints as shell variables; the README shows the same lines and
# tests/e2e/test_demo.py runs them (the README's copy, checked equal to this one) against a seeded platform.
WALKTHROUGH = (
    "STAFF=$(.venv/bin/python -m chalicelib.cli token --role tenant_staff --tenant $UK)",
    "curl -s -H \"Authorization: Bearer $STAFF\" \"$EU/v1/tenants/$UK/learners?limit=3\"",
    "curl -s -H \"Authorization: Bearer $STAFF\" $EU/v1/tenants/$UK/learners/$LEARNER",
    "curl -s -H \"Authorization: Bearer $STAFF\" $EU/v1/tenants/$UK/learners/$LEARNER/results",
    "curl -s -H \"Authorization: Bearer $STAFF\" $EU/v1/tenants/$UK/learners/$LEARNER/consents",
    "OFFICER=$(.venv/bin/python -m chalicelib.cli token --role compliance_officer --region eu-west-2)",
    "curl -s -H \"Authorization: Bearer $OFFICER\" \"$EU/v1/requests?overdue=true\"",
    "curl -s -H \"Authorization: Bearer $OFFICER\" $EU/v1/tenants/$UK/audit/verify",
    "ADMIN=$(.venv/bin/python -m chalicelib.cli token --role platform_admin --region eu-west-2)",
    "curl -s -H \"Authorization: Bearer $ADMIN\" $EU/v1/incidents/$INCIDENT",
    "REGIONAL=$(.venv/bin/python -m chalicelib.cli token --role regional_admin --region eu-west-2)",
    "curl -s -H \"Authorization: Bearer $REGIONAL\" -X DELETE $EU/v1/tenants/$UK/learners/$HELD",
)


def variables(local: LocalPlatformSettings, seeded: dict[str, Any]) -> dict[str, str]:
    """The shell variables ``WALKTHROUGH`` uses."""
    uk = seeded["learners"]["UK"]
    return {"EU": local.endpoint_of("eu-west-2"), "UK": seeded["tenants"]["UK"], "LEARNER": uk[0],
            "HELD": uk[2], "INCIDENT": seeded["incident"]}


def next_steps(local: LocalPlatformSettings, seeded: dict[str, Any]) -> str:
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in variables(local, seeded).items())
    return "\n".join([
        "Demo data is in: " + ", ".join(f"{j} {t}" for j, t in seeded["tenants"].items()) + ".",
        "With `make run` up, try (the last one is refused: that learner is under a legal hold):",
        f"  export {exports}",
        *(f"  {line}" for line in WALKTHROUGH),
        "The console is at " + local.console_url + " while `make run` is up.",
    ])


def _answers(local: LocalPlatformSettings) -> bool:
    try:
        requests.get(local.endpoint_of("eu-west-2") + "/v1/health", timeout=5)
    except requests.ConnectionError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=5_000, help="how many learners (at least 12)")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    local = load_local_settings()
    platform: RunningPlatform | None = None
    try:
        if not _answers(local):
            print(f"make demo: nothing answers at {local.endpoint_of('eu-west-2')}; starting the platform "
                  f"(data folder {local.state_dir})", file=sys.stderr)
            platform = start(local, quiet=True)
        seeded = seed(local, max(args.learners, 12), args.threads)
    except (DemoError, PlatformError) as exc:
        print(f"\nmake demo: {exc}", file=sys.stderr)
        return 1
    finally:
        if platform is not None:
            platform.stop()  # the emulator saves its state on the way out
    print(next_steps(local, seeded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
