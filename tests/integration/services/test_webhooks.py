"""Webhooks: a tenant admin registers endpoints; deliveries are signed per Standard Webhooks (checked with
the reference implementation, ``standardwebhooks``), retried with exponential backoff for 24 hours, then
parked in a dead-letter list the admin sees and replays; a rotated secret overlaps; secrets are sealed."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from chalicelib.domain.events import request_overdue
from chalicelib.domain.webhooks import RETRY_FOR
from chalicelib.services.events.delivery import DomainEvents
from chalicelib.services.events.webhook_dispatch import WebhookDispatcher
from devtools.webhook_receiver import verified
from tests.integration.conftest import RegionalApi, TokenFactory

REGION = "eu-west-2"
URL = "https://hooks.school.example/enclave"


class _Receiver:
    """An endpoint that answers ``statuses`` in turn (then the last one), keeping what it was sent."""

    def __init__(self, *statuses: str) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, bytes, dict[str, str]]] = []
        self.answered: list[str] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> str:
        self.received.append((url, body, dict(headers)))
        self.answered.append(self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0])
        return self.answered[-1]

    def accepted(self) -> list[tuple[str, bytes, dict[str, str]]]:
        """What it answered 2xx to."""
        return [sent for sent, status in zip(self.received, self.answered, strict=True) if status.startswith("2")]


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class _Bus:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def publish(self, events: Any) -> None:
        self.sent += list(events)


@pytest.fixture
def admin(api: dict[str, RegionalApi], token: TokenFactory,
          onboard: Callable[..., dict[str, Any]]) -> tuple[RegionalApi, str, str]:
    tenant_id = onboard("UK")["tenant_id"]
    return api[REGION], token("tenant_admin", tenant_id, REGION), tenant_id


def _register(admin: tuple[RegionalApi, str, str], *types: str) -> dict[str, Any]:
    regional, tok, tenant_id = admin
    status, body = regional.call("POST", f"/v1/tenants/{tenant_id}/webhooks", tok,
                                 {"url": URL, "event_types": list(types or ["request.overdue"])})
    assert status == 201, body
    return dict(body)


def _setup(admin: tuple[RegionalApi, str, str], receiver: _Receiver,
           start: datetime) -> tuple[WebhookDispatcher, _Clock, str]:
    """One ``request.overdue`` event published for the tenant; a dispatcher on a fake clock."""
    regional, _, tenant_id = admin
    services = regional.container
    clock = _Clock(start)
    event = request_overdue(tenant_id, REGION, "req_" + "a" * 26, "2026-12-01T09:00:00.000000Z", "2026-12-05T09:00Z")
    DomainEvents(_Bus(), services.webhook_store, clock).publish("UK", tenant_id, [event])
    return WebhookDispatcher(services.webhook_store, services.webhook_sealer, receiver, clock, "UK"), clock, tenant_id


def _run_until_quiet(admin: tuple[RegionalApi, str, str], dispatcher: WebhookDispatcher, clock: _Clock,
                     until: datetime) -> None:
    """Run the dispatcher at each due time (the schedule would run every minute) until ``until``."""
    regional, _, tenant_id = admin
    while clock.at <= until:
        dispatcher.run_tenant(tenant_id)
        due = regional.container.webhook_store.due("UK", tenant_id, "9999")  # the queue's next due time
        if not due:
            return
        clock.at = max(clock.at, datetime.fromisoformat(due[0].due_at))


def test_an_endpoint_failing_three_times_gets_the_event_once_with_a_valid_signature(
        admin: tuple[RegionalApi, str, str]) -> None:
    secret = _register(admin)["secret"]
    receiver = _Receiver("500", "503", "network", "204")
    # the fourth attempt comes 5 min 15 s after the first: start so that it is signed about now (the reference
    # verifier accepts timestamps within five minutes of its own clock)
    dispatcher, clock, tenant_id = _setup(admin, receiver, datetime.now(UTC) - timedelta(seconds=315))
    start = clock.at
    _run_until_quiet(admin, dispatcher, clock, start + RETRY_FOR)
    assert [h["webhook-id"] for _, _, h in receiver.received] == [receiver.received[0][2]["webhook-id"]] * 4
    gaps = [int(b[2]["webhook-timestamp"]) - int(a[2]["webhook-timestamp"])
            for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    assert gaps == [15, 60, 240]  # exponential backoff
    (url, body, headers), = receiver.accepted()
    assert url == URL
    payload = Webhook(secret).verify(body, headers)
    assert payload["event_type"] == "request.overdue"
    assert payload["tenant_id"] == tenant_id
    dispatcher.run_tenant(tenant_id)
    assert len(receiver.received) == 4  # delivered: never sent again


def test_an_endpoint_that_never_succeeds_is_parked_and_a_replay_delivers(
        admin: tuple[RegionalApi, str, str]) -> None:
    regional, tok, _ = admin
    secret = _register(admin)["secret"]
    failing = _Receiver("500")
    dispatcher, clock, tenant_id = _setup(admin, failing, datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    start = clock.at
    _run_until_quiet(admin, dispatcher, clock, start + timedelta(days=3))
    times = [int(h["webhook-timestamp"]) for _, _, h in failing.received]
    assert len(times) == 9
    assert times[-1] - times[0] <= RETRY_FOR.total_seconds()  # retried for 24 hours, then parked
    status, listed = regional.call("GET", f"/v1/tenants/{tenant_id}/webhook-dead-letters", tok)
    assert status == 200
    (parked,) = listed["dead_letters"]
    assert parked["attempts"] == 9
    assert parked["last_status"] == "500"
    assert parked["event_type"] == "request.overdue"
    status, replayed = regional.call(
        "POST", f"/v1/tenants/{tenant_id}/webhook-dead-letters/{parked['delivery_id']}/replay", tok)
    assert status == 200, replayed
    healthy = _Receiver("200")
    clock.at = datetime.now(UTC)
    services = regional.container
    WebhookDispatcher(services.webhook_store, services.webhook_sealer, healthy, clock, "UK").run_tenant(tenant_id)
    (_, body, headers), = healthy.received
    assert headers["webhook-id"] == parked["delivery_id"]
    assert Webhook(secret).verify(body, headers)["event_type"] == "request.overdue"
    assert regional.call("GET", f"/v1/tenants/{tenant_id}/webhook-dead-letters", tok)[1]["dead_letters"] == []
    again = regional.call("POST", f"/v1/tenants/{tenant_id}/webhook-dead-letters/{parked['delivery_id']}/replay",
                          tok)
    assert again[0] == 404


def test_a_rotated_secret_overlaps_then_only_the_new_one_signs(admin: tuple[RegionalApi, str, str]) -> None:
    regional, tok, tenant_id = admin
    registered = _register(admin)
    status, rotated = regional.call("POST", f"/v1/tenants/{tenant_id}/webhooks/{registered['webhook_id']}/rotate",
                                    tok)
    assert status == 200, rotated
    assert rotated["secret"] != registered["secret"]
    receiver = _Receiver("200")
    dispatcher = _setup(admin, receiver, datetime.now(UTC))[0]
    dispatcher.run_tenant(tenant_id)
    (_, body, headers), = receiver.received
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(registered["secret"]).verify(body, headers)  # receivers on the old secret still verify
    assert Webhook(rotated["secret"]).verify(body, headers)
    later = datetime.fromisoformat(rotated["previous_secret_valid_until"]) + timedelta(seconds=1)
    endpoint_item = regional.container.webhook_store.endpoint("UK", tenant_id, registered["webhook_id"])
    assert endpoint_item is not None
    from chalicelib.services.events.webhook_dispatch import endpoint_of

    endpoint = endpoint_of(endpoint_item, tenant_id, regional.container.webhook_sealer)
    assert len(endpoint.signing_secrets(later)) == 1


def test_secrets_are_shown_once_and_stored_sealed(admin: tuple[RegionalApi, str, str]) -> None:
    regional, tok, tenant_id = admin
    registered = _register(admin, "request.created", "learner.erased")
    status, listed = regional.call("GET", f"/v1/tenants/{tenant_id}/webhooks", tok)
    assert status == 200
    assert "secret" not in json.dumps(listed["webhooks"])
    assert listed["webhooks"][0]["event_types"] == ["learner.erased", "request.created"]
    table = regional.container.data_store.table("UK")
    items = regional.container.clients.dynamodb(REGION).scan(TableName=table)["Items"]
    assert registered["secret"] not in json.dumps(items)
    assert registered["secret"].removeprefix("whsec_") not in json.dumps(items)
    status, one = regional.call("GET", f"/v1/tenants/{tenant_id}/webhooks/{registered['webhook_id']}", tok)
    assert status == 200
    assert one["url"] == URL


def test_changes_are_audited(admin: tuple[RegionalApi, str, str]) -> None:
    regional, tok, tenant_id = admin
    registered = _register(admin)
    status, _ = regional.call("DELETE", f"/v1/tenants/{tenant_id}/webhooks/{registered['webhook_id']}", tok)
    assert status == 200
    store = regional.container.audit_store
    store.seal(tenant_id, "UK")
    actions = [e["action"] for e in store.events(tenant_id, "UK")]
    assert "webhook.create" in actions
    assert "webhook.delete" in actions
    assert regional.call("GET", f"/v1/tenants/{tenant_id}/webhooks/{registered['webhook_id']}", tok)[0] == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://hooks.school.example/x", "event_types": ["request.overdue"]}, "url"),
    ({"url": "https://127.0.0.1/x", "event_types": ["request.overdue"]}, "url"),
    ({"url": "https://user:pw@hooks.school.example/x", "event_types": ["request.overdue"]}, "url"),
    ({"url": URL, "event_types": ["learner.created"]}, "event_types"),
])
def test_bad_endpoints_are_refused_with_a_clear_error(admin: tuple[RegionalApi, str, str], body: dict[str, Any],
                                                      field: str) -> None:
    regional, tok, tenant_id = admin
    status, answer = regional.call("POST", f"/v1/tenants/{tenant_id}/webhooks", tok, body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed"
    assert field in json.dumps(answer["error"])


def test_only_the_tenants_admins_manage_its_webhooks(
        api: dict[str, RegionalApi], token: TokenFactory, admin: tuple[RegionalApi, str, str],
        onboard: Callable[..., dict[str, Any]]) -> None:
    regional, _, tenant_id = admin
    path = f"/v1/tenants/{tenant_id}/webhooks"
    body = {"url": URL, "event_types": ["request.overdue"]}
    assert regional.call("POST", path, token("tenant_staff", tenant_id, REGION), body)[0] == 403
    assert regional.call("POST", path, token("compliance_officer", region=REGION), body)[0] == 403
    other = onboard("UK")["tenant_id"]
    assert regional.call("POST", path, token("tenant_admin", other, REGION), body)[0] in (403, 404)


def test_a_body_changed_in_transit_fails_the_reference_verification(admin: tuple[RegionalApi, str, str]) -> None:
    secret = _register(admin)["secret"]
    receiver = _Receiver("200")
    dispatcher, _, tenant_id = _setup(admin, receiver, datetime.now(UTC))
    dispatcher.run_tenant(tenant_id)
    (_, body, headers), = receiver.received
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"request.overdue", b"request.created"), headers)
    now = float(headers["webhook-timestamp"])  # the local receiver (devtools) checks the same way
    assert verified([secret], body, headers, now)
    assert not verified([secret], body.replace(b"request.overdue", b"request.created"), headers, now)
    assert not verified([secret], body, headers, now + 301)
