"""Seal-on-read: a read chains every event landed before it, whichever container landed it, and reads of one
tenant arriving together in one container share a pass over the pending markers instead of one each."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.audit_store import PENDING, AuditStore
from chalicelib.adapters.aws import AwsClients
from chalicelib.domain.audit import AuditEventDraft
from tests.integration.conftest import Emulated


def _store() -> tuple[AuditStore, list[str]]:
    """A store with its own client (a container of its own) and the marker partitions its scans query."""
    client = AwsClients(max_attempts=1).dynamodb("eu-west-2")
    scanned: list[str] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        if params.get("FilterExpression") == PENDING:
            scanned.append(params["ExpressionAttributeValues"][":pk"]["S"])

    client.meta.events.register("provide-client-params.dynamodb.Query", seen)
    return AuditStore(client, lambda code: f"enclave-audit-{code.lower()}", "eu-west-2",
                      lambda: datetime.now(UTC)), scanned


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="staff", actor_role="tenant_staff", action="learner.read",
                           resource=f"tenants/t/learners/{n}", outcome="success", request_id=str(n))


def test_each_read_seals_what_another_container_landed_before_it(emulated: Emulated) -> None:
    tenant = "tnt_" + uuid.uuid4().hex[:12]
    writer, _ = _store()
    reader, scanned = _store()
    writer.commit(tenant, "UK", _draft(1))
    assert reader.head(tenant, "UK")[0] == 1
    passes = len(scanned)
    assert passes > 0
    writer.commit(tenant, "UK", _draft(2))  # after the first read's pass: the next read makes its own
    assert reader.head(tenant, "UK")[0] == 2
    assert len(scanned) == 2 * passes
    assert [event["seq"] for event in reader.events(tenant, "UK")] == [1, 2]


def test_reads_arriving_together_each_see_what_landed_before_them_in_whole_passes(
        emulated: Emulated) -> None:
    tenant = "tnt_" + uuid.uuid4().hex[:12]
    writer, _ = _store()
    reader, scanned = _store()
    writer.commit(tenant, "UK", _draft(1))
    reader.head(tenant, "UK")
    one_pass = len(scanned)
    writer.commit(tenant, "UK", _draft(2))
    heads: list[int] = []
    lock = threading.Lock()

    def read() -> None:
        head = reader.head(tenant, "UK")[0]
        with lock:
            heads.append(head)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert heads == [2] * 6  # every read sees the event landed before it
    assert len(scanned) - one_pass <= 6 * one_pass
    assert (len(scanned) - one_pass) % one_pass == 0  # whole passes only
