"""Audit sealing end to end: ``make run`` seals audit events from the emulator's DynamoDB stream, with nobody
reading the trail (every API route that reads the trail would seal on read, so this looks at the table)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.support.audit_keys import tenant_items
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

TABLE = "enclave-audit-uk"
DEADLINE_SECONDS = 30.0


def _chain_state(platform: Platform, tenant_id: str) -> tuple[int, int]:
    """(HEAD seq, pending items still unsealed) of the tenant, read straight from the emulator."""
    dynamodb = platform.emulator().dynamodb("eu-west-2")
    key = {"pk": {"S": f"TENANT#{tenant_id}"}}
    head: dict[str, Any] = dynamodb.get_item(TableName=TABLE, ConsistentRead=True,
                                             Key={**key, "sk": {"S": "HEAD"}}).get("Item", {})
    pending = [item for item in tenant_items(dynamodb, TABLE, tenant_id, "PND#") if "pending" in item]
    return int(head.get("seq", {}).get("N", "0")), len(pending)


def test_events_written_over_http_are_sealed_by_the_stream_trigger(platform: Platform) -> None:
    admin = platform.token("platform_admin", region="eu-west-2")
    status, tenant = platform.call("eu-west-2", "POST", "/v1/tenants", admin,
                                   body={"name": "Sealing Academy", "kind": "school", "jurisdiction": "UK"})
    assert status == 201
    tid = tenant["tenant_id"]
    staff = platform.token("tenant_staff", tid)
    for n in range(3):
        status, learner = platform.call("eu-west-2", "POST", f"/v1/tenants/{tid}/learners", staff, body={
            "given_name": "Sam", "family_name": f"Seal{n}", "email": f"sam{n}@example.org",
            "date_of_birth": "2011-01-01"})
        assert status == 201
        assert platform.call("eu-west-2", "GET", f"/v1/tenants/{tid}/learners/{learner['learner_id']}", staff)[0] == 200
    expected = 7  # tenant_key.create at onboarding, 3 enrolments, 3 reads
    deadline = time.monotonic() + DEADLINE_SECONDS
    state = _chain_state(platform, tid)
    while state != (expected, 0) and time.monotonic() < deadline:
        threading.Event().wait(0.2)  # the local trigger polls the stream every 0.2 s
        state = _chain_state(platform, tid)
    assert state == (expected, 0), f"after {DEADLINE_SECONDS:.0f} s: HEAD seq and unsealed count {state}"
