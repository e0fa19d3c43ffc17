"""Key look-ups and the one repair of the audit table's markers that the sequencer's checks need
(``services/audit_sequencer.py``): ``PND#`` markers of landed events, ``LND#`` landed records and ``EVT#``
sealed events by key (BatchGetItem, 100 keys a call, consistent, unprocessed keys asked again after a
backoff), whether an event is already named by a finding, and an overwritten sealed marker put back as sealed.

``LND#<event_id>``: what first landed for an event id (``landed``: ``landed_digest`` of its image) and where
it was chained (``seq``). The seal's transaction puts it only if absent, so no event id is chained twice
whatever happens to its ``PND#`` marker; the sequencer puts it (without ``seq``) for an event it reports
instead of chaining. One item per event id, keyed by it: no item every seal of a tenant writes.

The chain's keys and the pending-marker conditions live here too, shared with ``audit_store.py``.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.audit_pending import altered_marker_id
from chalicelib.domain.audit_stream import LANDED_PREFIX, PENDING_PREFIX
from chalicelib.domain.errors import Throttled

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING = "attribute_exists(pending)"
"""The scan's filter and the seal's condition: a marker holding an event. It is still to be chained only
without ``sealed_seq`` as well (``is_pending``, checked on what the scan returns; the expression stays one
clause, which the contention bench's table model evaluates)."""
BATCH_GET = 100  # BatchGetItem's limit of keys per call
MAX_ATTEMPTS = 50


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def event_sk(seq: int) -> str:
    return f"EVT#{seq:012d}"


def landed_sk(event_id: str) -> str:
    return LANDED_PREFIX + event_id


@dataclass(frozen=True)
class Landed:
    """An event id's ``LND#`` record: the digest of the image that first landed (or was chained), and
    where it was chained (None: reported instead, never to be chained)."""

    digest: str
    seq: int | None


def landed_put(table: str, tenant_id: str, jurisdiction: str, event_id: str, digest: str,
               seq: int | None) -> dict[str, Any]:
    """A Put of ``event_id``'s landed record, only if it has none: the guard against chaining it twice."""
    item: dict[str, Any] = {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": landed_sk(event_id)},
                            "jurisdiction": {"S": jurisdiction}, "landed": {"S": digest}}
    if seq is not None:
        item["seq"] = {"N": str(seq)}
    return {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}


def refused_landed(items: Sequence[Mapping[str, Any]], refused: Sequence[int]) -> list[str]:
    """The event ids whose landed-record put is among the ``refused`` items of a transaction: already chained
    or reported (the cancellation reasons of the others say a race was lost)."""
    found = []
    for index in refused:
        sk = str(items[index].get("Put", {}).get("Item", {}).get("sk", {}).get("S", ""))
        if sk.startswith(LANDED_PREFIX):
            found.append(sk[len(LANDED_PREFIX):])
    return found


def is_pending(item: dict[str, Any]) -> bool:
    """The marker item holds an event still to be chained. A sealed marker keeps ``sealed_seq``: one
    rewritten to hold an event again without losing it (someone with table access) is not chained twice."""
    return "pending" in item and "sealed_seq" not in item


class AuditMarkers:
    """Reads markers and sealed events by key; restores an overwritten sealed marker."""

    def __init__(self, client: DynamoDBClient, table_for: Callable[[str], str],
                 backoff: Callable[[int], None]) -> None:
        self._client = client
        self._table_for = table_for
        self._backoff = backoff

    def markers(self, table: str, tenant_id: str, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """event_id -> its ``PND#`` item, for those that exist."""
        items = self._batch_get(table, tenant_id, [PENDING_PREFIX + event_id for event_id in event_ids])
        return {item["sk"]["S"][len(PENDING_PREFIX):]: item for item in items}

    def unsealed(self, tenant_id: str, jurisdiction: str, event_ids: Sequence[str]) -> dict[str, bool]:
        """For each landed ``event_id``: False once sealed, True while pending; absent when its item is gone."""
        markers = self.markers(self._table_for(jurisdiction), tenant_id, event_ids)
        return {event_id: is_pending(markers[event_id]) for event_id in event_ids if event_id in markers}

    def chained(self, tenant_id: str, jurisdiction: str, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """seq -> the sealed event there, for the ``seqs`` the chain holds."""
        items = self._batch_get(self._table_for(jurisdiction), tenant_id, [event_sk(seq) for seq in seqs])
        events = (json.loads(item["event"]["S"]) for item in items if "event" in item)
        return {int(event["seq"]): event for event in events}

    def landed(self, tenant_id: str, jurisdiction: str, event_ids: Sequence[str]) -> dict[str, Landed]:
        """event_id -> its landed record, for those that have one."""
        items = self._batch_get(self._table_for(jurisdiction), tenant_id, [landed_sk(e) for e in event_ids])
        return {item["sk"]["S"][len(LANDED_PREFIX):]: Landed(
            item["landed"]["S"], int(item["seq"]["N"]) if "seq" in item else None) for item in items}

    def settle(self, tenant_id: str, jurisdiction: str, event_id: str, digest: str, seq: int | None = None) -> bool:
        """Record ``event_id`` as landed with ``digest``: chained at ``seq``, or (None) never to be chained
        (the sequencer reported it); False when it already has a landed record."""
        try:
            with translated("the audit trail"):
                self._client.put_item(**landed_put(self._table_for(jurisdiction), tenant_id, jurisdiction, event_id,
                                                   digest, seq))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def findings_about(self, tenant_id: str, jurisdiction: str, event_id: str) -> bool:
        """Whether the sequencer already recorded an alteration of ``event_id`` (from any stream record)."""
        with translated("the audit trail"):
            page = self._client.query(
                TableName=self._table_for(jurisdiction), ConsistentRead=True, Limit=1,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
                ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)},
                                           ":sk": {"S": PENDING_PREFIX + altered_marker_id(event_id, "")}})
        return bool(page.get("Items"))

    def restore_sealed(self, tenant_id: str, jurisdiction: str, event_id: str, seq: int) -> bool:
        """Mark pending ``event_id`` sealed at ``seq`` again, where it was chained before someone put an
        event over its sealed marker, so that it is not chained twice; False when it is not pending."""
        try:
            with translated("the audit trail"):
                self._client.update_item(
                    TableName=self._table_for(jurisdiction),
                    Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": PENDING_PREFIX + event_id}},
                    UpdateExpression="REMOVE pending SET sealed_seq = :seq",
                    ConditionExpression="attribute_exists(pending)",
                    ExpressionAttributeValues={":seq": {"N": str(seq)}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _batch_get(self, table: str, tenant_id: str, sort_keys: Sequence[str]) -> list[dict[str, Any]]:
        """The items of ``sort_keys`` that exist; keys DynamoDB leaves unprocessed (throttling, the 16 MB
        answer limit) are asked again after a backoff, Throttled (429) when they never are."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(sort_keys))
        for start in range(0, len(unique), BATCH_GET):
            keys = [{"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk}} for sk in unique[start:start + BATCH_GET]]
            request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(MAX_ATTEMPTS):
                if attempt:
                    self._backoff(attempt)
                with translated("the audit trail"):
                    page = self._client.batch_get_item(RequestItems=request)
                found += page.get("Responses", {}).get(table, [])
                request = dict(page.get("UnprocessedKeys") or {})
                if not request:
                    break
            else:
                raise Throttled("the audit trail is throttled; retry later", retry_after=1)
        return found
