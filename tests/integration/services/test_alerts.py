"""Reminders and alerts: the hourly job with its clock moved, the e-mails SES recorded, the inbox, preferences.

Every message the emulator's SES recorded for this module's items is checked: who got it (exactly the people
who act, once per threshold), and that it holds no personal value of the learner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from chalicelib import composition
from chalicelib.adapters.alert_store import inbox_id
from chalicelib.adapters.cognito_admin import LOCAL_MAIL_DOMAIN
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.request_store import RequestStore
from chalicelib.adapters.ses_mailer import SesNotifier
from chalicelib.adapters.user_pool import UserPoolRecipients
from chalicelib.domain.alerts import Alert, Recipient
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.services.alerts import AlertJob
from tests.conftest import moto_jwks
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings

REGION = "eu-west-2"
LEARNER = {"given_name": "Philippa", "family_name": "Quennell", "email": "philippa.quennell@school.test",
           "date_of_birth": "2011-03-14", "programme": "Year Ten Sciences",
           "guardian": {"name": "Rosalind Quennell", "email": "r.quennell@home.test"}}
PERSONAL = ["Philippa", "Quennell", "philippa.quennell", "2011-03-14", "Year Ten", "Rosalind", "home.test",
            "school.test"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    api: RegionalApi
    job_container: composition.Container
    clock: Clock
    tenant_a: str
    tenant_b: str
    tokens: dict[str, str]

    def run(self, at: datetime) -> dict[str, Any]:
        self.clock.now = at
        composition.use(self.job_container)
        return self.job_container.alerts.run("test-run")


def address(username: str) -> str:
    return f"{username}@{LOCAL_MAIL_DOMAIN}"


def mail(about: str) -> list[Any]:
    """Every message the emulator's SES sent in the region whose subject names ``about``."""
    return [m for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages if about in m.subject]


def received(about: str) -> dict[str, int]:
    """Recipient address -> how many messages about ``about`` they got."""
    counts: dict[str, int] = {}
    for message in mail(about):
        for to in message.destinations["ToAddresses"]:
            counts[to] = counts.get(to, 0) + 1
    return counts


@pytest.fixture(scope="module")
def world(emulated: Emulated, api: dict[str, RegionalApi], token: TokenFactory) -> World:
    def onboard(name: str) -> str:
        status, tenant = api[REGION].call("POST", "/v1/tenants", token("platform_admin", region=REGION),
                                          {"name": name, "kind": "school", "jurisdiction": "UK"})
        assert status == 201, tenant
        return str(tenant["tenant_id"])

    tenant_a, tenant_b = onboard("Alerts School A"), onboard("Alerts School B")
    names = {"admin_a": ("tenant_admin", tenant_a, REGION), "admin_b": ("tenant_admin", tenant_b, REGION),
             "staff_a": ("tenant_staff", tenant_a, REGION), "officer": ("compliance_officer", None, REGION),
             "regional": ("regional_admin", None, REGION), "officer_us": ("compliance_officer", None, "us-east-1")}
    tokens = {key: token(role, tenant, region) for key, (role, tenant, region) in names.items()}
    tokens["quiet"] = token("compliance_officer", None, REGION, sub="alerts-quiet-officer")
    clock = Clock()
    container = composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                      clock=clock)
    return World(api[REGION], container, clock, tenant_a, tenant_b, tokens)


def username(key: str, world: World) -> str:
    return {"admin_a": f"tenant_admin-{world.tenant_a}-{REGION}", "admin_b": f"tenant_admin-{world.tenant_b}-{REGION}",
            "staff_a": f"tenant_staff-{world.tenant_a}-{REGION}", "officer": f"compliance_officer-{REGION}",
            "regional": f"regional_admin-{REGION}", "officer_us": "compliance_officer-us-east-1",
            "quiet": "alerts-quiet-officer"}[key]


@pytest.fixture(scope="module")
def open_request(world: World) -> dict[str, Any]:
    status, learner = world.api.call("POST", f"/v1/tenants/{world.tenant_a}/learners",
                                     world.tokens["staff_a"], LEARNER)
    assert status == 201, learner
    status, request = world.api.call("POST", f"/v1/tenants/{world.tenant_a}/requests", world.tokens["admin_a"],
                                     {"learner_id": learner["learner_id"], "type": "rectification"})
    assert status == 201, request
    return dict(request)


def due(request: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(request["due_at"].replace("Z", "+00:00"))


def test_each_request_threshold_mails_the_people_who_act_once(world: World, open_request: dict[str, Any]) -> None:
    request_id = open_request["request_id"]
    status, _ = world.api.call("PUT", "/v1/me/notifications", world.tokens["quiet"],
                               {"alerts": {"request.overdue": {"email": False}}})
    assert status == 200
    acting = {address(username(key, world)) for key in ("admin_a", "officer", "regional", "quiet")}
    outside = {address(username(key, world)) for key in ("admin_b", "staff_a", "officer_us")}
    for offset, threshold, wanted in ((timedelta(days=-6), "7d", acting), (timedelta(days=-1), "2d", acting),
                                      (timedelta(hours=1), "overdue", acting - {address("alerts-quiet-officer")})):
        before = received(request_id)
        report = world.run(due(open_request) + offset)
        assert report["new"] >= 1
        after = received(request_id)
        got = {to for to in after if after[to] != before.get(to, 0)}
        assert wanted <= got, threshold
        assert not got & outside, threshold
        assert all(after[to] - before.get(to, 0) == 1 for to in got), threshold  # one message each
        newest = mail(request_id)[len(mail(request_id)) - len(got):]
        assert all(f"Threshold: {threshold}" in m.body for m in newest)
        assert all(f"Deadline: {due(open_request):%Y-%m-%d %H:%M} UTC" in m.body for m in newest)
        world.run(due(open_request) + offset + timedelta(minutes=30))  # the next run sends nothing new
        assert received(request_id) == after, threshold
    # the unsubscribed officer got the two reminders, not the overdue alert
    assert received(request_id)[address("alerts-quiet-officer")] == 2


def test_incident_deadlines_tell_the_region_not_the_tenants(world: World) -> None:
    discovered = datetime.now(UTC) - timedelta(hours=1)
    status, incident = world.api.call("POST", "/v1/incidents", world.tokens["regional"], {
        "discovered_at": discovered.isoformat(), "tenant_ids": [world.tenant_a],
        "summary": "Quennell's laptop was stolen"})
    assert status == 201, incident
    deadlines = sorted(datetime.fromisoformat(d["due_at"].replace("Z", "+00:00"))
                       for d in incident["deadlines"] if d["due_at"])
    first = deadlines[0]
    incident_id = incident["incident_id"]
    officer, regional = address(username("officer", world)), address(username("regional", world))
    outside = {address(username(k, world)) for k in ("admin_a", "admin_b", "staff_a", "officer_us")}

    def told(to: str, what: str) -> int:
        return sum(1 for m in mail(incident_id) if what in m.subject and to in m.destinations["ToAddresses"])

    at = first - timedelta(hours=12)
    world.run(at)
    world.run(at + timedelta(minutes=10))
    near = sum(1 for d in deadlines if at < d <= at + timedelta(hours=24))
    assert near >= 1
    assert told(officer, "deadline is near") == told(regional, "deadline is near") == near
    at = first + timedelta(hours=1)
    world.run(at)
    world.run(at + timedelta(minutes=10))
    passed = sum(1 for d in deadlines if d <= at)
    assert told(officer, "has passed") == told(regional, "has passed") == passed
    assert not set(received(incident_id)) & outside


def test_an_audit_finding_reaches_the_officers(world: World) -> None:
    world.run(datetime.now(UTC))  # the job has looked at the chain up to here
    world.job_container.audit_store.commit(world.tenant_b, "UK", AuditEventDraft(
        actor_sub="system:audit-sequencer", actor_role="system", action="audit.event_altered",
        resource=f"tenants/{world.tenant_b}/audit", outcome="success", request_id="test",
        details={"event_id": "evt-altered-for-alerts", "change": "rewritten", "fields": ["details"]}))
    world.run(datetime.now(UTC) + timedelta(hours=1))
    world.run(datetime.now(UTC) + timedelta(hours=2))
    got = received("evt-altered-for-alerts")
    assert got.get(address(username("officer", world))) == 1
    assert got.get(address(username("regional", world))) == 1
    assert address(username("admin_b", world)) not in got


def test_no_message_holds_a_personal_value(world: World, open_request: dict[str, Any]) -> None:
    messages = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    ours = [m for m in messages if world.tenant_a in m.body or world.tenant_b in m.body]
    assert ours
    for message in ours:
        text = message.subject + "\n" + message.body
        assert not [value for value in PERSONAL if value.lower() in text.lower()], text
        assert "/#/inbox" in message.body


def test_the_officers_inbox_lists_the_alerts_and_marks_them_read(world: World, open_request: dict[str, Any]) -> None:
    officer = world.tokens["officer"]
    status, inbox = world.api.call("GET", "/v1/me/inbox", officer)
    assert status == 200, inbox
    overdue = [i for i in inbox["items"] if i["kind"] == "request.overdue"
               and i["subject_id"] == open_request["request_id"]]
    assert len(overdue) == 1
    assert not overdue[0]["read"]
    status, count = world.api.call("GET", "/v1/me/inbox/unread", officer)
    assert status == 200
    assert count["unread"] == inbox["unread"] >= 1
    status, marked = world.api.call("POST", "/v1/me/inbox/read", officer, {"ids": [overdue[0]["id"]]})
    assert status == 200
    assert marked == {"marked": 1, "unread": inbox["unread"] - 1}
    status, events = world.api.call("GET", f"/v1/tenants/{world.tenant_a}/audit/events?action=inbox.mark_read",
                                    officer)
    assert status == 200
    assert events["items"][-1]["details"]["alert_ids"] == [overdue[0]["alert_id"]]
    # an alert of the tenant's admin only (the due-soon reminders they were told) is not in the officer's inbox
    status, admins = world.api.call("GET", "/v1/me/inbox", world.tokens["admin_a"])
    assert status == 200
    assert {i["kind"] for i in admins["items"]} == {"request.due_soon", "request.overdue"}
    assert world.api.call("POST", "/v1/me/inbox/read", officer, {"ids": [inbox_id("I#2026-01-01#alr_none")]})[0] == 404
    assert world.api.call("POST", "/v1/me/inbox/read", officer, {"ids": ["not-an-id"]})[0] == 400
    # staff of the tenant are told nothing; another region's officer is refused here
    assert world.api.call("GET", "/v1/me/inbox", world.tokens["staff_a"])[1]["items"] == []
    assert world.api.call("GET", "/v1/me/inbox", world.tokens["officer_us"])[0] == 403


def test_preferences_default_on_and_refuse_unknown_kinds(world: World) -> None:
    status, prefs = world.api.call("GET", "/v1/me/notifications", world.tokens["admin_b"])
    assert status == 200
    assert prefs["alerts"]["request.overdue"] == {"email": True, "inbox": True}
    status, body = world.api.call("PUT", "/v1/me/notifications", world.tokens["admin_b"],
                                  {"alerts": {"request.nothing": {"email": False}}})
    assert status == 422, body
    status, prefs = world.api.call("PUT", "/v1/me/notifications", world.tokens["admin_b"],
                                   {"alerts": {"request.due_soon": {"inbox": False}}})
    assert status == 200
    assert prefs["alerts"]["request.due_soon"] == {"email": True, "inbox": False}


class FlakyMail:
    """SES that fails the first e-mail to one address (an outage), then delivers."""

    def __init__(self, inner: SesNotifier, failing: str) -> None:
        self.inner = inner
        self.failing = failing
        self.failed = 0

    def send(self, alert: Alert, recipient: Recipient) -> None:
        if recipient.email == self.failing and not self.failed:
            self.failed += 1
            raise ServiceUnavailable("SES is down")
        self.inner.send(alert, recipient)


def test_a_failed_email_is_sent_on_the_next_run_and_nothing_twice(world: World, token: TokenFactory) -> None:
    status, tenant = world.api.call("POST", "/v1/tenants", token("platform_admin", region=REGION),
                                    {"name": "Alerts School C", "kind": "school", "jurisdiction": "UK"})
    assert status == 201
    tenant_c = tenant["tenant_id"]
    admin_c = token("tenant_admin", tenant_c, REGION)
    status, learner = world.api.call("POST", f"/v1/tenants/{tenant_c}/learners",
                                     token("tenant_staff", tenant_c, REGION), LEARNER)
    assert status == 201
    status, request = world.api.call("POST", f"/v1/tenants/{tenant_c}/requests", admin_c,
                                     {"learner_id": learner["learner_id"], "type": "rectification"})
    assert status == 201
    c = world.job_container
    failing = address(f"tenant_admin-{tenant_c}-{REGION}")
    flaky = FlakyMail(SesNotifier(c.clients.ses(REGION), c.settings.alert_sender), failing)
    job = AlertJob(c.directory, RequestStore(c.clients.dynamodb(REGION), c.data_store), c.incident_store,
                   c.audit_store, c.alert_store,
                   UserPoolRecipients(c.clients.cognito(REGION), c.settings.cognito_pools[REGION].pool_id),
                   flaky, world.clock, REGION, "UK", "https://console.test/#/inbox")
    world.clock.now = due(request) - timedelta(days=3)
    composition.use(c)
    first = job.run("flaky-1")
    assert first["failed"] == 1
    assert failing not in received(request["request_id"])
    officer = address(username("officer", world))
    assert received(request["request_id"])[officer] == 1
    second = job.run("flaky-2")
    assert second["failed"] == 0
    assert second["new"] == 1
    assert received(request["request_id"])[failing] == 1
    assert received(request["request_id"])[officer] == 1  # not told again
    job.run("flaky-3")
    assert received(request["request_id"])[failing] == 1
    status, inbox = world.api.call("GET", "/v1/me/inbox", admin_c)
    assert [i["subject_id"] for i in inbox["items"]].count(request["request_id"]) == 1  # one inbox item
    status, events = world.api.call("GET", f"/v1/tenants/{tenant_c}/audit/events?action=alert.sent",
                                    world.tokens["officer"])
    assert status == 200
    assert [e["details"]["threshold"] for e in events["items"]] == ["7d"]  # audited once, when finished


def test_a_new_alert_reaches_the_tenants_webhook_as_a_domain_event(world: World) -> None:
    admin = world.tokens["admin_b"]
    status, hook = world.api.call("POST", f"/v1/tenants/{world.tenant_b}/webhooks", admin, {
        "url": "https://hooks.alerts-school-b.example/in", "event_types": ["request.due_soon"]})
    assert status == 201, hook
    status, learner = world.api.call("POST", f"/v1/tenants/{world.tenant_b}/learners", admin, LEARNER)
    assert status == 201, learner
    status, request = world.api.call("POST", f"/v1/tenants/{world.tenant_b}/requests", admin,
                                     {"learner_id": learner["learner_id"], "type": "rectification"})
    assert status == 201, request
    world.run(due(request) - timedelta(days=6))
    queued = world.job_container.webhook_store.due("UK", world.tenant_b, "9999")
    bodies = [json.loads(d.body) for d in queued if d.event_type == "request.due_soon"]
    assert [b["data"]["request_id"] for b in bodies] == [request["request_id"]]
