"""Single-learner writes: one DynamoDB round trip when warm; an erasure, restriction or hold in between still wins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.consents import ConsentCreate
from chalicelib.domain.errors import ProcessingRestricted
from chalicelib.domain.identity import Principal, Role
from chalicelib.services.consents import ConsentService
from chalicelib.services.context import Caller
from tests.conftest import moto_jwks
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings

REGION = "eu-west-2"
RESULT = {"assessment": "Latin", "score": 1, "max_score": 2, "taken_on": "2026-01-05"}


class Calls:
    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, model: Any, **kwargs: Any) -> None:
        self.names.append(model.name)


@contextmanager
def counted(emulated: Emulated) -> Iterator[Calls]:
    """The DynamoDB calls made inside the block (any container: they share the emulator's clients)."""
    client, calls = emulated.clients.dynamodb(REGION), Calls()
    client.meta.events.register("before-call.dynamodb", calls)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.dynamodb", calls)


def _own_container(emulated: Emulated) -> RegionalApi:
    """A second warm container of the region, whose caches are its own."""
    return RegionalApi(composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                             key_source=StaticKeySource(moto_jwks()),
                                             jurisdictions=emulated.jurisdictions))


@dataclass
class Warm:
    """A tenant, its staff, admin and regional admin tokens, and a warm second container (``mine``) of the region."""

    tid: str
    staff: str
    admin: str
    regional: str
    mine: RegionalApi
    other: RegionalApi

    @property
    def learners(self) -> str:
        return f"/v1/tenants/{self.tid}/learners"

    def enrol(self) -> str:
        """A learner enrolled (by the other container), then read once by ``mine``: tenant keys and the
        learner's wrapped key are in ``mine``'s caches."""
        learner_id: str = self.other.call("POST", self.learners, self.staff, ALICE)[1]["learner_id"]
        assert self.mine.call("GET", f"{self.learners}/{learner_id}", self.staff)[0] == 200
        return learner_id

    def erase(self, learner_id: str) -> None:
        """Another container erases the learner (``mine``'s caches do not hear of it)."""
        assert self.other.call("DELETE", f"{self.learners}/{learner_id}", self.admin)[0] == 200


@pytest.fixture
def warm(api: dict[str, RegionalApi], emulated: Emulated, onboard: Any, token: TokenFactory) -> Warm:
    tid = onboard("UK")["tenant_id"]
    return Warm(tid, token("tenant_staff", tid, REGION), token("tenant_admin", tid, REGION),
                token("regional_admin", region=REGION), _own_container(emulated), api[REGION])


def _data(emulated: Emulated) -> DataStore:
    return composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                 jurisdictions=emulated.jurisdictions).data_store


def test_a_warm_result_write_is_one_round_trip_and_an_erasure_elsewhere_still_wins(
        api: dict[str, RegionalApi], emulated: Emulated, onboard: Any, token: TokenFactory) -> None:
    tid = onboard("UK")["tenant_id"]
    staff, admin = token("tenant_staff", tid, REGION), token("tenant_admin", tid, REGION)
    mine = _own_container(emulated)
    learners = f"/v1/tenants/{tid}/learners"
    lid = mine.call("POST", learners, staff, ALICE)[1]["learner_id"]
    assert mine.call("GET", f"{learners}/{lid}", staff)[0] == 200   # warms this container

    with counted(emulated) as calls:
        assert mine.call("POST", f"{learners}/{lid}/results", staff, RESULT)[0] == 201
    assert calls.names == ["TransactWriteItems"]

    assert api[REGION].call("DELETE", f"{learners}/{lid}", admin)[0] == 200   # another container erases
    status, body = mine.call("POST", f"{learners}/{lid}/results", staff, RESULT)
    assert status == 410, body
    items = _data(emulated).records("UK", tid, lid, "R")
    assert len(items) == 1   # only the result written before the erasure


def test_a_result_right_after_enrolment_is_one_round_trip_and_an_erasure_elsewhere_still_wins(
        api: dict[str, RegionalApi], emulated: Emulated, onboard: Any, token: TokenFactory) -> None:
    """The container that enrolled the learner keeps the wrapped key it stored, as a read would have."""
    tid = onboard("UK")["tenant_id"]
    staff, admin = token("tenant_staff", tid, REGION), token("tenant_admin", tid, REGION)
    mine = _own_container(emulated)
    learners = f"/v1/tenants/{tid}/learners"
    lid = mine.call("POST", learners, staff, ALICE)[1]["learner_id"]
    with counted(emulated) as calls:
        assert mine.call("POST", f"{learners}/{lid}/results", staff, RESULT)[0] == 201
        status, body = mine.call("GET", f"{learners}/{lid}/results", staff)
    assert calls.names == ["TransactWriteItems", "Query", "PutItem"]
    assert [item["assessment"] for item in body["items"]] == ["Latin"]

    erased = mine.call("POST", learners, staff, ALICE)[1]["learner_id"]
    assert api[REGION].call("DELETE", f"{learners}/{erased}", admin)[0] == 200   # another container erases
    status, body = mine.call("POST", f"{learners}/{erased}/results", staff, RESULT)
    assert status == 410, body
    assert _data(emulated).records("UK", tid, erased, "R") == []


def test_a_warm_results_read_needs_no_key_read_and_an_erasure_elsewhere_still_answers_410(
        api: dict[str, RegionalApi], emulated: Emulated, onboard: Any, token: TokenFactory) -> None:
    """The wrapped key comes from the short cache; the data query's profile decides whether the learner is live."""
    tid = onboard("UK")["tenant_id"]
    staff, admin = token("tenant_staff", tid, REGION), token("tenant_admin", tid, REGION)
    mine = _own_container(emulated)
    learners = f"/v1/tenants/{tid}/learners"
    lid = mine.call("POST", learners, staff, ALICE)[1]["learner_id"]
    assert mine.call("POST", f"{learners}/{lid}/results", staff, RESULT)[0] == 201
    assert mine.call("GET", f"{learners}/{lid}", staff)[0] == 200   # warms this container

    with counted(emulated) as calls:
        status, body = mine.call("GET", f"{learners}/{lid}/results", staff)
    assert status == 200
    assert [item["assessment"] for item in body["items"]] == ["Latin"]
    assert calls.names == ["Query", "PutItem"]   # the learner's records, then the read's audit event

    assert api[REGION].call("DELETE", f"{learners}/{lid}", admin)[0] == 200   # another container erases
    status, body = mine.call("GET", f"{learners}/{lid}/results", staff)
    assert status == 410, body


# -- a departure: no read first ---------------------------------------------------------------------

def test_a_departure_is_one_round_trip_and_an_erasure_before_it_still_answers_410(
        warm: Warm, emulated: Emulated) -> None:
    lid = warm.enrol()
    path = f"{warm.learners}/{lid}/departure"
    with counted(emulated) as calls:
        status, body = warm.mine.call("PUT", path, warm.admin, {"left_on": "2026-01-05"})
    assert status == 200, body
    assert calls.names == ["TransactWriteItems"]

    erased = warm.enrol()
    warm.erase(erased)
    status, body = warm.mine.call("PUT", f"{warm.learners}/{erased}/departure", warm.admin, {"left_on": "2026-01-05"})
    assert (status, body["error"]["code"]) == (410, "erased")
    departure = f"L#{erased}#D"
    assert list(_data(emulated).items_between("UK", warm.tid, departure, departure)) == []   # nothing written
    unknown = f"{warm.learners}/lrn_{'a' * 26}/departure"
    status, body = warm.mine.call("PUT", unknown, warm.admin, {"left_on": "2026-01-05"})
    assert (status, body["error"]["code"]) == (404, "not_found")


# -- a data-subject request: no read first ------------------------------------------------------------

def test_recording_a_request_is_one_round_trip_and_an_erasure_before_it_still_answers_410(
        warm: Warm, emulated: Emulated) -> None:
    requests = f"/v1/tenants/{warm.tid}/requests"
    lid = warm.enrol()
    with counted(emulated) as calls:
        status, body = warm.mine.call("POST", requests, warm.admin, {"learner_id": lid, "type": "rectification"})
    assert status == 201, body
    assert calls.names == ["TransactWriteItems"]
    keyed = {"Idempotency-Key": "letter-7"}
    again = warm.mine.call("POST", requests, warm.admin, {"learner_id": lid, "type": "rectification"},
                           headers=keyed)[1]
    assert warm.mine.call("POST", requests, warm.admin, {"learner_id": lid, "type": "rectification"},
                          headers=keyed)[1]["request_id"] == again["request_id"]   # a retry still replays

    erased = warm.enrol()
    warm.erase(erased)
    status, body = warm.mine.call("POST", requests, warm.admin, {"learner_id": erased, "type": "rectification"})
    assert (status, body["error"]["code"]) == (410, "erased")
    stored = list(_data(emulated).items_between("UK", warm.tid, "Q#", "Q#~"))
    assert len(stored) == 2   # the two above
    assert erased not in str(stored)   # nothing recorded about the erased learner
    status, body = warm.mine.call("POST", requests, warm.admin, {"learner_id": f"lrn_{'a' * 26}", "type": "access"})
    assert (status, body["error"]["code"]) == (404, "not_found")


# -- a legal hold: no read first ----------------------------------------------------------------------

def test_placing_a_hold_is_one_round_trip_and_an_erasure_before_it_still_answers_410(
        warm: Warm, emulated: Emulated) -> None:
    holds = f"/v1/tenants/{warm.tid}/legal-holds"
    lid = warm.enrol()
    with counted(emulated) as calls:
        status, body = warm.mine.call("POST", holds, warm.regional, {"reason": "Tribunal", "learner_id": lid})
    assert status == 201, body
    assert calls.names == ["TransactWriteItems"]
    keyed = {"Idempotency-Key": "case-9"}
    first = warm.mine.call("POST", holds, warm.regional, {"reason": "Appeal", "learner_id": lid}, headers=keyed)[1]
    again = warm.mine.call("POST", holds, warm.regional, {"reason": "Appeal", "learner_id": lid}, headers=keyed)
    assert again[1]["hold_id"] == first["hold_id"]   # a retry still replays
    status, body = warm.mine.call("POST", holds, warm.regional, {"reason": "Other", "learner_id": lid}, headers=keyed)
    assert (status, body["error"]["reason"]) == (409, "idempotency_key_reused")

    erased = warm.enrol()
    warm.erase(erased)
    status, body = warm.mine.call("POST", holds, warm.regional, {"reason": "Tribunal", "learner_id": erased})
    assert (status, body["error"]["code"]) == (410, "erased")
    status, body = warm.mine.call("POST", holds, warm.regional, {"reason": "Tribunal", "learner_id": f"lrn_{'a' * 26}"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    listed = warm.mine.call("GET", holds, warm.regional)[1]["items"]
    assert [hold.get("learner_id") for hold in listed] == [lid, lid]   # nothing held on the erased or unknown one


# -- erasure: the cached key's fingerprint, the hold markers in the transaction --------------------------

def test_a_warm_erasure_is_one_round_trip_and_names_the_key_it_destroyed(warm: Warm, emulated: Emulated) -> None:
    warm.mine.call("DELETE", f"{warm.learners}/{warm.enrol()}", warm.admin)   # the tenant's holds looked at once
    lid = warm.enrol()
    key = _data(emulated).learner_key_item("UK", warm.tid, lid)
    assert key is not None
    with counted(emulated) as calls:
        status, receipt = warm.mine.call("DELETE", f"{warm.learners}/{lid}", warm.admin)
    assert status == 200, receipt
    assert calls.names == ["TransactWriteItems"]
    assert receipt["key_destroyed"] is True
    assert receipt["key_fingerprint"] == key["fingerprint"]["S"]
    assert _data(emulated).learner_key_item("UK", warm.tid, lid) is None
    assert warm.other.call("GET", f"{warm.learners}/{lid}", warm.staff)[0] == 410
    status, body = warm.mine.call("DELETE", f"{warm.learners}/{lid}", warm.admin)
    assert (status, body["error"]["code"]) == (410, "erased")


def test_an_erasure_elsewhere_after_the_key_was_cached_still_answers_410(warm: Warm) -> None:
    lid = warm.enrol()
    warm.erase(lid)
    status, body = warm.mine.call("DELETE", f"{warm.learners}/{lid}", warm.admin)
    assert (status, body["error"]["code"]) == (410, "erased")
    status, body = warm.mine.call("DELETE", f"{warm.learners}/lrn_{'a' * 26}", warm.admin)
    assert (status, body["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("scope", ["learner", "tenant"])
def test_a_hold_placed_elsewhere_after_the_key_was_cached_still_blocks_the_erasure(
        warm: Warm, emulated: Emulated, scope: str) -> None:
    warm.mine.call("DELETE", f"{warm.learners}/{warm.enrol()}", warm.admin)   # "no uncounted hold" remembered
    lid = warm.enrol()
    hold = {"reason": "Tribunal", **({"learner_id": lid} if scope == "learner" else {})}
    assert warm.other.call("POST", f"/v1/tenants/{warm.tid}/legal-holds", warm.regional, hold)[0] == 201
    with counted(emulated) as calls:
        status, body = warm.mine.call("DELETE", f"{warm.learners}/{lid}", warm.admin)
    assert (status, body["error"]["code"]) == (409, "legal_hold_active")
    assert calls.names == ["TransactWriteItems"]   # refused by the marker's check, nothing written
    assert warm.other.call("GET", f"{warm.learners}/{lid}", warm.staff)[0] == 200
    assert _data(emulated).learner_key_item("UK", warm.tid, lid) is not None


def test_a_hold_no_marker_counts_still_blocks_the_erasure(warm: Warm, emulated: Emulated) -> None:
    """A hold placed before the markers existed: the erasure still asks for such holds (until a tenant has none)."""
    lid = warm.enrol()
    status, hold = warm.other.call("POST", f"/v1/tenants/{warm.tid}/legal-holds", warm.regional,
                                   {"reason": "Old case", "learner_id": lid})
    assert status == 201
    data, client = _data(emulated), emulated.clients.dynamodb(REGION)
    pk = {"S": f"TENANT#{warm.tid}"}
    client.update_item(TableName=data.table("UK"), Key={"pk": pk, "sk": {"S": f"H#{hold['hold_id']}"}},
                       UpdateExpression="REMOVE marked, any_marked")   # as a hold placed before markers
    for marker in (f"HM#{lid}", "HM#any"):
        client.update_item(TableName=data.table("UK"), Key={"pk": pk, "sk": {"S": marker}},
                           UpdateExpression="ADD active :d", ExpressionAttributeValues={":d": {"N": "-1"}})
    status, body = warm.mine.call("DELETE", f"{warm.learners}/{lid}", warm.admin)
    assert (status, body["error"]["code"]) == (409, "legal_hold_active")
    assert warm.other.call("GET", f"{warm.learners}/{lid}", warm.staff)[0] == 200


# -- a consent decision: the date of birth and the ledger in one query, the key from the cache --------------

CONSENT = {"purpose": "analytics", "decision": "granted", "given_by": "learner"}


def test_a_warm_consent_is_one_round_trip(warm: Warm, emulated: Emulated) -> None:
    """The date of birth and the learner's decisions so far (their summary on the profile) come from the profile
    read here: one write; the next decision builds on the profile as that write left it."""
    lid = warm.enrol()
    with counted(emulated) as calls:
        status, body = warm.mine.call("POST", f"{warm.learners}/{lid}/consents", warm.staff, CONSENT)
    assert status == 201, body
    assert calls.names == ["TransactWriteItems"]
    with counted(emulated) as calls:
        status, later = warm.mine.call("POST", f"{warm.learners}/{lid}/consents", warm.staff,
                                       {**CONSENT, "decision": "withdrawn"})
    assert status == 201, later
    assert calls.names == ["TransactWriteItems"]
    assert later["at"] > body["at"]
    current = warm.other.call("GET", f"{warm.learners}/{lid}/consents", warm.staff)[1]["current"]
    assert current["analytics"]["decision"] == "withdrawn"


def test_a_cold_consent_reads_profile_and_key_once(warm: Warm, emulated: Emulated) -> None:
    """Not read here within the minute: one read of profile and key (the consent age needs the decrypted date of
    birth; the decisions' summary rides on the profile), one write."""
    warm.enrol()   # the tenant's keys are warm here; the learner below is not
    lid = warm.other.call("POST", warm.learners, warm.staff, ALICE)[1]["learner_id"]
    with counted(emulated) as calls:
        status, body = warm.mine.call("POST", f"{warm.learners}/{lid}/consents", warm.staff, CONSENT)
    assert status == 201, body
    assert calls.names == ["BatchGetItem", "TransactWriteItems"]


def test_a_decision_counted_elsewhere_after_the_read_is_built_on_not_lost(warm: Warm, emulated: Emulated,
                                                                         token: TokenFactory) -> None:
    """The summary this container cached is stale (another container decided since): the write is refused
    and the next attempt reads the ledger, so the counts move from the decision really in force."""
    lid = warm.enrol()
    path = f"{warm.learners}/{lid}/consents"
    assert warm.mine.call("GET", f"{warm.learners}/{lid}", warm.staff)[0] == 200  # cached here
    assert warm.other.call("POST", path, warm.staff, CONSENT)[0] == 201  # granted, elsewhere
    with counted(emulated) as calls:
        status, body = warm.mine.call("POST", path, warm.staff, {**CONSENT, "decision": "withdrawn"})
    assert status == 201, body
    assert calls.names[0] == "TransactWriteItems"  # the warm attempt, refused
    assert calls.names[-1] == "TransactWriteItems"
    assert "Query" in calls.names  # the ledger read for the second attempt
    officer = token("compliance_officer", region=REGION)
    purposes = warm.mine.call("GET", f"/v1/tenants/{warm.tid}/consents/coverage", officer)[1]["purposes"]
    analytics = next(p for p in purposes if p["purpose"] == "analytics")
    assert (analytics["granted"], analytics["not_granted"]) == (0, 1)


def test_a_birth_date_rectified_elsewhere_after_the_read_decides_the_consent_age(warm: Warm) -> None:
    lid = warm.enrol()
    assert warm.other.call("PATCH", f"{warm.learners}/{lid}", warm.admin, {"date_of_birth": "2020-01-01"})[0] == 200
    status, body = warm.mine.call("POST", f"{warm.learners}/{lid}/consents", warm.staff, CONSENT)
    assert (status, body["error"]["code"]) == (422, "validation_failed"), body   # a six-year-old cannot consent
    assert warm.other.call("GET", f"{warm.learners}/{lid}/consents", warm.staff)[1]["history"] == []


def test_a_decision_recorded_elsewhere_after_the_read_stays_earlier(warm: Warm, emulated: Emulated) -> None:
    lid = warm.enrol()
    path = f"{warm.learners}/{lid}/consents"
    first = warm.other.call("POST", path, warm.staff, CONSENT)[1]
    status, second = warm.mine.call("POST", path, warm.staff, {**CONSENT, "decision": "withdrawn"})
    assert status == 201, second
    assert second["at"] > first["at"]
    assert warm.mine.call("PATCH", f"{warm.learners}/{lid}", warm.admin, {"programme": "Year 9"})[0] == 200
    status, third = warm.other.call("POST", path, warm.staff, CONSENT)   # the rectification kept the order
    assert status == 201, third
    assert third["at"] > second["at"]
    current = warm.mine.call("GET", path, warm.staff)[1]["current"]
    assert current["analytics"]["consent_id"] == third["consent_id"]


def test_a_warm_research_share_is_one_query_and_the_conditioned_audit_event(warm: Warm, emulated: Emulated) -> None:
    """Consents, profile and results in one query; the event's transaction still checks the learner exists."""
    lid = warm.other.call("POST", warm.learners, warm.staff, {**ALICE, "date_of_birth": "2008-01-01"})[1]["learner_id"]
    assert warm.other.call("POST", f"{warm.learners}/{lid}/results", warm.staff, {
        "assessment": "Algebra", "score": 17, "max_score": 20, "taken_on": "2026-03-02"})[0] == 201
    assert warm.other.call("POST", f"{warm.learners}/{lid}/consents", warm.staff,
                           {**CONSENT, "purpose": "research"})[0] == 201
    assert warm.mine.call("GET", f"{warm.learners}/{lid}", warm.staff)[0] == 200
    with counted(emulated) as calls:
        status, body = warm.mine.call("POST", f"{warm.learners}/{lid}/results/research-share", warm.staff)
    assert status == 200, body
    assert calls.names == ["Query", "TransactWriteItems"]
    assert [r["score"] for r in body["results"]] == [17]
    warm.erase(lid)
    status, body = warm.mine.call("POST", f"{warm.learners}/{lid}/results/research-share", warm.staff)
    assert (status, body["error"]["code"]) == (410, "erased")


def test_a_package_fulfilled_here_downloads_with_one_dynamodb_call_and_an_erasure_elsewhere_still_wins(
        warm: Warm, emulated: Emulated, onboard: Any) -> None:
    lid = warm.enrol()
    requests = f"/v1/tenants/{warm.tid}/requests"
    status, created = warm.mine.call("POST", requests, warm.admin, {"learner_id": lid, "type": "access"})
    assert (status, created["status"]) == (201, "fulfilled"), created
    package = f"{requests}/{created['request_id']}/package"
    with counted(emulated) as calls:
        status, body = warm.mine.call("GET", package, warm.admin)
    assert status == 200, body
    assert calls.names == ["TransactWriteItems"]   # the audit event, checking the key still exists
    other = warm.enrol()
    with counted(emulated) as calls:   # fulfilled at once on a learner read here: its key from the cache
        status, again = warm.mine.call("POST", requests, warm.admin, {"learner_id": other, "type": "access"})
    assert (status, again["status"]) == (201, "fulfilled"), again
    assert "GetItem" not in calls.names
    assert body["profile"]["family_name"] == ALICE["family_name"]

    other_tid = onboard("UK")["tenant_id"]   # the cached request is this tenant's only
    other_admin_path = f"/v1/tenants/{other_tid}/requests/{created['request_id']}/package"
    assert warm.mine.call("GET", other_admin_path, warm.regional)[0] in (403, 404)

    warm.erase(lid)
    status, body = warm.mine.call("GET", package, warm.admin)
    assert (status, body["error"]["code"], body["error"]["reason"]) == (410, "erased", "learner_erased"), body


def test_closing_a_rectification_written_here_is_one_round_trip(warm: Warm, emulated: Emulated) -> None:
    """The request written here and the profile rectified here within the minute: no read, no audit scan."""
    lid = warm.enrol()
    requests = f"/v1/tenants/{warm.tid}/requests"
    request_id = warm.mine.call("POST", requests, warm.admin, {"learner_id": lid, "type": "rectification"})[1][
        "request_id"]
    assert warm.mine.call("PATCH", f"{warm.learners}/{lid}", warm.admin, {"family_name": "Hargreaves"})[0] == 200
    with counted(emulated) as calls:
        status, closed = warm.mine.call("POST", f"{requests}/{request_id}/fulfil", warm.admin, {})
    assert status == 200, closed
    assert calls.names == ["TransactWriteItems"]
    assert (closed["status"], closed["outcome"]["rectified_versions"]) == ("fulfilled", [2])


def test_a_rectification_or_pause_elsewhere_after_the_cached_copies_still_counts(warm: Warm) -> None:
    lid = warm.enrol()
    requests = f"/v1/tenants/{warm.tid}/requests"
    request_id = warm.mine.call("POST", requests, warm.admin, {"learner_id": lid, "type": "rectification"})[1][
        "request_id"]
    assert warm.mine.call("PATCH", f"{warm.learners}/{lid}", warm.admin, {"family_name": "Hargreaves"})[0] == 200
    assert warm.other.call("PATCH", f"{warm.learners}/{lid}", warm.admin, {"programme": "Year 9"})[0] == 200
    status, closed = warm.mine.call("POST", f"{requests}/{request_id}/fulfil", warm.admin, {})
    assert status == 200, closed
    assert closed["outcome"]["rectified_versions"] == [2, 3]   # the cached profile was stale: read again

    paused = warm.mine.call("POST", requests, warm.admin, {"learner_id": lid, "type": "rectification"})[1][
        "request_id"]
    assert warm.mine.call("PATCH", f"{warm.learners}/{lid}", warm.admin, {"programme": "Year 10"})[0] == 200
    assert warm.other.call("POST", f"{requests}/{paused}/pause", warm.admin, {"reason": "identity"})[0] == 200
    status, body = warm.mine.call("POST", f"{requests}/{paused}/fulfil", warm.admin, {})
    assert (status, body["error"]["reason"]) == (409, "request_paused"), body


class RestrictingAudit:
    """The audit store as the consent service sees it, with a restriction landing just before its commit."""

    def __init__(self, inner: Any, restrict: Any) -> None:
        self._inner, self._restrict = inner, restrict

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        self._restrict()
        return self._inner.commit(*args, **kwargs)


def test_an_erasure_or_restriction_after_a_consents_read_still_refuses_it(warm: Warm, emulated: Emulated) -> None:
    lid = warm.enrol()
    warm.erase(lid)
    status, body = warm.mine.call("POST", f"{warm.learners}/{lid}/consents", warm.staff, CONSENT)
    assert (status, body["error"]["code"]) == (410, "erased")

    restricted = warm.enrol()
    container = warm.mine.container
    requests = f"/v1/tenants/{warm.tid}/requests"
    racing = ConsentService(container.access, container.data_store, container.learners,
                            RestrictingAudit(container.audit_store, lambda: warm.other.call(   # type: ignore[arg-type]
                                "POST", requests, warm.admin, {"learner_id": restricted, "type": "restriction"})),
                            container.jurisdictions, container.clock, container.idempotent)
    principal = Principal("race-staff", "race-staff", Role.TENANT_STAFF, REGION, warm.tid)
    with pytest.raises(ProcessingRestricted):
        racing.record(Caller(principal, "req-consent"), warm.tid, restricted, ConsentCreate(**CONSENT))
    assert _data(emulated).records("UK", warm.tid, restricted, "C") == []   # nothing written


# -- a rectification after a read: the profile item (ciphertext) and wrapped key from the short caches -------

def test_a_rectification_after_a_read_is_one_round_trip(warm: Warm, emulated: Emulated) -> None:
    lid = warm.enrol()
    path = f"{warm.learners}/{lid}"
    with counted(emulated) as calls:
        status, body = warm.mine.call("PATCH", path, warm.admin, {"programme": "Year 9"})
    assert status == 200, body
    assert calls.names == ["TransactWriteItems"]
    with counted(emulated) as calls:
        status, body = warm.mine.call("PATCH", path, warm.admin, {"family_name": "Hargreaves", "expected_version": 2})
    assert status == 200, body
    assert calls.names == ["TransactWriteItems"]
    stored = warm.other.call("GET", path, warm.staff)[1]
    assert (stored["programme"], stored["family_name"], stored["version"]) == ("Year 9", "Hargreaves", 3)
    assert stored["email"] == ALICE["email"].lower()   # the fields the patches left alone, re-encrypted unchanged


def test_a_rectification_elsewhere_after_the_read_is_merged_not_lost(warm: Warm, emulated: Emulated) -> None:
    lid = warm.enrol()
    path = f"{warm.learners}/{lid}"
    assert warm.other.call("PATCH", path, warm.admin, {"family_name": "Hargreaves"})[0] == 200
    with counted(emulated) as calls:
        status, body = warm.mine.call("PATCH", path, warm.admin, {"programme": "Year 9"})
    assert status == 200, body
    assert calls.names == ["TransactWriteItems", "BatchGetItem", "TransactWriteItems"]   # stale copy: read again
    assert (body["family_name"], body["programme"], body["version"]) == ("Hargreaves", "Year 9", 3)

    assert warm.mine.call("GET", path, warm.staff)[0] == 200   # version 3 cached here
    assert warm.other.call("PATCH", path, warm.admin, {"programme": "Year 10"})[0] == 200
    status, body = warm.mine.call("PATCH", path, warm.admin, {"programme": "Year 11", "expected_version": 3})
    assert (status, body["error"]["code"], body["error"]["current_version"]) == (409, "conflict", 4)


def test_an_erasure_or_restriction_after_the_read_still_refuses_the_rectification(
        warm: Warm, emulated: Emulated) -> None:
    lid = warm.enrol()
    warm.erase(lid)
    status, body = warm.mine.call("PATCH", f"{warm.learners}/{lid}", warm.admin, {"programme": "Year 9"})
    assert (status, body["error"]["code"]) == (410, "erased")

    restricted = warm.enrol()
    status, _ = warm.other.call("POST", f"/v1/tenants/{warm.tid}/requests", warm.admin,
                                {"learner_id": restricted, "type": "restriction"})
    assert status == 201
    status, body = warm.mine.call("PATCH", f"{warm.learners}/{restricted}", warm.admin, {"programme": "Year 9"})
    assert (status, body["error"]["code"]) == (409, "processing_restricted")
    profile = _data(emulated).learner_items("UK", warm.tid, restricted)["P"]
    assert "restricted_at" in profile   # the restriction stands: the put would have dropped it
    assert profile["version"]["N"] == "1"


# -- lifting a restriction a read was refused for: its time from the short cache --------------------------

def _restrict(warm: Warm, learner_id: str) -> str:
    """A restriction placed by the other container; when it was placed."""
    status, request = warm.other.call("POST", f"/v1/tenants/{warm.tid}/requests", warm.admin,
                                      {"learner_id": learner_id, "type": "restriction"})
    assert status == 201, request
    restricted_at: str = request["outcome"]["restricted_at"]
    return restricted_at


def test_lifting_a_restriction_seen_here_is_one_round_trip(warm: Warm, emulated: Emulated) -> None:
    lid = warm.enrol()
    restricted_at = _restrict(warm, lid)
    path = f"{warm.learners}/{lid}"
    assert warm.mine.call("GET", path, warm.staff)[0] == 409   # the console shows "restricted since ..."
    with counted(emulated) as calls:
        status, lifted = warm.mine.call("DELETE", f"{path}/restriction", warm.admin)
    assert status == 200, lifted
    assert calls.names == ["TransactWriteItems"]
    assert lifted["restricted_at"] == restricted_at
    assert warm.other.call("GET", path, warm.staff)[0] == 200


def test_a_restriction_lifted_erased_or_replaced_elsewhere_after_it_was_seen(warm: Warm, emulated: Emulated) -> None:
    lid, erased, replaced = warm.enrol(), warm.enrol(), warm.enrol()
    for learner_id in (lid, erased, replaced):
        _restrict(warm, learner_id)
        assert warm.mine.call("GET", f"{warm.learners}/{learner_id}", warm.staff)[0] == 409   # seen here
    assert warm.other.call("DELETE", f"{warm.learners}/{lid}/restriction", warm.admin)[0] == 200
    status, body = warm.mine.call("DELETE", f"{warm.learners}/{lid}/restriction", warm.admin)
    assert (status, body["error"]["code"], body["error"]["reason"]) == (409, "conflict", "not_restricted")

    warm.erase(erased)
    status, body = warm.mine.call("DELETE", f"{warm.learners}/{erased}/restriction", warm.admin)
    assert (status, body["error"]["code"]) == (410, "erased")

    assert warm.other.call("DELETE", f"{warm.learners}/{replaced}/restriction", warm.admin)[0] == 200
    again = _restrict(warm, replaced)
    status, lifted = warm.mine.call("DELETE", f"{warm.learners}/{replaced}/restriction", warm.admin)
    assert (status, lifted["restricted_at"]) == (200, again)   # the restriction in place, not the one seen
    assert "restricted_at" not in _data(emulated).learner_items("UK", warm.tid, replaced)["P"]


# -- lifting a hold a listing here showed: its item from the short cache -------------------------------------

def test_lifting_a_listed_hold_is_one_round_trip(warm: Warm, emulated: Emulated) -> None:
    holds = f"/v1/tenants/{warm.tid}/legal-holds"
    lid = warm.enrol()
    hold = warm.other.call("POST", holds, warm.regional, {"reason": "Tribunal 7", "learner_id": lid})[1]
    assert warm.mine.call("GET", holds, warm.regional)[0] == 200   # the console lists the holds
    with counted(emulated) as calls:
        status, lifted = warm.mine.call("DELETE", f"{holds}/{hold['hold_id']}", warm.regional)
    assert status == 200, lifted
    assert calls.names == ["TransactWriteItems"]
    assert (lifted["reason"], lifted["learner_id"]) == ("Tribunal 7", lid)
    assert lifted["lifted_at"] >= hold["placed_at"]
    assert warm.other.call("DELETE", f"{warm.learners}/{lid}", warm.admin)[0] == 200   # counted down: erasable


def test_a_listed_hold_lifted_elsewhere_is_not_lifted_twice(warm: Warm) -> None:
    holds = f"/v1/tenants/{warm.tid}/legal-holds"
    lid = warm.enrol()
    first = warm.other.call("POST", holds, warm.regional, {"reason": "Tribunal", "learner_id": lid})[1]
    assert warm.other.call("POST", holds, warm.regional, {"reason": "Appeal", "learner_id": lid})[0] == 201
    assert warm.mine.call("GET", holds, warm.regional)[0] == 200
    assert warm.other.call("DELETE", f"{holds}/{first['hold_id']}", warm.regional)[0] == 200
    status, body = warm.mine.call("DELETE", f"{holds}/{first['hold_id']}", warm.regional)
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert "lifted_at" in body["error"]
    status, body = warm.other.call("DELETE", f"{warm.learners}/{lid}", warm.admin)
    assert (status, body["error"]["code"]) == (409, "legal_hold_active")   # the second hold still counted
    status, body = warm.mine.call("DELETE", f"{holds}/hld_{'a' * 26}", warm.regional)
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_lifting_a_hold_keeps_a_rewrapping_done_since_it_was_listed(warm: Warm, emulated: Emulated) -> None:
    holds = f"/v1/tenants/{warm.tid}/legal-holds"
    hold = warm.other.call("POST", holds, warm.regional, {"reason": "Audit"})[1]
    assert warm.mine.call("GET", holds, warm.regional)[0] == 200   # listed with tenant key version 1
    status, report = warm.other.call("POST", f"/v1/tenants/{warm.tid}/keys/rotate", warm.regional)
    assert (status, report["rotated_to"]) == (200, 2)
    status, lifted = warm.mine.call("DELETE", f"{holds}/{hold['hold_id']}", warm.regional)
    assert (status, lifted["reason"]) == (200, "Audit")
    stored = composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                   jurisdictions=emulated.jurisdictions).governance_store.hold("UK", warm.tid,
                                                                                                hold["hold_id"])
    assert stored is not None
    assert stored["tenant_key_version"]["N"] == "2"   # the lift set lifted_at only: the re-wrapped key stays
    assert "lifted_at" in stored
