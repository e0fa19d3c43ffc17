"""Stopping a request's clock while the school waits for proof of identity or a clarification.

UK GDPR Art. 12A (inserted by the Data (Use and Access) Act 2025): the time to respond does not run
while the controller waits for information it reasonably needs to confirm the requester's identity
or to clarify the request. Elsewhere the clock cannot be stopped: a pause is refused naming the law.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tests.integration.conftest import HOME, RegionalApi
from tests.integration.services.test_requests import UK, Clock, School, clocked, person, school

__all__ = ["clocked", "school"]  # fixtures used by name

AU = HOME["AU"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def events_of(school: School, token: str, *actions: str) -> list[dict[str, object]]:
    status, page = school.api.call("GET", f"/v1/tenants/{school.tenant_id}/audit/events?limit=200", token)
    assert status == 200, page
    return [event for event in page["items"] if event["action"] in actions]


def test_a_uk_request_paused_nine_days_for_identity_is_due_nine_days_later(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School],
        token: Callable[..., str]) -> None:
    api, clock = clocked(UK)
    clock.set("2026-03-02T09:00:00+00:00")
    uk = school(api, "UK")
    learner = uk.enrol(person("Pause"))
    status, request = uk.request(learner, "rectification")
    assert status == 201, request
    original_due = at(request["due_at"])
    path = f"{uk.requests}/{request['request_id']}"

    clock.set("2026-03-05T09:00:00+00:00")
    status, paused = api.call("POST", path + "/pause", uk.admin, {"reason": "identity"})
    assert status == 200, paused
    assert (paused["paused"], paused["urgency"]) == (True, "paused")
    assert paused["pauses"] == [{"reason": "identity", "paused_at": "2026-03-05T09:00:00.000000Z"}]

    clock.set("2026-03-14T09:00:00+00:00")  # the parent's ID arrives 9 days later
    status, resumed = api.call("POST", path + "/resume", uk.admin)
    assert status == 200, resumed
    assert at(resumed["due_at"]) == original_due + timedelta(days=9)
    assert resumed["pauses"][0]["paused_days"] == 9
    assert resumed["paused"] is False
    status, read = api.call("GET", path, uk.admin)
    assert at(read["due_at"]) == original_due + timedelta(days=9)

    co = token("compliance_officer", region=UK)
    recorded = events_of(uk, co, "request.pause", "request.resume")
    assert [e["action"] for e in recorded] == ["request.pause", "request.resume"]
    assert recorded[1]["details"]["due_at"] == resumed["due_at"]


def test_an_australian_pause_is_refused_naming_the_law(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School]) -> None:
    api, clock = clocked(AU)
    clock.set("2026-03-02T09:00:00+00:00")
    au = school(api, "AU")
    learner = au.enrol(person("NoPause"))
    status, request = au.request(learner, "rectification")
    assert status == 201, request
    status, refused = api.call("POST", f"{au.requests}/{request['request_id']}/pause", au.admin,
                               {"reason": "identity"})
    assert status == 422, refused
    message = refused["error"]["fields"][0]["message"]
    assert "Privacy Act 1988" in message
    assert "does not stop" in message
    status, unchanged = api.call("GET", f"{au.requests}/{request['request_id']}", au.admin)
    assert unchanged["due_at"] == request["due_at"]
    assert "pauses" not in unchanged
    body = {"learner_id": learner, "type": "access", "paused_for": "identity"}
    status, refused = api.call("POST", au.requests, au.admin, body)
    assert status == 422, refused  # nothing recorded: the law does not allow a paused request


def test_a_uk_access_request_recorded_paused_is_fulfilled_only_on_resume(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School]) -> None:
    api, clock = clocked(UK)
    clock.set("2026-04-01T09:00:00+00:00")
    uk = school(api, "UK")
    learner = uk.enrol(person("Held"))
    status, request = api.call("POST", uk.requests, uk.admin,
                               {"learner_id": learner, "type": "access", "paused_for": "identity"})
    assert status == 201, request
    assert (request["status"], request["paused"]) == ("open", True)
    assert "download_url" not in request
    path = f"{uk.requests}/{request['request_id']}"
    status, refused = api.call("POST", path + "/fulfil", uk.admin, {})
    assert status == 409
    assert refused["error"]["reason"] == "request_paused"

    clock.set("2026-04-04T09:00:00+00:00")
    status, resumed = api.call("POST", path + "/resume", uk.admin)
    assert status == 200, resumed
    assert resumed["status"] == "fulfilled"
    assert "download_url" in resumed
    assert at(resumed["due_at"]) == at(request["due_at"]) + timedelta(days=3)


def test_a_paused_request_is_not_overdue_until_it_resumes(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School],
        token: Callable[..., str]) -> None:
    api, clock = clocked(UK)
    clock.set("2026-05-01T09:00:00+00:00")
    uk = school(api, "UK")
    learner = uk.enrol(person("Late"))
    status, request = uk.request(learner, "rectification")
    assert status == 201
    path = f"{uk.requests}/{request['request_id']}"
    assert api.call("POST", path + "/pause", uk.admin, {"reason": "clarification"})[0] == 200
    clock.set("2026-07-01T09:00:00+00:00")  # past the original due date, still paused
    admin = token("regional_admin", region=UK)
    status, listing = api.call("GET", "/v1/requests?overdue=true", admin)
    assert status == 200
    assert request["request_id"] not in {item["request_id"] for item in listing["items"]}
    status, double = api.call("POST", path + "/pause", uk.admin, {"reason": "identity"})
    assert (status, double["error"]["reason"]) == (409, "request_paused")
    assert api.call("POST", path + "/resume", uk.admin)[0] == 200
    status, again = api.call("POST", path + "/resume", uk.admin)
    assert (status, again["error"]["reason"]) == (409, "request_not_paused")
    clock.set("2026-09-15T09:00:00+00:00")  # past the moved due date
    status, listing = api.call("GET", "/v1/requests?overdue=true", admin)
    assert request["request_id"] in {item["request_id"] for item in listing["items"]}


def test_a_paused_request_may_be_rejected_for_want_of_identity(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], school: Callable[[RegionalApi, str], School]) -> None:
    api, clock = clocked(UK)
    clock.set("2026-06-01T09:00:00+00:00")
    uk = school(api, "UK")
    learner = uk.enrol(person("NoId"))
    status, request = api.call("POST", uk.requests, uk.admin,
                               {"learner_id": learner, "type": "erasure", "paused_for": "identity"})
    assert status == 201, request
    status, rejected = api.call("POST", f"{uk.requests}/{request['request_id']}/fulfil", uk.admin,
                                {"outcome": "rejected", "reason": "identity_not_verified"})
    assert status == 200, rejected
    assert rejected["status"] == "rejected"
    status, still_there = api.call("GET", f"{uk.learners}/{learner}", uk.staff)
    assert (status, still_there["given_name"]) == (200, "GivenNoId")  # nothing was erased
