"""The personal-data table of a jurisdiction: items, key records and look-ups, all ciphertext.

Layout (``pk`` = ``TENANT#<tenant_id>``). In the jurisdiction's key table (no point-in-time recovery,
so an erased key is gone from every copy the platform can restore):
- ``TKEY#<version>``: a wrapped tenant key (KMS blob).
- ``L#<learner_id>#K``: the wrapped learner key (deleting it crypto-shreds the learner).
In the data table (point-in-time recovery; before the key move it also held the two kinds above,
``chalicelib.adapters.legacy_keys`` finds them for ``cli migrate-keys`` and the restore tool):
- ``L#<learner_id>#P``: the profile, field envelopes only; ``lookup_pk`` = ``<tenant>#email#<blind index>``
  puts it on the ``by_lookup`` index; ``name_pk`` = ``<tenant>#family_name#<blind index>`` (written on
  enrolment and every rectification since the family-name search exists) on the ``by_name`` index;
  after erasure a tombstone without any of them.
- ``L#<learner_id>#R#<result_id>``: an assessment result (envelopes).
- ``L#<learner_id>#C#<at>#<consent_id>``: a consent decision.

The store refuses to touch a table of a jurisdiction whose policy does not allow this region: no
code path can write a tenant's personal data where its law does not allow it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.consent_counts import since_delete
from chalicelib.adapters.dynamo_batch import batch_get
from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.crypto import WrappedLearnerKey, WrappedTenantKey
from chalicelib.domain.errors import Gone, NotFound, ResidencyViolation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


OFFBOARD_SK = "OFFBOARD"
"""The tenant's offboarding item (in the data table; ``GovernanceStore`` writes it)."""
PROFILE_READ_AHEAD = 2
"""Items a page of the learner list reads per learner it answers (the profile, and some of its records)."""


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def profile_sk(learner_id: str) -> str:
    return f"L#{learner_id}#P"


def learner_key_sk(learner_id: str) -> str:
    return f"L#{learner_id}#K"


def result_sk(learner_id: str, result_id: str) -> str:
    return f"L#{learner_id}#R#{result_id}"


def lookup_pk(tenant_id: str, field: str, token: str) -> str:
    return f"{tenant_id}#{field}#{token}"


CONSENT_SUMMARY = ("consent_seen", "consent_state")


def consent_summary(seen: int, state: Mapping[str, bool]) -> dict[str, Any]:
    """A profile's summary of its consent decisions (nothing personal: a count and purpose -> granted)."""
    return {"consent_seen": {"N": str(seen)},
            "consent_state": {"S": json.dumps(dict(state), separators=(",", ":"), sort_keys=True)}}


def consents_of(profile: Mapping[str, Any]) -> tuple[int, dict[str, bool]] | None:
    """``(seen, state)`` from a profile item's summary; None for a profile written before it had one."""
    if "consent_seen" not in profile or "consent_state" not in profile:
        return None
    return int(profile["consent_seen"]["N"]), {str(k): bool(v) for k, v in
                                                json.loads(profile["consent_state"]["S"]).items()}


class DataStore:
    """DynamoDB access to one region's personal-data tables."""

    def __init__(self, client: DynamoDBClient, region: str, table_for: Callable[[str], str],
                 jurisdictions: JurisdictionCatalog, key_table_for: Callable[[str], str]) -> None:
        self._client = client
        self._region = region
        self._table_for = table_for
        self._key_table_for = key_table_for
        self._jurisdictions = jurisdictions

    def table(self, jurisdiction: str) -> str:
        """The jurisdiction's table here, if its law allows this region (else a ResidencyViolation)."""
        if not self._jurisdictions.get(jurisdiction).allows_region(self._region):
            raise ResidencyViolation(f"{jurisdiction} personal data may not be stored in {self._region}")
        return self._table_for(jurisdiction)

    def key_table(self, jurisdiction: str) -> str:
        """The jurisdiction's key table here (same residency rule as its data table)."""
        self.table(jurisdiction)
        return self._key_table_for(jurisdiction)

    # -- tenant keys -------------------------------------------------------------------------------

    def tenant_keys(self, jurisdiction: str, tenant_id: str) -> list[WrappedTenantKey]:
        items = self._key_query(jurisdiction, tenant_id, "TKEY#", "TKEY#~")
        return [WrappedTenantKey(tenant_id, int(item["version"]["N"]), item["blob"]["B"]) for item in items]

    def add_tenant_key(self, jurisdiction: str, record: WrappedTenantKey) -> bool:
        """Store a new tenant key version; False when that version exists already (a concurrent writer)."""
        from botocore.exceptions import ClientError

        try:
            with translated("the data store"):
                self._client.put_item(
                    TableName=self.key_table(jurisdiction),
                    Item={"pk": {"S": tenant_pk(record.tenant_id)}, "sk": {"S": f"TKEY#{record.version:04d}"},
                          "version": {"N": str(record.version)}, "blob": {"B": record.blob}},
                    ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_tenant_keys(self, jurisdiction: str, tenant_id: str) -> int:
        """Delete every stored tenant key version of the tenant (offboarding); how many there were."""
        items = self._key_query(jurisdiction, tenant_id, "TKEY#", "TKEY#~")
        for item in items:
            with translated("the data store"):
                self._client.delete_item(TableName=self.key_table(jurisdiction),
                                         Key={"pk": item["pk"], "sk": item["sk"]})
        return len(items)

    def tenant_key_put(self, jurisdiction: str, record: WrappedTenantKey, created_at: str) -> TransactWriteItemTypeDef:
        """A new tenant key version, for a transaction with its audit event (a version is never written twice)."""
        return {"Put": {"TableName": self.key_table(jurisdiction), "Item": {
            "pk": {"S": tenant_pk(record.tenant_id)}, "sk": {"S": f"TKEY#{record.version:04d}"},
            "version": {"N": str(record.version)}, "blob": {"B": record.blob}, "created_at": {"S": created_at}},
            "ConditionExpression": "attribute_not_exists(pk)"}}

    def tenant_key_delete(self, jurisdiction: str, tenant_id: str, version: int) -> TransactWriteItemTypeDef:
        """Retire a tenant key version (nothing refers to it any more)."""
        return {"Delete": {"TableName": self.key_table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": f"TKEY#{version:04d}"}},
            "ConditionExpression": "attribute_exists(pk)"}}

    def not_offboarded_check(self, jurisdiction: str, tenant_id: str) -> TransactWriteItemTypeDef:
        """A condition for a write that must not land once the tenant's offboarding is confirmed (a new key
        version, a re-wrap, an enrolment, a legal hold): DynamoDB orders it against the confirmation."""
        return {"ConditionCheck": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": OFFBOARD_SK}},
            "ConditionExpression": "attribute_not_exists(keys_destroyed_at)"}}

    def key_item_delete(self, jurisdiction: str, tenant_id: str, sk: str) -> TransactWriteItemTypeDef:
        """Delete one item of the key table that exists (offboarding destroys every learner key)."""
        return {"Delete": {"TableName": self.key_table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk}}, "ConditionExpression": "attribute_exists(pk)"}}

    def tenant_key_created(self, jurisdiction: str, tenant_id: str) -> dict[int, str]:
        """``{version: created_at}`` of the tenant's key versions (``""`` when not recorded)."""
        return {int(item["version"]["N"]): item.get("created_at", {}).get("S", "")
                for item in self._key_query(jurisdiction, tenant_id, "TKEY#", "TKEY#~")}

    def profiles(self, jurisdiction: str, tenant_id: str) -> Iterator[dict[str, Any]]:
        """Every profile item of the tenant (live and tombstones), page by page (for re-indexing)."""
        return (item for item in self._paged(self.table(jurisdiction), tenant_id, "L#", "L#~")
                if item["sk"]["S"].endswith("#P"))

    def lookup_update(self, jurisdiction: str, tenant_id: str, learner_id: str, token: str,
                      expected_version: int, name_token: str | None = None) -> TransactWriteItemTypeDef:
        """Move a profile's e-mail look-up to ``token`` (a newer index key), and its family-name look-up to
        ``name_token`` when given, if the profile is unchanged."""
        values = {":lk": {"S": lookup_pk(tenant_id, "email", token)}, ":v": {"N": str(expected_version)}}
        expression = "SET lookup_pk = :lk"
        if name_token is not None:
            expression += ", name_pk = :nk, name_sk = :ns"  # both: the index holds items with both keys only
            values[":nk"] = {"S": lookup_pk(tenant_id, "family_name", name_token)}
            values[":ns"] = {"S": learner_id}
        return {"Update": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)}},
            "UpdateExpression": expression,
            "ConditionExpression": "#v = :v AND attribute_not_exists(erased_at)",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": values}}

    def subject_key_update(self, jurisdiction: str, sk: str, record: WrappedLearnerKey,
                           previous_tenant_key_version: int) -> TransactWriteItemTypeDef:
        """A subject key kept inside another item (a legal hold's) re-wrapped, if still wrapped by the old version."""
        return {"Update": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(record.tenant_id)}, "sk": {"S": sk}},
            "UpdateExpression": "SET #b = :b, tenant_key_version = :new, fingerprint = :f",
            "ConditionExpression": "tenant_key_version = :old",
            "ExpressionAttributeNames": {"#b": "blob"},
            "ExpressionAttributeValues": {":b": {"B": record.blob}, ":new": {"N": str(record.tenant_key_version)},
                                          ":f": {"S": record.fingerprint},
                                          ":old": {"N": str(previous_tenant_key_version)}}}}

    # -- learners ----------------------------------------------------------------------------------

    def learner_items(self, jurisdiction: str, tenant_id: str, learner_id: str) -> dict[str, dict[str, Any]]:
        """The learner's key and profile items (one BatchGetItem over both tables), by kind ``K`` / ``P``."""
        pk = {"S": tenant_pk(tenant_id)}
        wanted = [(self.table(jurisdiction), {"pk": pk, "sk": {"S": profile_sk(learner_id)}}),
                  (self.key_table(jurisdiction), {"pk": pk, "sk": {"S": learner_key_sk(learner_id)}})]
        tables = batch_get(self._client, wanted, what="the data store")
        return {item["sk"]["S"].rsplit("#", 1)[-1]: item for items in tables.values() for item in items}

    def learner_key_item(self, jurisdiction: str, tenant_id: str, learner_id: str) -> dict[str, Any] | None:
        with translated("the data store"):
            found = self._client.get_item(TableName=self.key_table(jurisdiction), ConsistentRead=True, Key={
                "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": learner_key_sk(learner_id)}})
        return found.get("Item")

    def learner_items_with(self, jurisdiction: str, tenant_id: str, learner_id: str, kind: str, *,
                           with_key: bool = True) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """The key and profile items and every ``kind`` record of the learner: one query of the data table
        (``L#<id>#C#…``, ``#P`` and ``#R#…`` are neighbours, so one range covers them) and, ``with_key``,
        one key read."""
        low = min(f"L#{learner_id}#{kind}#", profile_sk(learner_id))
        high = max(f"L#{learner_id}#{kind}#~", profile_sk(learner_id))
        own, records = {}, []
        for item in self._query(jurisdiction, tenant_id, low, high):
            sk = item["sk"]["S"]
            if sk.startswith(f"L#{learner_id}#{kind}#"):
                records.append(item)
            elif sk == profile_sk(learner_id):
                own["P"] = item
        key = self.learner_key_item(jurisdiction, tenant_id, learner_id) if with_key else None
        if key is not None:
            own["K"] = key
        return own, records

    def learner_span(self, jurisdiction: str, tenant_id: str, learner_id: str, first: str, last: str, *,
                     with_key: bool = True) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """The key and profile items and the learner's records of every kind from ``first`` to ``last`` (by
        kind): one query of the data table (``C``, ``P`` and ``R`` are neighbours) and, ``with_key``, one key
        read."""
        own: dict[str, dict[str, Any]] = {}
        records: dict[str, list[dict[str, Any]]] = {}
        for item in self._query(jurisdiction, tenant_id, f"L#{learner_id}#{first}", f"L#{learner_id}#{last}#~"):
            sk = item["sk"]["S"]
            if sk == profile_sk(learner_id):
                own["P"] = item
            elif sk != learner_key_sk(learner_id):   # a legacy copy is not the key
                records.setdefault(sk.split("#")[2], []).append(item)
        key = self.learner_key_item(jurisdiction, tenant_id, learner_id) if with_key else None
        if key is not None:
            own["K"] = key
        return own, records

    def everything_about(self, jurisdiction: str, tenant_id: str, learner_id: str, *,
                         with_key: bool = True) -> list[dict[str, Any]]:
        """Every item held on the learner (profile, results, consents from the data table; ``with_key``, the
        key)."""
        items = [item for item in self._query(jurisdiction, tenant_id, f"L#{learner_id}#", f"L#{learner_id}#~")
                 if item["sk"]["S"] != learner_key_sk(learner_id)]   # a legacy copy is not the key
        key = self.learner_key_item(jurisdiction, tenant_id, learner_id) if with_key else None
        return items if key is None else [*items, key]

    def find_by_lookup(self, jurisdiction: str, tenant_id: str, field: str, tokens: list[str]) -> list[str]:
        """Learner ids whose ``field`` blind index equals one of ``tokens`` (exact matches only)."""
        found: list[str] = []
        for token in tokens:
            with translated("the data store"):
                page = self._client.query(
                    TableName=self.table(jurisdiction), IndexName="by_lookup",
                    KeyConditionExpression="lookup_pk = :k",
                    ExpressionAttributeValues={":k": {"S": lookup_pk(tenant_id, field, token)}})
            found += [item["lookup_sk"]["S"] for item in page.get("Items", [])]
        return list(dict.fromkeys(found))

    def find_by_name(self, jurisdiction: str, tenant_id: str, tokens: list[str]) -> list[str]:
        """Learner ids whose family-name blind index equals one of ``tokens`` (the ``by_name`` index)."""
        found: list[str] = []
        for token in tokens:
            params: dict[str, Any] = {
                "TableName": self.table(jurisdiction), "IndexName": "by_name",
                "KeyConditionExpression": "name_pk = :k",
                "ExpressionAttributeValues": {":k": {"S": lookup_pk(tenant_id, "family_name", token)}}}
            while True:
                with translated("the data store"):
                    page = self._client.query(**params)
                found += [item["name_sk"]["S"] for item in page.get("Items", [])]
                if not page.get("LastEvaluatedKey"):
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return list(dict.fromkeys(found))

    def learner_keys(self, jurisdiction: str, tenant_id: str, learner_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The key items of ``learner_ids`` (BatchGetItem, 100 at a time), by learner id; erased ones absent."""
        table, pk = self.key_table(jurisdiction), {"S": tenant_pk(tenant_id)}
        items = batch_get(self._client, ((table, {"pk": pk, "sk": {"S": learner_key_sk(learner_id)}})
                                         for learner_id in learner_ids), what="the data store").get(table, [])
        return {item["sk"]["S"].split("#")[1]: item for item in items}

    def profiles_of(self, jurisdiction: str, tenant_id: str, learner_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The profile items of ``learner_ids`` (BatchGetItem, 100 at a time), by learner id."""
        table, pk = self.table(jurisdiction), {"S": tenant_pk(tenant_id)}
        items = batch_get(self._client, ((table, {"pk": pk, "sk": {"S": profile_sk(learner_id)}})
                                         for learner_id in learner_ids), what="the data store").get(table, [])
        return {item["sk"]["S"].split("#")[1]: item for item in items}

    def profiles_and_keys(self, jurisdiction: str, tenant_id: str, learner_ids: list[str],
                          ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The profile and key items of ``learner_ids``, by learner id: one BatchGetItem over both tables per
        50 learners (erased keys absent)."""
        data, key_table, pk = self.table(jurisdiction), self.key_table(jurisdiction), {"S": tenant_pk(tenant_id)}
        wanted = [pair for learner_id in dict.fromkeys(learner_ids)
                  for pair in ((data, {"pk": pk, "sk": {"S": profile_sk(learner_id)}}),
                               (key_table, {"pk": pk, "sk": {"S": learner_key_sk(learner_id)}}))]
        tables = batch_get(self._client, wanted, what="the data store")
        return ({item["sk"]["S"].split("#")[1]: item for item in tables.get(data, [])},
                {item["sk"]["S"].split("#")[1]: item for item in tables.get(key_table, [])})

    def learner_key_put(self, jurisdiction: str, record: WrappedLearnerKey) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self.key_table(jurisdiction), "Item": {
            "pk": {"S": tenant_pk(record.tenant_id)}, "sk": {"S": learner_key_sk(record.learner_id)},
            "key_version": {"N": str(record.key_version)},
            "tenant_key_version": {"N": str(record.tenant_key_version)},
            "fingerprint": {"S": record.fingerprint}, "blob": {"B": record.blob},
        }, "ConditionExpression": "attribute_not_exists(pk)"}}

    def profile_put(self, jurisdiction: str, tenant_id: str, learner_id: str, envelopes: dict[str, str],
                    email_token: str, meta: dict[str, Any], *, expected_version: int | None = None,
                    tag: str | None = None, name_token: str | None = None,
                    consent_at: str | None = None, consents: Mapping[str, Any] | None = None,
                    rectifications: list[tuple[int, str]] | None = None) -> TransactWriteItemTypeDef:
        """The profile item; new (``expected_version`` None) or replacing exactly that version of a live
        profile whose processing is not restricted (a restriction keeps the version: the put would drop it)
        and whose latest consent decision is still ``consent_at`` (carried over with the decisions' summary
        ``consents``, the replaced item's ``consent_seen``/``consent_state``: see ``consent_mark``). A new
        profile starts with a summary of no decision."""
        item: dict[str, Any] = {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)},
            "fields": {"S": json.dumps(envelopes, separators=(",", ":"), sort_keys=True)},
            "lookup_pk": {"S": lookup_pk(tenant_id, "email", email_token)}, "lookup_sk": {"S": learner_id},
            "version": {"N": str(meta["version"])},
            "created_at": {"S": meta["created_at"]}, "updated_at": {"S": meta["updated_at"]},
        }
        if tag is not None:
            item["tag"] = {"S": tag}
        if name_token is not None:
            item["name_pk"] = {"S": lookup_pk(tenant_id, "family_name", name_token)}
            item["name_sk"] = {"S": learner_id}
        if expected_version is None:
            item.update(consent_summary(0, {}))
        else:
            item.update({name: consents[name] for name in CONSENT_SUMMARY if consents and name in consents})
        if rectifications is not None:  # the versions written by rectification, and when (not personal)
            item["rectifications"] = {"S": json.dumps(rectifications, separators=(",", ":"))}
        put: Any = {"TableName": self.table(jurisdiction), "Item": item}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = ("#v = :v AND attribute_not_exists(erased_at) "
                                          "AND attribute_not_exists(restricted_at)")
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
            if consent_at is None:
                put["ConditionExpression"] += " AND attribute_not_exists(consent_at)"
            else:
                item["consent_at"] = {"S": consent_at}
                put["ConditionExpression"] += " AND consent_at = :c"
                put["ExpressionAttributeValues"][":c"] = {"S": consent_at}
        return {"Put": put}

    def profile_version_check(self, jurisdiction: str, tenant_id: str, learner_id: str,
                              version: int) -> TransactWriteItemTypeDef:
        """The profile is still at ``version`` (what a write read or cached of it is still true)."""
        return {"ConditionCheck": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)}},
            "ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":v": {"N": str(version)}}}}

    def consent_mark(self, jurisdiction: str, tenant_id: str, learner_id: str, at: str, version: int,
                     seen: int, state: Mapping[str, bool]) -> TransactWriteItemTypeDef:
        """The profile notes ``at`` as its latest consent decision and the decisions' summary after it
        (``seen`` + 1 decisions, ``state`` in force per purpose): only a live, unrestricted profile still at
        ``version`` (the one whose date of birth the decision was checked against) whose previous decision
        is older, so "latest" is well defined without reading the ledger first. The summary lets the next
        decision on a profile cached here skip reading the ledger (the per-learner count the decision's
        transaction also moves guards it: see ``consent_counts.decided``)."""
        summary = consent_summary(seen + 1, state)
        return {"Update": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)}},
            "UpdateExpression": "SET consent_at = :at, consent_seen = :seen, consent_state = :state",
            "ConditionExpression": "attribute_exists(pk) AND #v = :v AND attribute_not_exists(erased_at) AND "
                                   "attribute_not_exists(restricted_at) AND (attribute_not_exists(consent_at) "
                                   "OR consent_at < :at)",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":v": {"N": str(version)}, ":at": {"S": at},
                                          ":seen": summary["consent_seen"], ":state": summary["consent_state"]}}}

    def tombstone_put(self, jurisdiction: str, tenant_id: str, learner_id: str, erased_at: str,
                      fingerprint: str) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self.table(jurisdiction), "Item": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)},
            "erased_at": {"S": erased_at}, "destroyed_key": {"S": fingerprint},
        }, "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(erased_at)"}}

    def erasure_reapply(self, jurisdiction: str, tenant_id: str, learner_id: str, erased_at: str,
                        fingerprint: str, *, delete_key: bool) -> list[TransactWriteItemTypeDef]:
        """An erasure re-applied to a restored copy: the tombstone (whatever the copy held) and the key gone
        (``delete_key``: a legacy key item the copy's own table still holds)."""
        changes: list[TransactWriteItemTypeDef] = [{"Put": {"TableName": self.table(jurisdiction), "Item": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)},
            "erased_at": {"S": erased_at}, "destroyed_key": {"S": fingerprint}}}},
            since_delete(self.table(jurisdiction), tenant_id)]  # the copy's consent counts now count it: drop them
        if delete_key:
            changes.append({"Delete": {"TableName": self.table(jurisdiction), "Key": {
                "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": learner_key_sk(learner_id)}}}})
        return changes

    def profile_page(self, jurisdiction: str, tenant_id: str, after: str | None, limit: int, *,
                     with_fields: bool = False, status: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` profile items (live, restricted or tombstones) after learner ``after``, in id order,
        only those of ``status`` (active, restricted, erased) when given.

        Only the non-personal attributes are read unless ``with_fields`` (the envelopes, version and tag, for
        a caller that decrypts names); the second value is the last learner id when more may follow.
        """
        low = f"L#{after}#~" if after else "L#"
        found: list[dict[str, Any]] = []
        projection = "sk, created_at, updated_at, erased_at, restricted_at"
        if with_fields:
            projection += ", #f, #v, tag"
        # a page of the query holds the learners' other items too (results, consents): a few per learner;
        # without a limit DynamoDB answers up to 1 MB, the profiles of the whole tenant for the first 25
        extra: dict[str, Any] = {"ProjectionExpression": projection, "Limit": min(1000, PROFILE_READ_AHEAD * limit)}
        if with_fields:
            extra["ExpressionAttributeNames"] = {"#f": "fields", "#v": "version"}
        items = self._paged(self.table(jurisdiction), tenant_id, low, "L#~", **extra)
        for item in items:
            if item["sk"]["S"].endswith("#P") and (status is None or profile_status(item) == status):
                found.append(item)
                if len(found) == limit:
                    return found, item["sk"]["S"].split("#")[1]
        return found, None

    def learner_key_items(self, jurisdiction: str, tenant_id: str) -> Iterator[dict[str, Any]]:
        """Every stored learner key record of the tenant (for the re-wrap job), page by page."""
        return (item for item in self._paged(self.key_table(jurisdiction), tenant_id, "L#", "L#~")
                if item["sk"]["S"].endswith("#K"))

    def learner_key_replace(self, jurisdiction: str, record: WrappedLearnerKey,
                            previous_tenant_key_version: int) -> TransactWriteItemTypeDef:
        """The key record re-wrapped, only if it is still wrapped by the previous version (and not shredded)."""
        put = self.learner_key_put(jurisdiction, record)["Put"]
        return {"Put": {"TableName": put["TableName"], "Item": put["Item"],
                        "ConditionExpression": "attribute_exists(pk) AND tenant_key_version = :old",
                        "ExpressionAttributeValues": {":old": {"N": str(previous_tenant_key_version)}}}}

    def unrestrict_update(self, jurisdiction: str, tenant_id: str, learner_id: str,
                          restricted_at: str) -> TransactWriteItemTypeDef:
        """Lift the restriction of processing placed at ``restricted_at``: only that one, on a live profile."""
        return {"Update": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)}},
            "UpdateExpression": "REMOVE restricted_at, restricted_by",
            "ConditionExpression": "restricted_at = :r AND attribute_not_exists(erased_at)",
            "ExpressionAttributeValues": {":r": {"S": restricted_at}}}}

    def learner_key_delete(self, jurisdiction: str, tenant_id: str, learner_id: str,
                           fingerprint: str | None = None) -> TransactWriteItemTypeDef:
        """Delete the learner's key item (crypto-shredding): one that exists, and is the key ``fingerprint``
        names when given (a cached copy's: the erasure then needs no read first)."""
        delete: Any = {"TableName": self.key_table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": learner_key_sk(learner_id)}},
            "ConditionExpression": "attribute_exists(pk)"}
        if fingerprint is not None:
            delete["ConditionExpression"] = "fingerprint = :f"
            delete["ExpressionAttributeValues"] = {":f": {"S": fingerprint}}
        return {"Delete": delete}

    def learner_exists_check(self, jurisdiction: str, tenant_id: str, learner_id: str) -> TransactWriteItemTypeDef:
        return {"ConditionCheck": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)}},
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(erased_at)"}}

    def learner_key_check(self, jurisdiction: str, tenant_id: str, learner_id: str,
                          fingerprint: str) -> TransactWriteItemTypeDef:
        """The learner's key is still the one a cached copy names (an erasure meanwhile fails the transaction)."""
        return {"ConditionCheck": {"TableName": self.key_table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": learner_key_sk(learner_id)}},
            "ConditionExpression": "fingerprint = :f", "ExpressionAttributeValues": {":f": {"S": fingerprint}}}}

    def learner_processable_check(self, jurisdiction: str, tenant_id: str,
                                  learner_id: str) -> TransactWriteItemTypeDef:
        """The profile exists, is not erased and its processing is not restricted."""
        return {"ConditionCheck": {"TableName": self.table(jurisdiction), "Key": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": profile_sk(learner_id)}},
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(erased_at) "
                                   "AND attribute_not_exists(restricted_at)"}}

    def record_put(self, jurisdiction: str, tenant_id: str, sk: str, envelopes: dict[str, str],
                   attributes: dict[str, str]) -> TransactWriteItemTypeDef:
        """A learner's sub-record (result, consent): envelopes plus non-personal attributes."""
        item: dict[str, Any] = {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk},
                                "fields": {"S": json.dumps(envelopes, separators=(",", ":"), sort_keys=True)}}
        item.update({name: {"S": value} for name, value in attributes.items()})
        return {"Put": {"TableName": self.table(jurisdiction), "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def records(self, jurisdiction: str, tenant_id: str, learner_id: str, kind: str) -> list[dict[str, Any]]:
        prefix = f"L#{learner_id}#{kind}#"
        return self._query(jurisdiction, tenant_id, prefix, prefix + "~")

    def _query(self, jurisdiction: str, tenant_id: str, low: str, high: str) -> list[dict[str, Any]]:
        return list(self.items_between(jurisdiction, tenant_id, low, high))

    def _key_query(self, jurisdiction: str, tenant_id: str, low: str, high: str) -> list[dict[str, Any]]:
        return list(self._paged(self.key_table(jurisdiction), tenant_id, low, high))

    def items_between(self, jurisdiction: str, tenant_id: str, low: str, high: str,
                      **extra: Any) -> Iterator[dict[str, Any]]:
        """The tenant's items with ``low <= sk <= high``, page by page (consistent reads)."""
        return self._paged(self.table(jurisdiction), tenant_id, low, high, **extra)

    def _paged(self, table: str, tenant_id: str, low: str, high: str, **extra: Any) -> Iterator[dict[str, Any]]:
        start_key: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": table, "ConsistentRead": True,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":lo": {"S": low},
                                              ":hi": {"S": high}},
                **extra,
            }
            if start_key:
                params["ExclusiveStartKey"] = start_key
            with translated("the data store"):
                page = self._client.query(**params)
            yield from page.get("Items", [])
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return


def profile_status(item: dict[str, Any]) -> str:
    """active, restricted (processing restricted by a request) or erased (a tombstone)."""
    if "erased_at" in item:
        return "erased"
    return "restricted" if "restricted_at" in item else "active"


def live_profile(profile: dict[str, Any] | None, erased: str = "this learner was erased") -> dict[str, Any]:
    """The learner's profile item, if it exists and is not a tombstone (else NotFound / Gone)."""
    if profile is None:
        raise NotFound("no such learner")
    if "erased_at" in profile:
        raise Gone(erased, erased_at=profile["erased_at"]["S"])
    return profile


def wrapped_learner_key(tenant_id: str, learner_id: str, item: dict[str, Any]) -> WrappedLearnerKey:
    return WrappedLearnerKey(tenant_id, learner_id, int(item["key_version"]["N"]),
                             int(item["tenant_key_version"]["N"]), item["fingerprint"]["S"], item["blob"]["B"])


def envelopes_of(item: dict[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = json.loads(item["fields"]["S"])
    return fields
