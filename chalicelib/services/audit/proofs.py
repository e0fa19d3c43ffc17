"""Signed Merkle tree heads over each tenant's audit chain, as a timeline, and the proofs on them.

A head is signed when the tree reaches it, in the sealer's path (``TreeHeads.after_seal``: the stream
sequencer, or seal-on-read): when a seal crosses a multiple of ``every`` events (100 by default), and
at least every ``interval`` (5 minutes) while events arrive. It is stored with that time and never
re-signed: a head for a past size is the one stored then, so its ``at`` is when the trail had that
size. One KMS ``Sign`` per 100 events or 5 minutes per tenant, whatever the batching; a write request
never signs. Each new head is also written to the region's witness bucket (Object Lock, compliance
mode, kept for the jurisdiction's audit retention), where no operator can rewrite it.

The proof routes answer with stored heads: the newest one covering the event (inclusion), the stored
head of the size asked for or the next stored one (consistency; a ``from_bridge`` then proves the tree
of the size asked for is a prefix of it). Only when no stored head covers what is asked (events sealed
since the newest head) is a head signed on the spot, at the trail's size now and with the time now:
a true statement, and the next head of the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.tree_store import CHUNK, TreeStore
from chalicelib.domain.audit import format_at, merkle
from chalicelib.domain.audit.tree_heads import LogId, head_payload, signed_head_body
from chalicelib.domain.errors import EnclaveError, NotFound, ServiceUnavailable, ValidationFailed
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.audit.signing_keys import SigningKeys
from chalicelib.services.context import Caller

MAX_CATCH_UP = 2_000  # chunks (128,000 events) whose nodes one call may build: bounds a request's work
HEAD_INTERVAL = timedelta(minutes=5)


class WitnessStore(Protocol):
    def put_head(self, head: Mapping[str, Any], retain_until: datetime) -> bool: ...


@dataclass(frozen=True)
class Witness:
    """Where each new head is also written, and for how long the jurisdiction's law keeps it."""

    store: WitnessStore
    retention_days: Callable[[str], int]


class TreeHeads:
    """Keeps each tenant's stored tree nodes up with its chain and signs tree heads as the tree reaches them."""

    def __init__(self, tree: TreeStore, keys: SigningKeys, clock: Callable[[], datetime], *, region: str,
                 stage: str, every: int = 100, interval: timedelta = HEAD_INTERVAL,
                 max_catch_up: int = MAX_CATCH_UP, witness: Witness | None = None) -> None:
        """``max_catch_up``: chunks whose nodes one call may build (a long trail from before the tree heads takes
        a few calls);
        ``witness``: where each new head is locked (none: heads are only stored)."""
        self._max_catch_up = max_catch_up
        self._tree = tree
        self._keys = keys
        self._clock = clock
        self._every = every
        self._interval = interval
        self._region = region
        self._stage = stage
        self._witness = witness
        self._last: dict[str, tuple[int, datetime]] = {}  # tenant -> (newest head's size, since when)

    def after_seal(self, tenant_id: str, jurisdiction: str, tree_size: int, sealed: int) -> None:
        """Sign a head at ``tree_size`` when the seal crossed a multiple of ``every``, or when the newest head
        is ``interval`` old; the events are sealed whatever happens here (a failed head is logged)."""
        crossed = tree_size // self._every != (tree_size - sealed) // self._every
        if not crossed and not self._due(tenant_id, jurisdiction, tree_size):
            return
        try:
            self.sign(tenant_id, jurisdiction, tree_size)
        except EnclaveError:
            logger.warning("tree head skipped", extra={"tree_size": tree_size})

    def _due(self, tenant_id: str, jurisdiction: str, tree_size: int) -> bool:
        """Whether the tree grew since its newest head and that head (or, with none, the first seal this
        process saw) is ``interval`` old. One read of the newest head per tenant and process."""
        now = self._clock()
        last = self._last.get(tenant_id)
        if last is None:
            stored = self._tree.latest_head(tenant_id, jurisdiction)
            last = (stored["tree_size"], _parse_at(stored["at"])) if stored else (0, now)
            self._last[tenant_id] = last
        return tree_size > last[0] and now - last[1] >= self._interval

    def latest(self, tenant_id: str, jurisdiction: str, at_most: int) -> dict[str, Any] | None:
        """The stored head of the largest size up to ``at_most`` (no signing: for an export's manifest)."""
        return self._tree.latest_head(tenant_id, jurisdiction, at_most)

    def covering(self, tenant_id: str, jurisdiction: str, at_least: int, at_most: int) -> dict[str, Any] | None:
        """The stored head of the smallest size from ``at_least`` to ``at_most`` (no signing)."""
        return self._tree.first_head(tenant_id, jurisdiction, at_least, at_most)

    def heads(self, tenant_id: str, jurisdiction: str) -> list[dict[str, Any]]:
        """Every stored head of the tenant, smallest size first (the timeline)."""
        return self._tree.heads(tenant_id, jurisdiction)

    def sign(self, tenant_id: str, jurisdiction: str, tree_size: int,
             root_of: merkle.RootOf | None = None) -> dict[str, Any]:
        """Sign, store and witness the head of the tree as it is now, at ``tree_size`` (the trail's size now)."""
        root_of = root_of or self.root_of(tenant_id, jurisdiction, tree_size)
        root = root_of(0, tree_size).hex()
        log = LogId(tenant_id, self._region, self._stage)

        def build(key_id: str) -> tuple[bytes, tuple[dict[str, Any], datetime]]:
            now = self._clock()  # the key is recorded in the key history before the head's time is taken
            body = signed_head_body(log, tree_size, root, format_at(now), key_id)
            return head_payload(body), (body, now)

        _, signature, (body, now) = self._keys.sign_current(build)
        head = {**body, "signature": signature}
        stored = self._tree.put_head(jurisdiction, head)
        if stored is head:
            self._last[tenant_id] = (tree_size, now)
            self._witness_head(jurisdiction, head, now)
        return stored

    def _witness_head(self, jurisdiction: str, head: dict[str, Any], now: datetime) -> None:
        if self._witness is None:
            return
        try:
            self._witness.store.put_head(head, now + timedelta(days=self._witness.retention_days(jurisdiction)))
        except EnclaveError:  # the head is stored; `audit witness` reports the missing copy
            logger.error("tree head not witnessed", extra={"tree_size": head["tree_size"]})

    def root_of(self, tenant_id: str, jurisdiction: str, tree_size: int) -> merkle.RootOf:
        """Subtree hashes of the tenant's tree (valid for ranges within the first ``tree_size`` leaves)."""
        nodes: dict[tuple[int, int], bytes] = {}
        chunks: dict[int, list[bytes]] = {}

        def node(level: int, index: int) -> bytes:
            if (level, index) not in nodes:
                value = self._tree.node(tenant_id, jurisdiction, level, index)
                if value is None:
                    raise ServiceUnavailable("the audit tree is being built; retry later")
                nodes[(level, index)] = bytes.fromhex(value)
            return nodes[(level, index)]

        def leaves(chunk: int) -> list[bytes]:
            if chunk not in chunks:
                chunks[chunk] = merkle.leaf_hashes(self._tree.chunk_hashes(tenant_id, jurisdiction, chunk))
            return chunks[chunk]

        # store the nodes of every complete chunk not stored yet (the first time for a trail: all of them,
        # at most MAX_CATCH_UP chunks per call: an old trail without tree heads is built in a few calls, each resuming)
        done = self._tree.complete_chunks(tenant_id, jurisdiction)
        if tree_size // CHUNK - done > self._max_catch_up:
            self._build(tenant_id, jurisdiction, done, done + self._max_catch_up, nodes, node, leaves, chunks)
            raise ServiceUnavailable("the audit tree is being built; retry later", retry_after=1)
        self._build(tenant_id, jurisdiction, done, tree_size // CHUNK, nodes, node, leaves, chunks)
        return merkle.chunked_root_of(CHUNK, node, leaves)

    def _build(self, tenant_id: str, jurisdiction: str, first: int, stop: int, nodes: dict[tuple[int, int], bytes],
               node: Callable[[int, int], bytes], leaves: Callable[[int], list[bytes]],
               chunks: dict[int, list[bytes]]) -> None:
        for index in range(first, stop):
            chunk = leaves(index)
            if len(chunk) != CHUNK:
                raise ServiceUnavailable("the audit chain is being sealed; retry later")
            completed = merkle.completed_nodes(index, merkle.subtree_root(chunk), node)
            # parents first: the level-0 node marks the chunk done, so it is written last
            self._tree.put_nodes(tenant_id, jurisdiction, [(lv, ix, v.hex()) for lv, ix, v in reversed(completed)])
            nodes.update({(lv, ix): v for lv, ix, v in completed})
            chunks.pop(index, None)


class AuditProofService:
    """``GET .../audit/proof``, ``GET .../audit/consistency`` and ``GET .../audit/heads``."""

    def __init__(self, access: AccessControl, store: AuditStore, heads: TreeHeads, keys: SigningKeys) -> None:
        self._access = access
        self._store = store
        self._heads = heads
        self._keys = keys

    def proof(self, caller: Caller, tenant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """The event at ``seq``, the newest stored head covering it, and the audit path between them."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.prove")
        seq = _position(query, "seq")
        size = self._size(tenant)
        if seq > size:
            raise NotFound(f"the audit trail has no event at seq {seq} (it has {size})")
        root_of = self._heads.root_of(tenant.tenant_id, tenant.jurisdiction, size)
        head = self._heads.latest(tenant.tenant_id, tenant.jurisdiction, size)
        if head is None or head["tree_size"] < seq:  # sealed since the newest head: the tree as it is now
            head = self._heads.sign(tenant.tenant_id, tenant.jurisdiction, size, root_of)
        event = next(iter(self._store.events(tenant.tenant_id, tenant.jurisdiction, seq, seq)))
        path = merkle.inclusion_proof_by(seq - 1, head["tree_size"], root_of)
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.prove", f"tenants/{tenant.tenant_id}/audit/proof", seq=seq, tree_size=head["tree_size"]))
        return {"tenant_id": tenant.tenant_id, "seq": seq, "leaf_index": seq - 1, "event": event,
                "tree_head": head, "inclusion_proof": path, "public_keys": self._public_keys(head)}

    def consistency(self, caller: Caller, tenant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """Stored heads at sizes ``from`` and ``to`` (default: the whole sealed trail), or the next stored
        ones, and the proof between them; ``from_bridge`` when ``from`` has no head of its own."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.prove")
        asked = _position(query, "from")
        size = self._size(tenant)
        wanted = _position(query, "to") if query.get("to") is not None else size
        if asked > wanted:
            raise ValidationFailed([{"field": "from", "message": "must not be greater than 'to'"}])
        if wanted > size:
            raise NotFound(f"the audit trail has {size} events, not {wanted}")
        tid, jurisdiction = tenant.tenant_id, tenant.jurisdiction
        root_of = self._heads.root_of(tid, jurisdiction, size)
        second = self._heads.covering(tid, jurisdiction, wanted, size) or self._heads.sign(
            tid, jurisdiction, size, root_of)
        first = self._heads.covering(tid, jurisdiction, asked, second["tree_size"]) or second
        document: dict[str, Any] = {
            "tenant_id": tid, "first_head": first, "second_head": second,
            "consistency_proof": merkle.consistency_proof_by(first["tree_size"], second["tree_size"], root_of),
            "public_keys": self._public_keys(first, second)}
        if first["tree_size"] != asked:
            document["from_bridge"] = {"tree_size": asked, "root_hash": root_of(0, asked).hex(),
                                       "consistency_proof": merkle.consistency_proof_by(
                                           asked, first["tree_size"], root_of)}
        self._store.commit(tid, jurisdiction, caller.draft(
            "audit.prove", f"tenants/{tid}/audit/consistency", first_size=first["tree_size"],
            second_size=second["tree_size"]))
        return document

    def heads(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        """Every stored head of the tenant (the timeline), smallest size first, with their public keys."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.prove")
        heads = self._heads.heads(tenant.tenant_id, tenant.jurisdiction)
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.prove", f"tenants/{tenant.tenant_id}/audit/heads", heads=len(heads)))
        return {"tenant_id": tenant.tenant_id, "heads": heads, "public_keys": self._public_keys(*heads)}

    def _size(self, tenant: Tenant) -> int:
        """The chain's size after sealing everything pending (which may sign a head at that size)."""
        size, _ = self._store.head(tenant.tenant_id, tenant.jurisdiction)
        return size

    def _public_keys(self, *heads: Mapping[str, Any]) -> dict[str, str]:
        return self._keys.public_keys(head["key_id"] for head in heads)


def _parse_at(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def _position(query: Mapping[str, str], name: str) -> int:
    value = query.get(name)
    if value is None or not value.isdigit() or value.startswith("0") or len(value) > 15:
        raise ValidationFailed([{"field": name, "message": "must be a positive integer"}])
    return int(value)
