"""The first audit trail's append, kept for the contention benchmark only: every request's transaction moves the head.

A faithful copy of ``AuditStore.commit`` as it first shipped (commit 679bebe): read the tenant's ``HEAD``
(cached per container), write ``HEAD`` (conditional on the seq it read) + ``EVT#<seq>`` + the caller's
changes in one TransactWriteItems, reads included; a lost race (head moved, or a conflicting transaction
on ``HEAD``) re-reads the head and retries with the same full-jitter backoff, up to 50 attempts, then 503.
Not used by the application.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.audit_store import HEAD, MAX_ATTEMPTS, ChangeRejected, event_sk, jittered_backoff, tenant_pk
from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.audit import GENESIS_HASH, AuditEventDraft, seal
from chalicelib.domain.errors import ServiceUnavailable, Throttled

_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


class HeadPerRequestStore:
    """Appends with the per-tenant head on the request path."""

    def __init__(self, client: Any, table_for: Callable[[str], str], region: str,
                 clock: Callable[[], datetime], backoff: Callable[[int], None] = jittered_backoff) -> None:
        self._client = client
        self._backoff = backoff
        self._table_for = table_for
        self._region = region
        self._clock = clock
        self._heads: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def commit(self, tenant_id: str, jurisdiction: str, draft: AuditEventDraft,
               changes: Sequence[Any] = ()) -> dict[str, Any]:
        table = self._table_for(jurisdiction)
        with self._lock:
            for attempt in range(MAX_ATTEMPTS):
                if attempt:
                    self._backoff(attempt)
                seq, prev_hash = self._head(tenant_id, table)
                event = seal(draft, tenant_id=tenant_id, seq=seq + 1, prev_hash=prev_hash, at=self._clock(),
                             region=self._region)
                if self._try_write(table, tenant_id, seq, event, changes):
                    self._heads[tenant_id] = (event["seq"], event["hash"])
                    return event
                self._heads.pop(tenant_id, None)
        raise ServiceUnavailable("the audit trail is busy; retry later")

    def _head(self, tenant_id: str, table: str) -> tuple[int, str]:
        cached = self._heads.get(tenant_id)
        if cached is not None:
            return cached
        with translated("the audit trail"):
            item = self._client.get_item(TableName=table, ConsistentRead=True,
                                         Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}}).get("Item")
        head = (int(item["seq"]["N"]), item["hash"]["S"]) if item else (0, GENESIS_HASH)
        self._heads[tenant_id] = head
        return head

    def _try_write(self, table: str, tenant_id: str, seq: int, event: dict[str, Any], changes: Sequence[Any]) -> bool:
        condition = "attribute_not_exists(pk)" if seq == 0 else "#seq = :prev"
        values: dict[str, Any] = {":seq": {"N": str(event["seq"])}, ":hash": {"S": event["hash"]}}
        if seq:
            values[":prev"] = {"N": str(seq)}
        head = {"Update": {"TableName": table, "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}},
                           "UpdateExpression": "SET #seq = :seq, #hash = :hash", "ConditionExpression": condition,
                           "ExpressionAttributeNames": {"#seq": "seq", "#hash": "hash"},
                           "ExpressionAttributeValues": values}}
        put = {"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)", "Item": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": event_sk(event["seq"])}, "tenant_id": {"S": tenant_id},
            "at": {"S": event["at"]}, "event": {"S": json.dumps(event, separators=(",", ":"))}}}}
        try:
            with translated("the audit trail"):
                self._client.transact_write_items(TransactItems=[head, put, *changes])
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            return self._resolve_cancel(reasons)
        return True

    @staticmethod
    def _resolve_cancel(reasons: list[str]) -> bool:
        for index, code in enumerate(reasons[2:]):
            if code == "ConditionalCheckFailed":
                raise ChangeRejected(index, code)
        if any(code == "ConditionalCheckFailed" for code in reasons[:2]):
            return False
        if any(code in _THROTTLED for code in reasons):
            raise Throttled("the audit trail is throttled; retry later", retry_after=1)
        if any(code == "TransactionConflict" for code in reasons):
            return False
        raise ServiceUnavailable("the audit trail could not be written; retry later")
