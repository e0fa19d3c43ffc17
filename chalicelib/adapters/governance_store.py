"""Legal holds and learner departures in the jurisdiction's personal-data table.

Items (``pk`` = ``TENANT#<tenant_id>``, the same partition as the tenant's learners):

- ``H#<hold_id>``: a legal hold. Non-personal attributes (``hold_id``, ``tenant_id``, ``learner_id``
  when it covers one learner, ``category``, ``placed_at``/``placed_by``, ``lifted_at``/``lifted_by``)
  plus the encrypted reason (``fields``) and the hold's own wrapped subject key. Whether a learner
  is held is one query of the ``H#`` range (lifted holds are filtered out by DynamoDB).
- ``HM#<learner_id>`` and ``HM#tenant``: hold markers, ``active`` = the number of active holds on that
  learner (on the whole tenant). Placing a hold adds 1 and lifting it subtracts 1 in the hold's own
  transaction; an erasure's transaction ConditionChecks both markers (none, or ``active`` <= 0), so a
  hold and an erasure committed in the same instant are ordered by DynamoDB: whichever commits second
  sees the other (the hold's transaction also checks the learner is not erased). Holds placed before
  the markers existed carry no ``marked`` attribute and never touch a marker.
- ``OFFBOARD``: a requested offboarding of the tenant (``offboarding_id``, ``requested_at``,
  ``confirmable_at``, ``requested_by``; ``keys_destroyed_at`` once confirmed). Identifiers and times only.
- ``L#<learner_id>#D``: the learner's departure (``left_on``, a date), the reference time of the
  retention rules whose ``after`` is ``learner_left``. It sits on the ``by_lookup`` index under
  ``lookup_pk`` = ``<tenant_id>#departed`` with ``lookup_sk`` = ``<left_on>#<learner_id>``, so the
  sweep finds every learner who left on or before a day with one range query per tenant.

All residency checks go through ``DataStore.table``: this adapter can no more write a tenant's data
to a region its law forbids than the data store can.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.data_store import OFFBOARD_SK, DataStore, tenant_pk
from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.crypto import WrappedLearnerKey

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

HOLD_PREFIX = "H#"
MARKER_PREFIX = "HM#"
OFFBOARD = OFFBOARD_SK
DEPARTED = "departed"


def hold_sk(hold_id: str) -> str:
    return f"{HOLD_PREFIX}{hold_id}"


ANY_HOLD_SK = f"{MARKER_PREFIX}any"
"""Counts every hold of the tenant (tenant-wide or per learner): offboarding's confirmation checks it."""


def hold_marker_sk(learner_id: str | None) -> str:
    """The marker of holds on ``learner_id``, or (None) on the whole tenant."""
    return f"{MARKER_PREFIX}{learner_id or 'tenant'}"


def departure_sk(learner_id: str) -> str:
    return f"L#{learner_id}#D"


def departed_lookup_pk(tenant_id: str) -> str:
    return f"{tenant_id}#{DEPARTED}"


class GovernanceStore:
    def __init__(self, client: DynamoDBClient, data: DataStore) -> None:
        self._client = client
        self._data = data

    # -- legal holds -------------------------------------------------------------------------------

    def hold_put(self, jurisdiction: str, tenant_id: str, attributes: dict[str, str], envelopes: dict[str, str],
                 key: WrappedLearnerKey) -> TransactWriteItemTypeDef:
        """A new hold item: non-personal ``attributes``, the reason's envelopes and its wrapped key."""
        item: dict[str, Any] = {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": hold_sk(attributes["hold_id"])},
            "fields": {"S": json.dumps(envelopes, separators=(",", ":"), sort_keys=True)},
            "key_version": {"N": str(key.key_version)}, "tenant_key_version": {"N": str(key.tenant_key_version)},
            "fingerprint": {"S": key.fingerprint}, "blob": {"B": key.blob},
        }
        item.update({name: {"S": value} for name, value in attributes.items()})
        return {"Put": {"TableName": self._data.table(jurisdiction), "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def hold_lift(self, jurisdiction: str, tenant_id: str, hold_id: str, lifted_at: str,
                  lifted_by: str, lift_envelopes: dict[str, str] | None = None) -> TransactWriteItemTypeDef:
        """Mark the hold lifted (only if it exists and is still active), with the envelopes of the reason for
        lifting it if one was given; the rest of the item is left as stored (a key rotation may have re-wrapped
        its reason's key since it was read)."""
        values: dict[str, Any] = {":at": {"S": lifted_at}, ":by": {"S": lifted_by}}
        expression = "SET lifted_at = :at, lifted_by = :by"
        if lift_envelopes:
            values[":lf"] = {"S": json.dumps(lift_envelopes, separators=(",", ":"), sort_keys=True)}
            expression += ", lift_fields = :lf"
        return {"Update": {"TableName": self._data.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": hold_sk(hold_id)}},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(lifted_at)",
            "ExpressionAttributeValues": values}}

    def hold_marker_add(self, jurisdiction: str, tenant_id: str, learner_id: str | None,
                        delta: int) -> TransactWriteItemTypeDef:
        """Count a hold placed (+1) or lifted (-1) on the learner's (or the tenant's) marker."""
        return {"Update": {"TableName": self._data.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": hold_marker_sk(learner_id)}},
            "UpdateExpression": "ADD active :d", "ExpressionAttributeValues": {":d": {"N": str(delta)}}}}

    def any_hold_add(self, jurisdiction: str, tenant_id: str, delta: int) -> TransactWriteItemTypeDef:
        """Count a hold of any scope placed (+1) or lifted (-1) on the tenant's ``HM#any`` marker."""
        return {"Update": {"TableName": self._data.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": ANY_HOLD_SK}},
            "UpdateExpression": "ADD active :d", "ExpressionAttributeValues": {":d": {"N": str(delta)}}}}

    def no_hold_at_all_check(self, jurisdiction: str, tenant_id: str) -> TransactWriteItemTypeDef:
        """A condition offboarding's confirmation carries: no active hold of any scope counted."""
        return {"ConditionCheck": {"TableName": self._data.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": ANY_HOLD_SK}},
            "ConditionExpression": "attribute_not_exists(pk) OR active <= :zero",
            "ExpressionAttributeValues": {":zero": {"N": "0"}}}}

    def no_hold_check(self, jurisdiction: str, tenant_id: str, learner_id: str | None) -> TransactWriteItemTypeDef:
        """A condition an erasure's transaction carries: no active hold counted on this marker."""
        return {"ConditionCheck": {"TableName": self._data.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": hold_marker_sk(learner_id)}},
            "ConditionExpression": "attribute_not_exists(pk) OR active <= :zero",
            "ExpressionAttributeValues": {":zero": {"N": "0"}}}}

    def hold(self, jurisdiction: str, tenant_id: str, hold_id: str) -> dict[str, Any] | None:
        items = list(self._range(jurisdiction, tenant_id, hold_sk(hold_id), hold_sk(hold_id)))
        return items[0] if items else None

    def holds(self, jurisdiction: str, tenant_id: str) -> list[dict[str, Any]]:
        return list(self._range(jurisdiction, tenant_id, HOLD_PREFIX, HOLD_PREFIX + "~"))

    def active_holds(self, jurisdiction: str, tenant_id: str) -> list[str | None]:
        """The learner id of each active hold (``None`` for a whole-tenant hold); one query."""
        items = self._range(jurisdiction, tenant_id, HOLD_PREFIX, HOLD_PREFIX + "~",
                            FilterExpression="attribute_not_exists(lifted_at)",
                            ProjectionExpression="learner_id")
        return [item["learner_id"]["S"] if "learner_id" in item else None for item in items]

    def uncounted_active_holds(self, jurisdiction: str, tenant_id: str) -> list[str | None]:
        """Like ``active_holds``, only those no marker counts (placed before the markers existed); one query."""
        items = self._range(jurisdiction, tenant_id, HOLD_PREFIX, HOLD_PREFIX + "~",
                            FilterExpression="attribute_not_exists(lifted_at) AND attribute_not_exists(marked)",
                            ProjectionExpression="learner_id")
        return [item["learner_id"]["S"] if "learner_id" in item else None for item in items]

    # -- offboarding ------------------------------------------------------------------------------

    def offboarding(self, jurisdiction: str, tenant_id: str) -> dict[str, str] | None:
        items = list(self._range(jurisdiction, tenant_id, OFFBOARD, OFFBOARD))
        return {name: value["S"] for name, value in items[0].items() if "S" in value} if items else None

    def offboarding_put(self, jurisdiction: str, tenant_id: str,
                        attributes: dict[str, str]) -> TransactWriteItemTypeDef:
        """The pending offboarding; only when none is recorded yet."""
        item = {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": OFFBOARD},
                **{name: {"S": value} for name, value in attributes.items()}}
        return {"Put": {"TableName": self._data.table(jurisdiction), "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def offboarding_claim(self, jurisdiction: str, tenant_id: str, offboarding_id: str, claim: str, at: str,
                          stale_before: str) -> bool:
        """Claim the confirmation of a pending offboarding for one attempt (``claim``, a lease that lapses at
        ``stale_before``): False when another attempt holds a live claim or the offboarding is confirmed."""
        from botocore.exceptions import ClientError

        try:
            with translated("the data store"):
                self._client.update_item(
                    TableName=self._data.table(jurisdiction),
                    Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": OFFBOARD}},
                    UpdateExpression="SET confirming = :claim, confirming_at = :at",
                    ConditionExpression="offboarding_id = :id AND attribute_not_exists(keys_destroyed_at) AND "
                                        "(attribute_not_exists(confirming_at) OR confirming_at < :stale)",
                    ExpressionAttributeValues={":claim": {"S": claim}, ":at": {"S": at},
                                               ":id": {"S": offboarding_id}, ":stale": {"S": stale_before}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def offboarding_release(self, jurisdiction: str, tenant_id: str, claim: str) -> None:
        """Give up the attempt's claim on the confirmation (it failed); nothing if the claim is another's."""
        from botocore.exceptions import ClientError

        try:
            with translated("the data store"):
                self._client.update_item(
                    TableName=self._data.table(jurisdiction),
                    Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": OFFBOARD}},
                    UpdateExpression="REMOVE confirming, confirming_at",
                    ConditionExpression="confirming = :claim AND attribute_not_exists(keys_destroyed_at)",
                    ExpressionAttributeValues={":claim": {"S": claim}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def offboarding_confirm(self, jurisdiction: str, tenant_id: str, offboarding_id: str,
                            at: str, attributes: dict[str, Any] | None = None) -> TransactWriteItemTypeDef:
        """Mark the pending offboarding confirmed (its keys about to be destroyed); only once. ``attributes``
        (DynamoDB-typed) are stored with it: what a retry needs to answer the same receipt."""
        values: dict[str, Any] = {":at": {"S": at}, ":id": {"S": offboarding_id}}
        names: dict[str, str] = {}
        sets = ["keys_destroyed_at = :at"]
        for number, (name, value) in enumerate(sorted((attributes or {}).items())):
            names[f"#a{number}"], values[f":a{number}"] = name, value
            sets.append(f"#a{number} = :a{number}")
        update: dict[str, Any] = {
            "TableName": self._data.table(jurisdiction),
            "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": OFFBOARD}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "offboarding_id = :id AND attribute_not_exists(keys_destroyed_at)",
            "ExpressionAttributeValues": values}
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}  # type: ignore[typeddict-item]

    def offboarding_item(self, jurisdiction: str, tenant_id: str) -> dict[str, Any] | None:
        """The offboarding item as stored (binary attributes included), or None."""
        items = list(self._range(jurisdiction, tenant_id, OFFBOARD, OFFBOARD))
        return items[0] if items else None

    def not_offboarded_check(self, jurisdiction: str, tenant_id: str) -> TransactWriteItemTypeDef:
        """A condition for a write that must not land once the tenant's offboarding is confirmed (a new key
        version, a re-wrap, an enrolment, a legal hold): DynamoDB orders it against the confirmation."""
        return self._data.not_offboarded_check(jurisdiction, tenant_id)

    # -- departures ------------------------------------------------------------------------------

    def departure_put(self, jurisdiction: str, tenant_id: str, learner_id: str, left_on: str,
                      recorded_at: str) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self._data.table(jurisdiction), "Item": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": departure_sk(learner_id)},
            "learner_id": {"S": learner_id}, "left_on": {"S": left_on}, "recorded_at": {"S": recorded_at},
            "lookup_pk": {"S": departed_lookup_pk(tenant_id)}, "lookup_sk": {"S": f"{left_on}#{learner_id}"},
        }}}

    def record_delete(self, jurisdiction: str, tenant_id: str, sk: str) -> TransactWriteItemTypeDef:
        """Delete one item of the tenant (a departure, an expired record); no-op when already gone."""
        return {"Delete": {"TableName": self._data.table(jurisdiction),
                           "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk}}}}

    def departed(self, jurisdiction: str, tenant_id: str, on_or_before: str) -> list[tuple[str, str]]:
        """``(learner_id, left_on)`` of every learner who left on or before ``on_or_before`` (YYYY-MM-DD)."""
        table = self._data.table(jurisdiction)
        found: list[tuple[str, str]] = []
        start_key: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": table, "IndexName": "by_lookup",
                "KeyConditionExpression": "lookup_pk = :k AND lookup_sk <= :hi",
                "ExpressionAttributeValues": {":k": {"S": departed_lookup_pk(tenant_id)},
                                              ":hi": {"S": f"{on_or_before}#~"}},
            }
            if start_key:
                params["ExclusiveStartKey"] = start_key
            with translated("the data store"):
                page = self._client.query(**params)
            found += [(item["learner_id"]["S"], item["left_on"]["S"]) for item in page.get("Items", [])]
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return found

    # -- shared ------------------------------------------------------------------------------------

    def _range(self, jurisdiction: str, tenant_id: str, low: str, high: str,
               **extra: Any) -> Iterator[dict[str, Any]]:
        return self._data.items_between(jurisdiction, tenant_id, low, high, **extra)
