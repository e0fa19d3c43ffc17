"""Legal holds and retention through the API: holds block erasure and the sweep, the sweep shreds what
the law pack says has expired (with an injected clock), a dry run changes nothing, all of it audited."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from chalice.test import Client

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.errors import Gone, LegalHoldActive
from chalicelib.domain.holds import HoldCreate
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import Caller
from chalicelib.services.holds import HoldService
from chalicelib.services.requests.erasure import ErasureService
from tests.conftest import moto_jwks
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings
from tests.integration.services.test_privacy import all_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

REASON = "Claim by Mr Bartholomew Quenby against the school, case 2026/HX/0042"
US = "us-east-1"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def events(container: composition.Container, tenant_id: str, jurisdiction: str) -> list[dict[str, Any]]:
    return list(container.audit_store.events(tenant_id, jurisdiction))


def learner_body(n: int) -> dict[str, Any]:
    return {**ALICE, "given_name": f"Learner{n}", "email": f"learner{n}@school.example"}


# ------------------------------------------------------------------------------------------------ holds


@pytest.fixture
def school(api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> dict[str, Any]:
    """A UK tenant with two learners, and the tokens of the people who act on it."""
    tenant = onboard("UK")
    tid = tenant["tenant_id"]
    eu = api["eu-west-2"]
    staff = token("tenant_staff", tid, "eu-west-2")
    learners = [eu.call("POST", f"/v1/tenants/{tid}/learners", staff, learner_body(n))[1]["learner_id"]
                for n in (1, 2)]
    return {"tenant_id": tid, "learners": learners, "staff": staff, "eu": eu,
            "admin": token("tenant_admin", tid, "eu-west-2"), "regional": token("regional_admin", region="eu-west-2"),
            "holds": f"/v1/tenants/{tid}/legal-holds", "learner_path": f"/v1/tenants/{tid}/learners/"}


def test_a_held_learner_cannot_be_erased_until_the_hold_is_lifted(school: dict[str, Any], emulated: Emulated) -> None:
    eu, first, second = school["eu"], *school["learners"]
    status, hold = eu.call("POST", school["holds"], school["regional"],
                           {"reason": REASON, "category": "litigation", "learner_id": first})
    assert status == 201, hold
    assert hold["hold_id"].startswith("hld_")
    assert (hold["scope"], hold["learner_id"], hold["reason"], hold["active"]) == ("learner", first, REASON, True)
    for who in (school["admin"], school["regional"]):
        status, body = eu.call("DELETE", school["learner_path"] + first, who)
        assert status == 409
        assert body["error"]["code"] == "legal_hold_active"
    assert eu.call("GET", school["learner_path"] + first, school["staff"])[0] == 200
    assert eu.call("DELETE", school["learner_path"] + second, school["admin"])[0] == 200  # not held

    status, lifted = eu.call("DELETE", f"{school['holds']}/{hold['hold_id']}", school["regional"])
    assert status == 200
    assert lifted["active"] is False
    assert lifted["lifted_at"] >= hold["placed_at"]
    assert eu.call("DELETE", f"{school['holds']}/{hold['hold_id']}", school["regional"])[0] == 409
    status, receipt = eu.call("DELETE", school["learner_path"] + first, school["admin"])
    assert status == 200
    assert receipt["key_destroyed"] is True
    assert eu.call("GET", school["learner_path"] + first, school["staff"])[0] == 410


def test_placing_and_lifting_are_audited_and_the_reason_is_never_stored_in_plaintext(
        school: dict[str, Any], emulated: Emulated, token: TokenFactory, captured_logs: io.StringIO) -> None:
    eu, tid, first = school["eu"], school["tenant_id"], school["learners"][0]
    hold = eu.call("POST", school["holds"], school["regional"], {"reason": REASON, "learner_id": first})[1]
    eu.call("DELETE", f"{school['holds']}/{hold['hold_id']}", school["regional"])
    trail = events(eu.container, tid, "UK")
    placed = next(e for e in trail if e["action"] == "legal_hold.create")
    lifted = next(e for e in trail if e["action"] == "legal_hold.delete")
    assert placed["details"] == {"hold_id": hold["hold_id"], "scope": "learner", "category": "other",
                                 "learner_id": first}
    assert placed["actor"]["role"] == "regional_admin"
    assert lifted["details"]["hold_id"] == hold["hold_id"]
    assert placed["seq"] < lifted["seq"]

    officer = token("compliance_officer", region="eu-west-2")
    status, listed = eu.call("GET", school["holds"], officer)
    assert status == 200
    assert [(h["hold_id"], h["reason"], h["active"]) for h in listed["items"]] == [(hold["hold_id"], REASON, False)]
    assert eu.call("GET", school["holds"] + "?active=true", officer)[1]["items"] == []
    assert events(eu.container, tid, "UK")[-1]["action"] == "legal_hold.read"

    needles = {REASON, "Bartholomew", "Quenby", "HX/0042"}
    leaks = [(where, n) for region, table, text in all_items(emulated) for n in needles if n in text
             for where in [f"{region}:{table}"]]
    assert leaks == []
    logs = captured_logs.getvalue()
    assert "request served" in logs  # the requests above were logged, without the reason
    assert not [n for n in needles if n in logs]


def test_a_whole_tenant_hold_blocks_every_erasure(school: dict[str, Any]) -> None:
    eu = school["eu"]
    status, hold = eu.call("POST", school["holds"], school["regional"],
                           {"reason": "Regulator inquiry", "category": "regulatory_investigation"})
    assert status == 201
    assert (hold["scope"], hold["learner_id"]) == ("tenant", None)
    for learner_id in school["learners"]:
        assert eu.call("DELETE", school["learner_path"] + learner_id, school["admin"])[1]["error"]["code"] \
            == "legal_hold_active"
    assert eu.call("DELETE", f"{school['holds']}/{hold['hold_id']}", school["regional"])[0] == 200
    for learner_id in school["learners"]:
        assert eu.call("DELETE", school["learner_path"] + learner_id, school["admin"])[0] == 200


def test_a_retried_hold_with_the_same_idempotency_key_is_placed_once(school: dict[str, Any]) -> None:
    eu, key = school["eu"], {"Idempotency-Key": "hold-once"}
    body = {"reason": REASON, "learner_id": school["learners"][0]}
    first = eu.call("POST", school["holds"], school["regional"], body, headers=key)
    second = eu.call("POST", school["holds"], school["regional"], body, headers=key)
    assert first[0] == second[0] == 201
    assert first[1]["hold_id"] == second[1]["hold_id"]
    assert len(eu.call("GET", school["holds"], school["regional"])[1]["items"]) == 1
    status, body = eu.call("POST", school["holds"], school["regional"], {**body, "category": "litigation"},
                           headers=key)
    assert status == 409


def test_holds_are_for_admins_in_scope_and_real_learners(school: dict[str, Any], api: dict[str, RegionalApi],
                                                          token: TokenFactory, onboard: Any) -> None:
    eu, first = school["eu"], school["learners"][0]
    body = {"reason": REASON, "learner_id": first}
    assert eu.call("POST", school["holds"], school["admin"], body)[0] == 403
    assert eu.call("POST", school["holds"], token("compliance_officer", region="eu-west-2"), body)[0] == 403
    assert eu.call("POST", school["holds"], token("regional_admin", region=US), body)[0] == 404
    other = onboard("UK")
    assert eu.call("POST", school["holds"], token("tenant_admin", other["tenant_id"], "eu-west-2"), body)[0] == 404
    assert api[US].call("POST", school["holds"], token("platform_admin", region=US), body)[0] == 421
    assert eu.call("POST", school["holds"], school["regional"],
                   {**body, "learner_id": "lrn_" + "a" * 26})[0] == 404
    status, invalid = eu.call("POST", school["holds"], school["regional"], {**body, "learner_id": "Alice"})
    assert status == 422
    assert [f["field"] for f in invalid["error"]["fields"]] == ["learner_id"]
    assert eu.call("POST", school["holds"], school["regional"], {"reason": "  "})[0] == 422
    assert eu.call("POST", school["holds"], school["regional"], {"reason": "x", "category": "whim"})[0] == 422
    assert eu.call("DELETE", f"{school['holds']}/hld_{'b' * 26}", school["regional"])[0] == 404
    assert eu.call("DELETE", school["learner_path"] + first, school["admin"])[0] == 200
    status, gone = eu.call("POST", school["holds"], school["regional"], body)
    assert status == 410
    assert REASON not in json.dumps(gone)


# -------------------------------------------------------------------------------------------- retention


@pytest.fixture
def us(emulated: Emulated, token: TokenFactory) -> dict[str, Any]:
    """A us-east-1 deployment whose clock the test moves, and a US tenant onboarded through it."""
    clock = Clock(datetime(2025, 1, 6, 9, 0, tzinfo=UTC))
    container = composition.Container(regional_settings(US, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                      clock=clock)
    app = RegionalApi(container)
    status, tenant = app.call("POST", "/v1/tenants", token("platform_admin", region=US),
                              {"name": "Clocked School", "kind": "school", "jurisdiction": "US"})
    assert status == 201
    tid = tenant["tenant_id"]
    return {"clock": clock, "api": app, "container": container, "tenant_id": tid,
            "staff": token("tenant_staff", tid, US), "admin": token("tenant_admin", tid, US),
            "regional": token("regional_admin", region=US), "learners": f"/v1/tenants/{tid}/learners/"}


def enrol_leaver(us: dict[str, Any], n: int, left_on: str | None) -> str:
    app = us["api"]
    status, learner = app.call("POST", us["learners"].rstrip("/"), us["staff"], learner_body(n))
    assert status == 201, learner
    learner_id = str(learner["learner_id"])
    if left_on is not None:
        status, departure = app.call("PUT", us["learners"] + learner_id + "/departure", us["admin"],
                                     {"left_on": left_on})
        assert status == 200, departure
    return learner_id


def raw_items(emulated: Emulated, tenant_id: str) -> list[dict[str, Any]]:
    client = emulated.clients.dynamodb(US)
    items = []
    for table in ("enclave-data-us", "enclave-keys-us"):
        for page in client.get_paginator("scan").paginate(TableName=table):
            items += [item for item in page["Items"] if item["pk"]["S"] == f"TENANT#{tenant_id}"]
    return sorted(items, key=lambda item: item["sk"]["S"])


def tenant_report(report: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    return next(t for t in report["tenants"] if t["tenant_id"] == tenant_id)


def test_expired_learners_are_shredded_held_ones_kept_and_a_dry_run_changes_nothing(
        us: dict[str, Any], emulated: Emulated) -> None:
    app, clock, tid = us["api"], us["clock"], us["tenant_id"]
    expired = enrol_leaver(us, 1, "2025-01-03")
    held = enrol_leaver(us, 2, "2025-01-03")
    recent = enrol_leaver(us, 3, "2025-01-06")
    enrolled = enrol_leaver(us, 4, None)
    assert app.call("POST", us["learners"] + expired + "/results", us["staff"],
                    {"assessment": "Algebra", "score": 8, "max_score": 10, "taken_on": "2024-12-01"})[0] == 201
    assert app.call("POST", us["learners"] + expired + "/consents", us["staff"],
                    {"purpose": "research", "decision": "granted", "given_by": "guardian",
                     "verification": "signed_form"})[0] == 201
    status, hold = app.call("POST", f"/v1/tenants/{tid}/legal-holds", us["regional"],
                            {"reason": REASON, "learner_id": held})
    assert status == 201

    clock.now = datetime(2028, 1, 4, 12, 0, tzinfo=UTC)  # US learner records: 1095 days after leaving
    before = raw_items(emulated, tid)
    status, dry = app.call("POST", "/v1/retention/sweep?dry_run=true", us["regional"])
    assert status == 200, dry
    assert dry["dry_run"] is True
    mine = tenant_report(dry, tid)
    assert (mine["examined"], mine["shred"], mine["held"], mine["purge"]) == (2, [expired], [held], [expired])
    assert mine["records_purged"] == 3  # the result, the consent record and the departure
    assert raw_items(emulated, tid) == before
    assert app.call("GET", us["learners"] + expired, us["staff"])[0] == 200

    status, real = app.call("POST", "/v1/retention/sweep", us["regional"])
    assert status == 200
    done = tenant_report(real, tid)
    assert (done["shred"], done["held"], done["purge"]) == (mine["shred"], mine["held"], mine["purge"])
    assert app.call("GET", us["learners"] + expired, us["staff"])[0] == 410
    for kept in (held, recent, enrolled):
        assert app.call("GET", us["learners"] + kept, us["staff"])[0] == 200
    left = [item["sk"]["S"] for item in raw_items(emulated, tid) if expired in item["sk"]["S"]]
    assert left == [f"L#{expired}#P"]  # the tombstone only: key, result, consent and departure are gone

    trail = events(us["container"], tid, "US")
    # the test's clock stands still: events of one instant land in id order, so sort the dry run first
    sweeps = sorted((e for e in trail if e["action"] == "retention.sweep"), key=lambda e: not e["details"]["dry_run"])
    assert [(e["details"]["dry_run"], e["details"]["shred"], e["details"]["held"]) for e in sweeps] == \
        [(True, 1, 1), (False, 1, 1)]
    assert sweeps[1]["details"]["held_learner_ids"] == [held]
    shred = next(e for e in trail if e["action"] == "retention.shred")
    assert shred["details"]["learner_id"] == expired
    assert next(e for e in trail if e["action"] == "retention.purge")["details"]["records"] == \
        {"results": 1, "consents": 1, "departure": 1}

    # Lifting the hold lets the next sweep shred the held learner; the one who left later is not due yet.
    assert app.call("DELETE", f"/v1/tenants/{tid}/legal-holds/{hold['hold_id']}", us["regional"])[0] == 200
    clock.now += timedelta(days=1)
    again = tenant_report(app.call("POST", "/v1/retention/sweep", us["regional"])[1], tid)
    assert (again["shred"], again["held"]) == ([held], [])
    clock.now = datetime(2028, 1, 6, 0, 0, tzinfo=UTC)  # 1095 days after 2025-01-06, to the minute
    last = tenant_report(app.call("POST", "/v1/retention/sweep", us["regional"])[1], tid)
    assert last["shred"] == [recent]
    assert app.call("GET", us["learners"] + enrolled, us["staff"])[0] == 200


def test_a_whole_tenant_hold_stops_the_sweep(us: dict[str, Any], emulated: Emulated) -> None:
    app, tid = us["api"], us["tenant_id"]
    leavers = sorted(enrol_leaver(us, n, "2025-01-01") for n in (1, 2))
    assert app.call("POST", f"/v1/tenants/{tid}/legal-holds", us["regional"], {"reason": "Audit by the state"})[0] \
        == 201
    us["clock"].now = datetime(2029, 1, 1, tzinfo=UTC)
    before = raw_items(emulated, tid)
    mine = tenant_report(app.call("POST", "/v1/retention/sweep", us["regional"])[1], tid)
    assert (mine["tenant_hold"], mine["shred"], mine["held"], mine["purge"]) == (True, [], leavers, [])
    assert raw_items(emulated, tid) == before


def test_a_sweep_out_of_time_stops_and_the_next_one_finishes(us: dict[str, Any]) -> None:
    from chalicelib.services.context import Caller
    from chalicelib.services.retention import RetentionService

    leavers = {enrol_leaver(us, n, "2025-01-02") for n in range(4)}
    us["clock"].now = datetime(2028, 6, 1, tzinfo=UTC)
    c = us["container"]
    ticks = iter(range(1000))
    slow = RetentionService(c.access, c.directory, c.jurisdictions, c.data_store, c.governance_store, c.holds,
                            c.erasure, c.audit_store, c.clock, US, budget_seconds=3,
                            monotonic=lambda: float(next(ticks)))  # each look at the clock: one second later
    tenant = c.directory.get(us["tenant_id"])
    assert tenant is not None
    caller = Caller(c.verifier.verify(us["regional"]), "req-slow")
    first = slow.run(caller, [tenant], dry_run=False)["tenants"][0]
    assert first["incomplete"] is True
    assert 0 < len(first["shred"]) < len(leavers)
    ticks = iter(range(1000))
    rest = slow.run(caller, [tenant], dry_run=False)["tenants"][0]
    assert rest["incomplete"] is False
    assert sorted(first["shred"] + rest["shred"]) == sorted(leavers)


def test_the_daily_schedule_sweeps_as_the_system(us: dict[str, Any]) -> None:
    import app as app_module

    leaver = enrol_leaver(us, 1, "2025-01-02")
    us["clock"].now = datetime(2028, 6, 1, tzinfo=UTC)
    composition.use(us["container"])
    client = Client(app_module.app)
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    client.lambda_.invoke("retention", event)
    assert us["api"].call("GET", us["learners"] + leaver, us["staff"])[0] == 410
    trail = events(us["container"], us["tenant_id"], "US")
    shred = next(e for e in trail if e["action"] == "retention.shred")
    assert shred["actor"] == {"sub": "system:retention-scheduler", "role": "system"}


def test_departures_show_when_records_expire_and_are_validated(us: dict[str, Any]) -> None:
    app = us["api"]
    learner_id = enrol_leaver(us, 1, None)
    path = us["learners"] + learner_id + "/departure"
    status, departure = app.call("PUT", path, us["admin"], {"left_on": "2025-01-03"})
    assert status == 200
    assert departure["left_on"] == "2025-01-03"
    assert departure["retention"]["learner"]["expires_at"] == "2028-01-03T00:00:00Z"
    assert departure["retention"]["learner"]["days"] == 1095
    assert app.call("PUT", path, us["admin"], {"left_on": "2025-01-07"})[0] == 422  # the clock's tomorrow
    assert app.call("PUT", path, us["admin"], {"left_on": "yesterday"})[0] == 422
    assert app.call("PUT", path, us["staff"], {"left_on": "2025-01-03"})[0] == 403
    assert app.call("PUT", path, us["admin"], {"left_on": None})[1]["retention"] is None
    us["clock"].now = datetime(2030, 1, 1, tzinfo=UTC)
    mine = tenant_report(app.call("POST", "/v1/retention/sweep", us["regional"])[1], us["tenant_id"])
    assert mine["examined"] == 0  # cleared: still enrolled, nothing expires


@pytest.mark.parametrize(("role", "region", "status"), [
    ("tenant_admin", US, 403), ("compliance_officer", US, 403), ("regional_admin", "eu-west-2", 403),
    ("platform_admin", US, 200),
])
def test_only_admins_of_the_region_sweep(us: dict[str, Any], token: TokenFactory, role: str, region: str,
                                         status: int) -> None:
    tenant = us["tenant_id"] if role == "tenant_admin" else None
    assert us["api"].call("POST", "/v1/retention/sweep?dry_run=true", token(role, tenant, region))[0] == status
    assert us["api"].call("POST", "/v1/retention/sweep?dry_run=maybe", us["regional"])[0] == 400


def test_sweep_reports_are_the_same_shape_for_every_tenant(us: dict[str, Any]) -> None:
    report = us["api"].call("POST", "/v1/retention/sweep?dry_run=true", us["regional"])[1]
    assert report["region"] == US
    assert us["tenant_id"] in [t["tenant_id"] for t in report["tenants"]]
    assert set(report["totals"]) >= {"tenants", "shred", "held", "purge", "records_purged"}



# ------------------------------------------------------------------------------- holds racing erasure

def _callers(tenant_id: str) -> tuple[Caller, Caller]:
    regional = Principal("race-regional", "race-regional", Role.REGIONAL_ADMIN, "eu-west-2")
    admin = Principal("race-admin", "race-admin", Role.TENANT_ADMIN, "eu-west-2", tenant_id)
    return Caller(regional, "req-hold"), Caller(admin, "req-erase")


def _container(emulated: Emulated) -> composition.Container:
    return composition.Container(regional_settings("eu-west-2", emulated.provisioned), clients=emulated.clients,
                                 key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions)


@pytest.mark.parametrize("scope", ["learner", "tenant"])
def test_a_hold_placed_between_erasures_check_and_its_commit_wins(school: dict[str, Any], emulated: Emulated,
                                                                  scope: str) -> None:
    """Interleaving 1: the erasure reads "no hold", the hold commits, then the erasure commits: 409."""
    container = _container(emulated)
    regional, admin = _callers(school["tenant_id"])
    learner_id = school["learners"][0]
    placed: list[dict[str, Any]] = []

    def check_then_hold_lands(tenant: Tenant, held_learner: str) -> bool:
        seen = container.holds.is_held(tenant, held_learner)
        body = HoldCreate(reason=REASON, learner_id=learner_id if scope == "learner" else None)
        placed.append(container.holds.place(regional, school["tenant_id"], body))
        return seen

    racing = ErasureService(container.access, container.data_store, container.learners, container.audit_store,
                            container.clock, holds=check_then_hold_lands, hold_guards=container.holds.erasure_guards)
    with pytest.raises(LegalHoldActive):
        racing.erase(admin, school["tenant_id"], learner_id)
    assert placed
    assert placed[0]["scope"] == scope
    status, learner = school["eu"].call("GET", school["learner_path"] + learner_id, school["staff"])
    assert status == 200, learner  # the held learner is intact
    # once that hold is lifted, nothing counted is left: the erasure goes through
    container.holds.lift(regional, school["tenant_id"], placed[0]["hold_id"])
    assert school["eu"].call("DELETE", school["learner_path"] + learner_id, school["admin"])[0] == 200


class ErasingDataStore(DataStore):
    """The data store as the hold sees it, with an erasure landing as the hold builds its learner check
    (the hold reads nothing first: its transaction's check is all it knows of the learner)."""

    def __init__(self, inner: DataStore, erase: Callable[[], None]) -> None:
        self.__dict__.update(inner.__dict__)
        self._erase = erase

    def learner_exists_check(self, jurisdiction: str, tenant_id: str, learner_id: str) -> TransactWriteItemTypeDef:
        check = super().learner_exists_check(jurisdiction, tenant_id, learner_id)
        self._erase()
        return check


def test_an_erasure_between_a_holds_check_and_its_commit_wins(school: dict[str, Any], emulated: Emulated) -> None:
    """Interleaving 2: the hold builds its transaction, the erasure commits, then the hold commits: 410."""
    container = _container(emulated)
    regional, admin = _callers(school["tenant_id"])
    learner_id = school["learners"][1]
    erased: list[dict[str, Any]] = []
    data = ErasingDataStore(container.data_store,
                            lambda: erased.append(container.erasure.erase(admin, school["tenant_id"], learner_id)))
    racing = HoldService(container.access, container.governance_store, data, container.tenant_keys,
                         container.audit_store, container.idempotent, container.clock)
    with pytest.raises(Gone):
        racing.place(regional, school["tenant_id"], HoldCreate(reason=REASON, learner_id=learner_id))
    assert erased
    assert erased[0]["key_destroyed"] is True
    status, holds = school["eu"].call("GET", school["holds"], school["regional"])
    assert status == 200
    assert holds["items"] == []  # no hold was recorded on the erased learner
