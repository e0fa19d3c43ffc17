"""Learner records through the API: enrolment, look-up, rectification, erasure, results, isolation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import HOME, RegionalApi, TokenFactory

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
        status, found = eu.call("GET", f"{learners_path(uk_school['tenant_id'])}?email={spelling.strip()}",
                                uk_school["staff"])
        assert status == 200
        assert [item["learner_id"] for item in found["items"]] == [learner["learner_id"]]
    status, found = eu.call("GET", f"{learners_path(uk_school['tenant_id'])}?email=alice.liddell@example",
                            uk_school["staff"])
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
    status, found = api["eu-west-2"].call("GET", f"{learners_path(uk_school['tenant_id'])}?email={ALICE['email']}",
                                          uk_school["staff"])
    assert found["items"] == []


def test_idempotent_enrolment_creates_one_learner(api: dict[str, RegionalApi], uk_school: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    body = {**ALICE, "email": "retry@example.org"}
    first = enrol(eu, uk_school, body, headers={"Idempotency-Key": "enrol-42"})
    second = enrol(eu, uk_school, body, headers={"Idempotency-Key": "enrol-42"})
    assert second["learner_id"] == first["learner_id"]
    status, found = eu.call("GET", f"{learners_path(uk_school['tenant_id'])}?email=retry@example.org",
                            uk_school["staff"])
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
    status, found = eu.call("GET", f"{learners_path(uk_school['tenant_id'])}?email=erase-me@example.org",
                            uk_school["staff"])
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
    assert eu.call("GET", f"{learners_path(b['tenant_id'])}?email={ALICE['email']}", a["staff"])[0] == 404
    assert eu.call("POST", learners_path(b["tenant_id"]), a["staff"], ALICE)[0] == 404


def test_personal_data_routes_sent_to_another_region_are_421(api: dict[str, RegionalApi],
                                                            uk_school: dict[str, Any]) -> None:
    for region in set(HOME.values()) - {"eu-west-2"}:
        status, body = api[region].call("GET", f"{learners_path(uk_school['tenant_id'])}?email=a@b.example",
                                        uk_school["staff"])
        assert status == 421
        assert body["error"]["home_region"] == "eu-west-2"
        assert body["error"]["endpoint"] == "https://eu-west-2.enclave.test"
