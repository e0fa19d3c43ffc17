"""The DynamoDB tables of Enclave, defined once.

``create_table_kwargs`` turns a definition into CreateTable parameters (emulator, tests); the
CloudFormation renderer turns the same definitions into ``AWS::DynamoDB::GlobalTable`` resources.
Personal-data, key and audit tables exist once per jurisdiction (``{prefix}-{code}``, code in lower case)
in that jurisdiction's home region; the directory is one global table replicated to every region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["global", "regional", "jurisdiction"]


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None
    projection: Literal["ALL", "KEYS_ONLY"] = "ALL"


@dataclass(frozen=True)
class TableDef:
    logical_name: str
    base_name: str
    scope: Scope
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None
    holds_personal_data: bool = False
    # the audit sequencer reads landed events from the audit stream (both images); None: the global table's
    # default, both images. The key table's stream carries keys only: a stream keeps each record 24 h, and an
    # old image would keep a deleted (crypto-shredded) wrapped key readable there that long
    stream_view: Literal["NEW_AND_OLD_IMAGES", "KEYS_ONLY"] | None = None
    # False only for the key table: a copy that can be restored must never hold a key erasure destroyed
    point_in_time_recovery: bool = True

    def name_for(self, jurisdiction: str | None = None) -> str:
        if self.scope == "jurisdiction":
            if not jurisdiction:
                raise ValueError(f"{self.base_name} is per jurisdiction")
            return f"{self.base_name}-{jurisdiction.lower()}"
        return self.base_name

    def key_attributes(self) -> list[str]:
        names = [self.hash_key, *([self.range_key] if self.range_key else [])]
        for index in self.indexes:
            names += [index.hash_key, *([index.range_key] if index.range_key else [])]
        return list(dict.fromkeys(names))


DIRECTORY = TableDef("TenantDirectory", "enclave-directory", "global", hash_key="tenant_id")
IDEMPOTENCY = TableDef("IdempotencyRecords", "enclave-idempotency", "regional", hash_key="key",
                       ttl_attribute="expires_at")
DATA = TableDef(
    "PersonalData", "enclave-data", "jurisdiction", hash_key="pk", range_key="sk",
    # by_name: the family-name blind index of a profile (``name_pk``/``name_sk``, keys only: the search
    # reads the profile it points to and re-checks the decrypted name)
    indexes=(Index("by_lookup", "lookup_pk", "lookup_sk"), Index("by_name", "name_pk", "name_sk", "KEYS_ONLY")),
    holds_personal_data=True,
)
KEYS = TableDef(
    # Wrapped learner keys (``L#<id>#K``) and tenant key versions (``TKEY#<v>``), same key layout as
    # the data table so one transaction writes a key with its data. No point-in-time recovery: erasing
    # a key here reaches every copy the platform can bring back (docs/architecture.md, "Keys outside the backups").
    "KeyRecords", "enclave-keys", "jurisdiction", hash_key="pk", range_key="sk",
    point_in_time_recovery=False, stream_view="KEYS_ONLY",
)
AUDIT = TableDef(
    "AuditTrail", "enclave-audit", "jurisdiction", hash_key="pk", range_key="sk",
    # by_shard_time: sealed events by partition (an event shard, or a legacy trail's base partition) and
    # time; by_time (by tenant) holds only events sealed before the sharded layout and is no longer queried
    indexes=(Index("by_time", "tenant_id", "at"), Index("by_shard_time", "pk", "at")),
    stream_view="NEW_AND_OLD_IMAGES",
)
TABLES: tuple[TableDef, ...] = (DIRECTORY, IDEMPOTENCY, DATA, KEYS, AUDIT)


def create_table_kwargs(table: TableDef, jurisdiction: str | None = None) -> dict[str, Any]:
    """CreateTable parameters for the emulator (on-demand billing, all attributes strings)."""
    key_schema = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
    if table.range_key:
        key_schema.append({"AttributeName": table.range_key, "KeyType": "RANGE"})
    kwargs: dict[str, Any] = {
        "TableName": table.name_for(jurisdiction),
        "KeySchema": key_schema,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in table.key_attributes()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.stream_view:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream_view}
    if table.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.hash_key, "KeyType": "HASH"}]
                + ([{"AttributeName": index.range_key, "KeyType": "RANGE"}] if index.range_key else []),
                "Projection": {"ProjectionType": index.projection},
            }
            for index in table.indexes
        ]
    return kwargs
