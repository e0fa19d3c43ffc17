"""Key look-ups and the one repair of the audit table's markers that the sequencer's checks need
(``services/audit/sequencer.py``): ``PND#`` markers of landed events, ``LND#`` landed records and ``EVT#``
sealed events by key (BatchGetItem, 100 keys a call, consistent, unprocessed keys asked again after a
backoff), whether an event is already named by a finding, and an overwritten sealed marker put back as sealed.

``LND#<event_id>``: what first landed for an event id (``landed``: ``landed_digest`` of its image) and where
it was chained (``seq``). The seal's transaction puts it only if absent, so no event id is chained twice
whatever happens to its ``PND#`` marker; the sequencer puts it (without ``seq``) for an event it reports
instead of chaining. One item per event id, keyed by it: no item every seal of a tenant writes.

Where each item is: ``domain/audit/layout.py`` (a marker's partition comes from its event id; a tenant whose
trail began in the legacy layout may still have markers in its base partition, looked up there too).
The pending-marker conditions live here too, shared with ``audit_store.py``.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.audit_shards import ChainShards, event_sk
from chalicelib.adapters.dynamo_batch import batch_get_all
from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.audit.layout import tenant_pk
from chalicelib.domain.audit.pending import altered_marker_id
from chalicelib.domain.audit.stream import LANDED_PREFIX, PENDING_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING = "attribute_exists(pending)"
"""The scan's filter and the seal's condition: a marker holding an event. It is still to be chained only
without ``sealed_seq`` as well (``is_pending``, checked on what the scan returns; the expression stays one
clause, which the contention bench's table model evaluates)."""
MAX_ATTEMPTS = 50


__all__ = ["MAX_ATTEMPTS", "PENDING", "AuditMarkers", "Landed", "event_sk", "is_pending", "landed_put",
           "landed_sk", "refused_landed", "tenant_pk"]


def landed_sk(event_id: str) -> str:
    return LANDED_PREFIX + event_id


@dataclass(frozen=True)
class Landed:
    """An event id's ``LND#`` record: the digest of the image that first landed (or was chained), and
    where it was chained (None: reported instead, never to be chained)."""

    digest: str
    seq: int | None


def landed_put(table: str, pk: str, jurisdiction: str, event_id: str, digest: str,
               seq: int | None) -> dict[str, Any]:
    """A Put of ``event_id``'s landed record in partition ``pk`` (beside its pending marker), only if it has
    none: the guard against chaining it twice."""
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": landed_sk(event_id)},
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
                 backoff: Callable[[int], None], shards: ChainShards | None = None) -> None:
        self._client = client
        self._table_for = table_for
        self._backoff = backoff
        self.shards = shards or ChainShards(client)

    def places(self, table: str, tenant_id: str, event_id: str) -> list[str]:
        """The partitions ``event_id``'s marker and landed record may be in, where new ones go first."""
        here = self.shards.layout.marker_pk(tenant_id, event_id)
        legacy = tenant_pk(tenant_id)
        return [here, legacy] if here != legacy and self.shards.has_legacy(table, tenant_id) else [here]

    def markers(self, table: str, tenant_id: str, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """event_id -> its ``PND#`` item (with the ``pk`` it was found under), for those that exist."""
        return self._by_event(table, tenant_id, PENDING_PREFIX, event_ids)

    def unsealed(self, tenant_id: str, jurisdiction: str, event_ids: Sequence[str]) -> dict[str, bool]:
        """For each landed ``event_id``: False once sealed, True while pending; absent when its item is gone."""
        markers = self.markers(self._table_for(jurisdiction), tenant_id, event_ids)
        return {event_id: is_pending(markers[event_id]) for event_id in event_ids if event_id in markers}

    def chained(self, tenant_id: str, jurisdiction: str, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """seq -> the sealed event there, for the ``seqs`` the chain holds."""
        table = self._table_for(jurisdiction)
        items = self._batch_get(table, [self.shards.event_key(table, tenant_id, seq) for seq in seqs])
        events = (json.loads(item["event"]["S"]) for item in items if "event" in item)
        return {int(event["seq"]): event for event in events}

    def landed(self, tenant_id: str, jurisdiction: str, event_ids: Sequence[str]) -> dict[str, Landed]:
        """event_id -> its landed record, for those that have one."""
        items = self._by_event(self._table_for(jurisdiction), tenant_id, LANDED_PREFIX, event_ids)
        return {event_id: Landed(item["landed"]["S"], int(item["seq"]["N"]) if "seq" in item else None)
                for event_id, item in items.items()}

    def settle(self, tenant_id: str, jurisdiction: str, event_id: str, digest: str, seq: int | None = None) -> bool:
        """Record ``event_id`` as landed with ``digest``: chained at ``seq``, or (None) never to be chained
        (the sequencer reported it); False when it already has a landed record."""
        table = self._table_for(jurisdiction)
        places = self.places(table, tenant_id, event_id)
        if len(places) > 1 and self.landed(tenant_id, jurisdiction, [event_id]):
            return False
        try:
            with translated("the audit trail"):
                self._client.put_item(**landed_put(table, places[0], jurisdiction, event_id, digest, seq))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def findings_about(self, tenant_id: str, jurisdiction: str, event_id: str) -> bool:
        """Whether the sequencer already recorded an alteration of ``event_id`` (from any stream record)."""
        table = self._table_for(jurisdiction)
        for pk in self.places(table, tenant_id, event_id):
            with translated("the audit trail"):
                page = self._client.query(
                    TableName=table, ConsistentRead=True, Limit=1,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
                    ExpressionAttributeValues={":pk": {"S": pk},
                                               ":sk": {"S": PENDING_PREFIX + altered_marker_id(event_id, "")}})
            if page.get("Items"):
                return True
        return False

    def restore_sealed(self, tenant_id: str, jurisdiction: str, event_id: str, seq: int) -> bool:
        """Mark pending ``event_id`` sealed at ``seq`` again, where it was chained before someone put an
        event over its sealed marker, so that it is not chained twice; False when it is not pending."""
        table = self._table_for(jurisdiction)
        for pk in self.places(table, tenant_id, event_id):
            try:
                with translated("the audit trail"):
                    self._client.update_item(
                        TableName=table, Key={"pk": {"S": pk}, "sk": {"S": PENDING_PREFIX + event_id}},
                        UpdateExpression="REMOVE pending SET sealed_seq = :seq",
                        ConditionExpression="attribute_exists(pending)",
                        ExpressionAttributeValues={":seq": {"N": str(seq)}})
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                continue
            return True
        return False

    def _by_event(self, table: str, tenant_id: str, prefix: str,
                  event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """event_id -> its item of ``prefix``, from the first of its places that holds one."""
        unique = list(dict.fromkeys(event_ids))
        places = {event_id: self.places(table, tenant_id, event_id) for event_id in unique}
        keys = [{"pk": {"S": pk}, "sk": {"S": prefix + event_id}} for event_id in unique for pk in places[event_id]]
        found = {(item["pk"]["S"], item["sk"]["S"][len(prefix):]): item for item in self._batch_get(table, keys)}
        result: dict[str, dict[str, Any]] = {}
        for event_id in unique:
            item = next((found[(pk, event_id)] for pk in places[event_id] if (pk, event_id) in found), None)
            if item is not None:
                result[event_id] = item
        return result

    def _batch_get(self, table: str, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return batch_get_all(self._client, table, keys, what="the audit trail", backoff=self._backoff,
                             attempts=MAX_ATTEMPTS)
