"""Tenant key rotation: new learner keys under the new version, old ones still readable, re-wrap job."""

from __future__ import annotations

from typing import Any

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.data_store import wrapped_learner_key
from chalicelib.domain.identity import Principal, Role
from chalicelib.services.context import Caller
from tests.conftest import Emulated, RegionalApi, TokenFactory, moto_jwks, regional_settings
from tests.test_learners_api import ALICE


def _key_versions(container: composition.Container, tenant_id: str) -> dict[str, int]:
    return {item["sk"]["S"].split("#")[1]: wrapped_learner_key(tenant_id, item["sk"]["S"].split("#")[1],
                                                                 item).tenant_key_version
            for item in container.data_store.learner_key_items("UK", tenant_id)}


def _fresh(emulated: Emulated) -> composition.Container:
    return composition.Container(regional_settings("eu-west-2", emulated.provisioned), clients=emulated.clients,
                                 key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions)


def test_rotation_then_rewrap_keeps_every_learner_readable(
        api: dict[str, RegionalApi], containers: dict[str, composition.Container], emulated: Emulated,
        onboard: Any, token: TokenFactory) -> None:
    eu, container = api["eu-west-2"], containers["eu-west-2"]
    tenant = onboard("UK")
    tid = tenant["tenant_id"]
    staff = token("tenant_staff", tid, "eu-west-2")
    path = f"/v1/tenants/{tid}/learners"
    old = [eu.call("POST", path, staff, {**ALICE, "email": f"old{i}@example.org"})[1] for i in range(3)]
    directory_entry = container.directory.get(tid)
    assert directory_entry is not None

    keys = container.tenant_keys.rotate(directory_entry)
    assert keys.versions == [2, 1]
    new = eu.call("POST", path, staff, {**ALICE, "email": "new@example.org"})[1]
    versions = _key_versions(container, tid)
    assert versions[new["learner_id"]] == 2
    assert {versions[learner["learner_id"]] for learner in old} == {1}

    cold = RegionalApi(_fresh(emulated))  # another container: loads both versions from the table
    for learner in [*old, new]:
        status, body = cold.call("GET", f"{path}/{learner['learner_id']}", staff)
        assert status == 200
        assert body["given_name"] == ALICE["given_name"]
    status, found = cold.call("POST", f"{path}/search", staff, {"email": "old1@example.org"})
    assert [item["learner_id"] for item in found["items"]] == [old[1]["learner_id"]]

    caller = Caller(Principal("ops", "ops", Role.REGIONAL_ADMIN, "eu-west-2"), "rewrap-job")

    def commit(changes: list[Any], count: int) -> None:
        container.audit_store.commit(tid, "UK", caller.draft("keys.rewrap", f"tenants/{tid}/keys", count=count),
                                     changes)

    assert container.tenant_keys.rewrap_all(directory_entry, commit, batch=2) == 3
    assert set(_key_versions(container, tid).values()) == {2}
    assert container.tenant_keys.rewrap_all(directory_entry, commit) == 0
    colder = RegionalApi(_fresh(emulated))
    for learner in [*old, new]:
        assert colder.call("GET", f"{path}/{learner['learner_id']}", staff)[1]["family_name"] == ALICE["family_name"]
