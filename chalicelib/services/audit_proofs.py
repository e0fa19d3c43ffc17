"""Signed Merkle tree heads over each tenant's audit chain, and the inclusion and consistency proofs on them.

``TreeHeads.after_seal`` runs when the sequencer (stream handler or seal-on-read) has sealed events;
when the chain crossed a multiple of ``every`` events (as F3 checkpoints: 100 by default) it stores
the tree nodes the new events complete and signs one head at the new size: one KMS ``Sign`` per
``every`` events whatever the batching, never one per request. The proof routes sign a head at the
current size when none is stored, after sealing what is pending, so no proof is ever given against a
trail missing an event that was already answered for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.kms_signer import KmsCheckpointSigner
from chalicelib.adapters.tree_store import CHUNK, TreeStore
from chalicelib.domain import merkle
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit.tree_heads import tree_head_payload, tree_head_record
from chalicelib.domain.errors import EnclaveError, NotFound, ServiceUnavailable, ValidationFailed
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller

MAX_CATCH_UP = 2_000  # chunks (128,000 events) whose nodes one call may build: bounds a request's work


class TreeHeads:
    """Keeps each tenant's stored tree nodes up with its chain and signs tree heads."""

    def __init__(self, tree: TreeStore, signer: KmsCheckpointSigner, clock: Callable[[], datetime],
                 every: int = 100, max_catch_up: int = MAX_CATCH_UP) -> None:
        """``max_catch_up``: chunks whose nodes one call may build (a long pre-F7 trail takes a few calls)."""
        self._max_catch_up = max_catch_up
        self._tree = tree
        self._signer = signer
        self._clock = clock
        self._every = every

    def after_seal(self, tenant_id: str, jurisdiction: str, tree_size: int, sealed: int) -> None:
        """Sign a head at ``tree_size`` when the seal crossed a multiple of ``every``; the events are sealed
        whatever happens here (a failed head is logged; the next crossing or a proof signs one)."""
        if tree_size // self._every == (tree_size - sealed) // self._every:
            return
        try:
            self.sign(tenant_id, jurisdiction, tree_size)
        except EnclaveError:
            logger.warning("tree head skipped", extra={"tree_size": tree_size})

    def latest(self, tenant_id: str, jurisdiction: str, at_most: int) -> dict[str, Any] | None:
        """The stored head of the largest size up to ``at_most`` (no signing: for an export's manifest)."""
        return self._tree.latest_head(tenant_id, jurisdiction, at_most)

    def head(self, tenant_id: str, jurisdiction: str, tree_size: int,
             root_of: merkle.RootOf | None = None) -> dict[str, Any]:
        """The stored head at ``tree_size``, signed now if none is stored (``root_of``: one already built)."""
        stored = self._tree.head_at(tenant_id, jurisdiction, tree_size)
        return stored if stored is not None else self.sign(tenant_id, jurisdiction, tree_size, root_of)

    def sign(self, tenant_id: str, jurisdiction: str, tree_size: int,
             root_of: merkle.RootOf | None = None) -> dict[str, Any]:
        root_of = root_of or self.root_of(tenant_id, jurisdiction, tree_size)
        root = root_of(0, tree_size).hex()
        at = format_at(self._clock())
        key_id, signature = self._signer.sign(tree_head_payload(tenant_id, tree_size, root, at))
        return self._tree.put_head(jurisdiction, tree_head_record(
            tenant_id=tenant_id, tree_size=tree_size, root_hash=root, at=at, key_id=key_id, signature=signature))

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
        # at most MAX_CATCH_UP chunks per call: a long pre-F7 trail is built over a few calls, each resuming)
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
    """``GET .../audit/proof`` and ``GET .../audit/consistency``."""

    def __init__(self, access: AccessControl, store: AuditStore, heads: TreeHeads,
                 signer: KmsCheckpointSigner) -> None:
        self._access = access
        self._store = store
        self._heads = heads
        self._signer = signer

    def proof(self, caller: Caller, tenant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """The event at ``seq``, the signed head of the whole (sealed) trail, and the audit path between them."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.prove")
        seq = _position(query, "seq")
        size = self._size(tenant)
        if seq > size:
            raise NotFound(f"the audit trail has no event at seq {seq} (it has {size})")
        root_of = self._heads.root_of(tenant.tenant_id, tenant.jurisdiction, size)
        head = self._heads.head(tenant.tenant_id, tenant.jurisdiction, size, root_of)
        event = next(iter(self._store.events(tenant.tenant_id, tenant.jurisdiction, seq, seq)))
        path = merkle.inclusion_proof_by(seq - 1, size, root_of)
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.prove", f"tenants/{tenant.tenant_id}/audit/proof", seq=seq, tree_size=size))
        return {"tenant_id": tenant.tenant_id, "seq": seq, "leaf_index": seq - 1, "event": event,
                "tree_head": head, "inclusion_proof": path, "public_keys": self._public_keys()}

    def consistency(self, caller: Caller, tenant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """Signed heads at sizes ``from`` and ``to`` (default: the whole sealed trail) and the proof between them."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.prove")
        first = _position(query, "from")
        size = self._size(tenant)
        second = _position(query, "to") if query.get("to") is not None else size
        if first > second:
            raise ValidationFailed([{"field": "from", "message": "must not be greater than 'to'"}])
        if second > size:
            raise NotFound(f"the audit trail has {size} events, not {second}")
        root_of = self._heads.root_of(tenant.tenant_id, tenant.jurisdiction, second)
        first_head = self._heads.head(tenant.tenant_id, tenant.jurisdiction, first, root_of)
        second_head = self._heads.head(tenant.tenant_id, tenant.jurisdiction, second, root_of)
        proof = merkle.consistency_proof_by(first, second, root_of)
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.prove", f"tenants/{tenant.tenant_id}/audit/consistency", first_size=first, second_size=second))
        return {"tenant_id": tenant.tenant_id, "first_head": first_head, "second_head": second_head,
                "consistency_proof": proof, "public_keys": self._public_keys()}

    def _size(self, tenant: Tenant) -> int:
        """The chain's size after sealing everything pending (which signs a head at that size)."""
        size, _ = self._store.head(tenant.tenant_id, tenant.jurisdiction)
        return size

    def _public_keys(self) -> dict[str, str]:
        key_id, pem = self._signer.public_key()
        return {key_id: pem}


def _position(query: Mapping[str, str], name: str) -> int:
    value = query.get(name)
    if value is None or not value.isdigit() or value.startswith("0") or len(value) > 15:
        raise ValidationFailed([{"field": name, "message": "must be a positive integer"}])
    return int(value)
