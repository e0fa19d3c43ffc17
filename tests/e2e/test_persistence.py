"""The local platform keeps its data across restarts (``make run`` on the same data folder).

Both stops happen in the middle of a load (a thread enrolling learners one after another):

- Ctrl-C (SIGINT to the whole process group, as a terminal sends it): every learner whose enrolment
  was answered reads back, decrypted (KMS keys persist), with a token issued before the stop (Cognito
  pools persist), and the tenant's audit chain verifies.
- SIGKILL of the whole platform while several clients enrol (snapshots every 0.3 s, so the journal
  is rotated under the load too): every learner whose 201 a client received reads back, decrypted,
  and the chain verifies. The journal holds each write on disk before it is answered.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from tests.support.platform import cli_environment, free_local_settings, run_cli

HOME = "eu-west-2"
SNAPSHOT_SECONDS = "0.3"


@contextmanager
def platform_process(local: LocalPlatformSettings) -> Iterator[subprocess.Popen[str]]:
    """``python -m devtools.platform`` in its own process group, yielded once its banner is printed."""
    env = {**cli_environment(local), "ENCLAVE_SNAPSHOT_SECONDS": SNAPSHOT_SECONDS}
    process = subprocess.Popen([sys.executable, "-m", "devtools.platform"], env=env, cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []], daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "the platform did not come up within 90 s"
            assert process.poll() is None, f"the platform exited with {process.returncode}"
            with suppress(queue.Empty):
                if "Ctrl-C stops everything." in lines.get(timeout=0.2):
                    break
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def token(local: LocalPlatformSettings, role: str, tenant: str | None = None) -> str:
    result = run_cli(local, "token", "--role", role, *(["--tenant", tenant] if tenant else ["--region", HOME]))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def call(local: LocalPlatformSettings, method: str, path: str, bearer: str, body: Any = None) -> tuple[int, Any]:
    response = requests.request(method, local.endpoint_of(HOME) + path, json=body, timeout=30,
                                headers={"Authorization": f"Bearer {bearer}"})
    return response.status_code, response.json()


def onboard(local: LocalPlatformSettings) -> tuple[str, str]:
    status, tenant = call(local, "POST", "/v1/tenants", token(local, "platform_admin"),
                          {"name": "Persistent School", "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    tid = str(tenant["tenant_id"])
    return tid, token(local, "tenant_staff", tid)


def enrol(local: LocalPlatformSettings, tid: str, staff: str, n: int) -> dict[str, str]:
    """Learner id -> family name."""
    family = f"Persist{n}"
    status, learner = call(local, "POST", f"/v1/tenants/{tid}/learners", staff, {
        "given_name": "Ada", "family_name": family, "email": f"ada{n}@example.org", "date_of_birth": "2010-05-01"})
    assert status == 201, learner
    return {str(learner["learner_id"]): family}


def assert_all_read_back(local: LocalPlatformSettings, tid: str, staff: str, learners: dict[str, str]) -> None:
    for learner_id, family in learners.items():
        status, learner = call(local, "GET", f"/v1/tenants/{tid}/learners/{learner_id}", staff)
        assert status == 200, learner
        assert learner["family_name"] == family
    status, verdict = call(local, "GET", f"/v1/tenants/{tid}/audit/verify", token(local, "compliance_officer"))
    assert status == 200, verdict
    assert verdict["valid"] is True, verdict


@dataclass
class Loader:
    """Enrols learners one after another in a thread until stopped or refused; records each answer's time."""

    local: LocalPlatformSettings
    tid: str
    staff: str
    first: int = 0  # enrolment numbers (names, e-mails) start here: loaders running together do not collide
    answered: list[tuple[float, str, str]] = field(default_factory=list)  # (time answered, id, family name)
    _stop: threading.Event = field(default_factory=threading.Event)
    _more: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Loader:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        n = self.first
        while not self._stop.is_set():
            try:
                (learner_id, family), = enrol(self.local, self.tid, self.staff, n).items()
            except (AssertionError, requests.RequestException, ValueError):
                break  # the platform is stopping: this enrolment was not answered
            with self._more:
                self.answered.append((time.time(), learner_id, family))
                self._more.notify_all()
            n += 1
        with self._more:
            self._more.notify_all()

    def wait_for(self, count: int) -> None:
        with self._more:
            self._more.wait_for(lambda: len(self.answered) >= count or self._stop.is_set()
                                or self._thread is None or not self._thread.is_alive(), timeout=60)
        assert len(self.answered) >= count, f"the load stopped at {len(self.answered)} enrolments"

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def before(self, moment: float) -> dict[str, str]:
        return {learner_id: family for at, learner_id, family in self.answered if at < moment}


def test_ctrl_c_mid_load_keeps_every_answered_learner_and_old_tokens_still_work() -> None:
    local = free_local_settings()
    with platform_process(local) as process:
        tid, staff = onboard(local)
        with Loader(local, tid, staff) as load:
            load.wait_for(12)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
            assert process.wait(timeout=90) == 0
    assert local.emulator_state_file.exists()
    learners = load.before(float("inf"))
    with platform_process(local):
        assert_all_read_back(local, tid, staff, learners)  # staff: a token issued before the restart
        learners |= enrol(local, tid, staff, 99_999)  # provisioning on the loaded state left it writable
        assert_all_read_back(local, tid, staff, learners)


def test_fresh_starts_empty(tmp_path: Path) -> None:
    local = free_local_settings(state_dir=tmp_path)
    with platform_process(local) as process:
        tid, _ = onboard(local)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=90) == 0
    fresh = local.model_copy(update={"fresh": True})
    with platform_process(fresh):
        status, body = call(fresh, "GET", f"/v1/tenants/{tid}", token(fresh, "platform_admin"))
        assert status == 404, body


def test_sigkill_mid_load_loses_no_acknowledged_learner() -> None:
    local = free_local_settings()
    with platform_process(local) as process:
        tid, staff = onboard(local)
        loads = [Loader(local, tid, staff, first=client * 100_000) for client in range(4)]
        for load in loads:
            load.__enter__()
        try:
            for load in loads:
                load.wait_for(6)  # every client is mid-load (and snapshots were taken meanwhile)
            os.killpg(process.pid, signal.SIGKILL)  # the platform, its emulator and endpoints, at once
            process.wait(timeout=30)
        finally:
            for load in loads:
                load.__exit__()
    acknowledged: dict[str, str] = {}
    for load in loads:
        acknowledged |= load.before(float("inf"))
    assert len(acknowledged) >= 24
    with platform_process(local):
        assert_all_read_back(local, tid, staff, acknowledged)
