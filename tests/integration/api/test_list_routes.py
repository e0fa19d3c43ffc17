"""The console's list routes: GET /v1/tenants and the paged GET .../learners (opaque cursor, Cedar, audited)."""

from __future__ import annotations

from typing import Any

from tests.integration.api.test_audit_api import get_audit, ndjson
from tests.integration.api.test_learners_api import ALICE, enrol, learners_path
from tests.integration.conftest import RegionalApi, TokenFactory

UK = "eu-west-2"


def all_pages(api: RegionalApi, path: str, bearer: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = ("&" if "?" in path else "?") + f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = api.call("GET", path + query, bearer)
        assert status == 200, body
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_tenants_of_the_region_page_through_every_one_once(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    mine = {onboard("UK", name=f"School {n}")["tenant_id"] for n in range(5)}
    elsewhere = onboard("AU")["tenant_id"]
    listed = all_pages(api[UK], "/v1/tenants", token("regional_admin", region=UK), limit=2)
    ids = [t["tenant_id"] for t in listed]
    assert len(ids) == len(set(ids))
    assert mine <= set(ids)
    assert elsewhere not in ids
    assert {t["home_region"] for t in listed} == {UK}
    officer = all_pages(api[UK], "/v1/tenants", token("compliance_officer", region=UK), limit=50)
    assert mine <= {t["tenant_id"] for t in officer}
    for tenant_id in mine:  # each page is recorded in the trail of every tenant it showed
        listings = [e for e in api[UK].container.audit_store.events(tenant_id, "UK") if e["action"] == "tenant.list"]
        assert [e["actor"]["role"] for e in listings] == ["regional_admin", "compliance_officer"]
        assert listings[0]["details"]["count"] in (1, 2)


def test_tenant_roles_may_not_list_tenants_and_bad_cursors_are_400(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    tenant = onboard("UK")
    status, body = api[UK].call("GET", "/v1/tenants", token("tenant_admin", tenant["tenant_id"], UK))
    assert status == 403, body
    admin = token("regional_admin", region=UK)
    for query in ("?cursor=%25%25", "?limit=0", "?limit=201", "?limit=x"):
        status, body = api[UK].call("GET", "/v1/tenants" + query, admin)
        assert status == 400, (query, body)


def test_learners_page_shows_status_and_names_but_no_other_personal_value(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    tenant = onboard("UK")
    tenant["staff"] = token("tenant_staff", tenant["tenant_id"], UK)
    tenant["admin"] = token("tenant_admin", tenant["tenant_id"], UK)
    enrolled = [enrol(api[UK], tenant, {**ALICE, "email": f"learner{n}@example.org"})["learner_id"]
                for n in range(5)]
    status, _ = api[UK].call("POST", f"{learners_path(tenant['tenant_id'])}/{enrolled[0]}/results", tenant["staff"],
                             {"assessment": "Maths", "score": 7, "max_score": 10, "taken_on": "2026-01-10"})
    assert status == 201
    status, _ = api[UK].call("DELETE", f"{learners_path(tenant['tenant_id'])}/{enrolled[1]}", tenant["admin"])
    assert status == 200
    listed = all_pages(api[UK], learners_path(tenant["tenant_id"]), tenant["staff"], limit=2)
    assert sorted(item["learner_id"] for item in listed) == sorted(enrolled)
    status_of = {item["learner_id"]: item["status"] for item in listed}
    assert status_of[enrolled[1]] == "erased"
    assert status_of[enrolled[0]] == "active"
    text = repr(listed)  # names for the tenant's own users (the console lists learners by name); nothing else
    assert {item.get("family_name") for item in listed if item["status"] == "active"} == {ALICE["family_name"]}
    assert "example.org" not in text
    assert ALICE["date_of_birth"] not in text
    assert ALICE["guardian"]["name"] not in text
    status, text = get_audit(api[UK], {"tenant_id": tenant["tenant_id"], "officer": token("compliance_officer",
                                                                                         region=UK)})
    assert status == 200
    listings = [e for e in ndjson(text)[0] if e["action"] == "learner.list"]
    assert [e["details"]["count"] for e in listings] == [2, 2, 1]


def test_other_tenants_staff_cannot_list_learners(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    tenant, other = onboard("UK"), onboard("UK")
    status, body = api[UK].call("GET", learners_path(tenant["tenant_id"]),
                                token("tenant_staff", other["tenant_id"], UK))
    assert status == 404, body
    status, body = api[UK].call("GET", learners_path(tenant["tenant_id"]), token("compliance_officer", region=UK))
    assert status == 403, body


def test_audit_events_filter_by_action_actor_outcome_and_page_by_seq(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    tenant = onboard("UK")
    tenant["staff"] = token("tenant_staff", tenant["tenant_id"], UK)
    learner = enrol(api[UK], tenant, {**ALICE, "email": "trail@example.org"})["learner_id"]
    path = f"{learners_path(tenant['tenant_id'])}/{learner}"
    for _ in range(3):
        assert api[UK].call("GET", path, tenant["staff"])[0] == 200
    assert api[UK].call("DELETE", path, tenant["staff"])[0] == 403  # staff may not erase: a denied event
    officer = token("compliance_officer", region=UK)
    events = f"/v1/tenants/{tenant['tenant_id']}/audit/events"
    reads = all_pages(api[UK], events + "?action=learner.read", officer, limit=2)
    assert len(reads) == 3
    assert [e["seq"] for e in reads] == sorted(e["seq"] for e in reads)
    assert {e["action"] for e in reads} == {"learner.read"}
    status, denied = api[UK].call("GET", events + "?outcome=denied&actor=tenant_staff", officer)
    assert status == 200
    assert [e["action"] for e in denied["items"]] == ["learner.erase"]
    status, none = api[UK].call("GET", events + "?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", officer)
    assert status == 200
    assert none == {"items": [], "next_cursor": None}
    assert api[UK].call("GET", events, tenant["staff"])[0] == 403
    assert api[UK].call("GET", events + "?cursor=bm9wZQ", officer)[0] == 400
