"""The consent ledger through the API: age boundaries per jurisdiction, guardians, lawful bases, the
append-only history, withdrawal gating research sharing at once, isolation, erasure and the audit trail.

The regional deployments here run on a clock pinned to noon (UTC) of the day the module starts, moving
forward in real time, so "today" cannot change under a test; birth dates are built from that day.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.data_store import wrapped_learner_key
from chalicelib.settings import REGIONS
from tests.conftest import moto_jwks
from tests.integration.conftest import HOME, Emulated, RegionalApi, TokenFactory, regional_settings

ANCHOR = datetime.combine(datetime.now(UTC).date(), clock_time(12, 0), tzinfo=UTC)
TODAY = ANCHOR.date()
GIVEN, FAMILY, EMAIL, GUARDIAN = "Ottoline", "Quillfeather", "ottoline.q@example.org", "Ignatius Quillfeather"
AGES = {"US": 13, "UK": 13, "AU": 15, "PH": 18}


def years_before(day: date, years: int) -> date:
    """The date ``years`` before ``day``; 28 February when ``day`` is 29 February and that year has none."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28)


def turning_today(age: int) -> date:
    """A birth date whose ``age``-th birthday is today (the birthday itself)."""
    return years_before(TODAY, age)


def turning_tomorrow(age: int) -> date:
    """A birth date whose ``age``-th birthday is tomorrow (today is the day before it)."""
    return turning_today(age) + timedelta(days=1)


@pytest.fixture(scope="module")
def regions(emulated: Emulated) -> dict[str, RegionalApi]:
    started = time.monotonic()

    def clock() -> datetime:
        return ANCHOR + timedelta(seconds=time.monotonic() - started)

    keys = StaticKeySource(moto_jwks())
    return {region: RegionalApi(composition.Container(regional_settings(region, emulated.provisioned),
                                                      clients=emulated.clients, key_source=keys,
                                                      jurisdictions=emulated.jurisdictions, clock=clock))
            for region in REGIONS}


@dataclass
class School:
    tenant_id: str
    code: str
    api: RegionalApi
    staff: str
    admin: str
    officer: str

    @property
    def learners(self) -> str:
        return f"/v1/tenants/{self.tenant_id}/learners"

    def enrol(self, date_of_birth: date) -> str:
        body = {"given_name": GIVEN, "family_name": FAMILY, "email": EMAIL,
                "date_of_birth": date_of_birth.isoformat(), "guardian": {"name": GUARDIAN, "email": "iq@example.org"}}
        status, learner = self.api.call("POST", self.learners, self.staff, body)
        assert status == 201, learner
        return str(learner["learner_id"])

    def consents(self, learner_id: str) -> str:
        return f"{self.learners}/{learner_id}/consents"

    def decide(self, learner_id: str, token: str | None = None, **body: Any) -> tuple[int, Any]:
        return self.api.call("POST", self.consents(learner_id), token or self.staff, body)

    def share(self, learner_id: str, token: str | None = None) -> tuple[int, Any]:
        return self.api.call("POST", f"{self.learners}/{learner_id}/results/research-share", token or self.staff)

    def audit(self) -> list[dict[str, Any]]:
        composition.use(self.api.container)
        response = self.api._client.http.request("GET", f"/v1/tenants/{self.tenant_id}/audit",
                                                 headers={"Authorization": f"Bearer {self.officer}"})
        assert response.status_code == 200
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        return [json.loads(line) for line in text.splitlines() if line][:-1]


@pytest.fixture
def school(regions: dict[str, RegionalApi], token: TokenFactory) -> Callable[[str], School]:
    def create(code: str) -> School:
        region = HOME[code]
        status, tenant = regions[region].call("POST", "/v1/tenants", token("platform_admin", region=region),
                                              {"name": "Consent School", "kind": "school", "jurisdiction": code})
        assert status == 201, tenant
        tid = tenant["tenant_id"]
        return School(tid, code, regions[region], token("tenant_staff", tid, region),
                      token("tenant_admin", tid, region), token("compliance_officer", region=region))

    return create


GRANT_RESEARCH = {"purpose": "research", "decision": "granted"}


@pytest.mark.parametrize(("code", "age"), sorted(AGES.items()))
def test_a_learner_decides_alone_from_the_consent_age_birthday(school: Callable[[str], School], emulated: Emulated,
                                                               code: str, age: int) -> None:
    assert emulated.jurisdictions.get(code).consent_age == age
    s = school(code)
    day_before = s.enrol(turning_tomorrow(age))
    status, body = s.decide(day_before, **GRANT_RESEARCH, given_by="learner")
    assert status == 422, body
    assert [f["field"] for f in body["error"]["fields"]] == ["given_by"]
    assert f"consent age of {age}" in body["error"]["fields"][0]["message"]
    assert turning_tomorrow(age).isoformat() not in json.dumps(body)
    assert s.api.call("GET", s.consents(day_before), s.staff)[1]["history"] == []

    birthday = s.enrol(turning_today(age))
    status, record = s.decide(birthday, **GRANT_RESEARCH, given_by="learner")
    assert status == 201, record
    assert record["consent_id"].startswith("cns_")
    assert (record["decision"], record["given_by"], record["verification"]) == ("granted", "learner", None)
    assert record["lawful_basis"] == "consent"
    assert record["policy_version"] == emulated.jurisdictions.get(code).policy_version
    assert record["at"].startswith(TODAY.isoformat())


def test_a_guardian_decides_for_a_child_with_a_verification_method_of_the_jurisdiction(
        school: Callable[[str], School]) -> None:
    s = school("US")
    twelve = s.enrol(turning_tomorrow(13) - timedelta(days=200))
    status, body = s.decide(twelve, **GRANT_RESEARCH, given_by="guardian")
    assert status == 422
    assert [f["field"] for f in body["error"]["fields"]] == ["verification"]
    status, record = s.decide(twelve, **GRANT_RESEARCH, given_by="guardian", verification="signed_form",
                              policy_version="notice-v3")
    assert status == 201, record
    assert (record["given_by"], record["verification"], record["policy_version"]) == (
        "guardian", "signed_form", "notice-v3")

    uk = school("UK")
    child = uk.enrol(turning_tomorrow(13))
    status, body = uk.decide(child, **GRANT_RESEARCH, given_by="guardian", verification="credit_card_check")
    assert status == 422  # a COPPA method the UK law pack does not list
    assert "video_call" in body["error"]["fields"][0]["message"]
    status, body = uk.decide(child, **GRANT_RESEARCH, given_by="guardian", verification="a phone call with mum")
    assert status == 422  # free text is never accepted
    adult = uk.enrol(turning_today(30))
    status, body = uk.decide(adult, **GRANT_RESEARCH, given_by="learner", verification="id_document")
    assert status == 422
    assert [f["field"] for f in body["error"]["fields"]] == ["verification"]


def test_only_purposes_resting_on_consent_are_recorded(school: Callable[[str], School]) -> None:
    uk = school("UK")
    adult = uk.enrol(turning_today(20))
    status, body = uk.decide(adult, purpose="core_education", decision="granted", given_by="learner")
    assert status == 422
    assert "rests on lawful basis public_task, not consent" in body["error"]["fields"][0]["message"]
    status, body = uk.decide(adult, purpose="astrology", decision="granted", given_by="learner")
    assert status == 422
    assert body["error"]["fields"][0]["field"] == "purpose"

    ph = school("PH")  # the PH law pack lists consent as an alternative basis for core education
    learner = ph.enrol(turning_today(18))
    status, record = ph.decide(learner, purpose="core_education", decision="granted", given_by="learner")
    assert status == 201, record
    assert record["lawful_basis"] == "consent"


def test_withdrawal_takes_effect_at_once_for_research_sharing(school: Callable[[str], School]) -> None:
    s = school("UK")
    learner = s.enrol(turning_today(16))
    results = [{"assessment": "Algebra", "score": 7, "max_score": 10, "taken_on": (TODAY - timedelta(30)).isoformat()},
               {"assessment": "Poetry", "score": 18.5, "max_score": 20, "taken_on": TODAY.isoformat()}]
    for result in reversed(results):
        assert s.api.call("POST", f"{s.learners}/{learner}/results", s.staff, result)[0] == 201

    status, body = s.share(learner)
    assert (status, body["error"]["code"]) == (403, "consent_required")
    assert s.decide(learner, **GRANT_RESEARCH, given_by="learner")[0] == 201
    status, extract = s.share(learner)
    assert status == 200, extract
    assert extract["results"] == results  # oldest first, and nothing but these four fields
    text = json.dumps(extract)
    assert learner not in text
    assert not [v for v in (GIVEN, FAMILY, EMAIL, GUARDIAN, turning_today(16).isoformat()) if v in text]
    assert s.share(learner)[1]["subject"] == extract["subject"]  # a stable pseudonym

    assert s.decide(learner, purpose="research", decision="withdrawn", given_by="learner")[0] == 201
    status, body = s.share(learner)
    assert (status, body["error"]["code"]) == (403, "consent_required")
    assert s.decide(learner, purpose="analytics", decision="granted", given_by="learner")[0] == 201
    assert s.share(learner)[0] == 403  # consent to another purpose does not count
    assert s.decide(learner, **GRANT_RESEARCH, given_by="learner")[0] == 201
    assert s.share(learner)[0] == 200

    other = s.enrol(turning_today(16))  # each learner's own consent
    assert s.share(other)[0] == 403


def test_history_is_oldest_first_and_append_only(school: Callable[[str], School], emulated: Emulated) -> None:
    s = school("AU")
    child = s.enrol(turning_tomorrow(15))
    decisions = [("research", "granted"), ("analytics", "granted"), ("research", "withdrawn"),
                 ("marketing", "withdrawn"), ("research", "granted"), ("research", "withdrawn")]
    made = []
    for purpose, decision in decisions:
        status, record = s.decide(child, purpose=purpose, decision=decision, given_by="guardian",
                                  verification="signed_form")
        assert status == 201, record
        made.append(record)
    raw_before = _raw_consent_items(emulated, s, child)

    status, ledger = s.api.call("GET", s.consents(child), s.staff)
    assert status == 200
    assert ledger["history"] == made
    assert [r["at"] for r in ledger["history"]] == sorted(r["at"] for r in made)
    assert ledger["current"] == {"analytics": made[1], "marketing": made[3], "research": made[5]}

    for method in ("PUT", "PATCH", "DELETE"):
        assert s.api.call(method, s.consents(child), s.admin, GRANT_RESEARCH)[0] in (403, 404, 405)
        assert s.api.call(method, f"{s.consents(child)}/{made[0]['consent_id']}", s.admin)[0] in (403, 404, 405)
    assert s.decide(child, purpose="analytics", decision="withdrawn", given_by="guardian",
                    verification="id_document")[0] == 201
    raw_after = _raw_consent_items(emulated, s, child)
    assert {k: raw_after[k] for k in raw_before} == raw_before  # earlier decisions untouched
    assert len(raw_after) == len(raw_before) + 1
    assert s.api.call("GET", s.consents(child), s.staff)[1]["current"]["analytics"]["decision"] == "withdrawn"


def test_a_retried_decision_with_the_same_idempotency_key_is_recorded_once(school: Callable[[str], School]) -> None:
    s = school("UK")
    learner = s.enrol(turning_tomorrow(13))
    body = {**GRANT_RESEARCH, "given_by": "guardian", "verification": "signed_form"}
    key = {"Idempotency-Key": "consent-1"}
    status, first = s.api.call("POST", s.consents(learner), s.staff, body, headers=key)
    assert status == 201, first
    status, again = s.api.call("POST", s.consents(learner), s.staff, body, headers=key)
    assert (status, again) == (201, first)
    status, other = s.api.call("POST", s.consents(learner), s.staff, {**body, "decision": "withdrawn"}, headers=key)
    assert (status, other["error"]["reason"]) == (409, "idempotency_key_reused")
    assert s.api.call("GET", s.consents(learner), s.staff)[1]["history"] == [first]


def _raw_consent_items(emulated: Emulated, s: School, learner_id: str) -> dict[str, dict[str, Any]]:
    client = emulated.clients.dynamodb(HOME[s.code])
    items = client.query(TableName=f"enclave-data-{s.code.lower()}",
                         KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
                         ExpressionAttributeValues={":p": {"S": f"TENANT#{s.tenant_id}"},
                                                    ":c": {"S": f"L#{learner_id}#C#"}})["Items"]
    return {item["sk"]["S"]: item for item in items}


def test_other_tenants_and_roles_see_nothing(school: Callable[[str], School], token: TokenFactory,
                                            regions: dict[str, RegionalApi]) -> None:
    a, b = school("UK"), school("UK")
    learner = a.enrol(turning_today(20))
    assert a.decide(learner, **GRANT_RESEARCH, given_by="learner")[0] == 201
    assert a.decide(learner, b.staff, **GRANT_RESEARCH, given_by="learner")[0] == 404
    assert a.api.call("GET", a.consents(learner), b.staff)[0] == 404
    assert a.share(learner, b.staff)[0] == 404
    assert b.decide(learner, **GRANT_RESEARCH, given_by="learner")[0] == 404  # a's learner under b's path
    assert b.api.call("GET", b.consents(learner), b.staff)[0] == 404
    assert b.share(learner)[0] == 404
    assert a.api.call("GET", a.consents("lrn_nonsense"), a.staff)[0] == 404

    status, ledger = a.api.call("GET", a.consents(learner), a.officer)
    assert status == 200
    assert ledger["current"]["research"]["decision"] == "granted"
    assert a.decide(learner, a.officer, **GRANT_RESEARCH, given_by="learner")[0] == 403
    assert a.share(learner, a.officer)[0] == 403
    assert a.api.call("GET", a.consents(learner), token("compliance_officer", region="us-east-1"))[0] == 404
    assert regions["us-east-1"].call("GET", a.consents(learner), a.staff)[0] == 421


def test_an_erased_learner_is_gone(school: Callable[[str], School]) -> None:
    s = school("US")
    learner = s.enrol(turning_today(14))
    assert s.decide(learner, **GRANT_RESEARCH, given_by="learner")[0] == 201
    assert s.api.call("DELETE", f"{s.learners}/{learner}", s.admin)[0] == 200
    assert s.decide(learner, purpose="research", decision="withdrawn", given_by="learner")[0] == 410
    assert s.api.call("GET", s.consents(learner), s.staff)[0] == 410
    assert s.share(learner)[0] == 410


def test_every_decision_read_and_refusal_is_audited_without_personal_values(school: Callable[[str], School]) -> None:
    s = school("PH")
    minor = s.enrol(turning_tomorrow(18))
    assert s.decide(minor, **GRANT_RESEARCH, given_by="learner")[0] == 422
    assert s.share(minor)[0] == 403
    status, record = s.decide(minor, **GRANT_RESEARCH, given_by="guardian", verification="school_official")
    assert status == 201
    status, extract = s.share(minor)
    assert status == 200
    assert s.api.call("GET", s.consents(minor), s.officer)[0] == 200

    events = [e for e in s.audit() if e["action"] not in ("learner.create", "tenant_key.create")]
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("consent.create", "rejected"), ("result.share_research", "denied"), ("consent.create", "success"),
        ("result.share_research", "success"), ("consent.read", "success")]
    assert events[0]["details"]["invalid_fields"] == ["given_by"]
    assert events[2]["details"] == {
        "learner_id": minor, "consent_id": record["consent_id"], "purpose": "research", "decision": "granted",
        "given_by": "guardian", "verification": "school_official", "lawful_basis": "consent",
        "policy_version": record["policy_version"]}
    assert events[2]["resource"].endswith(f"/learners/{minor}/consents/{record['consent_id']}")
    assert events[4]["actor"]["role"] == "compliance_officer"
    text = json.dumps(events)
    personal = (GIVEN, FAMILY, EMAIL, GUARDIAN, "iq@example.org", turning_tomorrow(18).isoformat())
    assert not [v for v in personal if v.lower() in text.lower()]
    assert extract["subject"] not in text  # the research pseudonym cannot be linked back through the trail


def test_the_research_pseudonym_dies_with_the_learner(school: Callable[[str], School], emulated: Emulated) -> None:
    s = school("UK")
    learner, other = s.enrol(turning_today(16)), s.enrol(turning_today(17))
    assert s.decide(learner, **GRANT_RESEARCH, given_by="learner")[0] == 201
    subject = s.share(learner)[1]["subject"]
    container = s.api.container
    tenant = container.directory.get(s.tenant_id)
    assert tenant is not None
    keys = container.tenant_keys.keys_for(tenant)
    assert subject not in {token.split(".", 1)[-1] for token in keys.blind_index_all("research_subject", learner)}
    assert s.api.call("DELETE", f"{s.learners}/{learner}", s.admin)[0] == 200
    # what the tenant still holds after erasure: its keys, the learner id, every other learner's key
    left = [wrapped_learner_key(s.tenant_id, item["sk"]["S"].split("#")[1], item)
            for item in container.data_store.learner_key_items("UK", s.tenant_id)]
    assert [record.learner_id for record in left] == [other]
    assert all(keys.unwrap(record).pseudonym("research_subject") != subject for record in left)
    assert all(subject not in token for token in keys.blind_index_all("research_subject", learner))
