"""The audit table's summaries of a chain, written by the seal transaction and read in one or two calls.

``domain/audit/summaries.py`` says what they are. Items: the status pointers are attributes of the chain's
``HEAD`` (``status_verification``, ``status_export``: the status entries as JSON; ``summaries_from``); the
hour counts are ``ACT#<YYYY-MM-DD>`` items with a number attribute ``h<HH>`` per hour, under
``TENANT#<id>#A<n>`` (``n`` < ``COUNT_SHARDS``; the partition holds nothing else, and no item of it has
``at``, so the time index never sees it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.audit_shards import HEAD
from chalicelib.adapters.dynamo_batch import batch_get_all
from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.audit.layout import tenant_pk
from chalicelib.domain.audit.summaries import (
    COUNT_SHARDS,
    EXPORT,
    VERIFICATION,
    count_shard,
    hour_counts,
    newest_entries,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

POINTERS = {VERIFICATION: "status_verification", EXPORT: "status_export"}
MAX_ATTEMPTS = 8


def counts_pk(tenant_id: str, shard: int) -> str:
    return f"{tenant_pk(tenant_id)}#A{shard}"


def day_sk(day: str) -> str:
    return f"ACT#{day}"


def head_summary(events: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The ``SET`` clauses (with a leading comma) and values that a seal of ``events`` adds to the head's update."""
    first = int(events[0]["seq"])
    clauses = ", summaries_from = if_not_exists(summaries_from, :sfrom)"
    values: dict[str, Any] = {":sfrom": {"N": str(first)}}
    for kind, entry in newest_entries(events).items():
        clauses += f", {POINTERS[kind]} = :s{kind}"
        values[f":s{kind}"] = {"S": json.dumps(entry, separators=(",", ":"))}
    return clauses, values


def count_updates(table: str, tenant_id: str, events: Sequence[Mapping[str, Any]]) -> list[TransactWriteItemTypeDef]:
    """The hour-count updates of a seal of ``events`` (one a day they are stamped in), for its transaction."""
    pk = counts_pk(tenant_id, count_shard(int(events[0]["seq"])))
    updates: list[TransactWriteItemTypeDef] = []
    for day, hours in sorted(hour_counts(events).items()):
        names = {f"#h{hour}": f"h{hour}" for hour in hours}
        updates.append({"Update": {
            "TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": day_sk(day)}},
            "UpdateExpression": "ADD " + ", ".join(f"#h{hour} :h{hour}" for hour in sorted(hours)),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":h{hour}": {"N": str(n)} for hour, n in hours.items()}}})
    return updates


@dataclass(frozen=True)
class HeadSummary:
    """What the head says: its ``seq``, the status entries kept, and the first ``seq`` they cover
    (None: a head never sealed with summaries)."""

    seq: int
    summaries_from: int | None
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)


class AuditSummaries:
    """Reads the status pointers (one GetItem) and the hour counts (BatchGetItem, 100 days a call per shard)."""

    def __init__(self, client: DynamoDBClient, table_for: Callable[[str], str],
                 backoff: Callable[[int], None] | None = None) -> None:
        self._client = client
        self._table_for = table_for
        self._backoff = backoff or (lambda attempt: None)

    def head(self, tenant_id: str, jurisdiction: str) -> HeadSummary:
        with translated("the audit trail"):
            item = self._client.get_item(TableName=self._table_for(jurisdiction), ConsistentRead=True,
                                         Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}}).get("Item")
        if item is None:
            return HeadSummary(0, None)
        entries = {kind: json.loads(item[name]["S"]) for kind, name in POINTERS.items() if name in item}
        since = int(item["summaries_from"]["N"]) if "summaries_from" in item else None
        return HeadSummary(int(item["seq"]["N"]), since, entries)

    def hours(self, tenant_id: str, jurisdiction: str, days: Sequence[str]) -> Counter[str]:
        """``YYYY-MM-DDTHH`` -> events counted in that hour, for the hours of ``days``."""
        table = self._table_for(jurisdiction)
        keys = [{"pk": {"S": counts_pk(tenant_id, shard)}, "sk": {"S": day_sk(day)}}
                for day in dict.fromkeys(days) for shard in range(COUNT_SHARDS)]
        counts: Counter[str] = Counter()
        for item in self._batch_get(table, keys):
            day = item["sk"]["S"][len("ACT#"):]
            for name, value in item.items():
                if name.startswith("h") and len(name) == 3:
                    counts[f"{day}T{name[1:]}"] += int(value["N"])
        return counts

    def _batch_get(self, table: str, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return batch_get_all(self._client, table, keys, what="the audit trail", backoff=self._backoff,
                             attempts=MAX_ATTEMPTS)
