"""Tenant key rotation: the audited route and schedule re-wrap every key, re-index e-mails, retire old versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.data_store import DataStore, wrapped_learner_key
from chalicelib.domain.crypto import WrappedTenantKey
from chalicelib.domain.errors import Conflict
from chalicelib.services.keys.rotation import KeyRotationService
from tests.conftest import moto_jwks
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings

REGION = "eu-west-2"


def _key_versions(container: composition.Container, tenant_id: str) -> dict[str, int]:
    return {item["sk"]["S"].split("#")[1]: wrapped_learner_key(tenant_id, item["sk"]["S"].split("#")[1],
                                                                 item).tenant_key_version
            for item in container.data_store.learner_key_items("UK", tenant_id)}


def _fresh(emulated: Emulated, **overrides: Any) -> composition.Container:
    return composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                 key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                 **overrides)


def _service(container: composition.Container, store: DataStore | None = None, **kwargs: Any) -> KeyRotationService:
    return KeyRotationService(container.access, container.tenant_keys, container.keyring,
                              store or container.data_store, container.governance_store, container.audit_store,
                              container.directory, kwargs.pop("clock", container.clock), REGION, **kwargs)


def test_rotation_rewraps_every_key_reindexes_and_retires_the_old_version(
        api: dict[str, RegionalApi], containers: dict[str, composition.Container], emulated: Emulated,
        onboard: Any, token: TokenFactory) -> None:
    eu, container = api[REGION], containers[REGION]
    tid = onboard("UK")["tenant_id"]
    staff, admin = token("tenant_staff", tid, REGION), token("regional_admin", region=REGION)
    path = f"/v1/tenants/{tid}/learners"
    old = [eu.call("POST", path, staff, {**ALICE, "email": f"old{i}@example.org"})[1] for i in range(3)]
    assert eu.call("POST", f"/v1/tenants/{tid}/legal-holds", admin, {"reason": "Case of A. Smith"})[0] == 201

    assert eu.call("POST", f"/v1/tenants/{tid}/keys/rotate", token("tenant_admin", tid, REGION))[0] == 403
    assert eu.call("POST", f"/v1/tenants/{tid}/keys/rotate", token("regional_admin", region="us-east-1"))[0] in (403,
                                                                                                             404)
    status, report = eu.call("POST", f"/v1/tenants/{tid}/keys/rotate", admin)
    assert status == 200, report
    assert report["rotated_to"] == 2
    assert report["rewrapped"] == 7      # 3 learner keys + 3 e-mail look-ups + 1 hold key
    assert report["retired_versions"] == []  # not before every process stopped using version 1
    assert set(_key_versions(container, tid).values()) == {2}
    lookups = [item["lookup_pk"]["S"] for item in container.data_store.profiles("UK", tid)]
    assert all(lookup.split("#email#")[1].startswith("2.") for lookup in lookups)
    assert {int(h["tenant_key_version"]["N"]) for h in container.governance_store.holds("UK", tid)} == {2}

    later = _fresh(emulated, clock=lambda: container.clock() + timedelta(hours=1))
    assert _service(later).run(_caller(), _tenant(container, tid), rotate=False)["retired_versions"] == [1]
    assert [r.version for r in container.data_store.tenant_keys("UK", tid)] == [2]

    cold = RegionalApi(_fresh(emulated))  # only version 2 is left: everything must open with it
    for learner in old:
        status, body = cold.call("GET", f"{path}/{learner['learner_id']}", staff)
        assert status == 200
        assert body["given_name"] == ALICE["given_name"]
    status, found = cold.call("POST", f"{path}/search", staff, {"email": "old1@example.org"})
    assert [item["learner_id"] for item in found["items"]] == [old[1]["learner_id"]]
    holds = cold.call("GET", f"/v1/tenants/{tid}/legal-holds", admin)[1]["items"]
    assert [hold["reason"] for hold in holds] == ["Case of A. Smith"]
    actions = [e["action"] for e in container.audit_store.events(tid, "UK")
               if e["action"].startswith("tenant_key.") and e["outcome"] == "success"]
    assert actions == ["tenant_key.create", "tenant_key.rotate", "tenant_key.rewrap", "tenant_key.retire"]

    due = _fresh(emulated, clock=lambda: container.clock() + timedelta(days=91))
    reports = _service(due, rotate_after=timedelta(days=90)).scheduled()["tenants"]
    assert next(r for r in reports if r["tenant_id"] == tid)["rotated_to"] == 3


class RacingStore(DataStore):
    """Another process rotates the same tenant just before this one writes its new version."""

    def __init__(self, base: DataStore, rival: composition.Container, tenant_id: str) -> None:
        self.__dict__.update(base.__dict__)
        self._rival, self._tenant_id = rival, tenant_id

    def tenant_key_put(self, jurisdiction: str, record: WrappedTenantKey, created_at: str) -> Any:
        rival = _service(self._rival)
        rival.run(_caller(), _tenant(self._rival, self._tenant_id), rotate=True)
        return super().tenant_key_put(jurisdiction, replace(record), created_at)


def test_a_lost_rotation_race_is_409(containers: dict[str, composition.Container], emulated: Emulated,
                                     onboard: Any) -> None:
    container = containers[REGION]
    tid = onboard("UK")["tenant_id"]
    racing = _service(container, RacingStore(container.data_store, _fresh(emulated), tid))
    with pytest.raises(Conflict) as lost:
        racing.run(_caller(), _tenant(container, tid), rotate=True)
    assert lost.value.status == 409
    assert lost.value.details["reason"] == "rotation_race"
    assert [r.version for r in container.data_store.tenant_keys("UK", tid)] == [1, 2]


def _caller() -> Any:
    from chalicelib.domain.identity import Principal, Role
    from chalicelib.services.context import SystemCaller

    return SystemCaller(Principal("ops", "ops", Role.REGIONAL_ADMIN, REGION), "rotation-test")


def _tenant(container: composition.Container, tid: str) -> Any:
    tenant = container.directory.get(tid)
    assert tenant is not None
    return tenant
