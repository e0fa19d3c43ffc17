"""A tenant's identity is bound to its home region: tokens of any other region's pool reach nothing.

A tenant role (tenant_admin, tenant_staff) is honoured only from the Cognito pool of the tenant's home
region, a regional role (regional_admin, compliance_officer) only for tenants homed in its own region.
Both enforcement layers refuse on their own: the Cedar policies (``principal.region ==
resource.home_region``) and ``AccessControl``'s principal check (403 ``wrong_identity_pool``, audited).

The route matrices enumerate the app's own routes, so a new tenant route is covered without editing
this file (a new body model or path parameter fails loudly until it gets a sample below).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from chalicelib import composition
from chalicelib.adapters.cedar_authz import CedarAuthorizer
from chalicelib.domain.authz import RegionResource, Resource, TenantResource
from chalicelib.domain.errors import NotFound, WrongIdentityPool
from chalicelib.domain.identity import Principal, Role, scope_refusal
from chalicelib.domain.ids import new_id
from chalicelib.domain.tenants import Tenant
from chalicelib.http import RouteSpec
from chalicelib.services.access import AccessControl
from chalicelib.settings import PROJECT_ROOT, REGIONS
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory
from tests.integration.services.test_privacy import all_items

HOME = "eu-west-2"
OTHER_POOLS = tuple(region for region in REGIONS if region != HOME)
TENANT_ROLES = ("tenant_admin", "tenant_staff")
REGIONAL_ROLES = ("regional_admin", "compliance_officer")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def app_routes() -> list[RouteSpec]:
    import app as app_module

    return list(app_module.api.specs)


def tenant_routes() -> list[RouteSpec]:
    """Every route about one tenant: its path names the tenant."""
    return [spec for spec in app_routes() if "{tenant_id}" in spec.path]


def region_routes() -> list[RouteSpec]:
    """Every signed-in route about this region as a whole (not public, not open to every role)."""
    return [spec for spec in app_routes()
            if "{tenant_id}" not in spec.path and not spec.public and spec.roles != ("any",)]


@pytest.fixture(scope="module")
def school(api: dict[str, RegionalApi], token: TokenFactory) -> dict[str, Any]:
    """A UK tenant (home eu-west-2) with a learner, results, a consent, a fulfilled access request, a
    held second learner and an incident; the personal values it holds; a sample body per body model."""
    eu = api[HOME]
    status, tenant = eu.call("POST", "/v1/tenants", token("platform_admin", region=HOME),
                             {"name": "Harrowgate Identity School", "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    tenant_id = tenant["tenant_id"]
    staff, admin = token("tenant_staff", tenant_id, HOME), token("tenant_admin", tenant_id, HOME)
    regional = token("regional_admin", None, HOME)
    people = [{"given_name": f"Wilhelmina{n}", "family_name": f"Quarrington{n}",
               "email": f"wilhelmina{n}.quarrington@home-pool.example", "date_of_birth": "2008-03-04",
               "guardian": {"name": f"Ottoline Quarrington{n}", "email": f"ottoline{n}@home-pool.example"},
               "programme": f"Sixth form {n}"} for n in (1, 2)]
    learners = []
    for person in people:
        status, learner = eu.call("POST", f"/v1/tenants/{tenant_id}/learners", staff, person)
        assert status == 201, learner
        learners.append(learner["learner_id"])
    learner_id, held_id = learners
    base = f"/v1/tenants/{tenant_id}"
    status, result = eu.call("POST", f"{base}/learners/{learner_id}/results", staff,
                             {"assessment": "Zetetic calculus", "score": 7, "max_score": 9, "taken_on": "2025-03-01"})
    assert status == 201, result
    status, consent = eu.call("POST", f"{base}/learners/{learner_id}/consents", staff,
                              {"purpose": "research", "decision": "granted", "given_by": "guardian",
                               "verification": "signed_form"})
    assert status == 201, consent
    status, request = eu.call("POST", f"{base}/requests", admin, {"learner_id": learner_id, "type": "access"})
    assert status == 201, request
    assert request["status"] == "fulfilled", request
    status, hold = eu.call("POST", f"{base}/legal-holds", regional,
                           {"reason": "pending claim", "category": "litigation", "learner_id": held_id})
    assert status == 201, hold
    status, incident = eu.call("POST", "/v1/incidents", regional, {
        "discovered_at": datetime.now(UTC).isoformat(), "tenant_ids": [tenant_id], "summary": "lost laptop"})
    assert status == 201, incident
    status, started = eu.call("POST", f"{base}/imports", admin, {"kind": "learners"})
    assert status == 201, started
    personal = [value for person in people
                for value in (person["given_name"], person["family_name"], person["email"], person["programme"],
                              person["guardian"]["name"], person["guardian"]["email"])]
    bodies = {  # one valid body per body model: the request reaches authorization, not a 422
        "TenantCreate": {"name": "Another School", "kind": "school", "jurisdiction": "UK"},
        "LearnerCreate": {"given_name": "Intruding", "family_name": "Enrolment", "email": "intruder@elsewhere.example",
                          "date_of_birth": "2009-01-01"},
        "LearnerSearch": {"email": people[0]["email"]},
        "LearnerPatch": {"family_name": "Rectified-by-another-pool"},
        "ResultCreate": {"assessment": "Intrusion", "score": 1, "max_score": 2, "taken_on": "2025-03-02"},
        "ConsentCreate": {"purpose": "research", "decision": "withdrawn", "given_by": "guardian",
                          "verification": "signed_form"},
        "RequestCreate": {"learner_id": learner_id, "type": "erasure"},
        "RequestClose": {"outcome": "rejected", "reason": "manifestly_unfounded"},
        "RequestPause": {"reason": "identity"},
        "EvidenceCreate": {"evidenced_on": "2026-01-01"},
        "AuditExportCreate": {},
        "HoldCreate": {"reason": "another pool's hold", "learner_id": learner_id},
        "HoldLift": {"reason": "another pool lifts it"},
        "DepartureUpdate": {"left_on": "2020-01-01"},
        "StreamSwitch": {"enabled": True},
        "ImportCreate": {"kind": "learners", "format": "csv"},
        "IncidentCreate": {"discovered_at": datetime.now(UTC).isoformat(), "tenant_ids": [tenant_id],
                           "summary": "probe"},
        "WebhookCreate": {"url": "https://hooks.elsewhere.example/in", "event_types": ["request.created"]},
    }
    status, webhook = eu.call("POST", f"{base}/webhooks", admin,
                              {"url": "https://hooks.harrowgate.example/enclave", "event_types": ["request.created"]})
    assert status == 201, webhook
    ids = {"tenant_id": tenant_id, "learner_id": learner_id, "request_id": request["request_id"],
           "hold_id": hold["hold_id"], "incident_id": incident["incident_id"], "key": "uk-breach-log",
           "webhook_id": webhook["webhook_id"], "delivery_id": "msg_" + "0" * 32,
           "import_id": started["import_id"]}
    return {"tenant_id": tenant_id, "ids": ids, "personal": personal, "bodies": bodies,
            "secret_ids": [learner_id, held_id, result["result_id"], request["request_id"]]}


def concrete(spec: RouteSpec, school: dict[str, Any]) -> tuple[str, Any]:
    """The route's path with the school's ids, and a valid body for it."""
    names = PLACEHOLDER.findall(spec.path)
    missing = [name for name in names if name not in school["ids"]]
    assert not missing, f"{spec.method} {spec.path}: add a sample id for {missing} to the school fixture"
    path = PLACEHOLDER.sub(lambda match: str(school["ids"][match.group(1)]), spec.path)
    if spec.body is None:
        return path, None
    assert spec.body.__name__ in school["bodies"], f"add a sample {spec.body.__name__} body to the school fixture"
    return path, school["bodies"][spec.body.__name__]


def stored(emulated: Emulated) -> Iterator[tuple[str, str, str]]:
    """Every stored item but the audit trails' (a refusal is audited there, on purpose)."""
    return ((region, table, item) for region, table, item in all_items(emulated)
            if not table.startswith("enclave-audit"))


def snapshot(emulated: Emulated) -> tuple[list[tuple[str, str, str]], list[str]]:
    s3 = emulated.clients.s3(HOME)
    objects = sorted(f"{bucket['Name']}/{obj['Key']}" for bucket in s3.list_buckets()["Buckets"]
                     for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
                     for obj in page.get("Contents", []))
    return sorted(stored(emulated)), objects


QUERIES = {("GET", "/v1/requests"): "?overdue=true"}  # a query a route needs to get past its 400


class Answer(NamedTuple):
    endpoint: str
    method: str
    route: str
    status: int
    body: Any
    leaked: list[str]  # the school's personal values and ids the body revealed

    @property
    def call(self) -> tuple[str, str, str, int]:
        return self.endpoint, self.method, self.route, self.status

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


def sweep(api: dict[str, RegionalApi], caller: str, routes: list[RouteSpec], school: dict[str, Any],
          endpoints: tuple[str, ...]) -> list[Answer]:
    """Each route at each endpoint with ``caller``'s token, with what it answered."""
    answers = []
    for spec in sorted(routes, key=lambda spec: spec.method == "DELETE"):  # erasure and offboarding last
        path, body = concrete(spec, school)
        path += QUERIES.get((spec.method, spec.path), "")
        for endpoint in endpoints:
            status, answer = api[endpoint].call(spec.method, path, caller, body)
            text = json.dumps(answer)
            leaked = [value for value in school["personal"] + school["secret_ids"] if value in text]
            answers.append(Answer(endpoint, spec.method, spec.path, status, answer, leaked))
    return answers


def test_the_matrix_covers_every_tenant_route() -> None:
    paths = {(spec.method, spec.path) for spec in tenant_routes()}
    assert len(paths) >= 25
    assert ("GET", "/v1/tenants/{tenant_id}/learners/{learner_id}") in paths
    assert ("GET", "/v1/tenants/{tenant_id}/requests/{request_id}/package") in paths


@pytest.mark.parametrize("role", TENANT_ROLES)
@pytest.mark.parametrize("pool", OTHER_POOLS)
def test_a_tenant_token_from_another_pool_reaches_nothing(
        api: dict[str, RegionalApi], token: TokenFactory, emulated: Emulated, school: dict[str, Any],
        pool: str, role: str) -> None:
    """The tenant's own id in the token, but issued by another region's pool: 403 ``wrong_identity_pool``
    on every tenant route, at the tenant's home endpoint and at the pool's own (before any 421)."""
    foreign = token(role, school["tenant_id"], pool)
    before = snapshot(emulated)
    answers = sweep(api, foreign, tenant_routes(), school, (HOME, pool))
    served = [a.call for a in answers if a.status < 300]
    leaks = [(a.call, a.leaked) for a in answers if a.leaked]
    wrong = [(a.call, a.body) for a in answers if (a.status, a.code) != (403, "wrong_identity_pool")]
    assert not served, f"{len(served)} of {len(answers)} calls were served: {served}"
    assert not leaks, f"personal values or ids revealed: {leaks}"
    assert not wrong, f"{len(wrong)} of {len(answers)} answers were not 403 wrong_identity_pool: {wrong[:5]}"
    assert all(set(a.body) == {"error"} and {"code", "message"} <= set(a.body["error"]) for a in answers)
    assert snapshot(emulated) == before, "a refused call wrote something"


@pytest.mark.parametrize("role", REGIONAL_ROLES)
@pytest.mark.parametrize("pool", OTHER_POOLS)
def test_a_regional_token_reaches_no_tenant_of_another_region(
        api: dict[str, RegionalApi], token: TokenFactory, emulated: Emulated, school: dict[str, Any],
        pool: str, role: str) -> None:
    """An admin or officer of another region: the tenant is unknown to them (404, as for any unrelated
    caller), this region's lists and sweeps are not theirs (403), and nothing is written or read."""
    foreign = token(role, None, pool)
    before = snapshot(emulated)
    on_tenants = sweep(api, foreign, tenant_routes(), school, (HOME, pool))
    on_region = sweep(api, foreign, region_routes(), school, (HOME,))
    assert not [(a.call, a.leaked) for a in on_tenants + on_region if a.leaked]
    assert not [(a.call, a.body) for a in on_tenants if a.status != 404]
    assert not [(a.call, a.body) for a in on_region if a.status not in (403, 404)]
    assert snapshot(emulated) == before, "a refused call wrote something"


def test_home_pool_tokens_still_work(api: dict[str, RegionalApi], token: TokenFactory,
                                     school: dict[str, Any]) -> None:
    base = f"/v1/tenants/{school['tenant_id']}"
    learner = f"{base}/learners/{school['ids']['learner_id']}"
    assert api[HOME].call("GET", learner, token("tenant_staff", school["tenant_id"], HOME))[0] == 200
    assert api[HOME].call("GET", f"{base}/requests/{school['ids']['request_id']}/package",
                          token("tenant_admin", school["tenant_id"], HOME))[0] == 200
    assert api[HOME].call("GET", f"{base}/audit/verify", token("compliance_officer", None, HOME))[0] == 200
    # the home pool's user at another region's endpoint still learns where to go (421), as before
    status, body = api["us-east-1"].call("GET", learner, token("tenant_staff", school["tenant_id"], HOME))
    assert (status, body["error"]["home_region"]) == (421, HOME)


def test_the_refusal_is_audited_in_the_tenants_trail(api: dict[str, RegionalApi], token: TokenFactory,
                                                     containers: dict[str, composition.Container],
                                                     school: dict[str, Any]) -> None:
    tenant_id = school["tenant_id"]
    foreign = token("tenant_admin", tenant_id, "us-east-1", sub="identity-home-auditee")
    path = f"/v1/tenants/{tenant_id}/learners/{school['ids']['learner_id']}"
    status, body = api[HOME].call("GET", path, foreign)
    assert (status, body["error"]["code"]) == (403, "wrong_identity_pool")
    trail = list(containers[HOME].audit_store.events(tenant_id, "UK"))
    refused = [event for event in trail if event["outcome"] == "denied"
               and event["details"].get("reason") == "wrong_identity_pool"
               and event["request_id"] == body["error"]["request_id"]]
    assert len(refused) == 1, refused
    event = refused[0]
    assert (event["action"], event["actor"]["role"]) == ("learner.read", "tenant_admin")
    assert event["details"]["pool_region"] == "us-east-1"
    assert event["resource"] == f"tenants/{tenant_id}"
    assert not [value for value in school["personal"] if value in json.dumps(event)]


# ------------------------------------------------------------------------------ each layer on its own


def actions(resource_type: str) -> list[str]:
    """The schema's actions on ``resource_type`` (``Tenant`` or ``Region``)."""
    schema = (PROJECT_ROOT / "policies" / "authz" / "schema.cedarschema").read_text(encoding="utf-8")
    found = sorted(name for names, resources in re.findall(r'action\s+((?:"[a-z_.]+"[\s,]*)+)appliesTo\s*\{[^}]*'
                                                             r'resource:\s*\[([^\]]*)\]', schema)
                   if resource_type in resources for name in re.findall(r'"([a-z_.]+)"', names))
    assert len(found) >= 5, resource_type
    return found


def test_the_policies_are_valid_against_the_schema() -> None:
    assert CedarAuthorizer(PROJECT_ROOT / "policies" / "authz").validate() == []


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.TENANT_STAFF])
def test_the_cedar_policies_alone_refuse_a_tenant_user_of_another_pool(role: Role) -> None:
    cedar = CedarAuthorizer(PROJECT_ROOT / "policies" / "authz")
    tenant_id = new_id("tnt")
    resource = TenantResource(tenant_id, HOME)
    home = Principal("sub-home", "home", role, HOME, tenant_id)
    assert [a for a in actions("Tenant") if cedar.is_allowed(home, a, resource)], "the home pool's user may do nothing"
    for pool in OTHER_POOLS:
        foreign = Principal("sub-foreign", "foreign", role, pool, tenant_id)
        assert [a for a in actions("Tenant") if cedar.is_allowed(foreign, a, resource)] == [], pool


@pytest.mark.parametrize("role", [Role.REGIONAL_ADMIN, Role.COMPLIANCE_OFFICER])
def test_the_cedar_policies_alone_refuse_a_regional_role_of_another_region(role: Role) -> None:
    cedar = CedarAuthorizer(PROJECT_ROOT / "policies" / "authz")
    tenant = TenantResource(new_id("tnt"), HOME)
    assert [a for a in actions("Tenant") if cedar.is_allowed(Principal("s", "u", role, HOME), a, tenant)]
    for pool in OTHER_POOLS:
        foreign = Principal("s", "u", role, pool)
        assert [a for a in actions("Tenant") if cedar.is_allowed(foreign, a, tenant)] == [], pool
        assert [a for a in actions("Region") if cedar.is_allowed(foreign, a, RegionResource(HOME))] == [
            "jurisdiction.read"], pool  # the law packs are public policy


class PermitAll:
    """A policy set that permits everything: only the principal check stands."""

    def is_allowed(self, principal: Principal, action: str, resource: Resource) -> bool:
        return True


class OneTenant:
    def __init__(self, tenant: Tenant) -> None:
        self._tenant = tenant

    def get(self, tenant_id: str) -> Tenant | None:
        return self._tenant if tenant_id == self._tenant.tenant_id else None


def permissive_access(tenant: Tenant, denials: list[tuple[str, str, str]]) -> AccessControl:
    return AccessControl(OneTenant(tenant), PermitAll(), HOME, lambda region: f"https://{region}.test",
                         on_denied=lambda principal, t, action, reason: denials.append((t.tenant_id, action, reason)))


def uk_tenant() -> Tenant:
    return Tenant(tenant_id=new_id("tnt"), name="School", kind="school", jurisdiction="UK", home_region=HOME,
                  created_at=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.TENANT_STAFF])
def test_the_principal_check_alone_refuses_a_tenant_user_of_another_pool(role: Role) -> None:
    tenant = uk_tenant()
    denials: list[tuple[str, str, str]] = []
    access = permissive_access(tenant, denials)
    for pool in OTHER_POOLS:
        foreign = Principal("sub", "user", role, pool, tenant.tenant_id)
        with pytest.raises(WrongIdentityPool):
            access.tenant(foreign, tenant.tenant_id, "learner.read")
        assert access.permits(foreign, "learner.read", tenant) is False
        assert access.may(foreign, tenant.tenant_id, "incident.read") is False
    assert denials == [(tenant.tenant_id, "learner.read", "wrong_identity_pool")] * len(OTHER_POOLS)
    home = Principal("sub", "user", role, HOME, tenant.tenant_id)
    assert access.tenant(home, tenant.tenant_id, "learner.read") == tenant


@pytest.mark.parametrize("role", [Role.REGIONAL_ADMIN, Role.COMPLIANCE_OFFICER])
def test_the_principal_check_alone_keeps_regional_roles_in_their_region(role: Role) -> None:
    tenant = uk_tenant()
    denials: list[tuple[str, str, str]] = []
    access = permissive_access(tenant, denials)
    for pool in OTHER_POOLS:
        foreign = Principal("sub", "user", role, pool)
        with pytest.raises(NotFound):
            access.tenant(foreign, tenant.tenant_id, "learner.read")
        with pytest.raises(WrongIdentityPool):
            access.region(foreign, "request.list_overdue")
        with pytest.raises(WrongIdentityPool):
            access.onboarding(foreign, HOME)
        assert access.may(foreign, tenant.tenant_id, "incident.read") is False
    access.region(Principal("sub", "user", role, "us-east-1"), "jurisdiction.read")  # open to every pool
    assert access.tenant(Principal("sub", "user", role, HOME), tenant.tenant_id, "tenant.read") == tenant


def test_the_scope_rule() -> None:
    tenant_id = new_id("tnt")
    assert scope_refusal(Principal("s", "u", Role.TENANT_STAFF, "us-east-1", tenant_id), HOME) == "wrong_identity_pool"
    assert scope_refusal(Principal("s", "u", Role.TENANT_STAFF, HOME, tenant_id), HOME) is None
    assert scope_refusal(Principal("s", "u", Role.REGIONAL_ADMIN, "us-east-1"), HOME) == "wrong_identity_pool"
    assert scope_refusal(Principal("s", "u", Role.COMPLIANCE_OFFICER, HOME), HOME) is None
    for pool in REGIONS:  # platform administrators act on every region from any pool
        assert scope_refusal(Principal("s", "u", Role.PLATFORM_ADMIN, pool), HOME) is None
