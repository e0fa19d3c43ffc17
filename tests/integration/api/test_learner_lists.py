"""The tenant's lists for the console: learners with names, the family-name search, the school's requests.

Names are decrypted by the API for the tenant's own users only; a list page is one audit event naming
the learners shown; the family-name search goes through a blind index (never a plaintext index) and is
re-checked against the decrypted name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import Emulated, RegionalApi, TokenFactory
from tests.integration.services.test_privacy import all_items

UK = "eu-west-2"
PEOPLE = [("Zadie", "Smith"), ("Ada", "Lovelace"), ("Mary", "Shelley"), ("Grace", "Van der Berg"),
          ("Anne", "Lovelace")]


@pytest.fixture
def school(onboard: Any, token: TokenFactory, api: dict[str, RegionalApi]) -> dict[str, Any]:
    tenant = onboard("UK", name="Lists School")
    tid = tenant["tenant_id"]
    tenant["staff"] = token("tenant_staff", tid, UK)
    tenant["admin"] = token("tenant_admin", tid, UK)
    tenant["learners"] = {}
    for given, family in PEOPLE:
        status, learner = api[UK].call("POST", f"/v1/tenants/{tid}/learners", tenant["staff"], {
            "given_name": given, "family_name": family, "email": f"{given}.{family.replace(' ', '')}@example.org",
            "date_of_birth": "2010-01-02"})
        assert status == 201, learner
        tenant["learners"][f"{given} {family}"] = learner["learner_id"]
    return tenant


def events(api: dict[str, RegionalApi], tenant_id: str, action: str) -> list[dict[str, Any]]:
    return [e for e in api[UK].container.audit_store.events(tenant_id, "UK") if e["action"] == action]


def test_the_learner_list_shows_names_sorted_by_family_name_in_one_audit_event(
        api: dict[str, RegionalApi], school: dict[str, Any]) -> None:
    tid = school["tenant_id"]
    status, listed = api[UK].call("GET", f"/v1/tenants/{tid}/learners?limit=50", school["staff"])
    assert status == 200, listed
    names = [(i["family_name"], i["given_name"]) for i in listed["items"]]
    assert names == [("Lovelace", "Ada"), ("Lovelace", "Anne"), ("Shelley", "Mary"), ("Smith", "Zadie"),
                     ("Van der Berg", "Grace")]
    assert all("email" not in i and "date_of_birth" not in i for i in listed["items"])
    listed_events = events(api, tid, "learner.list")
    assert len(listed_events) == 1
    assert sorted(listed_events[0]["details"]["learner_ids"]) == sorted(school["learners"].values())
    assert "Lovelace" not in str(listed_events[0])  # ids in the trail, never names


def test_the_learner_list_filters_by_status_and_pages(api: dict[str, RegionalApi], school: dict[str, Any]) -> None:
    tid = school["tenant_id"]
    erased = school["learners"]["Mary Shelley"]
    status, _ = api[UK].call("DELETE", f"/v1/tenants/{tid}/learners/{erased}", school["admin"])
    assert status == 200
    status, only = api[UK].call("GET", f"/v1/tenants/{tid}/learners?status=erased", school["staff"])
    assert status == 200
    assert [(i["learner_id"], i["status"]) for i in only["items"]] == [(erased, "erased")]
    assert "family_name" not in only["items"][0]
    seen: list[str] = []
    cursor = ""
    while True:
        status, page = api[UK].call("GET", f"/v1/tenants/{tid}/learners?status=active&limit=2{cursor}",
                                    school["staff"])
        assert status == 200
        seen += [i["family_name"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert sorted(seen) == ["Lovelace", "Lovelace", "Smith", "Van der Berg"]
    status, bad = api[UK].call("GET", f"/v1/tenants/{tid}/learners?status=gone", school["staff"])
    assert status == 400
    assert "status must be one of" in bad["error"]["message"]


def search(api: dict[str, RegionalApi], school: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    return api[UK].call("POST", f"/v1/tenants/{school['tenant_id']}/learners/search", school["staff"], body)


def test_search_by_family_name_is_exact_and_normalised(api: dict[str, RegionalApi], school: dict[str, Any]) -> None:
    status, found = search(api, school, {"family_name": "  LOVELACE "})
    assert status == 200, found
    assert [(i["given_name"], i["family_name"]) for i in found["items"]] == [("Ada", "Lovelace"), ("Anne", "Lovelace")]
    status, found = search(api, school, {"family_name": "lovelace", "given_name": "anne"})
    assert [i["learner_id"] for i in found["items"]] == [school["learners"]["Anne Lovelace"]]
    status, found = search(api, school, {"family_name": "van  der   berg"})
    assert [i["given_name"] for i in found["items"]] == ["Grace"]
    for partial in ("Love", "Lovelac", "Lovelaces"):
        status, found = search(api, school, {"family_name": partial})
        assert status == 200
        assert found["items"] == [], partial
    status, error = search(api, school, {"given_name": "Ada"})
    assert status == 422, error
    status, error = search(api, school, {"email": "ada.lovelace@example.org", "family_name": "Lovelace"})
    assert status == 422, error
    audited = events(api, school["tenant_id"], "learner.search")
    assert audited[0]["details"]["by"] == "family_name"
    assert "lovelace" not in str(audited).lower()


def test_a_rectified_family_name_is_found_by_the_new_name_and_not_the_old(
        api: dict[str, RegionalApi], school: dict[str, Any], emulated: Emulated) -> None:
    tid, learner = school["tenant_id"], school["learners"]["Zadie Smith"]
    status, _ = api[UK].call("PATCH", f"/v1/tenants/{tid}/learners/{learner}", school["admin"],
                             {"family_name": "Jones"})
    assert status == 200
    assert search(api, school, {"family_name": "Smith"})[1]["items"] == []
    assert [i["learner_id"] for i in search(api, school, {"family_name": "jones"})[1]["items"]] == [learner]
    # a stale index entry (the old name's token) must not answer for the new name: re-checked on the plaintext
    client = emulated.clients.dynamodb(UK)
    key = {"pk": {"S": f"TENANT#{tid}"}, "sk": {"S": f"L#{learner}#P"}}
    jones = client.get_item(TableName="enclave-data-uk", Key=key)["Item"]["name_pk"]
    other = school["learners"]["Ada Lovelace"]
    client.update_item(TableName="enclave-data-uk", Key={"pk": key["pk"], "sk": {"S": f"L#{other}#P"}},
                       UpdateExpression="SET name_pk = :k", ExpressionAttributeValues={":k": jones})
    assert [i["learner_id"] for i in search(api, school, {"family_name": "Jones"})[1]["items"]] == [learner]


def test_the_family_name_index_holds_no_plaintext(school: dict[str, Any], emulated: Emulated) -> None:
    profiles = [item for region, table, item in all_items(emulated)
                if table == "enclave-data-uk" and school["tenant_id"] in item and "name_pk" in item]
    assert len(profiles) >= len(PEOPLE)
    for item in profiles:
        for _, family in PEOPLE:
            for spelling in (family, family.lower(), family.upper(), family.lower().replace(" ", "")):
                assert spelling not in item


def request(api: dict[str, RegionalApi], school: dict[str, Any], name: str, kind: str, days_ago: int) -> str:
    received = (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = api[UK].call("POST", f"/v1/tenants/{school['tenant_id']}/requests", school["admin"],
                                {"learner_id": school["learners"][name], "type": kind, "received_at": received})
    assert status == 201, body
    return str(body["request_id"])


def test_the_schools_requests_are_listed_with_names_filtered_and_paged(
        api: dict[str, RegionalApi], school: dict[str, Any], token: TokenFactory) -> None:
    tid = school["tenant_id"]
    late = request(api, school, "Ada Lovelace", "rectification", 40)
    soon = request(api, school, "Anne Lovelace", "rectification", 2)
    done = request(api, school, "Grace Van der Berg", "access", 0)
    path = f"/v1/tenants/{tid}/requests"
    status, listed = api[UK].call("GET", path, school["admin"])
    assert status == 200, listed
    by_id = {i["request_id"]: i for i in listed["items"]}
    assert set(by_id) == {late, soon, done}
    assert by_id[late]["urgency"] == "overdue"
    assert by_id[late]["learner_name"] == "Ada Lovelace"
    assert by_id[done]["status"] == "fulfilled"
    assert next(i["request_id"] for i in listed["items"]) == late  # earliest due first within the page
    status, open_only = api[UK].call("GET", f"{path}?status=open", school["admin"])
    assert {i["request_id"] for i in open_only["items"]} == {late, soon}
    before = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    status, due = api[UK].call("GET", f"{path}?due_before={before}", school["admin"])
    assert [i["request_id"] for i in due["items"]] == [late]
    status, first = api[UK].call("GET", f"{path}?limit=2", school["admin"])
    status, rest = api[UK].call("GET", f"{path}?limit=2&cursor={first['next_cursor']}", school["admin"])
    assert len(first["items"]) == 2
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert {i["request_id"] for i in first["items"] + rest["items"]} == {late, soon, done}
    status, bad = api[UK].call("GET", f"{path}?due_before=soon", school["admin"])
    assert status == 422
    assert bad["error"]["fields"][0]["field"] == "due_before"
    audited = events(api, tid, "request.list")
    assert audited[0]["details"]["request_ids"]
    assert "Lovelace" not in str(audited)
    status, officer = api[UK].call("GET", path, token("compliance_officer", region=UK))
    assert status == 200
    assert all("learner_name" not in i for i in officer["items"])
    status, regional = api[UK].call("GET", path, token("regional_admin", region=UK))
    assert status == 200
    assert len(regional["items"]) == 3


def test_the_requests_list_is_refused_to_staff_and_to_another_tenant(
        api: dict[str, RegionalApi], school: dict[str, Any], onboard: Any, token: TokenFactory) -> None:
    path = f"/v1/tenants/{school['tenant_id']}/requests"
    status, body = api[UK].call("GET", path, school["staff"])
    assert status == 403, body
    other = onboard("UK", name="Other School")
    status, body = api[UK].call("GET", path, token("tenant_admin", other["tenant_id"], UK))
    assert status == 404, body
    assert body["error"]["code"]


def test_a_tenant_admin_reads_the_schools_legal_holds(
        api: dict[str, RegionalApi], school: dict[str, Any], token: TokenFactory) -> None:
    tid = school["tenant_id"]
    status, hold = api[UK].call("POST", f"/v1/tenants/{tid}/legal-holds", token("regional_admin", region=UK),
                                {"reason": "pending claim", "learner_id": school["learners"]["Ada Lovelace"]})
    assert status == 201, hold
    status, holds = api[UK].call("GET", f"/v1/tenants/{tid}/legal-holds", school["admin"])
    assert status == 200
    assert [h["hold_id"] for h in holds["items"]] == [hold["hold_id"]]
    status, _ = api[UK].call("GET", f"/v1/tenants/{tid}/legal-holds", school["staff"])
    assert status == 403


def test_a_learner_enrolled_before_the_name_index_is_found_by_name_once_next_written(
        api: dict[str, RegionalApi], school: dict[str, Any], emulated: Emulated, token: TokenFactory) -> None:
    tid, learner = school["tenant_id"], school["learners"]["Mary Shelley"]
    client = emulated.clients.dynamodb(UK)
    key = {"pk": {"S": f"TENANT#{tid}"}, "sk": {"S": f"L#{learner}#P"}}
    client.update_item(TableName="enclave-data-uk", Key=key, UpdateExpression="REMOVE name_pk, name_sk")  # as before
    assert search(api, school, {"family_name": "Shelley"})[1]["items"] == []
    by_email = search(api, school, {"email": "mary.shelley@example.org"})[1]["items"]
    assert [i["learner_id"] for i in by_email] == [learner]
    status, rotated = api[UK].call("POST", f"/v1/tenants/{tid}/keys/rotate", token("regional_admin", region=UK))
    assert status == 200, rotated  # the rotation re-indexes every profile under the new key version
    assert [i["learner_id"] for i in search(api, school, {"family_name": "shelley"})[1]["items"]] == [learner]
    assert len(search(api, school, {"family_name": "Lovelace"})[1]["items"]) == 2  # the others too, new tokens


def test_a_page_of_learners_reads_a_page_of_items_not_the_whole_school(
        api: dict[str, RegionalApi], school: dict[str, Any]) -> None:
    """A page of two reads a few items (the school's first page of a query once held every learner, up to
    1 MB), and the pages still go through every learner once, with an erased one among them."""
    tid = school["tenant_id"]
    assert api[UK].call("DELETE", f"/v1/tenants/{tid}/learners/{school['learners']['Ada Lovelace']}",
                        school["admin"])[0] == 200
    client = api[UK].container.clients.dynamodb(UK)
    read: list[int] = []

    def counted(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query":
            read.append(len(parsed.get("Items", [])))

    client.meta.events.register("after-call.dynamodb.Query", counted)
    seen: list[str] = []
    cursor = ""
    try:
        while True:
            status, listed = api[UK].call("GET", f"/v1/tenants/{tid}/learners?limit=2{cursor}", school["staff"])
            assert status == 200, listed
            assert len(listed["items"]) <= 2
            seen += [item["learner_id"] for item in listed["items"]]
            if not listed["next_cursor"]:
                break
            cursor = f"&cursor={listed['next_cursor']}"
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", counted)
    assert sorted(seen) == sorted(school["learners"].values())
    assert read
    assert max(read) <= 4  # a page of two reads at most twice as many items
