"""Where the audit table keeps one tenant's items: partition keys spread under DynamoDB's per-partition caps.

DynamoDB caps each partition at 1,000 write units and 3,000 read units a second (a transactional write
costs two units per KB), and splits a hot partition only for random sort keys and only after minutes. A
tenant's audit items under one partition key (``TENANT#<id>``, the layout before this one, kept as
``LEGACY``) therefore cap the tenant near 500 transactional writes a second. This layout spreads them:

- ``TENANT#<id>``: the chain's ``HEAD`` (once per seal transaction), checkpoints ``CKP#``, the Merkle
  tree's ``MTN#``/``STH#``, and every item of a trail written before this layout (``seq`` below the head's
  ``sharded_from``; pending markers that landed then).
- ``TENANT#<id>#E<nn>``: sealed events ``EVT#<seq>`` (and late-time items ``LAT#``), ``nn`` =
  ``((seq - 1) // SEQ_BLOCK) % EVENT_SHARDS``: consecutive blocks of the chain go to consecutive shards, so
  every shard takes the same share and a tree chunk (``SEQ_BLOCK`` = the tree's chunk) is one Query.
- ``TENANT#<id>#M<nn>``: pending markers ``PND#<event_id>`` and landed records ``LND#<event_id>``, ``nn`` =
  a hash of the event id (without the suffix of a sequencer finding's id, which so lands beside the
  event it is about) modulo ``MARKER_SHARDS``.

Shard counts (docs/audit-partitions.md has the whole computation), at 5,000 audited events/s of one tenant,
events and markers under 1 KB: each event costs its marker shard 1.2 WCU to land (80 % PutItem at 1 unit,
20 % in a transaction at 2), 2 to mark it sealed and 2 for its landed record (both transactional): 5.2 WCU,
26,000 WCU/s in all; over 64 shards 406 WCU/s on average, under 600 at four standard deviations of the
hash's spread (78 events/s a shard). Sealed events cost 2 WCU each in the base table and 1 in the time
index (``by_shard_time``, keyed by ``pk``): 10,000 + 5,000 WCU/s; over 32 shards a shard takes 156
events/s, at most 3 blocks (192 events) in a second: 384 + 192 WCU/s. The head: one update (2 WCU) per
seal transaction of up to 24 events: about 420 WCU/s.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

EVENT_SHARDS = 32
"""Partition keys of a tenant's sealed events: 5,000 events/s x 2 WCU / 32 = 313 WCU/s a shard (see above)."""
MARKER_SHARDS = 64
"""Partition keys of a tenant's pending markers and landed records: 5,000 x 5.2 WCU / 64 = 406 WCU/s."""
SEQ_BLOCK = 64
"""Consecutive ``seq`` values kept in one event shard: the Merkle tree's chunk, so a chunk is one Query."""
TENANT_PREFIX = "TENANT#"
ALWAYS = 1 << 62
"""``sharded_from`` of a trail kept entirely in the legacy layout (never reached)."""


def tenant_pk(tenant_id: str) -> str:
    """The tenant's base partition: head, checkpoints, tree, and every item of the legacy layout."""
    return f"{TENANT_PREFIX}{tenant_id}"


def tenant_of_pk(pk: str) -> str:
    """The tenant an audit item's partition key belongs to, whatever its shard ('' when none)."""
    return pk[len(TENANT_PREFIX):].split("#", 1)[0] if pk.startswith(TENANT_PREFIX) else ""


def base_event_id(event_id: str) -> str:
    """The landed event an id names: a sequencer finding's id is its event's id with a suffix."""
    return "-".join(event_id.split("-", 3)[:3])


@dataclass(frozen=True)
class AuditLayout:
    """The partition keys of a tenant's audit items (``sharded=False``: all under ``TENANT#<id>``)."""

    sharded: bool = True
    event_shards: int = EVENT_SHARDS
    marker_shards: int = MARKER_SHARDS
    block: int = SEQ_BLOCK

    def event_pk(self, tenant_id: str, seq: int, sharded_from: int) -> str:
        """The partition of sealed event ``seq`` in a chain sharded from ``sharded_from`` on."""
        if not self.sharded or seq < sharded_from:
            return tenant_pk(tenant_id)
        return f"{tenant_pk(tenant_id)}#E{self.event_shard(seq):02d}"

    def event_shard(self, seq: int) -> int:
        return ((seq - 1) // self.block) % self.event_shards

    def event_pks(self, tenant_id: str, first: int, last: int | None, sharded_from: int) -> list[str]:
        """The partitions holding the events ``first``..``last`` (None: to the end), legacy one first."""
        pks = [tenant_pk(tenant_id)] if first < sharded_from or not self.sharded else []
        if not self.sharded or (last is not None and last < sharded_from):
            return pks
        low = max(first, sharded_from)
        blocks = self.event_shards if last is None else (last - 1) // self.block - (low - 1) // self.block + 1
        shards = dict.fromkeys(self.event_shard(low + n * self.block) for n in range(min(blocks, self.event_shards)))
        return pks + [f"{tenant_pk(tenant_id)}#E{shard:02d}" for shard in shards]

    def marker_pk(self, tenant_id: str, event_id: str) -> str:
        """The partition of ``event_id``'s pending marker and landed record (new ones)."""
        if not self.sharded:
            return tenant_pk(tenant_id)
        digest = hashlib.sha256(base_event_id(event_id).encode()).digest()
        return f"{tenant_pk(tenant_id)}#M{int.from_bytes(digest[:8], 'big') % self.marker_shards:02d}"

    def marker_pks(self, tenant_id: str) -> list[str]:
        """Every partition a pending marker of the tenant can land in (legacy excluded)."""
        if not self.sharded:
            return [tenant_pk(tenant_id)]
        return [f"{tenant_pk(tenant_id)}#M{shard:02d}" for shard in range(self.marker_shards)]

    def all_event_pks(self, tenant_id: str) -> list[str]:
        if not self.sharded:
            return [tenant_pk(tenant_id)]
        return [f"{tenant_pk(tenant_id)}#E{shard:02d}" for shard in range(self.event_shards)]


SHARDED = AuditLayout()
LEGACY = AuditLayout(sharded=False)
"""Every audit item of a tenant under ``TENANT#<id>``: how trails were written before the sharded layout."""
