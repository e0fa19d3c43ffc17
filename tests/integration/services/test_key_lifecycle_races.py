"""Keys whose death is final: offboarding wins every race with a rotation, a legal hold, a crash, a retry
and the warm caches of other containers (two containers sharing one emulator where the race needs them)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.crypto import WrappedTenantKey
from chalicelib.domain.errors import EnclaveError
from chalicelib.domain.holds import HoldCreate
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import Caller, SystemCaller
from chalicelib.services.keys.tenant_keys import TenantKeyService
from chalicelib.services.learners.service import LearnerService
from chalicelib.services.offboarding import OffboardingService
from tests.conftest import moto_jwks
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings
from tests.integration.services.test_holds_retention import Clock, learner_body

EU = "eu-west-2"
ADMIN = Caller(Principal("offboarding-admin", "offboarding-admin", Role.PLATFORM_ADMIN, EU), "req-offboard")


class Ticker:
    """A monotonic clock the test moves by hand (the caches' clock)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _container(emulated: Emulated, clock: Clock, ticker: Ticker | None = None) -> composition.Container:
    extra: dict[str, Any] = {"monotonic": ticker} if ticker is not None else {}
    return composition.Container(regional_settings(EU, emulated.provisioned), clients=emulated.clients,
                                 key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                 clock=clock, **extra)


@pytest.fixture
def leaving(emulated: Emulated, token: TokenFactory) -> dict[str, Any]:
    """A UK school with two learners, its offboarding requested and confirmable (the clock moved 31 days)."""
    clock = Clock(datetime.now(UTC))
    container = _container(emulated, clock)
    eu = RegionalApi(container)
    platform = token("platform_admin", region=EU)
    status, tenant = eu.call("POST", "/v1/tenants", platform, {"name": "Racing School", "kind": "school",
                                                               "jurisdiction": "UK"})
    assert status == 201, tenant
    tid = tenant["tenant_id"]
    staff = token("tenant_staff", tid, EU)
    learners = [eu.call("POST", f"/v1/tenants/{tid}/learners", staff, learner_body(n))[1]["learner_id"]
                for n in (81, 82)]
    status, pending = eu.call("DELETE", f"/v1/tenants/{tid}", platform)
    assert status == 202, pending
    clock.now += timedelta(days=31)
    found = container.directory.get(tid)
    assert found is not None
    return {"eu": eu, "container": container, "clock": clock, "tenant_id": tid, "tenant": found,
            "path": f"/v1/tenants/{tid}", "platform": platform, "staff": staff, "learners": learners,
            "offboarding_id": pending["offboarding_id"]}


def _offboarding(container: composition.Container, *, keys: TenantKeyService | None = None,
                 learners: LearnerService | None = None) -> OffboardingService:
    """The container's offboarding service, with the key or learner service the race needs."""
    return OffboardingService(container.access, container.governance_store, container.holds,
                              learners or container.learners, keys or container.tenant_keys, container.audit,
                              container.audit_store, container.export_bucket, container.directory, container.clock,
                              timedelta(days=30))


class KeysWithHook(TenantKeyService):
    """The key service as offboarding sees it: ``hook()`` runs just before the destruction starts."""

    def __init__(self, inner: TenantKeyService, hook: Callable[[], None], store: DataStore | None = None) -> None:
        self.__dict__.update(inner.__dict__)
        self._hook = hook
        if store is not None:
            self._store = store

    def destroy_all_versions(self, *args: Any, **kwargs: Any) -> int:
        self._hook()
        return super().destroy_all_versions(*args, **kwargs)


class StoreListingThen(DataStore):
    """A data store whose first listing of the tenant's key versions once ``arm()`` was called (the
    destruction's) is followed at once by ``then()``."""

    def __init__(self, base: DataStore, then: Callable[[], None]) -> None:
        self.__dict__.update(base.__dict__)
        self._then, self._armed = then, False

    def arm(self) -> None:
        self._armed = True

    def tenant_keys(self, jurisdiction: str, tenant_id: str) -> list[WrappedTenantKey]:
        listed = super().tenant_keys(jurisdiction, tenant_id)
        if self._armed:
            self._armed = False
            self._then()
        return listed


def _outcome(action: Callable[[], Any]) -> Any:
    """What ``action`` answered: its result, or the domain error it raised (anything else fails the test)."""
    try:
        return action()
    except EnclaveError as exc:
        return exc


def _opens(container: composition.Container, tid: str, offboarding_id: str, package: dict[str, Any]) -> dict[str, Any]:
    """The final package as stored in the bucket, opened with the key a receipt gave."""
    s3 = container.clients.s3(EU)
    key = f"offboarding/{tid}/{offboarding_id}/tenant-package.aesgcm"
    blob = base64.b64decode(s3.get_object(Bucket=container.settings.export_bucket, Key=key)["Body"].read())
    aad = f"{package['format']}:{tid}:{offboarding_id}".encode()
    document: dict[str, Any] = json.loads(AESGCM(base64.b64decode(package["package_key"])).decrypt(
        blob[:12], blob[12:], aad))
    return document


# -- a rotation racing the destruction ---------------------------------------------------------------------

def test_a_rotation_racing_the_offboarding_leaves_no_key_version_and_no_learner_key(
        leaving: dict[str, Any], emulated: Emulated) -> None:
    container, tid, tenant = leaving["container"], leaving["tenant_id"], leaving["tenant"]
    rival = _container(emulated, leaving["clock"])   # another container runs the rotation
    rotations: list[Any] = []

    def rotate() -> None:
        caller = SystemCaller(Principal("ops", "ops", Role.REGIONAL_ADMIN, EU), "rotation-race")
        rotations.append(_outcome(lambda: rival.key_rotation.run(caller, tenant, rotate=True)))

    store = StoreListingThen(container.data_store, rotate)
    keys = KeysWithHook(container.tenant_keys, store.arm, store)
    receipt = _offboarding(container, keys=keys).offboard(ADMIN, tid, leaving["offboarding_id"])[1]

    assert receipt["status"] == "offboarded"
    [rotation] = rotations
    assert isinstance(rotation, EnclaveError), rotation   # the rotation lost: no version after the confirmation
    assert (rotation.status, rotation.code) == (409, "tenant_offboarding")
    assert container.data_store.tenant_keys("UK", tid) == []
    assert list(container.data_store.learner_key_items("UK", tid)) == []   # every learner key destroyed too
    trail = [e["action"] for e in container.audit_store.events(tid, "UK")]
    assert "tenant_key.rotate" not in trail


# -- other warm containers ---------------------------------------------------------------------------------

def _warm_other(leaving: dict[str, Any], emulated: Emulated, ticker: Ticker | None = None) -> RegionalApi:
    """Container B: it has read a learner and enrolled one (directory entry and tenant keys cached), then
    container A confirms the offboarding."""
    path, staff = leaving["path"], leaving["staff"]
    other = RegionalApi(_container(emulated, leaving["clock"], ticker))
    assert other.call("GET", f"{path}/learners/{leaving['learners'][0]}", staff)[0] == 200
    assert other.call("POST", f"{path}/learners", staff, learner_body(83))[0] == 201
    status, receipt = leaving["eu"].call("DELETE", f"{path}?confirm={leaving['offboarding_id']}",
                                         leaving["platform"])
    assert status == 200, receipt
    return other


def test_another_warm_container_writes_nothing_new_for_an_offboarded_tenant(
        leaving: dict[str, Any], emulated: Emulated, token: TokenFactory) -> None:
    """At once, even within the TTL: the writes' own transactions see the confirmation."""
    path, tid = leaving["path"], leaving["tenant_id"]
    other = _warm_other(leaving, emulated)
    status, body = other.call("POST", f"{path}/learners", leaving["staff"], learner_body(84))
    assert (status, body["error"]["code"]) == (409, "tenant_offboarding")
    status, body = other.call("POST", f"{path}/legal-holds", token("regional_admin", region=EU),
                              {"reason": "Late litigation"})
    assert (status, body["error"]["code"]) == (409, "tenant_offboarding")
    assert list(other.container.data_store.learner_key_items("UK", tid)) == []
    assert other.container.governance_store.holds("UK", tid) == []


def test_another_warm_container_stops_serving_an_offboarded_tenant_within_the_ttl(
        leaving: dict[str, Any], emulated: Emulated) -> None:
    tid, path, staff = leaving["tenant_id"], leaving["path"], leaving["staff"]
    ticker = Ticker()
    other = _warm_other(leaving, emulated, ticker)
    ticker.now += 31   # one short TTL later, container B knows
    assert other.call("GET", f"{path}/learners/{leaving['learners'][0]}", staff)[0] == 404
    assert other.call("POST", f"{path}/learners", staff, learner_body(85))[0] == 404
    b = other.container
    with pytest.raises(EnclaveError) as refused:   # even past the directory, nothing unwraps any more
        b.tenant_keys.keys_for(leaving["tenant"])
    assert refused.value.status == 404
    assert b.keyring.evict(tid) == 0   # and no plaintext tenant key is left in container B


# -- a hold after the confirmation ------------------------------------------------------------------------

def test_a_hold_placed_after_the_confirmation_committed_is_refused(leaving: dict[str, Any]) -> None:
    container, tid = leaving["container"], leaving["tenant_id"]
    holder = Caller(Principal("late-regional", "late-regional", Role.REGIONAL_ADMIN, EU), "req-late-hold")
    holds: list[Any] = []
    keys = KeysWithHook(container.tenant_keys, lambda: holds.append(_outcome(
        lambda: container.holds.place(holder, tid, HoldCreate(reason="Late litigation")))))
    status, receipt = _offboarding(container, keys=keys).offboard(ADMIN, tid, leaving["offboarding_id"])
    assert (status, receipt["status"]) == (200, "offboarded")
    [hold] = holds
    assert isinstance(hold, EnclaveError), hold   # today a 201 for a hold destroyed with the tenant
    assert (hold.status, hold.code) == (409, "tenant_offboarding")
    assert container.governance_store.holds("UK", tid) == []


# -- a crash after the confirmation ------------------------------------------------------------------------

def test_a_retry_after_a_crash_following_the_confirmation_gives_the_same_package_and_its_key(
        leaving: dict[str, Any]) -> None:
    container, tid, offboarding_id = leaving["container"], leaving["tenant_id"], leaving["offboarding_id"]

    def crash() -> None:
        raise RuntimeError("the function was stopped")

    with pytest.raises(RuntimeError):
        _offboarding(container, keys=KeysWithHook(container.tenant_keys, crash)).offboard(ADMIN, tid, offboarding_id)
    assert container.data_store.tenant_keys("UK", tid) != []   # confirmed, not destroyed yet


    status, receipt = container.offboarding.offboard(ADMIN, tid, offboarding_id)   # the same admin retries
    assert (status, receipt["status"]) == (200, "offboarded")
    package = receipt["access_package"]
    assert package["package_key"]
    document = _opens(container, tid, offboarding_id, package)
    assert sorted(learner["profile"]["given_name"] for learner in document["learners"]) == ["Learner81",
                                                                                           "Learner82"]
    assert receipt["audit_export"]["events"] >= 3
    assert container.data_store.tenant_keys("UK", tid) == []
    trail = [e["action"] for e in container.audit_store.events(tid, "UK")]
    assert (trail.count("tenant.offboard"), trail.count("audit.export")) == (1, 1)


# -- idempotent and concurrent retries ---------------------------------------------------------------------

def test_an_idempotent_retry_across_a_rotation_answers_the_original_result(
        leaving: dict[str, Any], token: TokenFactory) -> None:
    eu, path, staff = leaving["eu"], leaving["path"], leaving["staff"]
    regional = token("regional_admin", region=EU)
    key = {"Idempotency-Key": "across-a-rotation"}
    status, first = eu.call("POST", f"{path}/learners", staff, learner_body(86), headers=key)
    assert status == 201, first
    status, hold = eu.call("POST", f"{path}/legal-holds", regional, {"reason": "Case 7"}, headers=key)
    assert status == 201, hold
    status, report = eu.call("POST", f"{path}/keys/rotate", regional)
    assert (status, report["rotated_to"]) == (200, 2), report

    status, again = eu.call("POST", f"{path}/learners", staff, learner_body(86), headers=key)
    assert (status, again["learner_id"]) == (201, first["learner_id"]), again
    status, again_hold = eu.call("POST", f"{path}/legal-holds", regional, {"reason": "Case 7"}, headers=key)
    assert (status, again_hold["hold_id"]) == (201, hold["hold_id"]), again_hold
    status, other = eu.call("POST", f"{path}/learners", staff, learner_body(87), headers=key)
    assert (status, other["error"]["code"]) == (409, "conflict")   # another body is still refused


def test_a_retry_racing_the_destruction_answers_the_receipt_never_a_bare_error(leaving: dict[str, Any]) -> None:
    container, tid, offboarding_id = leaving["container"], leaving["tenant_id"], leaving["offboarding_id"]
    retries: list[Any] = []
    # the confirmation lists the keys; a retry (a double click) destroys them all before it deletes any
    store = StoreListingThen(container.data_store, lambda: retries.append(_outcome(
        lambda: container.offboarding.offboard(ADMIN, tid, offboarding_id))))
    keys = KeysWithHook(container.tenant_keys, store.arm, store)
    status, receipt = _offboarding(container, keys=keys).offboard(ADMIN, tid, offboarding_id)
    assert (status, receipt["status"]) == (200, "offboarded")
    [(retry_status, retried)] = retries
    assert (retry_status, retried["status"]) == (200, "offboarded")
    assert retried["access_package"]["package_key"] == receipt["access_package"]["package_key"]
    assert container.data_store.tenant_keys("UK", tid) == []


class LearnersWithHook(LearnerService):
    """The learner service as the package sees it: ``hook()`` runs when the package starts."""

    def __init__(self, inner: LearnerService, hook: Callable[[], None]) -> None:
        self.__dict__.update(inner.__dict__)
        self._hook = hook

    def learner_ids(self, tenant: Tenant) -> Any:
        self._hook()
        return super().learner_ids(tenant)


def test_a_second_confirmation_while_the_first_packages_is_409_and_the_first_package_opens(
        leaving: dict[str, Any]) -> None:
    container, tid, offboarding_id = leaving["container"], leaving["tenant_id"], leaving["offboarding_id"]
    seconds: list[Any] = []
    learners = LearnersWithHook(container.learners, lambda: seconds.append(_outcome(
        lambda: container.offboarding.offboard(ADMIN, tid, offboarding_id))))
    status, receipt = _offboarding(container, learners=learners).offboard(ADMIN, tid, offboarding_id)
    assert (status, receipt["status"]) == (200, "offboarded")
    [second] = seconds
    assert isinstance(second, EnclaveError), second
    assert (second.status, second.code) == (409, "offboarding_in_progress")
    assert second.body()["error"]["retry_after"] > 0
    document = _opens(container, tid, offboarding_id, receipt["access_package"])   # not overwritten
    assert len(document["learners"]) == 2
