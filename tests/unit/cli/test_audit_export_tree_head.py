"""Exports from seq 1 carry a signed Merkle tree head; exports without one (older ones) verify as before."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.cli import audit as audit_cli
from chalicelib.cli import parallel_verify
from chalicelib.domain.audit import merkle, verify_chain
from chalicelib.domain.audit.tree_heads import tree_head_payload, tree_head_record
from tests.support import FIXTURES
from tests.unit.cli.test_parallel_verify import SMALL_CHUNK
from tests.unit.domain.test_audit_chain import (
    ATTACKER_KEY,
    KEY,
    KEY_ID,
    TAMPERS,
    TENANT,
    chain,
    manifest_for,
    write_ndjson,
)


def signed_head(events: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey = KEY,
                root: str | None = None) -> dict[str, Any]:
    root = root or merkle.root_hash([e["hash"] for e in events])
    at, size = "2026-11-28T00:00:00.000000Z", len(events)
    signature = key.sign(tree_head_payload(TENANT, size, root, at), ec.ECDSA(hashes.SHA256()))
    return tree_head_record(tenant_id=TENANT, tree_size=size, root_hash=root, at=at, key_id=KEY_ID,
                            signature=base64.b64encode(signature).decode())


def with_tree_head(events: list[dict[str, Any]], head: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest = manifest_for(events)
    manifest["tree_head"] = head or signed_head(events)
    return manifest


def test_an_export_from_before_tree_heads_still_verifies(tmp_path: Path) -> None:
    out = io.StringIO()
    fixture = FIXTURES / "audit_old_export.ndjson"  # written before tree heads existed
    assert audit_cli.verify_file(str(fixture), out, [str(FIXTURES / "audit_old_export_key.pem")]) == 0
    assert out.getvalue().startswith("VALID: 7 events (seq 1-7)")
    assert "tree head" not in out.getvalue()
    edited = tmp_path / "edited.ndjson"
    shutil.copy(fixture, edited)
    edited.write_text(edited.read_text().replace('"learner.update"', '"learner.delete"'))
    out = io.StringIO()
    assert audit_cli.verify_file(str(edited), out) == 1
    assert "seq 4" in out.getvalue()
    assert "hash does not match the event's content" in out.getvalue()


@pytest.mark.parametrize(("count", "size"), [(1, 1), (5, 5), (64, 64), (100, 100), (100, 37), (40, 1)])
def test_an_export_with_its_tree_head_verifies_sequentially_and_on_every_core(tmp_path: Path, count: int,
                                                                              size: int) -> None:
    events = chain(count)
    manifest = with_tree_head(events, signed_head(events[:size]))  # the latest head within the export
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest)
    result = verify_chain(events, manifest)
    assert result.valid, result.first_invalid
    assert result.tree_head == size
    data = path.read_bytes()
    end = data.rstrip(b"\n").rfind(b"\n") + 1
    parallel = parallel_verify.verify_parallel(str(path), end, manifest, None, lambda _: None, 10, processes=2,
                                               chunk_bytes=SMALL_CHUNK)
    assert parallel == result
    out = io.StringIO()
    assert audit_cli.verify_file(str(path), out) == 0
    assert f"signed tree head of size {size}" in out.getvalue()


@pytest.mark.parametrize(("head", "words"), [
    (lambda events: signed_head(events, root="ab" * 32), "does not match the events' Merkle tree"),
    (lambda events: {**signed_head(events), "root_hash": merkle.root_hash([e["hash"] for e in events[:-1]])},
     "the manifest's tree_head: signature does not verify"),
    (lambda events: signed_head(events, key=ATTACKER_KEY), "the manifest's tree_head: signature does not verify"),
    (lambda events: signed_head([*events, *chain(13)[12:]]), "must be of a size from 1 to last_seq"),
    (lambda events: signed_head(events[:5], root=merkle.root_hash([e["hash"] for e in events[:6]])),
     "does not match the events' Merkle tree"),
])
def test_a_tree_head_that_does_not_match_the_export_is_refused(head: Any, words: str) -> None:
    events = chain(12)
    result = verify_chain(events, with_tree_head(events, head(events)))
    assert not result.valid
    assert words in str(result.first_invalid)


def test_a_forged_tree_head_is_refused_on_every_core_too(tmp_path: Path) -> None:
    events = chain(30)
    manifest = with_tree_head(events, signed_head(events, root="cd" * 32))
    path = write_ndjson(tmp_path / "trail.ndjson", events, manifest)
    end = path.read_bytes().rstrip(b"\n").rfind(b"\n") + 1
    assert parallel_verify.verify_parallel(str(path), end, manifest, None, lambda _: None, 10, processes=2,
                                           chunk_bytes=SMALL_CHUNK) is None


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_every_tamper_kind_still_fails_with_a_tree_head(kind: str) -> None:
    events = chain(10)
    manifest = with_tree_head(events)
    TAMPERS[kind](events, manifest)
    assert not verify_chain(events, manifest).valid
