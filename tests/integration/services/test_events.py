"""Domain events on the region's EventBridge bus: what is sent validates against the published schemas,
carries ids and dates only, is published after the write committed (from the sealed trail), and is
published again with the same event ids when a publish did not finish."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.event_bus import EventBus
from chalicelib.adapters.event_cursor import EventCursors
from chalicelib.adapters.webhook_store import WebhookStore
from chalicelib.composition import utc_now
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.events import EVENT_TYPES, DomainEvent, from_audit_event
from chalicelib.domain.ids import new_id
from chalicelib.domain.tenants import Tenant
from chalicelib.services.audit.sequencer import Sequencer
from chalicelib.services.events.delivery import DomainEvents, EventSeam, TrailEvents
from chalicelib.settings import PROJECT_ROOT
from tests.integration.audit_streams import audit_store, poller
from tests.integration.conftest import Emulated

REGION = "eu-west-2"
BUS = f"enclave-events-{REGION}"
SCHEMAS = PROJECT_ROOT / "schemas" / "events"
PLANTED = "Perpetua.Featherstonehaugh@family.uk"
"""A personal value where no caller may put one (an audit event's details): no event may carry it."""


def _validator(event_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


class _Cursors(EventCursors):
    """The real cursor store, whose next ``advance`` can fail once (a publisher dying after publishing)."""

    fail_next_advance = False

    def advance(self, jurisdiction: str, tenant_id: str, read: int, to: int) -> bool:
        if self.fail_next_advance:
            self.fail_next_advance = False
            raise RuntimeError("the process died")
        return super().advance(jurisdiction, tenant_id, read, to)


class _DownBus:
    """A bus that is down."""

    def publish(self, events: Any) -> None:
        raise ServiceUnavailable("the event bus is unavailable; retry later")


@pytest.fixture(scope="module")
def queue(emulated: Emulated) -> Iterator[str]:
    """An SQS queue a rule on the bus sends every Enclave event to (what a consumer would set up)."""
    sqs = emulated.clients._client("sqs", REGION)
    url = sqs.create_queue(QueueName="enclave-events-capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = emulated.clients.events(REGION)
    events.put_rule(Name="capture", EventBusName=BUS, EventPattern=json.dumps({"source": ["enclave"]}))
    events.put_targets(Rule="capture", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])
    yield url
    events.remove_targets(Rule="capture", EventBusName=BUS, Ids=["queue"])
    events.delete_rule(Name="capture", EventBusName=BUS)


def _received(emulated: Emulated, url: str) -> list[dict[str, Any]]:
    sqs = emulated.clients._client("sqs", REGION)
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _data(emulated: Emulated) -> DataStore:
    return DataStore(emulated.clients.dynamodb(REGION), REGION, lambda code: f"enclave-data-{code.lower()}",
                     emulated.jurisdictions, lambda code: f"enclave-keys-{code.lower()}")


def _cursors(emulated: Emulated) -> _Cursors:
    return _Cursors(emulated.clients.dynamodb(REGION), _data(emulated))


def _events(emulated: Emulated, bus: Any = None) -> DomainEvents:
    return DomainEvents(bus or EventBus(emulated.clients.events(REGION), BUS),
                        WebhookStore(emulated.clients.dynamodb(REGION), _data(emulated)), utc_now)


def _draft(action: str, outcome: str = "success", **details: Any) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="admin-1", actor_role="tenant_admin", action=action,
                           resource="tenants/t/x", outcome=outcome, request_id="r-1", details=details)


def _writes(tenant_id: str) -> list[AuditEventDraft]:
    """Audit events as the services write them: six that stand for domain events, and reads and refusals."""
    learner, request, incident = new_id("lrn"), new_id("req"), new_id("inc")
    return [
        _draft("learner.read", learner_id=learner),
        _draft("request.create", request_id=request, learner_id=learner, type="erasure",
               received_at="2026-12-05T09:00:00.000000Z", due_at="2027-01-04T09:00:00.000000Z", contact=PLANTED),
        _draft("request.create", "denied", reason="not_in_scope"),
        _draft("learner.erase", learner_id=learner, key_fingerprint="ab" * 16),
        _draft("request.fulfil", request_id=request, learner_id=learner, type="erasure", status="fulfilled"),
        _draft("incident.create", incident_id=incident, discovered_at="2026-12-04T08:00:00Z",
               deadlines=[{"party": "regulator", "action": "notify", "due_at": "2026-12-07T08:00:00Z"}],
               affected_learners=3),
        _draft("retention.shred", learner_id=new_id("lrn"), key_fingerprint="cd" * 16),
        _draft("import.complete", import_id=new_id("imp"), finished_at="2026-12-05T09:30:00.000000Z",
               state="completed", rows=122, created=120, skipped=0, failed=2),
        AuditEventDraft(actor_sub="system:audit-sequencer", actor_role="system", action="audit.event_altered",
                        resource="tenants/t/learners", outcome="detected", request_id="r-2",
                        details={"event_id": "01JEVENT", "change": "pending_replaced", "fields": ["details"],
                                 "sealed_seq": 2}),
    ]


@pytest.fixture(scope="module")
def published(emulated: Emulated, queue: str) -> dict[str, Any]:
    """One tenant's writes, sealed by the sequencer from the stream, whose hook publishes their events;
    then the alerts job's events through their seam (an import's ``import.finished`` comes from its
    ``import.complete`` audit event, like the other trail-derived ones)."""
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    for draft in _writes(tenant_id):
        store.commit(tenant_id, "UK", draft)
    trail = TrailEvents(_cursors(emulated), store.markers, _events(emulated))
    poller(emulated, Sequencer(store, after_tenant=trail.after_batch).handle).poll_once()
    tenant = Tenant(tenant_id=tenant_id, name="-", kind="school", jurisdiction="UK", home_region=REGION,
                    created_at="2026-12-05T09:00:00.000000Z")
    seam = EventSeam(_events(emulated), REGION, utc_now)
    assert seam.request_due_soon(tenant, new_id("req"), "2026-12-08T09:00:00.000000Z")
    assert seam.request_overdue(tenant, new_id("req"), "2026-12-01T09:00:00.000000Z")
    assert seam.incident_deadline_near(tenant, new_id("inc"), "2026-12-06T08:00:00Z")
    return {"tenant_id": tenant_id, "received": _received(emulated, queue)}


def test_every_event_type_arrives_and_validates_against_its_published_schema(published: dict[str, Any]) -> None:
    received = [m for m in published["received"] if m["detail"]["tenant_id"] == published["tenant_id"]]
    assert sorted(m["detail-type"] for m in received) == sorted([*EVENT_TYPES, "learner.erased"])
    for message in received:
        assert message["source"] == "enclave"
        assert message["detail"]["event_type"] == message["detail-type"]
        errors = [e.message for e in _validator(message["detail-type"]).iter_errors(message["detail"])]
        assert errors == [], message["detail-type"]


def test_every_event_type_has_a_schema_and_the_catalogue_names_it() -> None:
    assert sorted(p.stem for p in SCHEMAS.glob("*.json")) == sorted(EVENT_TYPES)
    catalogue = (PROJECT_ROOT / "docs" / "events.md").read_text()
    assert all(f"`{event_type}`" in catalogue for event_type in EVENT_TYPES)


def test_events_carry_ids_and_dates_only(published: dict[str, Any]) -> None:
    text = json.dumps(published["received"])
    assert PLANTED not in text
    assert "key_fingerprint" not in text  # details are picked field by field, never passed through


def test_reads_and_refusals_publish_nothing(published: dict[str, Any]) -> None:
    trail_types = [m["detail-type"] for m in published["received"] if "audit_seq" in m["detail"]
                   and m["detail"]["tenant_id"] == published["tenant_id"]]
    assert len(trail_types) == 7  # of the nine audit events: not the read, not the refused create


def test_a_redelivered_batch_publishes_nothing_again(emulated: Emulated, queue: str) -> None:
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    for draft in _writes(tenant_id):
        store.commit(tenant_id, "UK", draft)
    store.seal(tenant_id, "UK")
    trail = TrailEvents(_cursors(emulated), store.markers, _events(emulated))
    assert trail.publish(tenant_id, "UK") == 7
    assert trail.publish(tenant_id, "UK") == 0
    assert len([m for m in _received(emulated, queue) if m["detail"]["tenant_id"] == tenant_id]) == 7


def test_a_publisher_dying_before_its_cursor_moves_publishes_the_same_event_ids_again(
        emulated: Emulated, queue: str) -> None:
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    for draft in _writes(tenant_id)[:3]:
        store.commit(tenant_id, "UK", draft)
    store.seal(tenant_id, "UK")
    cursors = _cursors(emulated)
    cursors.fail_next_advance = True
    trail = TrailEvents(cursors, store.markers, _events(emulated))
    with pytest.raises(RuntimeError):
        trail.publish(tenant_id, "UK")
    assert trail.publish(tenant_id, "UK") == 1
    ids = [m["detail"]["event_id"] for m in _received(emulated, queue) if m["detail"]["tenant_id"] == tenant_id]
    assert len(ids) == 2  # at least once ...
    assert len(set(ids)) == 1  # ... with one event_id: a consumer drops the repeat


def test_a_bus_that_is_down_never_fails_the_write_and_is_caught_up_later(emulated: Emulated, queue: str) -> None:
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    store.commit(tenant_id, "UK", _writes(tenant_id)[1])  # the write (and its audit event) commit regardless
    store.seal(tenant_id, "UK")
    failures: list[int] = []
    down = TrailEvents(_cursors(emulated), store.markers, _events(emulated, _DownBus()),
                       on_failure=lambda: failures.append(1))
    assert down.after_batch(tenant_id, "UK") == 0  # the sequencer's hook never raises
    assert failures == [1]
    assert _cursors(emulated).published("UK", tenant_id) == 0
    up = TrailEvents(_cursors(emulated), store.markers, _events(emulated))
    assert up.after_batch(tenant_id, "UK") == 1
    received = [m for m in _received(emulated, queue) if m["detail"]["tenant_id"] == tenant_id]
    assert [m["detail-type"] for m in received] == ["request.created"]


def test_an_alert_published_twice_keeps_its_event_id() -> None:
    from chalicelib.domain.events import request_overdue

    first: DomainEvent = request_overdue("tnt_x", REGION, "req_y", "2026-12-01T09:00:00Z", "2026-12-05T10:00:00Z")
    again = request_overdue("tnt_x", REGION, "req_y", "2026-12-01T09:00:00Z", "2026-12-05T11:00:00Z")
    assert first.event_id == again.event_id


def test_the_alerts_jobs_new_alerts_are_published_once_per_tenant_and_validate(emulated: Emulated, queue: str) -> None:
    tenant_id = new_id("tnt")
    tenant = Tenant(tenant_id=tenant_id, name="-", kind="school", jurisdiction="UK", home_region=REGION,
                    created_at="2026-12-05T09:00:00.000000Z")
    seam = EventSeam(_events(emulated), REGION, utc_now, tenant_of={tenant_id: tenant}.get)
    request_id, incident_id = new_id("req"), new_id("inc")
    assert seam.from_alert("request.overdue", "overdue", request_id, (tenant_id,), "2026-12-01T09:00:00.000000Z")
    assert seam.from_alert("incident.deadline_near", "24h", f"{incident_id}/0", (tenant_id, new_id("tnt")),
                           "2026-12-06T08:00:00Z")  # a tenant not in this directory is skipped
    assert not seam.from_alert("audit.event_altered", "found", "01JEVENT", (tenant_id,), None)  # from the trail
    received = [m for m in _received(emulated, queue) if m["detail"]["tenant_id"] == tenant_id]
    assert sorted(m["detail-type"] for m in received) == ["incident.deadline_near", "request.overdue"]
    for message in received:
        assert [e.message for e in _validator(message["detail-type"]).iter_errors(message["detail"])] == []
    assert {m["detail"]["data"].get("incident_id") for m in received} == {None, incident_id}


def test_an_incident_with_a_paused_deadline_is_published_with_the_dates_it_has() -> None:
    """A deadline whose clock is paused has no due date: the event lists the others and publishing goes on."""
    event = {"tenant_id": new_id("tnt"), "hash": "ab" * 32, "region": "eu-west-2", "seq": 3,
             "at": "2026-12-05T09:00:00.000000Z", "action": "incident.create", "outcome": "success",
             "details": {"incident_id": new_id("inc"), "discovered_at": "2026-12-04T08:00:00Z",
                         "deadlines": [{"party": "regulator", "due_at": None, "paused_for": "law_enforcement"},
                                       {"party": "learners", "due_at": "2026-12-09T08:00:00Z"}]}}
    published = from_audit_event(event)
    assert published is not None
    assert published.data["deadlines"] == ["2026-12-09T08:00:00Z"]
    errors = [e.message for e in _validator("incident.recorded").iter_errors(published.detail())]
    assert errors == []
