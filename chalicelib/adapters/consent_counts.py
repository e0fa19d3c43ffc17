"""Running counts behind consent coverage: live learners and, per purpose, consent granted or not granted.

Coverage per purpose is then read from a fixed number of small items, whatever the tenant's size, instead
of every learner's items. Layout, in the jurisdiction's data table:

- ``pk`` = ``TENANT#<tenant_id>#CC#<n>``, ``sk`` = ``CC`` for ``n`` in ``0..SHARDS-1``: one counter shard,
  numbers only (``live``; ``g_<purpose>`` granted; ``w_<purpose>`` not granted). A learner always counts
  on the shard its id hashes to. Every enrolment and consent decision adds to one shard in its own
  transaction: a single counter item would take every write of the tenant, and one partition key takes
  about 1,000 writes a second, so the counts are spread over ``SHARDS`` partition keys and summed on read.
- ``pk`` = ``TENANT#<tenant_id>``, ``sk`` = ``CC#SINCE``: written when the tenant is onboarded. Only a tenant
  that has it has been counted since its first learner; without it (tenants onboarded before the counts,
  a restored copy) coverage counts from the learners' items, as it always did.
- ``pk`` = ``TENANT#<tenant_id>``, ``sk`` = ``CS#<learner_id>``: how many consent decisions of the learner
  were counted (``seen``). A decision's transaction moves it from the number its writer read to the next
  one, so two decisions written at once for the same learner cannot both count from the same state; an
  erasure deletes it if it is still the number it read (nothing of the learner stays behind).

Nothing here is personal: counts, and a learner's random id with a number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo_batch import batch_get

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

SHARDS = 16
SINCE_SK = "CC#SINCE"


def shard_of(learner_id: str) -> int:
    return int.from_bytes(hashlib.sha256(learner_id.encode()).digest()[:4], "big") % SHARDS


def _shard_key(tenant_id: str, shard: int) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant_id}#CC#{shard}"}, "sk": {"S": "CC"}}


def _state_key(tenant_id: str, learner_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": f"CS#{learner_id}"}}


def since_put(table: str, tenant_id: str, at: str) -> TransactWriteItemTypeDef:
    """The marker that the tenant is counted from its first learner (onboarding writes it)."""
    return {"Put": {"TableName": table, "Item": {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": SINCE_SK},
                                                 "at": {"S": at}}}}


def since_delete(table: str, tenant_id: str) -> TransactWriteItemTypeDef:
    """Counts no longer to be trusted (a restored copy whose erasures are re-applied): coverage counts items."""
    return {"Delete": {"TableName": table, "Key": {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": SINCE_SK}}}}


def _add(table: str, tenant_id: str, learner_id: str, deltas: Mapping[str, int]) -> TransactWriteItemTypeDef:
    names = {f"#a{i}": name for i, name in enumerate(deltas)}
    values = {f":d{i}": {"N": str(delta)} for i, delta in enumerate(deltas.values())}
    return {"Update": {"TableName": table, "Key": _shard_key(tenant_id, shard_of(learner_id)),
                       "UpdateExpression": "ADD " + ", ".join(f"#a{i} :d{i}" for i in range(len(deltas))),
                       "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}


def enrolled(table: str, tenant_id: str, learner_id: str) -> TransactWriteItemTypeDef:
    return _add(table, tenant_id, learner_id, {"live": 1})


def _bucket(purpose: str, granted: bool) -> str:
    return f"{'g' if granted else 'w'}_{purpose}"


def _seen_condition(seen: int) -> tuple[str, dict[str, Any]]:
    if seen == 0:
        return "attribute_not_exists(pk) OR seen = :seen", {":seen": {"N": "0"}}
    return "seen = :seen", {":seen": {"N": str(seen)}}


def decided(table: str, tenant_id: str, learner_id: str, purpose: str, before: bool | None, after: bool,
            seen: int) -> list[TransactWriteItemTypeDef]:
    """A decision on ``purpose`` (``before``: the one in force, None if none) after ``seen`` counted ones."""
    condition, values = _seen_condition(seen)
    changes: list[TransactWriteItemTypeDef] = [{"Update": {
        "TableName": table, "Key": _state_key(tenant_id, learner_id), "UpdateExpression": "SET seen = :next",
        "ConditionExpression": condition, "ExpressionAttributeValues": {**values, ":next": {"N": str(seen + 1)}}}}]
    if before is not after:
        deltas = {_bucket(purpose, after): 1, **({_bucket(purpose, before): -1} if before is not None else {})}
        changes.append(_add(table, tenant_id, learner_id, deltas))
    return changes


def erased(table: str, tenant_id: str, learner_id: str, state: Mapping[str, bool],
           seen: int) -> list[TransactWriteItemTypeDef]:
    """The learner leaves the counts: live, and each purpose's decision in force (``state``, from ``seen``
    decisions; the transaction fails if another was counted since)."""
    condition, values = _seen_condition(seen)
    deltas = {"live": -1, **{_bucket(purpose, granted): -1 for purpose, granted in state.items()}}
    return [{"Delete": {"TableName": table, "Key": _state_key(tenant_id, learner_id),
                        "ConditionExpression": condition, "ExpressionAttributeValues": values}},
            _add(table, tenant_id, learner_id, deltas)]


@dataclass(frozen=True)
class Counts:
    live: int
    granted: dict[str, int]
    not_granted: dict[str, int]


class ConsentCounts:
    """Reads a tenant's counts: one BatchGetItem of the marker and the shards."""

    def __init__(self, client: DynamoDBClient, table_for: Callable[[str], str]) -> None:
        self._client = client
        self._table_for = table_for

    def read(self, jurisdiction: str, tenant_id: str) -> Counts | None:
        """The summed shards, or None when the tenant is not counted (no marker)."""
        table = self._table_for(jurisdiction)
        keys = [{"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": SINCE_SK}},
                *(_shard_key(tenant_id, n) for n in range(SHARDS))]
        items = batch_get(self._client, ((table, key) for key in keys), what="the data store").get(table, [])
        if not any(item["sk"]["S"] == SINCE_SK for item in items):
            return None
        totals: dict[str, int] = {}
        for item in items:
            for name, value in item.items():
                if "N" in value:
                    totals[name] = totals.get(name, 0) + int(value["N"])
        return Counts(live=totals.get("live", 0),
                      granted={name[2:]: n for name, n in totals.items() if name.startswith("g_")},
                      not_granted={name[2:]: n for name, n in totals.items() if name.startswith("w_")})
