"""Concurrent appends to one tenant's chain: no gap, no fork, no lost event, and faults leave nothing half-written.

Each writer thread stands for its own Lambda container: its own AWS clients and its own audit store.
Writers land events unsequenced (no per-tenant head on the request path); the stream handler then
seals them into one gap-free chain.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.aws import AwsClients
from chalicelib.domain.audit import (
    AuditEventDraft,
    build_manifest,
    checkpoint_payload,
    checkpoint_record,
    verify_chain,
)
from chalicelib.domain.errors import ServiceUnavailable
from tests.integration.audit_streams import sequence
from tests.integration.conftest import Emulated
from tests.integration.emulator import serialise_requests
from tests.support.audit_keys import tenant_items

THREADS, WRITES = 8, 200
TABLE = "enclave-audit-uk"
DATA = "enclave-data-uk"


def _marker(tenant_id: str, writer: int, n: int) -> dict[str, Any]:
    return {"Put": {"TableName": DATA, "Item": {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": f"M#{writer}#{n:04d}"}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}


def _fail_once_at(client: Any, call_number: int) -> None:
    """Make this client's ``call_number``-th TransactWriteItems fail (a 500) without reaching DynamoDB."""
    calls = {"n": 0}

    def maybe_fail(model: Any, **_: Any) -> Any:
        if model.name != "TransactWriteItems":
            return None
        calls["n"] += 1
        if calls["n"] != call_number:
            return None
        error = {"Error": {"Code": "InternalServerError", "Message": "injected"},
                 "ResponseMetadata": {"HTTPStatusCode": 500}}
        return AWSResponse("https://dynamodb.invalid", 500, {}, None), error

    # same event level as the emulator lock, registered after it, so the lock is taken first
    client.meta.events.register("before-call.dynamodb", maybe_fail)


def _run(tenant_id: str, inject_faults: bool) -> tuple[int, list[tuple[int, int]]]:
    errors: list[tuple[int, int]] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        clients = AwsClients(max_attempts=1)
        client = clients.dynamodb("eu-west-2")
        serialise_requests(client)
        if inject_faults:
            _fail_once_at(client, 50 + index * 7)
        store = AuditStore(client, lambda code: f"enclave-audit-{code.lower()}", "eu-west-2",
                           lambda: datetime.now(UTC))
        for n in range(WRITES):
            draft = AuditEventDraft(actor_sub=f"writer-{index}", actor_role="tenant_staff", action="result.create",
                                    resource=f"tenants/{tenant_id}/markers/{index}/{n}", outcome="success",
                                    request_id=f"{index}-{n}", details={"writer": index, "n": n})
            try:
                store.commit(tenant_id, "UK", draft, [_marker(tenant_id, index, n)])
            except ServiceUnavailable:
                with lock:
                    errors.append((index, n))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return THREADS * WRITES - len(errors), errors


def _events(emulated: Emulated, tenant_id: str) -> list[dict[str, Any]]:
    import json

    items = tenant_items(emulated.clients.dynamodb("eu-west-2"), TABLE, tenant_id, "EVT#")
    return [json.loads(item["event"]["S"]) for item in items]


def _markers(emulated: Emulated, tenant_id: str) -> set[str]:
    pages = emulated.clients.dynamodb("eu-west-2").get_paginator("query").paginate(
        TableName=DATA, KeyConditionExpression="pk = :p AND begins_with(sk, :m)",
        ExpressionAttributeValues={":p": {"S": f"TENANT#{tenant_id}"}, ":m": {"S": "M#"}})
    return {item["sk"]["S"] for page in pages for item in page["Items"]}


def _manifest(tenant_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A manifest with a checkpoint at the last event, signed by a local P-256 key standing in for KMS."""
    key = ec.generate_private_key(ec.SECP256R1())
    at = events[-1]["at"]
    signature = key.sign(checkpoint_payload(tenant_id, len(events), events[-1]["hash"], at), ec.ECDSA(hashes.SHA256()))
    checkpoint = checkpoint_record(tenant_id=tenant_id, seq=len(events), head_hash=events[-1]["hash"], at=at,
                                   key_id="local", signature=signature)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return build_manifest(tenant_id=tenant_id, from_=None, to=None, events=len(events), first_seq=1,
                          last_seq=len(events), head_hash=events[-1]["hash"], checkpoints=[checkpoint],
                          public_keys={"local": pem})


@pytest.mark.parametrize("inject_faults", [False, True], ids=["clean", "one-fault-per-thread"])
def test_eight_writers_race_on_one_chain(emulated: Emulated, inject_faults: bool) -> None:
    from chalicelib.domain.ids import new_id

    tenant_id = new_id("tnt")
    written, errors = _run(tenant_id, inject_faults)
    assert len(errors) == (THREADS if inject_faults else 0)
    sequence(emulated)  # the stream handler seals what the writers landed
    events = _events(emulated, tenant_id)
    assert len(events) == written == THREADS * WRITES - len(errors)
    assert [e["seq"] for e in events] == list(range(1, written + 1))
    result = verify_chain(events, _manifest(tenant_id, events))
    assert result.valid, result.first_invalid
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(events))
    recorded = {(e["details"]["writer"], e["details"]["n"]) for e in events}
    assert len(recorded) == written
    markers = _markers(emulated, tenant_id)
    assert markers == {f"M#{w}#{n:04d}" for w, n in recorded}  # every change has its event, and only those
    assert not (set(errors) & recorded)
