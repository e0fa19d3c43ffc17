"""Learner records through the API: enrolment, look-up, rectification, erasure, results, isolation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.integration.conftest import HOME, Emulated, RegionalApi, TokenFactory

ALICE = {
    "given_name": "Alice", "family_name": "Liddell", "email": "Alice.Liddell@Example.org",
    "date_of_birth": "2012-05-04", "guardian": {"name": "Lorina Liddell", "email": "lorina@example.org"},
    "programme": "Year 8",
}


def learners_path(tenant_id: str) -> str:
    return f"/v1/tenants/{tenant_id}/learners"


@pytest.fixture
def uk_school(onboard: Any, token: TokenFactory) -> dict[str, Any]:
    tenant = onboard("UK")
    tenant["staff"] = token("tenant_staff", tenant["tenant_id"], "eu-west-2")
    tenant["admin"] = token("tenant_admin", tenant["tenant_id"], "eu-west-2")
    return tenant


def enrol(api: RegionalApi, tenant: dict[str, Any], body: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, learner = api.call("POST", learners_path(tenant["tenant_id"]), tenant["staff"], body or ALICE,
                               headers=headers)
    assert status == 201, learner
    return dict(learner)


def test_enrol_read_and_find_by_email(api: dict[str, RegionalApi], uk_school: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    learner = enrol(eu, uk_school)
    assert learner["learner_id"].startswith("lrn_")
    assert learner["email"] == "alice.liddell@example.org"
    assert learner["guardian"] == ALICE["guardian"]
    path = f"{learners_path(uk_school['tenant_id'])}/{learner['learner_id']}"
    status, read = eu.call("GET", path, uk_school["staff"])
    assert status == 200
    assert read == learner
    for spelling in ("alice.liddell@example.org", "ALICE.LIDDELL@EXAMPLE.ORG", " Alice.Liddell@example.org"):
        status, found = eu.call("POST", f"{learners_path(uk_school['tenant_id'])}/search",
                                uk_school["staff"], {"email": spelling.strip()})
        assert status == 200
        assert [item["learner_id"] for item in found["items"]] == [learner["learner_id"]]
    status, found = eu.call("POST", f"{learners_path(uk_school['tenant_id'])}/search",
                            uk_school["staff"], {"email": "alice.liddell@example.com"})
    assert found["items"] == []


@pytest.mark.parametrize(("change", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
    ({"date_of_birth": "1850-01-01"}, "date_of_birth"),
    ({"given_name": "   "}, "given_name"),
    ({"given_name": "x" * 101}, "given_name"),
    ({"given_name": "Al\u202eice"}, "given_name"),
    ({"guardian": {"name": "L"}}, "guardian.email"),
    ({"nickname": "Al"}, "nickname"),
])
def test_invalid_learners_are_422_and_not_stored(api: dict[str, RegionalApi], uk_school: dict[str, Any],
                                                  change: dict[str, Any], field: str) -> None:
    status, body = api["eu-west-2"].call("POST", learners_path(uk_school["tenant_id"]), uk_school["staff"],
                                         {**ALICE, **change})
    assert status == 422
    assert field in [f["field"] for f in body["error"]["fields"]]
    assert "Liddell" not in str(body)
    status, found = api["eu-west-2"].call("POST", f"{learners_path(uk_school['tenant_id'])}/search",
                                          uk_school["staff"], {"email": ALICE['email']})
    assert found["items"] == []


def test_idempotent_enrolment_creates_one_learner(api: dict[str, RegionalApi], uk_school: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    body = {**ALICE, "email": "retry@example.org"}
    first = enrol(eu, uk_school, body, headers={"Idempotency-Key": "enrol-42"})
    second = enrol(eu, uk_school, body, headers={"Idempotency-Key": "enrol-42"})
    assert second["learner_id"] == first["learner_id"]
    status, found = eu.call("POST", f"{learners_path(uk_school['tenant_id'])}/search",
                            uk_school["staff"], {"email": "retry@example.org"})
    assert len(found["items"]) == 1
    status, _body_conflict = eu.call("POST", learners_path(uk_school["tenant_id"]), uk_school["staff"],
                                    {**body, "given_name": "Other"}, headers={"Idempotency-Key": "enrol-42"})
    assert status == 409


def test_rectification_is_versioned_and_conflicts_are_409(api: dict[str, RegionalApi],
                                                         uk_school: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    learner = enrol(eu, uk_school)
    path = f"{learners_path(uk_school['tenant_id'])}/{learner['learner_id']}"
    status, updated = eu.call("PATCH", path, uk_school["admin"], {"family_name": "Hargreaves", "expected_version": 1})
    assert status == 200
    assert updated["family_name"] == "Hargreaves"
    assert updated["version"] == 2
    assert updated["given_name"] == "Alice"
    status, _body = eu.call("PATCH", path, uk_school["admin"], {"family_name": "Stale", "expected_version": 1})
    assert status == 409
    assert eu.call("PATCH", path, uk_school["staff"], {"family_name": "X"})[0] == 403
    assert eu.call("PATCH", path, uk_school["admin"], {})[0] == 422
    status, read = eu.call("GET", path, uk_school["staff"])
    assert read["family_name"] == "Hargreaves"


def test_concurrent_rectifications_never_lose_an_update(api: dict[str, RegionalApi],
                                                       uk_school: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    learner = enrol(eu, uk_school)
    path = f"{learners_path(uk_school['tenant_id'])}/{learner['learner_id']}"
    outcomes: list[int] = []

    def rectify(name: str) -> None:
        outcomes.append(eu.call("PATCH", path, uk_school["admin"], {"programme": name, "expected_version": 1})[0])

    threads = [threading.Thread(target=rectify, args=(f"P{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [200, 409, 409, 409]
    _status, read = eu.call("GET", path, uk_school["staff"])
    assert read["version"] == 2


def test_results_round_trip(api: dict[str, RegionalApi], uk_school: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    learner = enrol(eu, uk_school)
    path = f"{learners_path(uk_school['tenant_id'])}/{learner['learner_id']}/results"
    status, result = eu.call("POST", path, uk_school["staff"],
                             {"assessment": "Algebra mock", "score": 42, "max_score": 50, "taken_on": "2026-10-01"})
    assert status == 201
    assert result["score"] == 42
    assert eu.call("POST", path, uk_school["staff"],
                   {"assessment": "X", "score": 60, "max_score": 50, "taken_on": "2026-10-01"})[0] == 422
    status, listed = eu.call("GET", path, uk_school["staff"])
    assert [r["result_id"] for r in listed["items"]] == [result["result_id"]]


def test_a_retried_result_with_the_same_idempotency_key_is_recorded_once(
        api: dict[str, RegionalApi], uk_school: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    learner = enrol(eu, uk_school)
    path = f"{learners_path(uk_school['tenant_id'])}/{learner['learner_id']}/results"
    body = {"assessment": "Retry mock", "score": 30, "max_score": 50, "taken_on": "2026-10-02"}
    key = {"Idempotency-Key": "result-1"}
    status, first = eu.call("POST", path, uk_school["staff"], body, headers=key)
    assert status == 201, first
    status, again = eu.call("POST", path, uk_school["staff"], body, headers=key)
    assert (status, again) == (201, first)
    status, other = eu.call("POST", path, uk_school["staff"], {**body, "score": 31}, headers=key)
    assert (status, other["error"]["reason"]) == (409, "idempotency_key_reused")
    assert [r["result_id"] for r in eu.call("GET", path, uk_school["staff"])[1]["items"]] == [first["result_id"]]
    assert eu.call("POST", path, uk_school["staff"], body, headers={"Idempotency-Key": "result-2"})[0] == 201


def test_erasure_returns_a_receipt_and_later_reads_are_410(api: dict[str, RegionalApi],
                                                         uk_school: dict[str, Any], token: TokenFactory) -> None:
    eu = api["eu-west-2"]
    learner = enrol(eu, uk_school, {**ALICE, "email": "erase-me@example.org"})
    path = f"{learners_path(uk_school['tenant_id'])}/{learner['learner_id']}"
    assert eu.call("DELETE", path, uk_school["staff"])[0] == 403
    status, receipt = eu.call("DELETE", path, uk_school["admin"])
    assert status == 200
    assert receipt["learner_id"] == learner["learner_id"]
    assert receipt["key_destroyed"] is True
    assert receipt["backups_expire_by"] > receipt["erased_at"]
    status, body = eu.call("GET", path, uk_school["staff"])
    assert status == 410
    assert body["error"]["code"] == "erased"
    assert eu.call("DELETE", path, uk_school["admin"])[0] == 410
    status, found = eu.call("POST", f"{learners_path(uk_school['tenant_id'])}/search",
                            uk_school["staff"], {"email": "erase-me@example.org"})
    assert found["items"] == []
    regional = token("regional_admin", region="eu-west-2")
    other = enrol(eu, uk_school)
    assert eu.call("DELETE", f"{learners_path(uk_school['tenant_id'])}/{other['learner_id']}", regional)[0] == 200


def test_another_tenants_ids_are_404_under_either_path(api: dict[str, RegionalApi], onboard: Any,
                                                      token: TokenFactory) -> None:
    eu = api["eu-west-2"]
    a, b = onboard("UK"), onboard("UK")
    a["staff"] = token("tenant_staff", a["tenant_id"], "eu-west-2")
    b["staff"] = token("tenant_staff", b["tenant_id"], "eu-west-2")
    b_learner = enrol(eu, b)
    # B's learner under A's path, with A's token: A's tenant has no such learner
    status, body = eu.call("GET", f"{learners_path(a['tenant_id'])}/{b_learner['learner_id']}", a["staff"])
    assert status == 404
    # B's path with A's token: B is not A's tenant
    status, body = eu.call("GET", f"{learners_path(b['tenant_id'])}/{b_learner['learner_id']}", a["staff"])
    assert status == 404
    assert "Liddell" not in str(body)
    assert eu.call("POST", f"{learners_path(b['tenant_id'])}/search", a["staff"], {"email": ALICE['email']})[0] == 404
    assert eu.call("POST", learners_path(b["tenant_id"]), a["staff"], ALICE)[0] == 404


def test_personal_data_routes_sent_to_another_region_are_421(api: dict[str, RegionalApi],
                                                            uk_school: dict[str, Any]) -> None:
    for region in set(HOME.values()) - {"eu-west-2"}:
        status, body = api[region].call("POST", f"{learners_path(uk_school['tenant_id'])}/search",
                                        uk_school["staff"], {"email": "a@b.example"})
        assert status == 421
        assert body["error"]["home_region"] == "eu-west-2"
        assert body["error"]["endpoint"] == "https://eu-west-2.enclave.test"


def search(api: RegionalApi, tenant: dict[str, Any], email: Any) -> tuple[int, Any]:
    return api.call("POST", f"{learners_path(tenant['tenant_id'])}/search", tenant["staff"], {"email": email})


def test_the_e_mail_look_up_in_a_url_is_gone_and_makes_no_look_up(api: dict[str, RegionalApi],
                                                                  uk_school: dict[str, Any],
                                                                  emulated: Emulated) -> None:
    eu = api["eu-west-2"]
    enrol(eu, uk_school, {**ALICE, "email": "in-url@example.org"})
    queries: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        queries.append(f"{model.name} {params.get('TableName', '')}")

    events = emulated.clients.dynamodb("eu-west-2").meta.events
    events.register("before-call.dynamodb", record)
    try:
        status, body = eu.call("GET", f"{learners_path(uk_school['tenant_id'])}?email=in-url%40example.org",
                               uk_school["staff"])
    finally:
        events.unregister("before-call.dynamodb", record)
    assert status == 410
    assert body["error"]["code"] == "gone"
    assert "POST /v1/tenants/{tenant_id}/learners/search" in body["error"]["message"]
    assert "in-url" not in str(body)
    # at most the directory's entry of the tenant (authorization, home region): no index query, no audit write
    assert [query for query in queries if "directory" not in query] == []


def test_the_withdrawn_look_up_on_another_region_still_answers_421(api: dict[str, RegionalApi],
                                                                    uk_school: dict[str, Any]) -> None:
    """Clients learn where the tenant lives first (API.md: 421 on the wrong region), then that the form moved."""
    status, body = api["ap-southeast-1"].call(
        "GET", f"{learners_path(uk_school['tenant_id'])}?email=a%40b.example", uk_school["staff"])
    assert status == 421, body
    assert body["error"]["home_region"] == "eu-west-2"


@pytest.mark.parametrize("email", ["", "   ", "not-an-email", "a@b", None, 42, "x" * 300 + "@example.org"])
def test_a_blank_or_invalid_search_address_is_422(api: dict[str, RegionalApi], uk_school: dict[str, Any],
                                                  email: Any) -> None:
    status, body = search(api["eu-west-2"], uk_school, email)
    assert status == 422, body
    assert body["error"]["fields"][0]["field"] == "email"


def test_search_re_checks_each_hit_against_the_decrypted_address(api: dict[str, RegionalApi],
                                                                 uk_school: dict[str, Any],
                                                                 emulated: Emulated) -> None:
    """A by_lookup index lags behind a rectification: a stale entry must not answer for the new address."""
    eu = api["eu-west-2"]
    kept = enrol(eu, uk_school, {**ALICE, "email": "kept@example.org"})
    moved = enrol(eu, uk_school, {**ALICE, "email": "moved@example.org"})
    dynamodb = emulated.clients.dynamodb("eu-west-2")
    key = {"pk": {"S": f"TENANT#{uk_school['tenant_id']}"}}
    kept_item = dynamodb.get_item(TableName="enclave-data-uk",
                                  Key={**key, "sk": {"S": f"L#{kept['learner_id']}#P"}})["Item"]
    # the index still shows the other learner under kept@'s token, as a lagging GSI would
    dynamodb.update_item(TableName="enclave-data-uk", Key={**key, "sk": {"S": f"L#{moved['learner_id']}#P"}},
                         UpdateExpression="SET lookup_pk = :k",
                         ExpressionAttributeValues={":k": kept_item["lookup_pk"]})
    status, found = search(eu, uk_school, "KEPT@example.org")
    assert status == 200
    assert [item["learner_id"] for item in found["items"]] == [kept["learner_id"]]


ALLOWED_PATH_AND_QUERY_NAMES = {
    "tenant_id", "learner_id", "request_id", "hold_id", "incident_id", "import_id", "code",  # opaque ids, codes
    "key",  # an obligation's key from the law pack ("ferpa-annual-notification")
    "from", "to", "format", "overdue", "due_soon", "due_within_days", "active", "dry_run", "seq", "confirm",
    "cursor", "limit", "action", "outcome",  # paging (base64url of an opaque id), audit filters
    "status", "sort", "due_before",  # list filters: enumerated values and a date
    "actor",  # a Cognito sub (opaque) or a role name, as the audit events themselves hold it
    "unread",  # the inbox filter: true or false
    "webhook_id", "delivery_id",  # opaque ids of a webhook endpoint and of one delivery to it
}


def test_no_route_takes_a_personal_value_in_its_path_or_query(api: dict[str, RegionalApi]) -> None:
    """URLs reach API Gateway's X-Ray traces and access logs: only names on a non-personal allow-list
    (``?email=`` on GET .../learners is no parameter of the route: the view answers 410 when it is sent)."""
    import re

    import app as app_module

    status, document = api["us-east-1"].call("GET", "/v1/openapi.json")
    assert status == 200
    names = {(method.upper(), path, parameter["name"])
             for path, operations in document["paths"].items() for method, operation in operations.items()
             for parameter in operation.get("parameters", []) if parameter["in"] in ("path", "query")}
    names |= {(spec.method, spec.path, name) for spec in app_module.api.specs
              for name in (*re.findall(r"{(\w+)}", spec.path), *spec.query)}
    assert names
    assert {entry for entry in names if entry[2] not in ALLOWED_PATH_AND_QUERY_NAMES} == set()


def test_idempotency_records_hold_nothing_derived_from_personal_fields(
        api: dict[str, RegionalApi], uk_school: dict[str, Any], emulated: Emulated) -> None:
    """A fingerprint of the personal fields would outlive the learner's erasure (it is keyed by the tenant)."""
    eu = api["eu-west-2"]
    first = enrol(eu, uk_school, {**ALICE, "email": "fp-one@example.org"}, headers={"Idempotency-Key": "fp-1"})
    enrol(eu, uk_school, {**ALICE, "given_name": "Edith", "email": "fp-two@example.org",
                          "guardian": {"name": "Other Person", "email": "other@example.org"}},
          headers={"Idempotency-Key": "fp-2"})
    dynamodb = emulated.clients.dynamodb("eu-west-2")
    table = next(t for t in dynamodb.list_tables()["TableNames"] if "idempotency" in t)
    records = [item for item in dynamodb.scan(TableName=table)["Items"]
               if item["key"]["S"].startswith(uk_school["tenant_id"])]
    assert len(records) == 2
    assert len({item["fingerprint"]["S"] for item in records}) == 1  # the bodies differ only in personal fields
    # a retry with other personal values is still refused: compared with the stored record, decrypted
    status, body = eu.call("POST", learners_path(uk_school["tenant_id"]), uk_school["staff"],
                           {**ALICE, "email": "fp-one@example.org", "family_name": "Changed"},
                           headers={"Idempotency-Key": "fp-1"})
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert body["error"]["reason"] == "idempotency_key_reused"
    assert enrol(eu, uk_school, {**ALICE, "email": "fp-one@example.org"},
                 headers={"Idempotency-Key": "fp-1"})["learner_id"] == first["learner_id"]
    # once the learner is erased, a replay finds nothing to compare with: 410, not a match on a stale digest
    assert eu.call("DELETE", f"{learners_path(uk_school['tenant_id'])}/{first['learner_id']}",
                   uk_school["admin"])[0] == 200
    status, body = eu.call("POST", learners_path(uk_school["tenant_id"]), uk_school["staff"],
                           {**ALICE, "email": "fp-one@example.org"}, headers={"Idempotency-Key": "fp-1"})
    assert status == 410, body


def test_an_erasure_finding_no_key_says_key_destroyed_false(api: dict[str, RegionalApi], uk_school: dict[str, Any],
                                                             emulated: Emulated) -> None:
    """``key_destroyed`` is true only when this erasure deleted a key (here it was already missing)."""
    eu = api["eu-west-2"]
    learner = enrol(eu, uk_school, {**ALICE, "email": "keyless@example.org"})
    emulated.clients.dynamodb("eu-west-2").delete_item(TableName="enclave-keys-uk", Key={
        "pk": {"S": f"TENANT#{uk_school['tenant_id']}"}, "sk": {"S": f"L#{learner['learner_id']}#K"}})
    status, receipt = eu.call("DELETE", f"{learners_path(uk_school['tenant_id'])}/{learner['learner_id']}",
                              uk_school["admin"])
    assert status == 200, receipt
    assert receipt["key_destroyed"] is False
    assert receipt["key_fingerprint"] == ""
