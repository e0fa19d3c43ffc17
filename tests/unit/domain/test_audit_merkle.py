"""RFC 9162 Merkle hashing and proofs over audit event hashes (chalicelib/domain/audit/merkle.py)."""
from __future__ import annotations

import hashlib
import itertools

import pytest

from chalicelib.domain.audit import merkle

HASHES = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(1, 40)]


def _reference_root(hashes: list[str]) -> str:
    """Independent bottom-up construction (CT's iterative form: carry the odd node up unchanged)."""
    level = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in hashes]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 39])
def test_root_matches_an_independent_construction(size: int) -> None:
    assert merkle.root_hash(HASHES[:size]) == _reference_root(HASHES[:size])


def test_leaf_and_node_prefixes_are_rfc9162() -> None:
    one = HASHES[0]
    assert merkle.root_hash([one]) == hashlib.sha256(b"\x00" + bytes.fromhex(one)).hexdigest()


def test_every_inclusion_proof_verifies_for_every_size() -> None:
    for size in range(1, 20):
        root = merkle.root_hash(HASHES[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, HASHES[:size])
            assert merkle.verify_inclusion(HASHES[index], index, size, proof, root)


def test_a_forged_inclusion_proof_is_rejected() -> None:
    size, index = 13, 6
    root = merkle.root_hash(HASHES[:size])
    proof = merkle.inclusion_proof(index, HASHES[:size])
    forged = list(proof)
    forged[1] = hashlib.sha256(b"forged").hexdigest()
    assert not merkle.verify_inclusion(HASHES[index], index, size, forged, root)
    assert not merkle.verify_inclusion(HASHES[index + 1], index, size, proof, root)  # another event
    assert not merkle.verify_inclusion(HASHES[index], index + 1, size, proof, root)  # another position
    assert not merkle.verify_inclusion(HASHES[index], index, size, [*proof, proof[0]], root)  # padded
    assert not merkle.verify_inclusion(HASHES[index], index, size, proof[:-1], root)  # truncated
    assert not merkle.verify_inclusion(HASHES[index], index, size, ["zz"], root)  # not hex


def test_an_edited_event_no_longer_matches_the_signed_root() -> None:
    root = merkle.root_hash(HASHES[:10])
    edited = list(HASHES[:10])
    edited[3] = hashlib.sha256(b"edited").hexdigest()
    assert merkle.root_hash(edited) != root
    proof = merkle.inclusion_proof(3, edited)
    assert not merkle.verify_inclusion(edited[3], 3, 10, proof, root)


def test_every_consistency_proof_verifies() -> None:
    for second in range(1, 20):
        second_root = merkle.root_hash(HASHES[:second])
        for first in range(1, second + 1):
            proof = merkle.consistency_proof(first, HASHES[:second])
            assert merkle.verify_consistency(first, merkle.root_hash(HASHES[:first]), second, second_root, proof)


def test_a_head_that_does_not_extend_the_previous_one_is_rejected() -> None:
    first_root = merkle.root_hash(HASHES[:6])
    rewritten = list(HASHES[:11])
    rewritten[2] = hashlib.sha256(b"rewritten history").hexdigest()
    proof = merkle.consistency_proof(6, rewritten)
    assert not merkle.verify_consistency(6, first_root, 11, merkle.root_hash(rewritten), proof)
    # An honest proof cannot be replayed against a different later head either.
    honest = merkle.consistency_proof(6, HASHES[:11])
    assert not merkle.verify_consistency(6, first_root, 11, merkle.root_hash(rewritten), honest)
    # Dropping an event makes the later tree a different tree, not an extension.
    dropped = HASHES[:3] + HASHES[4:12]
    assert not merkle.verify_consistency(
        6, first_root, 11, merkle.root_hash(dropped), merkle.consistency_proof(6, dropped))


def test_proofs_outside_the_tree_are_refused() -> None:
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(5, HASHES[:5])
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(0, HASHES[:5])
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(6, HASHES[:5])
    assert not merkle.verify_consistency(4, "zz", 8, merkle.root_hash(HASHES[:8]), [])


# --- proofs from stored nodes (what the tree store serves) -------------------------------------


def _stored(hashes: list[str], chunk: int) -> merkle.RootOf:
    """A store of complete-subtree nodes and chunk leaves built the way the tree store builds it."""
    leaves = merkle.leaf_hashes(hashes)
    nodes: dict[tuple[int, int], bytes] = {}
    for index in range(len(leaves) // chunk):
        root = merkle.subtree_root(leaves[index * chunk:(index + 1) * chunk])
        for level, at, value in merkle.completed_nodes(index, root, lambda lv, ix: nodes[(lv, ix)]):
            nodes[(level, at)] = value
    return merkle.chunked_root_of(chunk, lambda lv, ix: nodes[(lv, ix)],
                                  lambda i: leaves[i * chunk:(i + 1) * chunk])


@pytest.mark.parametrize("chunk", [1, 4, 8])
def test_proofs_from_stored_nodes_equal_proofs_from_all_leaves(chunk: int) -> None:
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(70)]
    for size in (1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 70):
        root_of = _stored(hashes[:size], chunk)
        assert root_of(0, size).hex() == merkle.root_hash(hashes[:size])
        for index in range(size):
            assert merkle.inclusion_proof_by(index, size, root_of) == merkle.inclusion_proof(index, hashes[:size])
        for first in range(1, size + 1):
            assert merkle.consistency_proof_by(first, size, root_of) == merkle.consistency_proof(first, hashes[:size])


def test_stored_proofs_refuse_positions_outside_the_tree() -> None:
    root_of = _stored([hashlib.sha256(b"x").hexdigest()] * 5, 4)
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof_by(5, 5, root_of)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof_by(6, 5, root_of)


def test_the_accumulator_gives_the_tree_hash_leaf_by_leaf_and_from_worker_blocks() -> None:
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(100)]
    whole = merkle.MerkleAccumulator()
    for n, value in enumerate(hashes, 1):
        whole.add_leaf(merkle.leaf_hash(value))
        assert whole.root().hex() == merkle.root_hash(hashes[:n])
    for cuts in ([0, 7, 50, 100], [0, 1, 2, 3, 64, 99, 100], [0, 33, 66, 100]):
        joined = merkle.MerkleAccumulator()
        for start, stop in itertools.pairwise(cuts):
            part = merkle.MerkleAccumulator(start)
            for value in hashes[start:stop]:
                part.add_leaf(merkle.leaf_hash(value))
            for size, block in part.blocks:
                joined.add_block(size, block)
        assert joined.root().hex() == merkle.root_hash(hashes)
    with pytest.raises(merkle.ProofError):
        merkle.MerkleAccumulator(3).root()
