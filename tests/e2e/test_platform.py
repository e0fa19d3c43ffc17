"""End to end over HTTP against the local platform started as ``make run`` starts it: the regional platform's promises.

One platform serves the whole session (``platform`` fixture); the SIGTERM test starts one more as
``python -m devtools.platform`` in a subprocess. Forged tokens are signed with moto's private key,
which the endpoints trust through the JWKS the emulator serves over HTTP.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.cognito_admin import create_user_pool, sign_in
from chalicelib.settings import PROJECT_ROOT, REGIONS, LocalPlatformSettings
from devtools.platform import PlatformError, start
from tests.integration.api.test_auth_tokens import claims_of, forge, fresh, tampered, unsigned
from tests.support.platform import HOST, Platform, cli_environment, free_local_settings, port_is_free, ports_of, run_cli

pytestmark = pytest.mark.e2e

NO_SUCH_ROUTE = {"error": {"code": "not_found", "message": "no such route"}}
HOME = "eu-west-2"


def assert_error(status: int, body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), dict), body
    assert body["error"]["code"] == code
    assert isinstance(body["error"].get("message"), str)


def directory_size(platform: Platform) -> int:
    scan = platform.emulator().dynamodb("us-east-1").get_paginator("scan")
    return sum(page["Count"] for page in scan.paginate(TableName="enclave-directory", Select="COUNT"))


def onboard(platform: Platform, token: str, region: str = HOME, jurisdiction: str = "UK") -> tuple[int, Any]:
    return platform.call(region, "POST", "/v1/tenants", token,
                         body={"name": f"Hill School {uuid.uuid4().hex[:6]}", "kind": "school",
                          "jurisdiction": jurisdiction})


@pytest.fixture(scope="module")
def uk_admin(platform: Platform) -> str:
    return platform.token("platform_admin", region=HOME)


@pytest.fixture(scope="module")
def uk_tenant(platform: Platform, uk_admin: str) -> dict[str, Any]:
    """A UK tenant onboarded through the eu-west-2 endpoint."""
    status, tenant = onboard(platform, uk_admin)
    assert status == 201, tenant
    return dict(tenant)


# --- the platform and its CLI -------------------------------------------------------------------

def test_every_endpoint_answers_for_its_own_region(platform: Platform) -> None:
    for region in REGIONS:
        status, body = platform.call(region, "GET", "/v1/health")
        assert (status, body) == (200, {"status": "ok", "region": region, "stage": "dev"})
    print(f"platform started in {platform.startup_seconds:.1f} s")


def test_token_cli_prints_the_token_alone_and_defaults_to_the_tenants_home_pool(
        platform: Platform, uk_tenant: dict[str, Any]) -> None:
    staff = platform.token("tenant_staff", uk_tenant["tenant_id"])  # no --region: the tenant's home pool
    claims = claims_of(staff)
    assert claims["iss"].startswith(f"https://cognito-idp.{HOME}.amazonaws.com/")
    assert claims["token_use"] == "id"
    assert claims["cognito:groups"] == ["tenant_staff"]
    assert claims["custom:tenant_id"] == uk_tenant["tenant_id"]


def test_token_cli_fails_on_stderr_only(platform: Platform) -> None:
    result = run_cli(platform.local, "token", "--role", "tenant_admin")
    assert (result.returncode, result.stdout) == (2, "")
    assert "--tenant" in result.stderr
    unreachable = free_local_settings()
    result = run_cli(unreachable, "token", "--role", "platform_admin")
    assert result.returncode == 1
    assert result.stdout == ""
    assert unreachable.emulator_url in result.stderr
    assert "Traceback" not in result.stderr


# --- onboarding, reads everywhere, residency ------------------------------------------------------

def test_uk_tenant_onboarded_through_eu_west_2_is_read_from_all_four_endpoints(
        platform: Platform, uk_admin: str, uk_tenant: dict[str, Any]) -> None:
    assert uk_tenant["home_region"] == HOME
    assert uk_tenant["jurisdiction"] == "UK"
    entry = {k: v for k, v in uk_tenant.items() if k != "edge_route"}  # the onboarding's answer adds edge_route
    for region in REGIONS:
        status, body = platform.call(region, "GET", f"/v1/tenants/{uk_tenant['tenant_id']}", uk_admin)
        assert (status, body) == (200, entry), region


def test_tenant_scoped_route_sent_to_ap_southeast_1_is_421_with_the_eu_west_2_endpoint(
        platform: Platform, uk_tenant: dict[str, Any]) -> None:
    staff = platform.token("tenant_staff", uk_tenant["tenant_id"])
    status, body = platform.call("ap-southeast-1", "POST", f"/v1/tenants/{uk_tenant['tenant_id']}/learners/search",
                                 staff, body={"email": "a@b.example"})
    if (status, body) == (404, NO_SUCH_ROUTE):
        pytest.xfail("learner routes not served by this platform")
    assert_error(status, body, 421, "residency_misdirected")
    assert body["error"]["home_region"] == HOME
    assert body["error"]["endpoint"] == platform.url(HOME)


def test_onboarding_sent_to_another_region_is_421_with_the_home_endpoint(platform: Platform) -> None:
    before = directory_size(platform)
    status, body = onboard(platform, platform.token("platform_admin"), region="ap-southeast-1")
    assert_error(status, body, 421, "residency_misdirected")
    assert body["error"]["home_region"] == HOME
    assert body["error"]["endpoint"] == platform.url(HOME)
    assert directory_size(platform) == before


# --- 401 for missing, expired, forged and wrong-pool tokens -------------------------

@dataclass
class Forgery:
    admin: str             # real platform_admin ID token of the eu-west-2 pool (via the CLI)
    staff: str             # real tenant_staff ID token of the eu-west-2 pool (via the CLI)
    foreign_pool: str      # real token of a pool in a fifth region of the same emulator
    sibling_pool: str      # real token of a second pool in eu-west-2
    stranger_key: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def forgery(platform: Platform, uk_admin: str, uk_tenant: dict[str, Any]) -> Forgery:
    emulator = platform.emulator()
    foreign = create_user_pool(emulator.cognito("eu-west-1"), "eu-west-1")
    sibling = create_user_pool(emulator.cognito(HOME), "rogue")  # pool "enclave-rogue"
    return Forgery(
        admin=uk_admin,
        staff=platform.token("tenant_staff", uk_tenant["tenant_id"]),
        foreign_pool=sign_in(emulator.cognito("eu-west-1"), foreign, "intruder", "platform_admin", None),
        sibling_pool=sign_in(emulator.cognito(HOME), sibling, "intruder", "platform_admin", None),
        stranger_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


FORGED: dict[str, Callable[[Forgery], str]] = {
    "expired": lambda f: forge(fresh(claims_of(f.admin), iat=int(time.time()) - 7200,
                                     exp=int(time.time()) - 600)),
    "alg none": lambda f: unsigned(fresh(claims_of(f.admin))),
    "signed with another key under moto's kid": lambda f: forge(fresh(claims_of(f.admin)), key=f.stranger_key),
    "tampered payload (tenant_staff promoted)": lambda f: tampered(f.staff, **{"cognito:groups": ["platform_admin"]}),
    "unknown kid": lambda f: forge(fresh(claims_of(f.admin)), headers={"kid": "rotated-away"}),
    "wrong pool (a fifth region)": lambda f: f.foreign_pool,
    "wrong pool (another pool of eu-west-2)": lambda f: f.sibling_pool,
    "garbage": lambda f: "not.a.jwt",
}


def test_missing_token_is_401_everywhere(platform: Platform) -> None:
    before = directory_size(platform)
    for region in REGIONS:
        status, body = onboard(platform, "", region=region)
        assert_error(status, body, 401, "unauthenticated")
        status, body = platform.call(region, "GET", "/v1/jurisdictions", headers={"Authorization": "Bearer "})
        assert_error(status, body, 401, "unauthenticated")
    assert directory_size(platform) == before


@pytest.mark.parametrize("kind", list(FORGED))
def test_bad_token_is_401_and_creates_nothing(platform: Platform, forgery: Forgery, kind: str) -> None:
    token = FORGED[kind](forgery)
    before = directory_size(platform)
    status, body = onboard(platform, token)
    assert_error(status, body, 401, "unauthenticated")
    assert directory_size(platform) == before


def test_forging_is_faithful_a_resigned_real_token_is_accepted(platform: Platform, forgery: Forgery) -> None:
    """Control: the same claims signed with the key the emulator's JWKS publishes do pass, so each 401
    above comes from its one defect."""
    before = directory_size(platform)
    status, body = onboard(platform, forge(fresh(claims_of(forgery.admin))))
    assert status == 201, body
    assert directory_size(platform) == before + 1


# --- 403 for a wrong role, 404 for another tenant ------------------------------------

def test_tenant_staff_cannot_onboard(platform: Platform, uk_tenant: dict[str, Any]) -> None:
    staff = platform.token("tenant_staff", uk_tenant["tenant_id"])
    before = directory_size(platform)
    status, body = onboard(platform, staff)
    assert_error(status, body, 403, "forbidden")
    assert directory_size(platform) == before


def test_another_tenants_id_is_404(platform: Platform, uk_admin: str, uk_tenant: dict[str, Any]) -> None:
    status, other = onboard(platform, uk_admin)
    assert status == 201, other
    staff_of_a = platform.token("tenant_staff", uk_tenant["tenant_id"])
    for region in (HOME, "us-east-1"):
        status, body = platform.call(region, "GET", f"/v1/tenants/{other['tenant_id']}", staff_of_a)
        assert_error(status, body, 404, "not_found")
        assert other["name"] not in str(body)
        nonexistent = platform.call(region, "GET", "/v1/tenants/tnt_" + "a" * 26, staff_of_a)
        assert nonexistent[0] == 404
        assert nonexistent[1]["error"]["message"] == body["error"]["message"], "must not reveal existence"
    assert platform.call(HOME, "GET", f"/v1/tenants/{uk_tenant['tenant_id']}", staff_of_a)[0] == 200


def test_unknown_route_is_404_in_the_error_shape(platform: Platform, uk_admin: str) -> None:
    for region, token in (("eu-west-2", uk_admin), ("ap-southeast-2", None)):
        for path in ("/v1/nope", "/", "/v2/tenants"):
            status, body = platform.call(region, "GET", path, token)
            assert_error(status, body, 404, "not_found")


# --- start-up and shut-down -----------------------------------------------------------------------

@pytest.mark.parametrize("which", ["emulator", "eu-west-2 endpoint"])
def test_a_port_in_use_fails_with_a_clear_message_and_leaves_nothing_running(which: str) -> None:
    local = free_local_settings()
    port = local.moto_port if which == "emulator" else local.port_of("eu-west-2")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((HOST, port))
        squatter.listen()
        with pytest.raises(PlatformError, match=rf"port {port} on {HOST} is already in use") as raised:
            start(local)  # checked before anything is started: no wait for a child to fail
        assert "ENCLAVE_MOTO_PORT" in str(raised.value)
        assert "ENCLAVE_PORT_BASE" in str(raised.value)
        assert all(port_is_free(p) for p in ports_of(local) if p != port), "nothing may be left running"
        if which == "eu-west-2 endpoint":  # and what `make run` shows
            result = subprocess.run([sys.executable, "-m", "devtools.platform"], env=cli_environment(local),
                                    cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
            assert result.returncode == 1
            assert f"port {port}" in result.stderr
            assert "Traceback" not in result.stderr


def _children_of(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(stat.parent.name))
    return children


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _drain(stream: Any, into: queue.Queue[str | None]) -> threading.Thread:
    def pump() -> None:
        for line in stream:
            into.put(line)
        into.put(None)  # EOF: every process holding this pipe has exited

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _listening(local: LocalPlatformSettings) -> list[int]:
    listening = []
    for port in ports_of(local):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((HOST, port)) == 0:
                listening.append(port)
    return listening


STOP_BOUND_SECONDS = 10 * (len(REGIONS) + 1) + 60 + 10


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to list child processes")
def test_sigterm_stops_every_process_it_started() -> None:
    local = free_local_settings()
    process = subprocess.Popen([sys.executable, "-m", "devtools.platform"], env=cli_environment(local),
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    out: queue.Queue[str | None] = queue.Queue()
    err: queue.Queue[str | None] = queue.Queue()
    _drain(process.stdout, out)
    _drain(process.stderr, err)
    children: set[int] = set()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while not any("Ctrl-C stops everything." in line for line in seen):  # the banner's last line
            assert time.monotonic() < deadline, "the platform did not come up within 60 s"
            assert process.poll() is None, f"the platform exited with {process.returncode}"
            with suppress(queue.Empty):
                line = out.get(timeout=0.2)
                assert line is not None, "stdout closed before the banner"
                seen.append(line)
        banner = "".join(seen)
        assert local.endpoint_of("eu-west-2") in banner
        assert "chalicelib.cli token" in banner
        children = _children_of(process.pid)
        assert len(children) == 1 + len(REGIONS) + 1, children  # the emulator, one endpoint per region, the console
        assert sorted(_listening(local)) == sorted(ports_of(local))

        process.send_signal(signal.SIGTERM)
        # The bound is the platform's own (10 s per endpoint, 60 s for the emulator's last snapshot, whose
        # fsync waits for a disk other jobs may keep busy), not a timing assertion.
        assert process.wait(timeout=STOP_BOUND_SECONDS) == 0

        deadline = time.monotonic() + 15
        while (_listening(local) or any(map(_running, children))) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listening(local) == [], "ports still open after SIGTERM"
        assert [pid for pid in children if _running(pid)] == [], "child processes outlived the platform"
        while (line := out.get(timeout=15)) is not None:  # EOF: no process holds the pipe any more
            pass
        stderr_lines = []
        while (line := err.get(timeout=15)) is not None:
            stderr_lines.append(line)
        assert "stopped" in "".join(stderr_lines)
    finally:
        if process.poll() is None or any(map(_running, children)):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # only the group this test started
        process.wait(timeout=10)
