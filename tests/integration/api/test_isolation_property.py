"""Tenant isolation as a property: whatever sequence of calls actors of several tenants and roles
make, with ids drawn from every tenant, no response carries another tenant's data or ids.

Hypothesis drives a state machine over three tenants, two in one region (UK, eu-west-2) and one in
another (US, us-east-1), and eleven actors: each tenant's admin and staff, the regional admins and
compliance officers of both regions, and a platform admin. Each step is one call (enrol, read, find
by e-mail, rectify, erase, add or list results, read or verify the audit trail, read the tenant)
sent to either region's endpoint, naming any tenant and any learner of any tenant.

Every value that reaches the platform is unique and recorded as belonging to the tenant the call
named (tenant and learner ids, result ids, names, e-mails, assessments, tenant names). The
invariants, checked on the raw text of every response:

* a response about tenant X never contains a value of any other tenant;
* an actor without standing with X (another tenant's user, an admin or officer of another region)
  learns nothing of X either: 403/404/421 with no value of X in the body.

A fixed warm-up makes every operation succeed once under the same checks before hypothesis explores,
so the success paths are covered whatever it draws (``ENCLAVE_PROPERTY_EXAMPLES=300`` for a deeper,
random run: about 4,500 calls in a minute).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chalicelib import composition
from tests.integration.conftest import RegionalApi, TokenFactory

REGIONS = ("eu-west-2", "us-east-1")
EXAMPLES = int(os.environ.get("ENCLAVE_PROPERTY_EXAMPLES", "25"))  # more (and random) for a deeper local run
TENANT_ROLES = ("tenant_admin", "tenant_staff")
INDEX = st.integers(min_value=0, max_value=64)  # positions in lists that grow as the machine runs
AIM = st.integers(min_value=0, max_value=3)  # 0: any target at all; else one the actor has standing with


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    tenant_id: str | None
    region: str  # the pool that issued the token (regional roles' scope)
    token: str


@dataclass
class World:
    """The tenants, actors and every value sent so far, with the tenant each belongs to."""

    api: dict[str, RegionalApi]
    home: dict[str, str]  # tenant id -> home region
    actors: list[Actor]
    learners: list[tuple[str, str]] = field(default_factory=list)  # (tenant id, learner id), every tenant
    emails: list[tuple[str, str]] = field(default_factory=list)  # (tenant id, e-mail)
    owner: dict[str, str] = field(default_factory=dict)  # value -> tenant id
    calls: dict[str, int] = field(default_factory=dict)  # "<rule> <status>" -> count, for the report

    @property
    def tenants(self) -> list[str]:
        return list(self.home)  # in onboarding order (A, B, C), so a derandomized run is the same every time

    def own(self, tenant_id: str, *values: str) -> None:
        for value in values:
            self.owner[value] = tenant_id

    def standing(self, actor: Actor, tenant_id: str) -> bool:
        if actor.role in TENANT_ROLES:
            return actor.tenant_id == tenant_id
        if actor.role == "platform_admin":
            return True
        return actor.region == self.home[tenant_id]

    def call(self, rule_name: str, actor: Actor, region: str, method: str, path: str, tenant_id: str,
             body: Any = None) -> tuple[int, str]:
        """Send the call, check the response against the invariants, return status and raw text."""
        api = self.api[region]
        composition.use(api.container)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {actor.token}"}
        response = api._client.http.request(method, path, headers=headers,
                                            body=json.dumps(body).encode() if body is not None else b"")
        text = response.body.decode() if isinstance(response.body, bytes) else str(response.body)
        status = response.status_code
        key = f"{rule_name} {status}"
        self.calls[key] = self.calls.get(key, 0) + 1
        assert status < 500, (status, text)
        foreign = sorted(v for v, owner in self.owner.items() if owner != tenant_id and v in text)
        assert not foreign, f"{actor.name} {method} {path} -> {status}: values of other tenants {foreign}"
        if not self.standing(actor, tenant_id):
            assert status in (403, 404, 421), f"{actor.name} without standing got {status} for {path}: {text}"
            mine = sorted(v for v, owner in self.owner.items() if owner == tenant_id and v != tenant_id
                          and v in text)
            assert not mine, f"{actor.name} without standing learned {mine} from {path}"
        return status, text


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Isolation(RuleBasedStateMachine):
    """Each rule draws an actor and, through ``aim``, either a call the actor may well make (a tenant it
    has standing with, at its home endpoint, one of its learners: 3 draws in 4) or any tenant, any
    endpoint and any learner of any tenant; the invariants hold either way."""

    world: World  # set by the test before the machine runs

    def _target(self, a: int, t: int, r: int, aim: int) -> tuple[Actor, str, str]:
        world = self.world
        actor = world.actors[a % len(world.actors)]
        tenants = world.tenants
        if aim:
            tenants = [tenant for tenant in tenants if world.standing(actor, tenant)] or tenants
        tenant_id = tenants[t % len(tenants)]
        region = world.home[tenant_id] if aim else REGIONS[r % len(REGIONS)]
        return actor, tenant_id, region

    def _learner(self, tenant_id: str, n: int, aim: int) -> str:
        learners = [lid for tid, lid in self.world.learners if tid == tenant_id] if aim else []
        learners = learners or [lid for _, lid in self.world.learners]
        return learners[n % len(learners)]

    def _path(self, tenant_id: str, learner_id: str | None = None, tail: str = "") -> str:
        path = f"/v1/tenants/{tenant_id}/learners"
        return f"{path}/{learner_id}{tail}" if learner_id else path

    @rule(a=INDEX, t=INDEX, r=INDEX, aim=AIM)
    def enrol(self, a: int, t: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        body = {"given_name": unique("Given"), "family_name": unique("Family"),
                "email": f"{unique('mail')}@example.org", "date_of_birth": "2010-02-03",
                "guardian": {"name": unique("Guardian"), "email": f"{unique('guard')}@example.org"},
                "programme": unique("Programme")}
        self.world.own(tenant_id, body["given_name"], body["family_name"], body["email"], body["programme"],
                       body["guardian"]["name"], body["guardian"]["email"])
        self.world.emails.append((tenant_id, body["email"]))
        status, text = self.world.call("enrol", actor, region, "POST", self._path(tenant_id), tenant_id, body)
        if status == 201:
            learner_id = json.loads(text)["learner_id"]
            self.world.learners.append((tenant_id, learner_id))
            self.world.own(tenant_id, learner_id)

    @rule(a=INDEX, t=INDEX, n=INDEX, r=INDEX, aim=AIM)
    def read(self, a: int, t: int, n: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        self.world.call("read", actor, region, "GET", self._path(tenant_id, self._learner(tenant_id, n, aim)),
                        tenant_id)

    @rule(a=INDEX, t=INDEX, n=INDEX, r=INDEX, aim=AIM)
    def find(self, a: int, t: int, n: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        emails = [e for tid, e in self.world.emails if tid == tenant_id] if aim else []
        emails = emails or [e for _, e in self.world.emails]
        self.world.call("find", actor, region, "POST", f"{self._path(tenant_id)}/search", tenant_id,
                        {"email": emails[n % len(emails)]})

    @rule(a=INDEX, t=INDEX, n=INDEX, r=INDEX, aim=AIM)
    def rectify(self, a: int, t: int, n: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        family_name = unique("Rectified")
        self.world.own(tenant_id, family_name)
        self.world.call("rectify", actor, region, "PATCH", self._path(tenant_id, self._learner(tenant_id, n, aim)),
                        tenant_id, {"family_name": family_name})

    @rule(a=INDEX, t=INDEX, n=INDEX, r=INDEX, aim=AIM)
    def erase(self, a: int, t: int, n: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        self.world.call("erase", actor, region, "DELETE", self._path(tenant_id, self._learner(tenant_id, n, aim)),
                        tenant_id)

    @rule(a=INDEX, t=INDEX, n=INDEX, r=INDEX, aim=AIM)
    def add_result(self, a: int, t: int, n: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        assessment = unique("Assessment")
        self.world.own(tenant_id, assessment)
        status, text = self.world.call(
            "add_result", actor, region, "POST", self._path(tenant_id, self._learner(tenant_id, n, aim), "/results"),
            tenant_id, {"assessment": assessment, "score": 3, "max_score": 5, "taken_on": "2025-01-02"})
        if status == 201:
            self.world.own(tenant_id, json.loads(text)["result_id"])

    @rule(a=INDEX, t=INDEX, n=INDEX, r=INDEX, aim=AIM)
    def results(self, a: int, t: int, n: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        self.world.call("results", actor, region, "GET",
                        self._path(tenant_id, self._learner(tenant_id, n, aim), "/results"), tenant_id)

    @rule(a=INDEX, t=INDEX, r=INDEX, aim=AIM, csv=st.booleans())
    def audit(self, a: int, t: int, r: int, aim: int, csv: bool) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        self.world.call("audit", actor, region, "GET",
                        f"/v1/tenants/{tenant_id}/audit" + ("?format=csv" if csv else ""), tenant_id)

    @rule(a=INDEX, t=INDEX, r=INDEX, aim=AIM)
    def verify(self, a: int, t: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        self.world.call("verify", actor, region, "GET", f"/v1/tenants/{tenant_id}/audit/verify", tenant_id)

    @rule(a=INDEX, t=INDEX, r=INDEX, aim=AIM)
    def tenant(self, a: int, t: int, r: int, aim: int) -> None:
        actor, tenant_id, region = self._target(a, t, r, aim)
        self.world.call("tenant", actor, region, "GET", f"/v1/tenants/{tenant_id}", tenant_id)

    @invariant()
    def every_tenant_keeps_its_learners(self) -> None:
        assert {tenant for tenant, _ in self.world.learners} == set(self.world.home)


@pytest.fixture(scope="module")
def world(api: dict[str, RegionalApi], token: TokenFactory) -> World:
    """Tenants A and B (UK, eu-west-2), C (US, us-east-1), each with one learner; their actors."""
    home: dict[str, str] = {}
    actors: list[Actor] = []
    names: dict[str, str] = {}
    for jurisdiction, region in (("UK", "eu-west-2"), ("UK", "eu-west-2"), ("US", "us-east-1")):
        name = unique("School ")
        status, tenant = api[region].call("POST", "/v1/tenants", token("platform_admin", region=region),
                                          {"name": name, "kind": "school", "jurisdiction": jurisdiction})
        assert status == 201, tenant
        tenant_id = tenant["tenant_id"]
        home[tenant_id] = region
        names[tenant_id] = name
        for role in TENANT_ROLES:
            actors.append(Actor(f"{role}@{tenant_id[-4:]}", role, tenant_id, region, token(role, tenant_id, region)))
    for region in REGIONS:
        for role in ("regional_admin", "compliance_officer"):
            actors.append(Actor(f"{role}@{region}", role, None, region, token(role, None, region)))
    actors.append(Actor("platform_admin", "platform_admin", None, "us-east-1", token("platform_admin")))
    world = World(api, home, actors)
    for tenant_id, region in home.items():
        world.own(tenant_id, tenant_id, names[tenant_id])
        email = f"{unique('seed')}@example.org"
        body = {"given_name": unique("Seed"), "family_name": unique("Seed"), "email": email,
                "date_of_birth": "2009-09-09"}
        world.own(tenant_id, body["given_name"], body["family_name"], email)
        status, learner = api[region].call("POST", f"/v1/tenants/{tenant_id}/learners",
                                           token("tenant_staff", tenant_id, region), body)
        assert status == 201, learner
        world.learners.append((tenant_id, learner["learner_id"]))
        world.own(tenant_id, learner["learner_id"])
        world.emails.append((tenant_id, email))
    return world


def warm_up(world: World) -> None:
    """Every operation once by an actor allowed to make it, through the same checks: the success path
    of each is covered whatever hypothesis then draws."""
    tenant_id = world.tenants[0]
    region = world.home[tenant_id]
    staff, admin, officer = (next(a for a in world.actors if a.role == role and a.tenant_id in (tenant_id, None)
                                  and a.region == region)
                             for role in ("tenant_staff", "tenant_admin", "compliance_officer"))
    learner_id = next(lid for tid, lid in world.learners if tid == tenant_id)
    email = next(e for tid, e in world.emails if tid == tenant_id)
    learner = f"/v1/tenants/{tenant_id}/learners/{learner_id}"
    assessment, family_name = unique("Assessment"), unique("Rectified")
    world.own(tenant_id, assessment, family_name)
    calls = [
        ("read", staff, "GET", learner, None),
        ("find", staff, "POST", f"/v1/tenants/{tenant_id}/learners/search", {"email": email}),
        ("add_result", staff, "POST", f"{learner}/results",
         {"assessment": assessment, "score": 1, "max_score": 2, "taken_on": "2025-01-02"}),
        ("results", staff, "GET", f"{learner}/results", None),
        ("rectify", admin, "PATCH", learner, {"family_name": family_name}),
        ("audit", officer, "GET", f"/v1/tenants/{tenant_id}/audit", None),
        ("verify", officer, "GET", f"/v1/tenants/{tenant_id}/audit/verify", None),
        ("tenant", staff, "GET", f"/v1/tenants/{tenant_id}", None),
    ]
    for name, actor, method, path, body in calls:
        status, text = world.call(name, actor, region, method, path, tenant_id, body)
        assert status < 300, (name, status, text)
        if name == "add_result":
            world.own(tenant_id, json.loads(text)["result_id"])


def test_no_response_carries_another_tenants_data(world: World) -> None:
    warm_up(world)
    Isolation.world = world
    before = sum(world.calls.values())
    run_state_machine_as_test(Isolation, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=15, deadline=None, derandomize=EXAMPLES == 25, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    print("calls by rule and status:", dict(sorted(world.calls.items())))
    assert sum(world.calls.values()) - before >= 4 * EXAMPLES, "hypothesis made too few calls to mean much"
