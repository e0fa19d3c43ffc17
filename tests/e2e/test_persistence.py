"""The local platform keeps its data across restarts (``make run`` on the same data folder).

Stopped with Ctrl-C (SIGINT to the whole process group, as a terminal sends it), every learner written
before the stop reads back decrypted, tokens issued before the stop still verify, and the tenant's
audit chain still verifies. Killed with SIGKILL in the middle of a load, the data folder is not
corrupt: the platform starts again and every learner written before the last snapshot reads back.
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
from pathlib import Path
from typing import Any

import requests

from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from tests.e2e.conftest import cli_environment, free_local_settings, run_cli

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


def test_ctrl_c_keeps_every_learner_and_old_tokens_still_work() -> None:
    local = free_local_settings()
    with platform_process(local) as process:
        tid, staff = onboard(local)
        learners: dict[str, str] = {}
        for n in range(12):
            learners |= enrol(local, tid, staff, n)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert process.wait(timeout=90) == 0
    assert local.emulator_state_file.exists()
    with platform_process(local):
        assert_all_read_back(local, tid, staff, learners)  # staff: a token issued before the restart
        learners |= enrol(local, tid, staff, 99)  # provisioning on the loaded state left it writable
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


def test_sigkill_mid_load_loses_no_learner_written_before_the_last_snapshot() -> None:
    local = free_local_settings()
    state = local.emulator_state_file
    with platform_process(local) as process:
        tid, staff = onboard(local)
        before: dict[str, str] = {}
        for n in range(10):
            before |= enrol(local, tid, staff, n)
        saved = state.stat().st_mtime_ns if state.exists() else 0
        deadline = time.monotonic() + 30
        while not state.exists() or state.stat().st_mtime_ns == saved:  # a snapshot taken after the writes
            assert time.monotonic() < deadline, "no snapshot within 30 s"
            time.sleep(0.05)
        for n in range(10, 25):  # the load the kill interrupts: snapshots are taken meanwhile
            enrol(local, tid, staff, n)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    with platform_process(local):
        assert_all_read_back(local, tid, staff, before)
