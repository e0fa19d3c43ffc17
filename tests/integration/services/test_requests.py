"""Data-subject requests through the API: statutory due dates at their edges, the access package,
erasure, restriction, the overdue listing (with an injected clock), validation and isolation."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.domain.requests import PACKAGE_LIFETIME
from tests.conftest import moto_jwks
from tests.integration.conftest import HOME, Emulated, RegionalApi, TokenFactory, regional_settings

UK = "eu-west-2"


class Clock:
    """A settable clock for a Container (``clock=``)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso)


@dataclass
class School:
    api: RegionalApi
    tenant_id: str
    staff: str
    admin: str

    @property
    def learners(self) -> str:
        return f"/v1/tenants/{self.tenant_id}/learners"

    @property
    def requests(self) -> str:
        return f"/v1/tenants/{self.tenant_id}/requests"

    def enrol(self, body: dict[str, Any]) -> str:
        status, learner = self.api.call("POST", self.learners, self.staff, body)
        assert status == 201, learner
        return str(learner["learner_id"])

    def request(self, learner_id: str, kind: str, received_at: str | None = None,
                token: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body: dict[str, Any] = {"learner_id": learner_id, "type": kind}
        if received_at is not None:
            body["received_at"] = received_at
        return self.api.call("POST", self.requests, token or self.admin, body, headers=headers)


def person(tag: str) -> dict[str, Any]:
    """A learner whose every value carries ``tag`` (so a package can be searched for it)."""
    return {"given_name": f"Given{tag}", "family_name": f"Family{tag}", "email": f"mail.{tag.lower()}@school.test",
            "date_of_birth": "2012-05-04", "programme": f"Programme{tag}",
            "guardian": {"name": f"Guardian{tag}", "email": f"g.{tag.lower()}@home.test"}}


@pytest.fixture(scope="module")
def clocked(emulated: Emulated) -> Callable[[str], tuple[RegionalApi, Clock]]:
    """One regional deployment per region whose clock the test sets (received dates years back, overdue)."""
    built: dict[str, tuple[RegionalApi, Clock]] = {}

    def deployment(region: str) -> tuple[RegionalApi, Clock]:
        if region not in built:
            clock = Clock()
            container = composition.Container(regional_settings(region, emulated.provisioned),
                                              clients=emulated.clients, key_source=StaticKeySource(moto_jwks()),
                                              jurisdictions=emulated.jurisdictions, clock=clock)
            built[region] = (RegionalApi(container), clock)
        return built[region]

    return deployment


@pytest.fixture
def school(token: TokenFactory) -> Callable[[RegionalApi, str], School]:
    def onboard(api: RegionalApi, jurisdiction: str) -> School:
        region = HOME[jurisdiction]
        status, tenant = api.call("POST", "/v1/tenants", token("platform_admin", region=region),
                                  {"name": "Request School", "kind": "school", "jurisdiction": jurisdiction})
        assert status == 201, tenant
        tenant_id = tenant["tenant_id"]
        return School(api, tenant_id, token("tenant_staff", tenant_id, region),
                      token("tenant_admin", tenant_id, region))

    return onboard


# -- due dates -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("jurisdiction", "kind", "now", "received", "due", "statutory"), [
    # one calendar month: 31 January -> the last day of February, 28 or 29
    ("UK", "rectification", "2026-02-10T12:00:00+00:00", "2026-01-31T09:30:00Z", "2026-02-28T09:30:00.000000Z", True),
    ("UK", "rectification", "2024-02-10T12:00:00+00:00", "2024-01-31T09:30:00Z", "2024-02-29T09:30:00.000000Z", True),
    ("UK", "rectification", "2026-04-02T12:00:00+00:00", "2026-03-31T23:00:00Z", "2026-04-30T23:00:00.000000Z", True),
    # 30 working days from a Friday (10:00 in Manila): Mon 2 Feb is day 1; Chinese New Year (Tue 17 Feb,
    # a special non-working day) is skipped, so day 30 is Mon 16 March rather than Fri 13 March
    ("PH", "rectification", "2026-02-02T00:00:00+00:00", "2026-01-30T10:00:00+08:00",
     "2026-03-16T02:00:00.000000Z", True),
    # 30 calendar days; AU has no statutory restriction right (a platform commitment)
    # (a tenant with no sector is an organisation: APP 13.5(a)(ii) "a reasonable period", not statutory days)
    ("AU", "rectification", "2026-02-10T00:00:00+00:00", "2026-01-31T00:00:00Z", "2026-03-02T00:00:00.000000Z", False),
    ("AU", "restriction", "2026-02-10T00:00:00+00:00", "2026-01-31T00:00:00Z", "2026-03-02T00:00:00.000000Z", False),
    # 45 calendar days
    # FERPA 99.20: "a reasonable period of time"; the 45 days are the platform's service level
    ("US", "rectification", "2026-02-10T00:00:00+00:00", "2026-01-31T00:00:00Z", "2026-03-17T00:00:00.000000Z", False),
])
def test_due_dates_follow_the_jurisdiction_at_the_edges(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School],
        jurisdiction: str, kind: str, now: str, received: str, due: str, statutory: bool) -> None:
    api, clock = clocked(HOME[jurisdiction])
    clock.set(now)
    s = school(api, jurisdiction)
    learner_id = s.enrol(person("Due"))
    status, request = s.request(learner_id, kind, received)
    assert status == 201, request
    assert request["request_id"].startswith("req_")
    assert (request["learner_id"], request["type"], request["jurisdiction"]) == (learner_id, kind, jurisdiction)
    assert request["due_at"] == due
    assert request["statutory"] is statutory
    assert request["deadline"]["sources"]
    status, read = api.call("GET", f"{s.requests}/{request['request_id']}", s.admin)
    assert status == 200
    assert read["due_at"] == due
    assert read["status"] == ("open" if kind == "rectification" else "fulfilled")


def test_received_at_defaults_to_now_and_must_be_plausible(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School]) -> None:
    api, clock = clocked(UK)
    clock.set("2026-05-06T07:08:09+00:00")
    s = school(api, "UK")
    learner_id = s.enrol(person("Valid"))
    status, request = s.request(learner_id, "rectification")
    assert status == 201
    assert request["received_at"] == "2026-05-06T07:08:09.000000Z"
    assert request["due_at"] == "2026-06-06T07:08:09.000000Z"
    for received, problem in [("2026-05-07T07:08:09Z", "future"), ("2025-05-01T00:00:00Z", "366 days"),
                              ("2026-05-01T10:00:00", "timezone"), ("last Tuesday", "datetime")]:
        status, body = s.request(learner_id, "rectification", received)
        assert status == 422, received
        assert [f["field"] for f in body["error"]["fields"]] == ["received_at"]
        assert problem in body["error"]["fields"][0]["message"], body
    for bad, field in [({"learner_id": learner_id, "type": "portability"}, "type"),
                       ({"learner_id": "lrn_nope", "type": "access"}, "learner_id"),
                       ({"learner_id": learner_id, "type": "access", "note": "x"}, "note")]:
        status, body = api.call("POST", s.requests, s.admin, bad)
        assert status == 422
        assert field in [f["field"] for f in body["error"]["fields"]]
    status, body = s.request("lrn_" + "a" * 26, "access")
    assert status == 404


# -- access --------------------------------------------------------------------------------------

def _download(api: RegionalApi, url: str, token: str) -> dict[str, Any]:
    """The package behind ``download_url``: a route of this deployment's API, called with ``token``."""
    parsed = urllib.parse.urlparse(url)
    assert f"{parsed.scheme}://{parsed.netloc}" == api.container.settings.endpoint_of(UK)
    assert not parsed.query
    status, package = api.call("GET", parsed.path, token)
    assert status == 200, package
    assert isinstance(package, dict)
    return package


def _stored(emulated: Emulated, api: RegionalApi, tenant_id: str, request_id: str) -> list[tuple[str, bytes, str]]:
    """``(key, raw bytes, server-side encryption)`` of every bucket object kept for the request."""
    s3, bucket = emulated.clients.s3(UK), api.container.settings.export_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"requests/{tenant_id}/{request_id}/").get("Contents", [])
    return [(obj["Key"], s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read(),
             s3.head_object(Bucket=bucket, Key=obj["Key"]).get("ServerSideEncryption", ""))
            for obj in listed]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_an_access_package_holds_everything_on_the_learner_and_nothing_else(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], token: TokenFactory,
        emulated: Emulated, containers: dict[str, composition.Container]) -> None:
    eu = api[UK]
    s, other_school = school(eu, "UK"), school(eu, "UK")
    alice, bob = s.enrol(person("Alcyone")), s.enrol(person("Bartram"))
    carol = other_school.enrol(person("Cressida"))
    for owner, learner_id, assessments in [(s, alice, ["EssayAlcyone", "LatinAlcyone"]), (s, bob, ["EssayBartram"]),
                                           (other_school, carol, ["EssayCressida"])]:
        for number, assessment in enumerate(assessments):
            status, _ = eu.call("POST", f"{owner.learners}/{learner_id}/results", owner.staff,
                                {"assessment": assessment, "score": 3 + number, "max_score": 10,
                                 "taken_on": f"2026-0{number + 3}-01"})
            assert status == 201
    consents = {}
    for learner_id, purpose in [(alice, "research"), (bob, "analytics")]:
        status, consent = eu.call("POST", f"{s.learners}/{learner_id}/consents", s.staff,
                                  {"purpose": purpose, "decision": "granted", "given_by": "learner"})
        assert status == 201, consent
        consents[learner_id] = consent
    status, _ = eu.call("PATCH", f"{s.learners}/{alice}", s.admin, {"programme": "ProgrammeAlcyoneTwo"})
    assert status == 200
    expected_profile = eu.call("GET", f"{s.learners}/{alice}", s.staff)[1]
    expected_results = eu.call("GET", f"{s.learners}/{alice}/results", s.staff)[1]["items"]

    status, request = s.request(alice, "access")
    assert status == 201, request
    assert request["status"] == "fulfilled"
    assert request["fulfilled_at"]
    assert "download_url" in request
    assert request["download_url"].endswith(f"{s.requests}/{request['request_id']}/package")
    package = _download(eu, request["download_url"], s.admin)

    assert package["learner_id"] == alice
    assert package["request_id"] == request["request_id"]
    assert package["profile"] == expected_profile
    assert package["results"] == expected_results
    assert [c["consent_id"] for c in package["consents"]] == [consents[alice]["consent_id"]]
    assert package["consents"][0]["purpose"] == "research"
    chain = list(containers[UK].audit_store.events(s.tenant_id, "UK"))
    about_alice = [e["seq"] for e in chain if alice in json.dumps(e) and e["seq"] <= package["audit_events"][-1]["seq"]]
    assert [e["seq"] for e in package["audit_events"]] == about_alice
    actions = {e["action"] for e in package["audit_events"]}
    assert {"learner.create", "result.create", "consent.create", "learner.update", "learner.read", "result.read",
            "request.create"} <= actions
    assert [r["request_id"] for r in package["requests"]] == [request["request_id"]]
    assert package["contents"]["results"] == 2

    text = json.dumps(package, ensure_ascii=False)
    for value in ["GivenAlcyone", "FamilyAlcyone", "mail.alcyone@school.test", "GuardianAlcyone",
                  "g.alcyone@home.test", "ProgrammeAlcyoneTwo", "EssayAlcyone", "LatinAlcyone", "2012-05-04"]:
        assert value in text
    for stranger in ("Bartram", "bartram", "Cressida", "cressida", bob, carol, other_school.tenant_id,
                     consents[bob]["consent_id"]):
        assert stranger not in text, stranger
    assert all(stranger not in value for value in _strings(package) for stranger in (bob, carol))

    status, seen = eu.call("GET", f"{s.requests}/{request['request_id']}", token("regional_admin", region=UK))
    assert status == 200
    assert seen["status"] == "fulfilled"
    assert "download_url" in seen
    assert _download(eu, seen["download_url"], token("regional_admin", region=UK)) == package
    status, seen = eu.call("GET", f"{s.requests}/{request['request_id']}", token("compliance_officer", region=UK))
    assert status == 200
    assert seen["status"] == "fulfilled"
    assert "download_url" not in seen  # status only: the package is personal data


def test_the_stored_package_is_sealed_with_the_learners_key(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], emulated: Emulated,
        containers: dict[str, composition.Container]) -> None:
    eu = api[UK]
    s = school(eu, "UK")
    learner_id = s.enrol(person("Sigillata"))
    assert eu.call("POST", f"{s.learners}/{learner_id}/results", s.staff,
                   {"assessment": "EssaySigillata", "score": 4, "max_score": 5, "taken_on": "2026-02-02"})[0] == 201
    status, request = s.request(learner_id, "access")
    assert status == 201, request
    stored = _stored(emulated, eu, s.tenant_id, request["request_id"])
    assert len(stored) == 1
    _, raw, encryption = stored[0]
    assert encryption == "aws:kms"
    values = ["GivenSigillata", "FamilySigillata", "mail.sigillata@school.test", "2012-05-04", "20120504",
              "GuardianSigillata", "g.sigillata@home.test", "ProgrammeSigillata", "EssaySigillata"]
    for value in values:
        for variant in {value, value.lower(), value.upper()}:
            assert variant.encode() not in raw, variant
    text = json.dumps(_download(eu, request["download_url"], s.admin), ensure_ascii=False)
    assert all(value in text for value in values if value != "20120504")
    downloads = [e for e in containers[UK].audit_store.events(s.tenant_id, "UK") if e["action"] == "request.download"]
    assert [(e["outcome"], e["details"]["request_id"], e["details"]["learner_id"]) for e in downloads] == [
        ("success", request["request_id"], learner_id)]
    assert not [v for v in values if v.lower() in json.dumps(downloads).lower()]


def test_erasing_the_learner_shreds_their_package(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], emulated: Emulated) -> None:
    eu = api[UK]
    s = school(eu, "UK")
    learner_id = s.enrol(person("Oblivia"))
    status, request = s.request(learner_id, "access")
    assert status == 201, request
    assert _download(eu, request["download_url"], s.admin)["learner_id"] == learner_id
    assert eu.call("DELETE", f"{s.learners}/{learner_id}", s.admin)[0] == 200
    package = urllib.parse.urlparse(request["download_url"]).path
    status, body = eu.call("GET", package, s.admin)
    assert status == 410, body
    assert (body["error"]["reason"], body["error"]["message"]) == (
        "learner_erased", "the package was shredded with the learner")
    assert _stored(emulated, eu, s.tenant_id, request["request_id"])  # the object is there, and unreadable


def test_only_request_handlers_download_a_live_access_package(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], token: TokenFactory,
        emulated: Emulated) -> None:
    eu = api[UK]
    s, other = school(eu, "UK"), school(eu, "UK")
    learner_id = s.enrol(person("Custodia"))
    status, request = s.request(learner_id, "access")
    assert status == 201, request
    package = f"{s.requests}/{request['request_id']}/package"
    officer = token("compliance_officer", region=UK)
    status, seen = eu.call("GET", f"{s.requests}/{request['request_id']}", officer)
    assert status == 200
    assert "download_url" not in seen
    assert "download_expires_at" not in seen
    assert eu.call("GET", package, officer)[0] == 403
    assert eu.call("GET", package, s.staff)[0] == 403
    assert eu.call("GET", package, other.admin)[0] == 404
    assert eu.call("GET", f"{other.requests}/{request['request_id']}/package", other.admin)[0] == 404
    assert eu.call("GET", f"{s.requests}/req_{'c' * 26}/package", s.admin)[0] == 404
    status, body = api["us-east-1"].call("GET", package, token("platform_admin", region="us-east-1"))
    assert (status, body["error"]["home_region"]) == (421, UK)
    status, rectification = s.request(learner_id, "rectification")
    assert status == 201
    assert eu.call("GET", f"{s.requests}/{rectification['request_id']}/package", s.admin)[0] == 409
    # the object gone from the bucket (its lifecycle rule ran): 410
    for key, _, _ in _stored(emulated, eu, s.tenant_id, request["request_id"]):
        emulated.clients.s3(UK).delete_object(Bucket=eu.container.settings.export_bucket, Key=key)
    status, body = eu.call("GET", package, s.admin)
    assert (status, body["error"]["reason"]) == (410, "package_expired")


def test_an_access_package_expires_with_its_lifetime(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School]) -> None:
    eu, clock = clocked(UK)
    clock.set("2026-04-01T10:00:00+00:00")
    s = school(eu, "UK")
    status, request = s.request(s.enrol(person("Caduca")), "access")
    assert status == 201, request
    assert request["download_expires_at"] == "2026-04-08T10:00:00.000000Z"
    clock.now += PACKAGE_LIFETIME - timedelta(seconds=1)
    assert _download(eu, request["download_url"], s.admin)["request_id"] == request["request_id"]
    clock.now += timedelta(seconds=1)
    status, seen = eu.call("GET", f"{s.requests}/{request['request_id']}", s.admin)
    assert status == 200
    assert "download_url" not in seen
    assert seen["package_expired_at"] == "2026-04-08T10:00:00.000000Z"
    status, body = eu.call("GET", f"{s.requests}/{request['request_id']}/package", s.admin)
    assert (status, body["error"]["reason"]) == (410, "package_expired")


def test_the_package_lives_as_long_as_the_bucket_keeps_exports() -> None:
    from deploy.render import EXPORT_EXPIRY_DAYS

    assert timedelta(days=EXPORT_EXPIRY_DAYS) == PACKAGE_LIFETIME


# -- erasure and restriction ---------------------------------------------------------------------

def test_an_erasure_request_shreds_the_learner_and_keeps_its_receipt(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School]) -> None:
    eu = api[UK]
    s = school(eu, "UK")
    learner_id = s.enrol(person("Erasmus"))
    status, request = s.request(learner_id, "erasure")
    assert status == 201, request
    assert request["status"] == "fulfilled"
    receipt = request["outcome"]["receipt"]
    assert receipt["learner_id"] == learner_id
    assert receipt["key_destroyed"] is True
    assert receipt["erased_at"]
    assert receipt["backups_expire_by"]
    assert eu.call("GET", f"{s.learners}/{learner_id}", s.staff)[0] == 410
    status, later = eu.call("GET", f"{s.requests}/{request['request_id']}", s.admin)
    assert status == 200  # the request outlives the learner
    assert later["outcome"]["receipt"] == receipt
    assert s.request(learner_id, "access")[0] == 410


def test_a_restricted_learner_is_stored_but_not_processed(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], emulated: Emulated) -> None:
    eu = api[UK]
    s = school(eu, "UK")
    learner_id = s.enrol(person("Restrepo"))
    path = f"{s.learners}/{learner_id}"
    assert eu.call("POST", f"{path}/results", s.staff,
                   {"assessment": "MathsRestrepo", "score": 1, "max_score": 2, "taken_on": "2026-01-05"})[0] == 201
    status, request = s.request(learner_id, "restriction")
    assert status == 201, request
    assert request["status"] == "fulfilled"
    assert request["outcome"]["restricted_at"]

    refused = [
        eu.call("GET", path, s.staff),
        eu.call("PATCH", path, s.admin, {"programme": "Other"}),
        eu.call("POST", f"{path}/results", s.staff,
                {"assessment": "Again", "score": 1, "max_score": 2, "taken_on": "2026-01-06"}),
        eu.call("GET", f"{path}/results", s.staff),
        eu.call("POST", f"{path}/consents", s.staff, {"purpose": "research", "decision": "granted",
                                                      "given_by": "learner"}),
    ]
    assert [(status, body["error"]["code"]) for status, body in refused] == [(409, "processing_restricted")] * 5
    assert eu.call("POST", f"{s.learners}/search", s.staff, {"email": "mail.restrepo@school.test"})[1]["items"] == []

    status, access = s.request(learner_id, "access")
    assert status == 201, access
    assert access["status"] == "fulfilled"
    package = _download(eu, access["download_url"], s.admin)
    assert package["profile"]["given_name"] == "GivenRestrepo"
    assert package["profile"]["restricted_at"] == request["outcome"]["restricted_at"]
    assert [r["assessment"] for r in package["results"]] == ["MathsRestrepo"]

    status, erasure = s.request(learner_id, "erasure")
    assert status == 201
    assert erasure["status"] == "fulfilled"
    assert eu.call("GET", path, s.staff)[0] == 410


def test_lifting_a_restriction_resumes_processing(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], token: TokenFactory) -> None:
    eu = api[UK]
    s = school(eu, "UK")
    learner_id = s.enrol(person("Lifted"))
    path = f"{s.learners}/{learner_id}"
    assert eu.call("DELETE", f"{path}/restriction", s.admin)[0] == 409  # nothing to lift yet
    status, request = s.request(learner_id, "restriction")
    assert request["status"] == "fulfilled"
    assert eu.call("GET", path, s.staff)[0] == 409
    assert eu.call("DELETE", f"{path}/restriction", s.staff)[0] == 403
    status, lifted = eu.call("DELETE", f"{path}/restriction", s.admin)
    assert status == 200, lifted
    assert lifted["restricted_at"] == request["outcome"]["restricted_at"]
    assert eu.call("GET", path, s.staff)[0] == 200
    officer = token("compliance_officer", region=UK)
    status, text = eu.call("GET", f"/v1/tenants/{s.tenant_id}/audit/verify", officer)
    assert text["valid"] is True


# -- overdue -------------------------------------------------------------------------------------

def test_overdue_lists_open_requests_of_the_callers_region_only(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School],
        token: TokenFactory, containers: dict[str, composition.Container]) -> None:
    eu, clock = clocked(UK)
    au, au_clock = clocked(HOME["AU"])
    clock.set("2026-03-02T12:00:00+00:00")
    au_clock.set("2026-03-02T12:00:00+00:00")
    s = school(eu, "UK")
    learners = [s.enrol(person(f"Over{n}")) for n in range(5)]
    ids = {}
    for name, learner_id, kind, received in [("overdue", learners[0], "rectification", "2026-01-20T09:00:00Z"),
                                             ("soon", learners[1], "rectification", "2026-02-05T09:00:00Z"),
                                             ("later", learners[2], "rectification", "2026-02-25T09:00:00Z"),
                                             ("fulfilled", learners[3], "access", "2026-01-10T09:00:00Z"),
                                             ("rejected", learners[4], "rectification", "2026-01-15T09:00:00Z")]:
        status, request = s.request(learner_id, kind, received)
        assert status == 201, request
        ids[name] = request["request_id"]
    assert eu.call("POST", f"{s.requests}/{ids['rejected']}/fulfil", s.admin,
                   {"outcome": "rejected", "reason": "no_change_needed"})[1]["status"] == "rejected"
    far = school(au, "AU")
    status, au_request = far.request(far.enrol(person("Faraway")), "rectification", "2026-01-05T00:00:00Z")
    assert status == 201

    def listing(caller: str, query: str = "overdue=true", deployment: RegionalApi = eu) -> dict[str, str]:
        status, body = deployment.call("GET", f"/v1/requests?{query}", caller)
        assert status == 200, body
        assert all(item["jurisdiction"] == body["items"][0]["jurisdiction"] for item in body["items"])
        assert all(item["status"] == "open" for item in body["items"])
        return {item["request_id"]: item["urgency"] for item in body["items"]}

    admin, officer = token("regional_admin", region=UK), token("compliance_officer", region=UK)
    mine = set(ids.values())
    for caller in (admin, officer):
        seen = listing(caller)
        assert {rid: u for rid, u in seen.items() if rid in mine} == {ids["overdue"]: "overdue",
                                                                      ids["soon"]: "due_soon"}
        assert au_request["request_id"] not in seen
    assert {rid for rid in listing(admin, "overdue=true&due_soon=false") if rid in mine} == {ids["overdue"]}
    assert {rid for rid in listing(admin, "overdue=true&due_within_days=30") if rid in mine} == {
        ids["overdue"], ids["soon"], ids["later"]}
    au_seen = listing(token("regional_admin", region=HOME["AU"]), deployment=au)
    assert au_seen[au_request["request_id"]] == "overdue"
    assert not mine & set(au_seen)

    clock.set("2026-03-21T12:00:00+00:00")
    assert {rid: u for rid, u in listing(admin).items() if rid in mine} == {
        ids["overdue"]: "overdue", ids["soon"]: "overdue", ids["later"]: "due_soon"}

    # closing a rectification needs the correction first; then it leaves the listing
    status, body = eu.call("POST", f"{s.requests}/{ids['overdue']}/fulfil", s.admin, {})
    assert (status, body["error"]["reason"]) == (409, "rectification_not_recorded")
    assert eu.call("PATCH", f"{s.learners}/{learners[0]}", s.admin, {"given_name": "Corrected"})[0] == 200
    status, closed = eu.call("POST", f"{s.requests}/{ids['overdue']}/fulfil", s.admin, {})
    assert status == 200, closed
    assert (closed["status"], closed["outcome"]["rectified_versions"]) == ("fulfilled", [2])
    assert eu.call("POST", f"{s.requests}/{ids['overdue']}/fulfil", s.admin, {})[0] == 409
    assert {rid for rid in listing(admin) if rid in mine} == {ids["soon"], ids["later"]}

    events = list(containers[UK].audit_store.events(s.tenant_id, "UK"))
    listed = [e for e in events if e["action"] == "request.list_overdue"]
    assert listed
    assert listed[0]["details"]["request_ids"] == [ids["overdue"], ids["soon"]]

    for refused, deployment in [(token("regional_admin", region=HOME["AU"]), eu), (s.admin, eu),
                                (token("compliance_officer", region=UK), au)]:
        assert deployment.call("GET", "/v1/requests?overdue=true", refused)[0] == 403
    assert eu.call("GET", "/v1/requests", admin)[0] == 400
    assert eu.call("GET", "/v1/requests?overdue=true&due_within_days=-1", admin)[0] == 422


# -- isolation, roles, idempotency --------------------------------------------------------------

def test_requests_are_invisible_across_tenants_and_limited_by_role(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], token: TokenFactory) -> None:
    eu = api[UK]
    s, other = school(eu, "UK"), school(eu, "UK")
    mine, theirs = s.enrol(person("Isolde")), other.enrol(person("Tristan"))
    status, request = s.request(mine, "rectification")
    assert status == 201
    path = f"{s.requests}/{request['request_id']}"
    assert eu.call("GET", path, other.admin)[0] == 404
    assert eu.call("GET", f"{other.requests}/{request['request_id']}", other.admin)[0] == 404
    assert eu.call("POST", f"{other.requests}/{request['request_id']}/fulfil", other.admin,
                   {"outcome": "rejected", "reason": "identity_not_verified"})[0] == 404
    assert s.request(theirs, "access")[0] == 404
    assert eu.call("GET", f"{s.requests}/req_{'b' * 26}", s.admin)[0] == 404
    assert eu.call("GET", f"{s.requests}/not-an-id", s.admin)[0] == 404
    assert s.request(mine, "access", token=s.staff)[0] == 403
    assert s.request(mine, "access", token=token("compliance_officer", region=UK))[0] == 403
    assert s.request(mine, "access", token=token("regional_admin", region="us-east-1"))[0] == 404
    assert eu.call("GET", path, token("compliance_officer", region=UK))[0] == 200
    status, body = api["us-east-1"].call("GET", path, token("platform_admin", region="us-east-1"))
    assert (status, body["error"]["home_region"]) == (421, UK)
    status, body = eu.call("POST", f"{path}/fulfil", s.admin, {"outcome": "rejected"})
    assert status == 422


def test_a_retried_request_with_the_same_idempotency_key_is_recorded_once(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School],
        containers: dict[str, composition.Container]) -> None:
    eu = api[UK]
    s = school(eu, "UK")
    learner_id = s.enrol(person("Iterum"))
    first = s.request(learner_id, "access", headers={"Idempotency-Key": "letter-42"})
    again = s.request(learner_id, "access", headers={"Idempotency-Key": "letter-42"})
    assert first[0] == again[0] == 201
    assert first[1]["request_id"] == again[1]["request_id"]
    assert again[1]["status"] == "fulfilled"
    status, body = s.request(learner_id, "erasure", headers={"Idempotency-Key": "letter-42"})
    assert (status, body["error"]["reason"]) == (409, "idempotency_key_reused")
    events = list(containers[UK].audit_store.events(s.tenant_id, "UK"))
    assert [e["action"] for e in events].count("request.create") == 1
    assert [e["action"] for e in events].count("request.fulfil") == 1
    assert eu.call("GET", f"{s.learners}/{learner_id}", s.staff)[0] == 200  # the erasure never happened


def test_a_request_whose_fulfilment_fails_stays_open_and_the_retry_fulfils_it(
        api: dict[str, RegionalApi], school: Callable[[RegionalApi, str], School], emulated: Emulated) -> None:
    from botocore.exceptions import EndpointConnectionError

    def bucket_down(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3.eu-west-2.amazonaws.com")

    eu = api[UK]
    s = school(eu, "UK")
    learner_id = s.enrol(person("Retry"))
    events = emulated.clients.s3(UK).meta.events
    events.register("before-call.s3.PutObject", bucket_down)
    try:
        status, request = s.request(learner_id, "access")
    finally:
        events.unregister("before-call.s3.PutObject", bucket_down)
    assert status == 201, request
    assert request["status"] == "open"
    assert request["fulfilment_error"]["code"] == "service_unavailable"
    assert "download_url" not in request
    status, done = eu.call("POST", f"{s.requests}/{request['request_id']}/fulfil", s.admin, {})
    assert status == 200, done
    assert done["status"] == "fulfilled"
    assert _download(eu, done["download_url"], s.admin)["profile"]["given_name"] == "GivenRetry"
