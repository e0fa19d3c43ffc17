"""A crowd against one local endpoint: N concurrent clients for S seconds, every failure counted.

Each client repeats, on its kept-alive session, an enrolment (the token check, the emulator,
encryption and audit: what keeps the server busy while connections arrive) and an authenticated read
of its tenant, then ``GET /v1/health`` on a new connection (what a crowd of browsers and scripts does
to the listen queue). All start at once. Nothing is retried: a reset, a refused connection, a timeout or an answer other
than 200 (201 for the enrolment) is an error. ``python -m devtools.crowd [--clients 64] [--seconds 60]`` runs it
against a running ``make run`` (the eu-west-2 endpoint; it onboards one tenant to read).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings, load_local_settings

HOME = "eu-west-2"


@dataclass
class CrowdResult:
    clients: int
    seconds: float
    requests: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> str:
        rate = self.requests / self.seconds if self.seconds else 0.0
        return (f"{self.clients} clients for {self.seconds:.0f} s: {self.requests} requests ({rate:.0f}/s), "
                f"{self.error_count} errors {dict(self.errors) or ''}").rstrip()


def _kind(exc: BaseException) -> str:
    text = repr(exc).lower()
    for kind in ("reset", "refused", "timeout", "aborted", "remotedisconnected"):
        if kind in text:
            return kind
    return type(exc).__name__


def crowd(base_url: str, tenant: str, token: str, clients: int = 64, seconds: float = 60.0) -> CrowdResult:
    """Run the crowd (``token``: a staff token of ``tenant``); per-client counts are merged at the end."""
    result = CrowdResult(clients, seconds)
    start = threading.Barrier(clients + 1)
    lock = threading.Lock()
    deadline: list[float] = []
    auth = {"Authorization": f"Bearer {token}"}

    def calls(session: requests.Session, client: int, n: int) -> list[tuple[int, Callable[[], requests.Response]]]:
        learner = {"given_name": "Crowd", "family_name": f"Member{client}x{n}", "email": f"c{client}x{n}@crowd.example",
                   "date_of_birth": "2010-02-02"}
        return [(201, lambda: session.post(f"{base_url}/v1/tenants/{tenant}/learners", timeout=30, headers=auth,
                                           json=learner)),
                (200, lambda: session.get(f"{base_url}/v1/tenants/{tenant}", timeout=30, headers=auth)),
                (200, lambda: requests.get(f"{base_url}/v1/health", timeout=30, headers={"Connection": "close"}))]

    def client(number: int) -> None:
        session, done, errors, n = requests.Session(), 0, collections.Counter[str](), 0
        start.wait()
        while time.monotonic() < deadline[0]:
            n += 1
            for expected, call in calls(session, number, n):
                try:
                    reply = call()
                    if reply.status_code != expected:
                        errors[f"status {reply.status_code}"] += 1
                except requests.RequestException as exc:
                    errors[_kind(exc)] += 1
                done += 1
        with lock:
            result.requests += done
            result.errors.update(errors)

    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    deadline.append(time.monotonic() + seconds)
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return result


def _token(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "token", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60, check=True)
    return done.stdout.strip()


def run(local: LocalPlatformSettings, clients: int, seconds: float) -> CrowdResult:
    admin = _token("--role", "platform_admin", "--region", HOME)
    reply = requests.post(f"{local.endpoint_of(HOME)}/v1/tenants", timeout=30,
                          headers={"Authorization": f"Bearer {admin}", "Idempotency-Key": "crowd"},
                          json={"name": "Crowd School", "kind": "school", "jurisdiction": "UK"})
    reply.raise_for_status()
    tenant = str(reply.json()["tenant_id"])
    staff = _token("--role", "tenant_staff", "--tenant", tenant)
    return crowd(local.endpoint_of(HOME), tenant, staff, clients, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = run(load_local_settings(), args.clients, args.seconds)
    print(result.summary())
    return 0 if result.error_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
