"""Merkle proofs through the API: heads signed at sealing, inclusion and consistency proofs checked offline."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.tree_store import CHUNK, TreeStore
from chalicelib.cli.audit import verify_file
from chalicelib.cli.audit_proofs import consistency_file, prove_file
from chalicelib.domain.audit import AuditEventDraft, merkle
from chalicelib.domain.audit.tree_heads import check_consistency, check_inclusion, verify_tree_head_signature
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.ids import new_id
from chalicelib.services.audit.proofs import TreeHeads
from tests.integration.api.test_audit_api import get_audit
from tests.integration.api.test_learners_api import ALICE
from tests.integration.audit_streams import audit_store
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory
from tests.support.audit_keys import event_key

REGION = "eu-west-2"


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="staff", actor_role="tenant_staff", action="learner.read",
                           resource=f"learners/{n}", outcome="success", request_id=f"r-{n}", details={"n": n})


@pytest.fixture
def tenant(api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> dict[str, Any]:
    """A UK tenant with one enrolled learner (so a few events), and its auditor's token."""
    tid = onboard("UK")["tenant_id"]
    api[REGION].call("POST", f"/v1/tenants/{tid}/learners", token("tenant_staff", tid, REGION), ALICE)
    return {"tenant_id": tid, "officer": token("compliance_officer", region=REGION)}


def _land(api: dict[str, RegionalApi], tenant_id: str, count: int) -> None:
    """``count`` events landed (pending, not sealed), as requests land them."""
    store = api[REGION].container.audit_store
    for n in range(count):
        store.commit(tenant_id, "UK", _draft(n))


def _all_hashes(api: dict[str, RegionalApi], tenant_id: str) -> list[str]:
    return [e["hash"] for e in api[REGION].container.audit_store.events(tenant_id, "UK")]


def _get(api: dict[str, RegionalApi], tenant: dict[str, Any], route: str) -> tuple[int, Any]:
    return api[REGION].call("GET", f"/v1/tenants/{tenant['tenant_id']}/audit/{route}", tenant["officer"])


def test_a_proof_covers_events_answered_before_it_was_asked(api: dict[str, RegionalApi],
                                                            tenant: dict[str, Any]) -> None:
    _land(api, tenant["tenant_id"], 5)  # pending: no sequencer has run
    status, proof = _get(api, tenant, "proof?seq=2")
    assert status == 200, proof
    size = proof["tree_head"]["tree_size"]
    assert size >= 7
    hashes = _all_hashes(api, tenant["tenant_id"])
    assert proof["tree_head"]["root_hash"] == merkle.root_hash(hashes[:size])
    assert proof["event"]["seq"] == 2
    assert proof["event"]["hash"] == hashes[1]
    result = check_inclusion(proof, list(proof["public_keys"].values()))
    assert result.valid, result.reason
    status, last = _get(api, tenant, f"proof?seq={size}")  # the last pending event is in the signed tree
    assert status == 200
    assert check_inclusion(last).valid


def test_sealing_signs_a_tree_head_every_hundred_events(api: dict[str, RegionalApi], tenant: dict[str, Any]) -> None:
    container, tid = api[REGION].container, tenant["tenant_id"]
    assert container.tree_heads.latest(tid, "UK", 10**6) is None  # a few events: no head yet
    _land(api, tid, 100)
    container.audit_store.seal(tid, "UK")  # as the stream handler does
    size, _ = container.audit_store.head(tid, "UK")
    stored = container.tree_heads.latest(tid, "UK", 10**6)
    assert stored is not None
    assert stored["tree_size"] == size
    assert verify_tree_head_signature(stored, container.signer.public_key()[1])
    assert stored["root_hash"] == merkle.root_hash(_all_hashes(api, tid)[:size])
    _land(api, tid, 3)
    container.audit_store.seal(tid, "UK")
    assert container.tree_heads.latest(tid, "UK", 10**6) == stored  # one KMS Sign per 100 events, not per seal


def test_proofs_over_many_chunks_match_the_whole_tree(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                                     tmp_path: Path) -> None:
    tid = tenant["tenant_id"]
    _land(api, tid, 2 * CHUNK + 9)
    status, first = _get(api, tenant, "proof?seq=1")
    assert status == 200
    first_size = first["tree_head"]["tree_size"]
    _land(api, tid, CHUNK + 3)
    for seq in (1, CHUNK, CHUNK + 1, 2 * CHUNK + 5, 3 * CHUNK + 10):
        status, proof = _get(api, tenant, f"proof?seq={seq}")
        assert status == 200
        hashes = _all_hashes(api, tid)  # each proof asked for is itself an event
        assert proof["inclusion_proof"] == merkle.inclusion_proof(seq - 1, hashes[:proof["tree_head"]["tree_size"]])
        assert check_inclusion(proof).valid
    status, document = _get(api, tenant, f"consistency?from={first_size}")
    assert status == 200, document
    assert document["second_head"]["tree_size"] >= len(hashes)
    assert document["first_head"]["root_hash"] == first["tree_head"]["root_hash"]
    result = check_consistency(document, previous=first["tree_head"])
    assert result.valid, result.reason
    status, middle = _get(api, tenant, f"consistency?from=3&to={CHUNK + 2}")
    assert status == 200
    # no head was signed at 3 or CHUNK + 2: the stored heads that follow answer, with a bridge from size 3
    first_at, second_at = middle["first_head"]["tree_size"], middle["second_head"]["tree_size"]
    assert 3 <= first_at <= second_at
    assert second_at >= CHUNK + 2
    assert middle["consistency_proof"] == merkle.consistency_proof(first_at, hashes[:second_at])
    assert middle["from_bridge"]["consistency_proof"] == merkle.consistency_proof(3, hashes[:first_at])
    assert check_consistency(middle).valid
    earlier, later = tmp_path / "first.json", tmp_path / "later.json"
    earlier.write_text(json.dumps(first))
    later.write_text(json.dumps(document))
    key = tmp_path / "key.pem"
    key.write_text(api[REGION].container.signer.public_key()[1])
    assert prove_file(str(earlier), trusted_key_files=[str(key)]) == 0
    assert consistency_file(str(later), trusted_key_files=[str(key)], previous_file=str(earlier)) == 0


def test_an_event_edited_in_the_table_after_sealing_is_refused_offline(
        api: dict[str, RegionalApi], tenant: dict[str, Any], emulated: Emulated, tmp_path: Path) -> None:
    status, proof = _get(api, tenant, "proof?seq=2")
    assert status == 200
    assert check_inclusion(proof).valid
    client = emulated.clients.dynamodb(REGION)
    key = event_key(tenant["tenant_id"], 2)
    item = client.get_item(TableName="enclave-audit-uk", Key=key)["Item"]
    event = json.loads(item["event"]["S"])
    event["outcome"] = "denied"  # someone with table access rewrites history, keeping the hash
    client.update_item(TableName="enclave-audit-uk", Key=key, UpdateExpression="SET #e = :e",
                       ExpressionAttributeNames={"#e": "event"},
                       ExpressionAttributeValues={":e": {"S": json.dumps(event)}})
    status, edited = _get(api, tenant, "proof?seq=2")
    assert status == 200
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    assert prove_file(str(path)) == 1
    assert not check_inclusion(edited).valid
    assert "edited after sealing" in str(check_inclusion(edited).reason)


def test_proof_routes_refuse_bad_positions_and_other_roles(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                                           token: TokenFactory) -> None:
    for route in ("proof", "proof?seq=0", "proof?seq=abc", "proof?seq=-1", "consistency", "consistency?from=x",
                  "consistency?from=3&to=2"):
        status, body = _get(api, tenant, route)
        assert status == 422, (route, body)
    assert _get(api, tenant, "proof?seq=999999")[0] == 404
    assert _get(api, tenant, "consistency?from=1&to=999999")[0] == 404
    tid = tenant["tenant_id"]
    path = f"/v1/tenants/{tid}/audit/proof?seq=1"
    assert api[REGION].call("GET", path, token("tenant_admin", tid, REGION))[0] == 403
    assert api[REGION].call("GET", path, token("compliance_officer", region="us-east-1"))[0] == 404
    assert api[REGION].call("GET", path, token("platform_admin"))[0] == 200
    composition.use(api[REGION].container)
    actions = [e["action"] for e in api[REGION].container.audit_store.events(tid, "UK")]
    assert "audit.prove" in actions  # asking for a proof is itself on the record


def test_a_later_proof_extends_an_earlier_export(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                                 tmp_path: Path) -> None:
    _land(api, tenant["tenant_id"], 120)
    status, text = get_audit(api[REGION], tenant)
    assert status == 200
    export = tmp_path / "trail.ndjson"
    export.write_text(text)
    out = io.StringIO()
    assert verify_file(str(export), out) == 0
    manifest = json.loads(text.splitlines()[-1])["manifest"]
    held_size = manifest["tree_head"]["tree_size"]
    assert 100 <= held_size <= manifest["last_seq"]
    assert f"signed tree head of size {held_size}" in out.getvalue()
    _land(api, tenant["tenant_id"], 3)
    status, document = _get(api, tenant, f"consistency?from={held_size}")
    assert status == 200
    later = tmp_path / "later.json"
    later.write_text(json.dumps(document))
    assert consistency_file(str(later), previous_file=str(export)) == 0
    rewritten = dict(manifest["tree_head"], root_hash="0" * 64)
    held = tmp_path / "held.json"
    held.write_text(json.dumps(rewritten))
    assert consistency_file(str(later), previous_file=str(held)) == 1


def test_a_long_trail_from_before_tree_heads_gets_its_tree_over_a_few_calls(api: dict[str, RegionalApi],
                                                                           emulated: Emulated) -> None:
    tid = new_id("tnt")
    store = audit_store(emulated)  # no tree-head hook: a chain sealed before tree heads existed
    for n in range(3 * CHUNK + 5):
        store.commit(tid, "UK", _draft(n))
    store.seal(tid, "UK")
    container = api[REGION].container
    heads = TreeHeads(TreeStore(emulated.clients.dynamodb(REGION), lambda code: f"enclave-audit-{code.lower()}"),
                      container.signing_keys, container.clock, region=REGION, stage="test", max_catch_up=1)
    for _ in range(2):  # two chunks' nodes per refused call, then the third and the head
        with pytest.raises(ServiceUnavailable):
            heads.sign(tid, "UK", 3 * CHUNK + 5)
    head = heads.sign(tid, "UK", 3 * CHUNK + 5)
    assert head["root_hash"] == merkle.root_hash([e["hash"] for e in store.events(tid, "UK")])
