"""Revocable tenant keys: one cache whose deadline is fixed at the KMS unwrap, eviction, fail-closed tenants."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from chalicelib import composition
from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.crypto import Keyring, WrappedTenantKey
from chalicelib.domain.errors import KeyAccessDenied, TenantKeyMissing
from chalicelib.domain.ids import new_id
from chalicelib.domain.tenants import Tenant, TenantKind
from chalicelib.services.keys.tenant_keys import TenantKeyService
from tests.conftest import capture_logs
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import RegionalApi, TokenFactory
from tests.unit.domain.test_crypto import Clock, FakeProvider


class RevocableProvider(FakeProvider):
    revoked = False

    def decrypt_data_key(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        if self.revoked:
            raise KeyAccessDenied("KMS Decrypt denied this deployment the key (AccessDeniedException)")
        return super().decrypt_data_key(wrapped, context)


class FakeStore:
    def __init__(self) -> None:
        self.records: list[WrappedTenantKey] = []

    def table(self, jurisdiction: str) -> str:
        return f"enclave-{jurisdiction}"

    def tenant_keys(self, jurisdiction: str, tenant_id: str) -> list[WrappedTenantKey]:
        return [r for r in self.records if r.tenant_id == tenant_id]

    def tenant_key_put(self, jurisdiction: str, record: WrappedTenantKey, created_at: str) -> dict[str, Any]:
        self.add_tenant_key(jurisdiction, record)  # the fake trail commits every change it is given
        return {}

    def add_tenant_key(self, jurisdiction: str, record: WrappedTenantKey) -> bool:
        if any((r.tenant_id, r.version) == (record.tenant_id, record.version) for r in self.records):
            return False
        self.records.append(record)
        return True


class Trail:
    def __init__(self) -> None:
        self.drafts: list[AuditEventDraft] = []

    def commit(self, tenant_id: str, jurisdiction: str, draft: AuditEventDraft, changes: Any = None) -> None:
        self.drafts.append(draft)


def _tenant() -> Tenant:
    return Tenant(tenant_id=new_id("tnt"), name="T", kind=TenantKind.SCHOOL, jurisdiction="UK",
                  home_region="eu-west-2", created_at=datetime.now(UTC))


def _service(provider: FakeProvider, clock: Clock, store: FakeStore, trail: Trail | None = None) -> TenantKeyService:
    keyring = Keyring(provider, ttl_seconds=60, clock=clock)
    return TenantKeyService(keyring, cast(DataStore, store), trail, ttl_seconds=60, clock=clock)


def test_a_tenant_key_is_never_served_past_the_ttl_of_its_unwrap() -> None:
    provider, clock, store, trail = RevocableProvider(), Clock(), FakeStore(), Trail()
    keys = _service(provider, clock, store, trail)
    tenant = _tenant()
    keys.create(tenant)                  # unwrapped (generated) now: t = 0
    clock.now += 59
    keys.keys_for(tenant)                # still the same unwrap, read at t = 59
    clock.now += 2                       # t = 61: past the TTL of the unwrap, not of the last read
    provider.revoked = True              # the grant was revoked at KMS meanwhile
    with pytest.raises(KeyAccessDenied):
        keys.keys_for(tenant)
    assert [(d.action, d.outcome) for d in trail.drafts] == [("tenant_key.create", "success"),
                                                             ("key.alarm", "key_access_denied")]


def test_eviction_drops_the_plaintext_keys_at_once() -> None:
    provider, clock, store = RevocableProvider(), Clock(), FakeStore()
    keys = _service(provider, clock, store)
    tenant, other = _tenant(), _tenant()
    keys.create(tenant)
    keys.create(other)
    keys.keys_for(tenant)
    keys.keys_for(other)
    assert provider.decrypts == 0
    assert keys.evict(tenant.tenant_id) == 1
    provider.revoked = True
    with pytest.raises(KeyAccessDenied):
        keys.keys_for(tenant)
    keys.keys_for(other)                 # others keep working until the kill switch
    assert keys.evict_all() >= 1
    with pytest.raises(KeyAccessDenied):
        keys.keys_for(other)


def test_a_tenant_without_a_key_fails_closed_and_alerts() -> None:
    provider, clock, store, trail = RevocableProvider(), Clock(), FakeStore(), Trail()
    keys = _service(provider, clock, store, trail)
    tenant = _tenant()
    with capture_logs() as logs, pytest.raises(TenantKeyMissing) as exc:
        keys.keys_for(tenant)
    assert exc.value.status == 503
    assert store.records == []           # no key made up on a read
    assert provider.generated == []
    assert '"alert":"tenant_key_missing"' in logs.getvalue().replace(" ", "")
    assert '"KeyFailures":1' in logs.getvalue().replace(" ", "")
    assert [(d.action, d.outcome) for d in trail.drafts] == [("key.alarm", "tenant_key_missing")]


def test_onboarding_creates_the_key_and_a_keyless_tenant_answers_503(
        api: dict[str, RegionalApi], containers: dict[str, composition.Container], onboard: Any,
        token: TokenFactory) -> None:
    container = containers["eu-west-2"]
    tid = onboard("UK")["tenant_id"]
    assert [r.version for r in container.data_store.tenant_keys("UK", tid)] == [1]

    keyless = _tenant()
    container.directory.add(keyless)     # a directory entry whose key was lost
    staff = token("tenant_staff", keyless.tenant_id, "eu-west-2")
    status, body = api["eu-west-2"].call("POST", f"/v1/tenants/{keyless.tenant_id}/learners", staff, ALICE)
    assert status == 503
    assert body["error"]["code"] == "tenant_key_missing"
    assert container.data_store.tenant_keys("UK", keyless.tenant_id) == []
    trail = list(container.audit_store.events(keyless.tenant_id, "UK"))
    assert [(e["action"], e["outcome"]) for e in trail] == [("key.alarm", "tenant_key_missing")]
