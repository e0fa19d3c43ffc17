"""Signed tree heads and proof documents, offline: what `audit prove` and `audit consistency` accept and refuse."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.cli.audit_proofs import consistency_file, prove_file
from chalicelib.domain.audit import GENESIS_HASH, AuditEventDraft, format_at, merkle, seal
from chalicelib.domain.audit.tree_heads import (
    check_consistency,
    check_inclusion,
    tree_head_payload,
    tree_head_record,
    verify_tree_head_signature,
)

TENANT = "tnt_" + "b" * 26
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()
START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def chain(count: int, fork_at: int | None = None) -> list[dict[str, Any]]:
    """``count`` sealed events; from ``fork_at`` on, a different history (another action at that seq)."""
    events, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        action = "learner.erase" if seq == fork_at else "learner.read"
        draft = AuditEventDraft(actor_sub="staff", actor_role="tenant_staff", action=action,
                                resource=f"learners/{seq}", outcome="success", request_id=f"r-{seq}")
        event = seal(draft, tenant_id=TENANT, seq=seq, prev_hash=prev, at=START + timedelta(seconds=seq),
                     region="eu-west-2")
        events.append(event)
        prev = event["hash"]
    return events


def head(events: list[dict[str, Any]], key: ec.EllipticCurvePrivateKey = KEY) -> dict[str, Any]:
    root = merkle.root_hash([e["hash"] for e in events])
    at = format_at(START + timedelta(days=1))
    signature = key.sign(tree_head_payload(TENANT, len(events), root, at), ec.ECDSA(hashes.SHA256()))
    return tree_head_record(tenant_id=TENANT, tree_size=len(events), root_hash=root, at=at, key_id="k1",
                            signature=base64.b64encode(signature).decode())


def inclusion(events: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    return {"tenant_id": TENANT, "seq": seq, "leaf_index": seq - 1, "event": events[seq - 1],
            "tree_head": head(events), "public_keys": {"k1": PEM},
            "inclusion_proof": merkle.inclusion_proof(seq - 1, [e["hash"] for e in events])}


def consistency(first: list[dict[str, Any]], second: list[dict[str, Any]],
                proof_over: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    hashes_ = [e["hash"] for e in (proof_over or second)]
    return {"tenant_id": TENANT, "first_head": head(first), "second_head": head(second), "public_keys": {"k1": PEM},
            "consistency_proof": merkle.consistency_proof(len(first), hashes_)}


def test_a_signed_head_verifies_and_any_change_breaks_its_signature() -> None:
    signed = head(chain(5))
    assert verify_tree_head_signature(signed, PEM)
    for name, value in (("tree_size", 6), ("root_hash", "0" * 64), ("tenant_id", "tnt_other"), ("at", "x")):
        assert not verify_tree_head_signature({**signed, name: value}, PEM)


@pytest.mark.parametrize("size", [1, 2, 7, 64, 65])
def test_every_event_is_proven_in_the_signed_tree(size: int) -> None:
    events = chain(size)
    for seq in {1, size // 2 + 1, size}:
        result = check_inclusion(inclusion(events, seq), [PEM])
        assert result.valid, result.reason
        assert set(result.keys) == {"k1"}


def test_a_forged_inclusion_proof_is_refused() -> None:
    events = chain(9)
    document = inclusion(events, 4)
    document["inclusion_proof"][1] = "ab" * 32
    result = check_inclusion(document)
    assert not result.valid
    assert "does not lead to the signed root_hash" in str(result.reason)
    moved = inclusion(events, 4)
    moved.update(seq=5, leaf_index=4, event=events[4])  # another event with the first one's path
    assert "does not lead to the signed root_hash" in str(check_inclusion(moved).reason)


def test_an_event_edited_after_sealing_is_refused() -> None:
    events = chain(6)
    document = inclusion(events, 3)
    document["event"]["outcome"] = "denied"
    assert check_inclusion(document).reason == "the event at seq 3 does not match its hash: it was edited after sealing"
    rehashed = inclusion(events, 3)  # edited and re-hashed: no longer the leaf the signed tree holds
    rehashed["event"] = seal(AuditEventDraft("staff", "tenant_staff", "learner.read", "learners/3", "denied", "r-3"),
                             tenant_id=TENANT, seq=3, prev_hash=events[1]["hash"], at=START, region="eu-west-2")
    assert "does not lead to the signed root_hash" in str(check_inclusion(rehashed).reason)


def test_a_head_not_signed_by_the_trusted_key_is_refused() -> None:
    document = inclusion(chain(4), 2)
    document["tree_head"]["root_hash"] = "1" * 64
    assert "signature does not verify" in str(check_inclusion(document).reason)
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert check_inclusion(inclusion(chain(4), 2), [other]).reason == "the tree head is signed by an untrusted key"


@pytest.mark.parametrize(("first", "second"), [(1, 1), (1, 8), (3, 8), (8, 9), (64, 130)])
def test_a_later_head_is_proven_to_extend_an_earlier_one(first: int, second: int) -> None:
    events = chain(second)
    document = consistency(events[:first], events)
    result = check_consistency(document, [PEM], previous=head(events[:first]))
    assert result.valid, result.reason


def test_a_head_that_does_not_extend_the_previous_one_is_refused() -> None:
    original, rewritten = chain(5), chain(8, fork_at=3)  # seq 3 was rewritten, then the log grew
    for proof_over in (original + rewritten[5:], rewritten):
        result = check_consistency(consistency(original, rewritten, proof_over))
        assert not result.valid
        assert "the second tree head (size 8) does not extend the first (size 5)" in str(result.reason)
    shrunk = consistency(chain(5), chain(5))
    shrunk["first_head"], shrunk["second_head"] = head(chain(6)), head(chain(5))
    assert "a log only grows" in str(check_consistency(shrunk).reason)


def test_the_first_head_must_be_the_one_the_auditor_holds() -> None:
    events = chain(10)
    held = head(chain(4, fork_at=2))  # what the auditor was shown earlier: another history
    result = check_consistency(consistency(events[:4], events), previous=held)
    assert "is not the head you hold" in str(result.reason)


def test_malformed_documents_are_refused_with_a_reason() -> None:
    assert "not a JSON object" in str(check_inclusion([]).reason)
    broken = inclusion(chain(3), 1)
    del broken["tree_head"]["signature"]
    assert "is not a tree head" in str(check_inclusion(broken).reason)
    broken = inclusion(chain(3), 1)
    broken["inclusion_proof"] = ["zz"]
    assert "inclusion_proof must be a list" in str(check_inclusion(broken).reason)
    broken = consistency(chain(2), chain(3))
    broken["second_head"]["tenant_id"] = "tnt_other"
    assert "different tenants" in str(check_consistency(broken).reason)


# --- the command line ----------------------------------------------------------------------------


def _write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_cli_prove_and_consistency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = chain(20)
    key = _write(tmp_path / "key.pem", None)
    (tmp_path / "key.pem").write_text(PEM)
    assert prove_file(_write(tmp_path / "p.json", inclusion(events, 7)), trusted_key_files=[key]) == 0
    assert "VALID: event seq 7 (learner.read)" in capsys.readouterr().err
    forged = inclusion(events, 7)
    forged["inclusion_proof"].reverse()
    assert prove_file(_write(tmp_path / "f.json", forged)) == 1
    assert capsys.readouterr().err.startswith("REFUSED: the inclusion proof does not lead")
    earlier = _write(tmp_path / "earlier.json", inclusion(events[:12], 3))  # a proof the auditor kept
    later = _write(tmp_path / "c.json", consistency(events[:12], events))
    assert consistency_file(later, trusted_key_files=[key], previous_file=earlier) == 0
    assert "extends the one of size 12" in capsys.readouterr().err
    rewritten = _write(tmp_path / "r.json", consistency(chain(12, fork_at=5), events))
    assert consistency_file(rewritten, previous_file=earlier) == 1
    assert "is not the head you hold" in capsys.readouterr().err
    assert prove_file(str(tmp_path / "missing.json")) == 1
    assert capsys.readouterr().err.startswith("unreadable:")


def test_cli_runs_without_boto3(tmp_path: Path) -> None:
    document = _write(tmp_path / "p.json", inclusion(chain(3), 2))
    code = ("import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
            "from chalicelib.cli.__main__ import main\n"
            f"sys.exit(main(['audit', 'prove', {document!r}]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "VALID" in run.stderr
    doc = json.loads(Path(document).read_text())
    tampered = copy.deepcopy(doc)
    tampered["event"]["resource"] = "learners/99"
    bad = _write(tmp_path / "bad.json", tampered)
    run = subprocess.run([sys.executable, "-c", code.replace(document, bad)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 1
    assert "edited after sealing" in run.stderr
