"""The load benchmark's clients, in processes of their own so that the harness is not what saturates.

``python -m bench.load_generator`` reads one job (JSON) from stdin: the server's port, and per client its
tenant, bearer token, learners and seed, the route prefix, the request mix and this process's share of the
requests. It opens every client's keep-alive connection, prints ``ready``, waits for a ``go`` line, runs its
clients as threads until its share is done, and prints one JSON line: each request's latency, the errors, the
learners each client ends with, and this process's own CPU seconds over the run (user + system), so the
report can show the generators had headroom.

``Client`` is also used in process by ``bench.bench_load`` for set-up (onboarding, seeding).
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
from typing import Any

HOST = "127.0.0.1"
RESULT = {"assessment": "Algebra", "score": 17, "max_score": 20, "taken_on": "2026-03-02"}
MIXES: dict[str, tuple[tuple[str, int], ...]] = {
    "mix": (("read_learner", 40), ("list_results", 20), ("create_learner", 25), ("add_result", 15)),
    "read": (("read_learner", 40), ("list_results", 20)),
    "write": (("create_learner", 25), ("add_result", 15)),
}


def learner_body(n: int) -> dict[str, Any]:
    return {"given_name": f"Ada{n}", "family_name": "Byron", "email": f"ada.{n}@example.org",
            "date_of_birth": "2010-12-10"}


class Client:
    """One keep-alive connection to a server, playing one tenant's share of the workload."""

    def __init__(self, port: int, token: str | None, tenant_id: str, learners: list[str], seed: int,
                 mix: str = "mix", prefix: str = "") -> None:
        self._connection = http.client.HTTPConnection(HOST, port, timeout=60)
        self._connection.connect()  # before the clock starts: a burst of connects would overrun the listen backlog
        self._token = token
        self.tenant_id = tenant_id
        self._base = f"{prefix}/v1/tenants/{tenant_id}/learners"
        self.learners = list(learners)
        self._random = random.Random(seed)
        self._counter = seed * 1_000_000
        self._kinds = [k for k, _ in MIXES[mix]]
        self._weights = [w for _, w in MIXES[mix]]

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
        kind = self._random.choices(self._kinds, weights=self._weights)[0]
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


def drive(players: list[Client], requests: int) -> tuple[list[float], list[str]]:
    """``requests`` requests shared by the ``players``' threads: every latency (ms) and every error."""
    remaining = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

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
                latencies.append(elapsed)
                if error:
                    errors.append(error)

    threads = [threading.Thread(target=work, args=(player,)) for player in players]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def main() -> None:
    job = json.loads(sys.stdin.readline())
    players = [Client(job["port"], c["token"], c["tenant_id"], c["learners"], c["seed"], job["mix"], job["prefix"])
               for c in job["clients"]]
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    cpu = time.process_time()
    latencies, errors = drive(players, job["requests"])
    cpu = time.process_time() - cpu
    for player in players:
        player.close()
    print(json.dumps({"latencies": latencies, "errors": errors, "cpu_s": cpu,
                      "learners": [[p.tenant_id, p.learners] for p in players]}), flush=True)


if __name__ == "__main__":
    main()
