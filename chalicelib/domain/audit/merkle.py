"""Merkle tree hashing and proofs over a tenant's audit chain, RFC 9162 (Certificate Transparency 2.0) style.

Leaves are the chain's event hashes in ``seq`` order: leaf ``i`` (0-based) is the event with
``seq = i + 1``. The leaf *data* is the 32 raw bytes of the event's ``hash`` (the 64 hex digits
decoded), so

- leaf hash  = SHA-256(0x00 || bytes.fromhex(event["hash"]))
- node hash  = SHA-256(0x01 || left || right)
- empty tree = SHA-256(b"")

and the tree over ``n`` leaves splits at ``k``, the largest power of two below ``n`` (RFC 9162
§2.1.1). Inclusion proofs (§2.1.3) and consistency proofs (§2.1.4) are lists of 32-byte node hashes,
written as lower-case hex in the API and in files. Pure functions: no I/O, no AWS.

Proofs over a stored tree (``*_by``) take ``root_of(lo, hi)``, the hash of the subtree over leaves
``lo..hi-1``, so a store answers them from a few stored nodes instead of every leaf. ``chunked_root_of``
builds such a function from the roots of complete aligned subtrees of ``chunk`` * 2**level leaves
(stored once, when they complete) and the leaves of one chunk at a time.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

_LEAF = b"\x00"
_NODE = b"\x01"


class ProofError(ValueError):
    """A proof was asked for a position or size the tree does not have."""


def leaf_hash(event_hash_hex: str) -> bytes:
    """RFC 9162 leaf hash of one chain event, given its ``hash`` (64 hex digits)."""
    return hashlib.sha256(_LEAF + bytes.fromhex(event_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (``n`` >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def _root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(_root(leaves[:k]), _root(leaves[k:]))


def root_hash(event_hashes: Sequence[str]) -> str:
    """Merkle tree hash (hex) over the given event hashes, in seq order."""
    return _root([leaf_hash(h) for h in event_hashes]).hex()


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _root(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _root(leaves[:k])]


def inclusion_proof(index: int, event_hashes: Sequence[str]) -> list[str]:
    """Audit path (hex) for leaf ``index`` (0-based, i.e. ``seq - 1``) in the tree over ``event_hashes``."""
    if not 0 <= index < len(event_hashes):
        raise ProofError(f"leaf {index} is not in a tree of size {len(event_hashes)}")
    return [node.hex() for node in _path(index, [leaf_hash(h) for h in event_hashes])]


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [_root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _root(leaves[:k])]


def consistency_proof(first_size: int, event_hashes: Sequence[str]) -> list[str]:
    """Consistency proof (hex) that the tree of ``first_size`` leaves is a prefix of the tree over ``event_hashes``."""
    if not 0 < first_size <= len(event_hashes):
        raise ProofError(f"no consistency proof from size {first_size} to size {len(event_hashes)}")
    return [node.hex() for node in _subproof(first_size, [leaf_hash(h) for h in event_hashes], True)]


def _decode(nodes: Sequence[str]) -> list[bytes] | None:
    try:
        decoded = [bytes.fromhex(node) for node in nodes]
    except (TypeError, ValueError):
        return None
    return decoded if all(len(node) == 32 for node in decoded) else None


def verify_inclusion(event_hash_hex: str, index: int, tree_size: int, proof: Sequence[str], root_hex: str) -> bool:
    """RFC 9162 §2.1.3.2: whether ``proof`` places the event at leaf ``index`` of the tree with root ``root_hex``."""
    nodes = _decode(proof)
    if nodes is None or not 0 <= index < tree_size:
        return False
    try:
        r = leaf_hash(event_hash_hex)
    except ValueError:
        return False
    fn, sn = index, tree_size - 1
    for p in nodes:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r.hex() == root_hex


def verify_consistency(first_size: int, first_root: str, second_size: int, second_root: str,
                       proof: Sequence[str]) -> bool:
    """RFC 9162 §2.1.4.2: whether tree (``second_size``, ``second_root``) extends (``first_size``, ``first_root``)."""
    nodes = _decode(proof)
    if nodes is None or not 0 < first_size <= second_size:
        return False
    if first_size == second_size:
        return not nodes and first_root == second_root
    if first_size & (first_size - 1) == 0:
        anchor = _decode([first_root])
        if anchor is None:
            return False
        nodes = anchor + nodes
    if not nodes:
        return False
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr.hex() == first_root and sr.hex() == second_root


RootOf = Callable[[int, int], bytes]


def _path_by(index: int, size: int, lo: int, root_of: RootOf) -> list[bytes]:
    if size <= 1:
        return []
    k = _split(size)
    if index < k:
        return [*_path_by(index, k, lo, root_of), root_of(lo + k, lo + size)]
    return [*_path_by(index - k, size - k, lo + k, root_of), root_of(lo, lo + k)]


def inclusion_proof_by(index: int, tree_size: int, root_of: RootOf) -> list[str]:
    """``inclusion_proof`` for the tree of ``tree_size`` leaves whose subtree hashes ``root_of`` gives."""
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf {index} is not in a tree of size {tree_size}")
    return [node.hex() for node in _path_by(index, tree_size, 0, root_of)]


def _subproof_by(m: int, size: int, lo: int, whole: bool, root_of: RootOf) -> list[bytes]:
    if m == size:
        return [] if whole else [root_of(lo, lo + size)]
    k = _split(size)
    if m <= k:
        return [*_subproof_by(m, k, lo, whole, root_of), root_of(lo + k, lo + size)]
    return [*_subproof_by(m - k, size - k, lo + k, False, root_of), root_of(lo, lo + k)]


def consistency_proof_by(first_size: int, second_size: int, root_of: RootOf) -> list[str]:
    """``consistency_proof`` between sizes of the tree whose subtree hashes ``root_of`` gives."""
    if not 0 < first_size <= second_size:
        raise ProofError(f"no consistency proof from size {first_size} to size {second_size}")
    return [node.hex() for node in _subproof_by(first_size, second_size, 0, True, root_of)]


def chunked_root_of(chunk: int, node: Callable[[int, int], bytes],
                    chunk_leaves: Callable[[int], Sequence[bytes]]) -> RootOf:
    """``root_of`` from stored nodes and chunk leaves; ``chunk`` is a power of two.

    ``node(level, index)`` is the root over leaves ``index * chunk * 2**level`` onwards (``chunk * 2**level``
    of them, a complete subtree); ``chunk_leaves(i)`` the leaf hashes of chunk ``i`` (leaves
    ``i * chunk`` onwards, fewer in the last chunk). Every subtree RFC 9162 splits a tree into is
    either such a complete subtree, or lies within one chunk, or is split again."""
    def root_of(lo: int, hi: int) -> bytes:
        size = hi - lo
        if size >= chunk and size & (size - 1) == 0 and lo % size == 0:
            return node((size // chunk).bit_length() - 1, lo // size)
        if size <= chunk and (size == 0 or lo // chunk == (hi - 1) // chunk):
            base = lo - lo % chunk
            return _root(chunk_leaves(lo // chunk)[lo - base:hi - base])
        k = _split(size)
        return node_hash(root_of(lo, lo + k), root_of(lo + k, hi))
    return root_of


def completed_nodes(chunk_index: int, chunk_root: bytes,
                    node: Callable[[int, int], bytes]) -> list[tuple[int, int, bytes]]:
    """The nodes ``(level, index, hash)`` that become complete when chunk ``chunk_index`` does:
    the chunk's own root, then each parent whose right child it completes (``node`` gives the left)."""
    found = [(0, chunk_index, chunk_root)]
    level, index, current = 0, chunk_index, chunk_root
    while index & 1:
        current = node_hash(node(level, index - 1), current)
        level, index = level + 1, index >> 1
        found.append((level, index, current))
    return found


def leaf_hashes(event_hashes: Sequence[str]) -> list[bytes]:
    """The leaf hashes of the given event hashes."""
    return [leaf_hash(h) for h in event_hashes]


def subtree_root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash over already-hashed leaves."""
    return _root(leaves)


class MerkleAccumulator:
    """The root of a tree built leaf by leaf, or from aligned blocks, in O(log n) memory (a compact range).

    It holds the roots of complete aligned subtrees covering ``[start, end)``, merging two equal
    siblings as soon as both are there. From ``start`` 0 it ends holding the subtrees RFC 9162 splits
    the tree into, so folding them from the right gives the tree hash. A worker that starts elsewhere
    hands its ``blocks`` to the accumulator of the whole tree, in order (each is aligned)."""

    def __init__(self, start: int = 0) -> None:
        self._stack: list[tuple[int, int, bytes]] = []  # (first leaf, leaves, root)
        self._start = self.end = start

    def add_leaf(self, leaf: bytes) -> None:
        self.add_block(1, leaf)

    def add_event_hash(self, event_hash_hex: str) -> None:
        """Append the leaf of one event, given its ``hash`` (64 hex digits)."""
        self.add_block(1, hashlib.sha256(_LEAF + bytes.fromhex(event_hash_hex)).digest())

    def add_block(self, size: int, value: bytes) -> None:
        """Append a complete subtree of ``size`` leaves starting at ``end`` (aligned to its size)."""
        stack, start = self._stack, self.end
        self.end = start + size
        while stack:  # merge with the left sibling while there is one (same size, aligned to twice that)
            left_start, left_size, left = stack[-1]
            if left_size != size or left_start % (2 * size):
                break
            stack.pop()
            value = hashlib.sha256(_NODE + left + value).digest()
            start, size = left_start, 2 * size
        stack.append((start, size, value))

    @property
    def blocks(self) -> list[tuple[int, bytes]]:
        """``(size, root)`` of the held subtrees, left to right."""
        return [(size, value) for _, size, value in self._stack]

    def root(self) -> bytes:
        """The tree hash over leaves ``0..end-1`` (the accumulator must have started at 0)."""
        if self._start != 0:
            raise ProofError("the accumulator does not start at leaf 0")
        if not self._stack:
            return hashlib.sha256(b"").digest()
        value = self._stack[-1][2]
        for _, _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value
