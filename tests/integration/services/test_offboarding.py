"""Tenant offboarding through the API: two steps with a waiting period, refused under a legal hold, a
final audit export and a sealed package of the whole tenant, then every key version destroyed and the
directory entry tombstoned."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.domain.errors import LegalHoldActive
from chalicelib.domain.holds import HoldCreate
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import Caller
from chalicelib.services.holds import HoldService
from chalicelib.services.offboarding import OffboardingService
from tests.conftest import moto_jwks
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings
from tests.integration.services.test_holds_retention import Clock, learner_body
from tests.integration.services.test_privacy import all_items, all_objects

EU = "eu-west-2"


@pytest.fixture
def leaving(emulated: Emulated, token: TokenFactory) -> dict[str, Any]:
    """A UK school with two learners (one erased already) on a deployment whose clock the test moves."""
    clock = Clock(datetime.now(UTC))
    container = composition.Container(regional_settings(EU, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                      clock=clock)
    eu = RegionalApi(container)
    platform = token("platform_admin", region=EU)
    status, tenant = eu.call("POST", "/v1/tenants", platform, {"name": "Leaving School", "kind": "school",
                                                               "jurisdiction": "UK"})
    assert status == 201
    tid = tenant["tenant_id"]
    staff, admin = token("tenant_staff", tid, EU), token("tenant_admin", tid, EU)
    learners = [eu.call("POST", f"/v1/tenants/{tid}/learners", staff, learner_body(n))[1]["learner_id"]
                for n in (71, 72)]
    assert eu.call("POST", f"/v1/tenants/{tid}/learners/{learners[0]}/results", staff,
                   {"assessment": "Latin", "score": 3, "max_score": 4, "taken_on": "2026-01-05"})[0] == 201
    assert eu.call("DELETE", f"/v1/tenants/{tid}/learners/{learners[1]}", admin)[0] == 200
    return {"eu": eu, "container": container, "clock": clock, "tenant_id": tid, "path": f"/v1/tenants/{tid}",
            "platform": platform, "staff": staff, "learners": learners}


def test_offboarding_waits_then_exports_packages_shreds_and_tombstones(leaving: dict[str, Any],
                                                                     emulated: Emulated, token: TokenFactory) -> None:
    eu, path, platform = leaving["eu"], leaving["path"], leaving["platform"]
    status, pending = eu.call("DELETE", path, platform)
    assert status == 202, pending
    assert pending["status"] == "pending"
    assert pending["confirmable_at"] == (leaving["clock"].now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert eu.call("DELETE", path, platform) == (202, pending)  # asking again: the same pending offboarding
    assert eu.call("DELETE", path, token("regional_admin", region=EU))[0] == 403
    assert eu.call("DELETE", path, token("tenant_admin", leaving["tenant_id"], EU))[0] == 403
    status, body = eu.call("DELETE", f"{path}?confirm={pending['offboarding_id']}", platform)
    assert (status, body["error"]["reason"]) == (409, "offboarding_waiting_period")
    leaving["clock"].now += timedelta(days=31)
    status, body = eu.call("DELETE", f"{path}?confirm=off_{'a' * 26}", platform)
    assert (status, body["error"]["reason"]) == (409, "offboarding_not_requested")
    assert eu.call("GET", f"{path}/learners/{leaving['learners'][0]}", leaving["staff"])[0] == 200

    status, receipt = eu.call("DELETE", f"{path}?confirm={pending['offboarding_id']}", platform)
    assert status == 200, receipt
    assert receipt["status"] == "offboarded"
    assert receipt["key_destroyed"] is True
    assert receipt["key_versions_destroyed"] >= 1
    assert receipt["audit_export"]["events"] >= 5
    package = receipt["access_package"]
    assert package["learners"] == 1  # the erased learner has nothing left to package
    # the bucket holds ciphertext only; the key in the receipt opens it
    object_key = f"offboarding/{leaving['tenant_id']}/{pending['offboarding_id']}/tenant-package.aesgcm"
    assert object_key in urlparse(package["download_url"]).path
    s3 = emulated.clients.s3(EU)
    bucket = leaving["container"].settings.export_bucket
    blob = base64.b64decode(s3.get_object(Bucket=bucket, Key=object_key)["Body"].read())
    aad = f"{package['format']}:{leaving['tenant_id']}:{pending['offboarding_id']}".encode()
    document = json.loads(AESGCM(base64.b64decode(package["package_key"])).decrypt(blob[:12], blob[12:], aad))
    assert [learner["learner_id"] for learner in document["learners"]] == [leaving["learners"][0]]
    assert document["learners"][0]["profile"]["given_name"] == "Learner71"
    assert document["learners"][0]["results"][0]["assessment"] == "Latin"
    assert not [where for where, text in all_objects(emulated) if "Learner71" in text]
    assert not [t for r, t, text in all_items(emulated) if "Learner71" in text or package["package_key"] in text]

    # every key version is gone, and the tenant reads as unknown from now on
    assert leaving["container"].data_store.tenant_keys("UK", leaving["tenant_id"]) == []
    assert eu.call("GET", path, platform)[0] == 404
    assert eu.call("GET", f"{path}/learners/{leaving['learners'][0]}", leaving["staff"])[0] == 404
    assert eu.call("DELETE", path, platform)[0] == 404
    trail = [e["action"] for e in leaving["container"].audit_store.events(leaving["tenant_id"], "UK")]
    assert trail.count("tenant.offboard_request") == 1
    # key deletion audited (the test's clock stands still, so events of one instant land in id order)
    assert sorted(trail[-3:]) == ["audit.export", "tenant.offboard", "tenant_key.destroy"]


@pytest.mark.parametrize("scope", ["tenant", "learner"])
def test_an_active_legal_hold_refuses_offboarding(leaving: dict[str, Any], token: TokenFactory, scope: str) -> None:
    eu, path, platform = leaving["eu"], leaving["path"], leaving["platform"]
    status, pending = eu.call("DELETE", path, platform)
    assert status == 202
    body = {"reason": "Litigation", **({"learner_id": leaving["learners"][0]} if scope == "learner" else {})}
    status, hold = eu.call("POST", f"{path}/legal-holds", platform, body)
    assert status == 201, hold
    leaving["clock"].now += timedelta(days=31)
    for query in ("", f"?confirm={pending['offboarding_id']}"):
        status, answer = eu.call("DELETE", path + query, platform)
        assert (status, answer["error"]["code"]) == (409, "legal_hold_active")
    assert eu.call("GET", f"{path}/learners/{leaving['learners'][0]}", leaving["staff"])[0] == 200
    assert eu.call("DELETE", f"{path}/legal-holds/{hold['hold_id']}", platform)[0] == 200
    assert eu.call("DELETE", f"{path}?confirm={pending['offboarding_id']}", platform)[0] == 200


class HoldArrivingAfterTheCheck(HoldService):
    """The hold service as offboarding sees it, with a hold placed right after its read-side check."""

    def __init__(self, inner: HoldService, place: Callable[[], None]) -> None:
        self.__dict__.update(inner.__dict__)
        self._place = place

    def active(self, tenant: Tenant) -> tuple[bool, frozenset[str]]:
        found = super().active(tenant)
        self._place()
        return found


@pytest.mark.parametrize("scope", ["tenant", "learner"])
def test_a_hold_placed_between_the_check_and_the_confirmation_refuses_it(leaving: dict[str, Any],
                                                                        scope: str) -> None:
    eu, path, platform, container = leaving["eu"], leaving["path"], leaving["platform"], leaving["container"]
    tid = leaving["tenant_id"]
    status, pending = eu.call("DELETE", path, platform)
    assert status == 202
    leaving["clock"].now += timedelta(days=31)
    caller = Caller(Principal("race-platform", "race-platform", Role.PLATFORM_ADMIN, EU), "req-offboard")
    holder = Caller(Principal("race-regional", "race-regional", Role.REGIONAL_ADMIN, EU), "req-hold")
    body = HoldCreate(reason="Litigation", **({"learner_id": leaving["learners"][0]} if scope == "learner" else {}))
    racing_holds = HoldArrivingAfterTheCheck(container.holds, lambda: container.holds.place(holder, tid, body))
    racing = OffboardingService(container.access, container.governance_store, racing_holds, container.learners,
                                container.tenant_keys, container.audit, container.audit_store,
                                container.export_bucket, container.directory, container.clock, timedelta(days=30))
    with pytest.raises(LegalHoldActive):
        racing.offboard(caller, tid, pending["offboarding_id"])
    assert container.data_store.tenant_keys("UK", tid) != []   # nothing destroyed
    assert eu.call("GET", f"{path}/learners/{leaving['learners'][0]}", leaving["staff"])[0] == 200
    trail = [e["action"] for e in container.audit_store.events(tid, "UK")]
    assert "tenant.offboard" not in trail
    assert "tenant_key.destroy" not in trail


def test_the_final_package_hands_restricted_learners_over_marked_restricted(leaving: dict[str, Any],
                                                                           token: TokenFactory) -> None:
    eu, path, platform = leaving["eu"], leaving["path"], leaving["platform"]
    tid, kept = leaving["tenant_id"], leaving["learners"][0]
    admin = token("tenant_admin", tid, EU)
    status, request = eu.call("POST", f"{path}/requests", admin, {"learner_id": kept, "type": "restriction"})
    assert (status, request["status"]) == (201, "fulfilled"), request
    assert eu.call("GET", f"{path}/learners/{kept}", leaving["staff"])[0] == 409   # restricted: storage only
    status, pending = eu.call("DELETE", path, platform)
    leaving["clock"].now += timedelta(days=31)
    status, receipt = eu.call("DELETE", f"{path}?confirm={pending['offboarding_id']}", platform)
    assert status == 200, receipt
    package = receipt["access_package"]
    assert (package["learners"], package["restricted"], package["skipped"]) == (1, 1, 0)
    blob = base64.b64decode(urlopen_object(leaving, tid, pending["offboarding_id"]))
    aad = f"{package['format']}:{tid}:{pending['offboarding_id']}".encode()
    document = json.loads(AESGCM(base64.b64decode(package["package_key"])).decrypt(blob[:12], blob[12:], aad))
    [learner] = document["learners"]
    assert learner["learner_id"] == kept
    assert learner["restricted_at"] == request["outcome"]["restricted_at"]
    assert learner["profile"]["given_name"] == "Learner71"
    assert learner["results"][0]["assessment"] == "Latin"


def urlopen_object(leaving: dict[str, Any], tenant_id: str, offboarding_id: str) -> bytes:
    container = leaving["container"]
    s3 = container.clients.s3(EU)
    key = f"offboarding/{tenant_id}/{offboarding_id}/tenant-package.aesgcm"
    body: bytes = s3.get_object(Bucket=container.settings.export_bucket, Key=key)["Body"].read()
    return body
