"""The global entry's routing table (CloudFront KeyValueStore) kept in step with the directory.

The store's client is a fake following the documented interface (``tests/integration/services/edge_kvs.py``; moto has no
``cloudfront-keyvaluestore``), injected through the adapter's and the container's constructors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.edge_routes import EdgeRouteStore, EdgeSyncFailed
from chalicelib.domain.ids import is_valid_id, new_id
from chalicelib.domain.tenants import Tenant, TenantKind
from chalicelib.services.edge_routes import EdgeRouteSync
from chalicelib.settings import REGIONS
from tests.conftest import capture_logs, moto_jwks
from tests.integration.conftest import HOME, Emulated, RegionalApi, TokenFactory, regional_settings
from tests.integration.services.edge_kvs import ARN, FakeKeyValueStore
from tests.integration.services.test_holds_retention import Clock, learner_body


def no_wait(attempt: int) -> None:
    """No backoff in the tests (the retries themselves are what is tested)."""


def tenant(region: str = "eu-west-2") -> Tenant:
    return Tenant(tenant_id=new_id("tnt"), name="Hill School", kind=TenantKind.SCHOOL, jurisdiction="UK",
                  home_region=region, created_at=datetime.now(UTC))


class Directory:
    def __init__(self, tenants: list[Tenant]) -> None:
        self.tenants = tenants

    def in_region(self, home_region: str) -> list[Tenant]:
        return [t for t in self.tenants if t.home_region == home_region]


# -- the adapter ----------------------------------------------------------------------------------


def test_a_write_that_loses_the_etag_race_is_retried_and_both_writes_stand() -> None:
    kvs = FakeKeyValueStore()
    other = new_id("tnt")
    raced: list[int] = []

    def racer(store: FakeKeyValueStore) -> None:  # another writer commits between our describe and our put
        if not raced:
            raced.append(1)
            store.items[other] = "us-east-1"
            store.bump()

    kvs.racer = racer
    mine = new_id("tnt")
    EdgeRouteStore(kvs, ARN, backoff=no_wait).put(mine, "eu-west-2")
    assert kvs.items == {other: "us-east-1", mine: "eu-west-2"}
    assert kvs.calls.count("PutKey") == 2  # the first was refused with ConflictException, then retried


def test_a_store_that_stays_busy_fails_after_the_attempts() -> None:
    kvs = FakeKeyValueStore()
    kvs.racer = FakeKeyValueStore.bump  # always someone first
    with pytest.raises(EdgeSyncFailed):
        EdgeRouteStore(kvs, ARN, attempts=3, backoff=no_wait).put(new_id("tnt"), "eu-west-2")
    assert kvs.calls.count("PutKey") == 3
    assert kvs.items == {}


def test_deleting_a_missing_route_is_done_and_entries_page_through_the_store() -> None:
    kvs = FakeKeyValueStore()
    store = EdgeRouteStore(kvs, ARN, backoff=no_wait)
    store.delete(new_id("tnt"))
    ids = [new_id("tnt") for _ in range(120)]
    assert store.apply(dict.fromkeys(ids, "ap-southeast-1"), []) == 3  # 50 keys per UpdateKeys
    assert store.entries() == dict.fromkeys(ids, "ap-southeast-1")
    assert kvs.calls.count("ListKeys") == 3


def test_only_tenant_ids_and_home_regions_can_be_written() -> None:
    store = EdgeRouteStore(FakeKeyValueStore(), ARN, backoff=no_wait)
    for key, value in (("ada@example.org", "eu-west-2"), (new_id("tnt"), "Ada Lovelace"), (new_id("lrn"), "eu-west-2")):
        with pytest.raises(ValueError, match="tenant id and a home region"):
            store.put(key, value)


# -- the service: failures are loud, the reconciliation repairs ----------------------------------


def test_a_failed_update_answers_pending_logs_critical_and_counts_the_metric() -> None:
    kvs = FakeKeyValueStore()
    kvs.refuse = "AccessDeniedException"
    failures: list[int] = []
    sync = EdgeRouteSync(EdgeRouteStore(kvs, ARN, backoff=no_wait), Directory([]), "eu-west-2",
                         on_failure=lambda: failures.append(1))
    new = tenant()
    with capture_logs() as logs:
        assert sync.added(new) == "pending"
        assert sync.removed(new.tenant_id) == "pending"
    assert failures == [1, 1]
    assert logs.getvalue().count('"alert":"edge_sync_failed"') == 2
    assert '"level":"CRITICAL"' in logs.getvalue()
    kvs.refuse = None
    assert sync.added(new) == "synced"
    assert kvs.items == {new.tenant_id: "eu-west-2"}
    assert EdgeRouteSync(None, Directory([]), "eu-west-2").added(new) == "disabled"


def test_reconcile_repairs_missing_wrong_and_stale_routes_of_its_own_region_only() -> None:
    live = [tenant() for _ in range(3)]
    kvs = FakeKeyValueStore()
    stale, foreign = new_id("tnt"), new_id("tnt")
    kvs.items = {live[0].tenant_id: "eu-west-2", live[1].tenant_id: "us-east-1", stale: "eu-west-2",
                 foreign: "ap-southeast-2"}
    sync = EdgeRouteSync(EdgeRouteStore(kvs, ARN, backoff=no_wait), Directory(live), "eu-west-2")
    before = dict(kvs.items)
    report = sync.reconcile(dry_run=True)
    assert report["status"] == "would_repair"
    assert kvs.items == before
    report = sync.reconcile()
    assert report["status"] == "repaired"
    assert sorted(report["put"]) == sorted([live[1].tenant_id, live[2].tenant_id])
    assert report["deleted"] == [stale]
    assert kvs.items == {**{t.tenant_id: "eu-west-2" for t in live}, foreign: "ap-southeast-2"}
    assert sync.reconcile()["status"] == "in_step"


# -- through the API: onboarding and offboarding keep the store in step --------------------------


@pytest.fixture(scope="module")
def edge(emulated: Emulated) -> dict[str, Any]:
    """Four regional deployments that share one (fake) store, and a clock offboarding can move."""
    kvs = FakeKeyValueStore()
    clock = Clock(datetime.now(UTC))
    apis = {}
    for region in REGIONS:
        settings = regional_settings(region, emulated.provisioned).model_copy(update={"edge_kvs_arn": ARN})
        container = composition.Container(settings, clients=emulated.clients, key_source=StaticKeySource(moto_jwks()),
                                          jurisdictions=emulated.jurisdictions, clock=clock, edge_client=kvs)
        apis[region] = RegionalApi(container)
    return {"kvs": kvs, "api": apis, "clock": clock}


def test_onboarding_and_offboarding_put_and_delete_the_route(edge: dict[str, Any], token: TokenFactory) -> None:
    kvs, api = edge["kvs"], edge["api"]
    routed = {}
    for jurisdiction, region in HOME.items():
        status, body = api[region].call("POST", "/v1/tenants", token("platform_admin", region=region),
                                        {"name": f"{jurisdiction} Academy", "kind": "school",
                                         "jurisdiction": jurisdiction})
        assert status == 201, body
        assert body["edge_route"] == "synced"
        routed[body["tenant_id"]] = region
    assert {k: v for k, v in kvs.items.items() if k in routed} == routed

    uk = next(t for t, r in routed.items() if r == "eu-west-2")
    platform = token("platform_admin", region="eu-west-2")
    status, pending = api["eu-west-2"].call("DELETE", f"/v1/tenants/{uk}", platform)
    assert status == 202
    edge["clock"].now += timedelta(days=31)
    status, receipt = api["eu-west-2"].call("DELETE", f"/v1/tenants/{uk}?confirm={pending['offboarding_id']}",
                                            platform)
    assert status == 200, receipt
    assert receipt["edge_route"] == "synced"
    assert uk not in kvs.items


def test_a_store_outage_does_not_fail_onboarding_and_the_schedule_repairs_it(
        edge: dict[str, Any], token: TokenFactory) -> None:
    kvs, api = edge["kvs"], edge["api"]
    kvs.refuse = "InternalServerException"
    with capture_logs() as logs:
        status, body = api["ap-southeast-1"].call(
            "POST", "/v1/tenants", token("platform_admin", region="ap-southeast-1"),
            {"name": "Review Centre", "kind": "review_center", "jurisdiction": "PH"})
    kvs.refuse = None
    assert status == 201, body
    assert body["edge_route"] == "pending"
    assert '"alert":"edge_sync_failed"' in logs.getvalue()
    assert body["tenant_id"] not in kvs.items
    report = api["ap-southeast-1"].container.edge_routes.reconcile()  # what the hourly schedule runs
    assert body["tenant_id"] in report["put"]
    assert kvs.items[body["tenant_id"]] == "ap-southeast-1"


def test_no_personal_value_reaches_the_store(edge: dict[str, Any], token: TokenFactory) -> None:
    """Onboard and enrol in every jurisdiction, then scan every key and value of the store."""
    kvs, api = edge["kvs"], edge["api"]
    secrets: list[str] = []
    for jurisdiction, region in HOME.items():
        name = f"Ada Lovelace Tutoring {jurisdiction}"
        status, body = api[region].call("POST", "/v1/tenants", token("platform_admin", region=region),
                                        {"name": name, "kind": "review_center", "jurisdiction": jurisdiction})
        assert status == 201
        staff = token("tenant_staff", body["tenant_id"], region)
        learner = learner_body(90 + len(secrets))
        assert api[region].call("POST", f"/v1/tenants/{body['tenant_id']}/learners", staff, learner)[0] == 201
        secrets += [name, *(str(v) for v in learner.values())]
    for region in REGIONS:
        api[region].container.edge_routes.reconcile()
    assert kvs.items
    for key, value in kvs.items.items():
        assert is_valid_id(key, "tnt"), key
        assert value in REGIONS, value
        assert not [s for s in secrets if s in key or s in value]


def test_settings_take_the_store_from_the_environment() -> None:
    from chalicelib.settings import Settings

    settings = Settings.from_environ({"ENCLAVE_REGION": "eu-west-2", "ENCLAVE_EDGE_KVS_ARN": ARN})
    assert settings.edge_kvs_arn == ARN
    with pytest.raises(Exception, match="invalid settings"):
        Settings.from_environ({"ENCLAVE_REGION": "eu-west-2", "ENCLAVE_EDGE_KVS_ARN": "arn:aws:s3:::bucket"})
