"""Test helper: drive the audit sequencer from the in-process emulator's DynamoDB stream, as Lambda would."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.services.audit.sequencer import Sequencer
from devtools.stream_poller import StreamPoller
from tests.integration.conftest import Emulated


def audit_store(emulated: Emulated, region: str = "eu-west-2",
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> AuditStore:
    return AuditStore(emulated.clients.dynamodb(region), lambda code: f"enclave-audit-{code.lower()}", region, clock)


def poller(emulated: Emulated, handler: Any, table: str = "enclave-audit-uk",
           region: str = "eu-west-2") -> StreamPoller:
    arn = emulated.clients.dynamodb(region).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name=region,
                           endpoint_url=f"https://streams.dynamodb.{region}.amazonaws.com")
    return StreamPoller(streams, arn, handler)


def sequence(emulated: Emulated, region: str = "eu-west-2") -> list[Mapping[str, Any]]:
    """Deliver the stream to a sequencer; return the Lambda events it received."""
    sequencer = Sequencer(audit_store(emulated, region))
    batches: list[Mapping[str, Any]] = []

    def handler(event: Mapping[str, Any]) -> None:
        batches.append(event)
        sequencer.handle(event)

    poller(emulated, handler, region=region).poll_once()
    return batches
