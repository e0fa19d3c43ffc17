"""Tree heads as a timeline: signed when the tree reaches them (every 100 events, at least every 5 minutes),
stored with that time, naming their log, format and key, and witnessed under Object Lock."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.witness_bucket import witness_key
from chalicelib.adapters.witness_reader import WitnessReader
from chalicelib.cli.__main__ import main
from chalicelib.cli.audit import verify_file
from chalicelib.cli.audit_proofs import prove_file
from chalicelib.cli.witness import witness_report
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit.signing import load_p256
from chalicelib.domain.audit.tree_heads import check_consistency, check_inclusion, head_payload
from tests.conftest import moto_jwks
from tests.integration.api.test_audit_proofs_api import _draft
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings
from tests.support import FIXTURES
from tests.unit.cli.test_audit_export_tree_head import signed_head, with_tree_head
from tests.unit.cli.test_audit_tree_heads import PEM, chain, inclusion

REGION = "eu-west-2"


class Clock:
    """The deployment's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def eu(emulated: Emulated, clock: Clock) -> RegionalApi:
    """The UK region's deployment with an injected clock (its own container over the shared emulator)."""
    container = composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), clock=clock,
                                      jurisdictions=emulated.jurisdictions)
    return RegionalApi(container)


@pytest.fixture
def tenant(onboard: Any, token: TokenFactory) -> dict[str, Any]:
    return {"tenant_id": onboard("UK")["tenant_id"], "officer": token("compliance_officer", region=REGION)}


def _land_and_seal(eu: RegionalApi, tenant_id: str, count: int) -> int:
    store = eu.container.audit_store
    for n in range(count):
        store.commit(tenant_id, "UK", _draft(n))
    store.seal(tenant_id, "UK")  # as the stream sequencer does
    return store.head(tenant_id, "UK")[0]


def _get(eu: RegionalApi, tenant: dict[str, Any], route: str) -> dict[str, Any]:
    status, body = eu.call("GET", f"/v1/tenants/{tenant['tenant_id']}/audit/{route}", tenant["officer"])
    assert status == 200, body
    return dict(body)


def _heads(eu: RegionalApi, tenant_id: str) -> list[dict[str, Any]]:
    return eu.container.tree_heads.heads(tenant_id, "UK")


def test_a_head_for_a_past_size_carries_the_time_it_was_reached(eu: RegionalApi, tenant: dict[str, Any],
                                                                clock: Clock) -> None:
    size = _land_and_seal(eu, tenant["tenant_id"], 100)  # crosses a hundred: a head signed now
    reached = format_at(clock.now)
    [head] = _heads(eu, tenant["tenant_id"])
    assert (head["tree_size"], head["at"]) == (size, reached)
    clock.advance(hours=3)
    later = _land_and_seal(eu, tenant["tenant_id"], 4)
    document = _get(eu, tenant, f"consistency?from={size}&to={size}")
    assert document["first_head"]["at"] == document["second_head"]["at"] == reached  # not now
    assert document["first_head"]["signature"] == head["signature"]  # the stored head, not a new signature
    assert check_consistency(document).valid
    proof = _get(eu, tenant, "proof?seq=7")
    assert proof["tree_head"]["tree_size"] == later
    assert proof["tree_head"]["at"] == format_at(clock.now)
    assert check_inclusion(proof).valid
    timeline = _get(eu, tenant, "heads")["heads"]
    assert [(h["tree_size"], h["at"]) for h in timeline] == [(size, reached), (later, format_at(clock.now))]


def test_heads_come_every_hundred_events_or_five_minutes_never_per_write(eu: RegionalApi, tenant: dict[str, Any],
                                                                         clock: Clock) -> None:
    tid = tenant["tenant_id"]
    _land_and_seal(eu, tid, 3)
    assert _heads(eu, tid) == []  # a few events, under five minutes: no head yet
    clock.advance(minutes=4)
    _land_and_seal(eu, tid, 2)
    assert _heads(eu, tid) == []
    clock.advance(minutes=1, seconds=1)
    size = _land_and_seal(eu, tid, 1)  # five minutes since the first seal: the tree as it is now
    assert [(h["tree_size"], h["at"]) for h in _heads(eu, tid)] == [(size, format_at(clock.now))]
    for _ in range(3):  # more writes within five minutes of that head: no more signatures
        clock.advance(minutes=1)
        _land_and_seal(eu, tid, 5)
    assert len(_heads(eu, tid)) == 1
    clock.advance(minutes=2)
    size = _land_and_seal(eu, tid, 1)
    assert [h["tree_size"] for h in _heads(eu, tid)][-1] == size
    size = _land_and_seal(eu, tid, 100)  # a hundred events cross a multiple of 100 within the five minutes
    assert [h["tree_size"] for h in _heads(eu, tid)][-1] == size


def test_the_signed_payload_names_the_log_its_format_and_its_key(eu: RegionalApi, tenant: dict[str, Any]) -> None:
    _land_and_seal(eu, tenant["tenant_id"], 100)
    proof = _get(eu, tenant, "proof?seq=3")
    head = proof["tree_head"]
    signed = json.loads(head_payload(head))
    assert signed == {"version": 2, "tenant_id": tenant["tenant_id"], "region": REGION, "stage": "test",
                      "tree_size": head["tree_size"], "root_hash": head["root_hash"], "at": head["at"],
                      "key_id": eu.container.signer.current_key()[0]}
    key = load_p256(proof["public_keys"][head["key_id"]])
    assert key is not None
    key.verify(base64.b64decode(head["signature"]), head_payload(head), ec.ECDSA(hashes.SHA256()))
    for name, value in (("region", "us-east-1"), ("stage", "prod-euw2"), ("key_id", "another-key")):
        moved = dict(proof, tree_head=dict(head, **{name: value}),
                     public_keys={**proof["public_keys"], "another-key": proof["public_keys"][head["key_id"]]})
        assert not check_inclusion(moved).valid, name  # a head cannot be replayed as another log's


def test_old_format_checkpoints_and_heads_still_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = FIXTURES / "audit_old_export.ndjson"
    assert verify_file(str(export), trusted_key_files=[str(FIXTURES / "audit_old_export_key.pem")]) == 0
    keys = tmp_path / "keys.json"  # the old key, published with the validity it had
    keys.write_text(json.dumps({"keys": [{"key_id": "f3-key", "public_key": (FIXTURES / "audit_old_export_key.pem")
                                          .read_text(), "valid_from": "2026-11-01T00:00:00.000000Z",
                                          "valid_until": "2026-11-30T00:00:00.000000Z"}]}))
    assert verify_file(str(export), keys_file=str(keys)) == 0
    events = chain(9)
    old = inclusion(events, 4)  # a version 1 head (no version, log or key id in the payload)
    assert "version" not in old["tree_head"]
    assert check_inclusion(old).valid
    path = tmp_path / "old-proof.json"
    path.write_text(json.dumps(old))
    old_keys = tmp_path / "old-keys.json"
    old_keys.write_text(json.dumps({"keys": [{"key_id": "k1", "public_key": PEM,
                                              "valid_from": "2026-01-01T00:00:00.000000Z"}]}))
    assert prove_file(str(path), keys_file=str(old_keys)) == 0
    from tests.unit.domain.test_audit_chain import chain as export_chain
    from tests.unit.domain.test_audit_chain import write_ndjson

    exported = export_chain(12)
    trail = write_ndjson(tmp_path / "headed.ndjson", exported, with_tree_head(exported, signed_head(exported[:10])))
    assert verify_file(str(trail), io.StringIO()) == 0  # an export with a version 1 tree head


def test_each_head_is_witnessed_under_a_compliance_lock(eu: RegionalApi, tenant: dict[str, Any],
                                                        emulated: Emulated, clock: Clock) -> None:
    size = _land_and_seal(eu, tenant["tenant_id"], 100)
    s3 = emulated.clients.s3(REGION)
    bucket = eu.container.settings.witness_bucket
    stored = s3.head_object(Bucket=bucket, Key=witness_key(tenant["tenant_id"], size))
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    retention = emulated.jurisdictions.get("UK").retention.audit.days
    assert abs(stored["ObjectLockRetainUntilDate"] - (clock.now + timedelta(days=retention))) < timedelta(seconds=2)
    witnessed = json.loads(s3.get_object(Bucket=bucket, Key=witness_key(tenant["tenant_id"], size))["Body"].read())
    assert witnessed == _heads(eu, tenant["tenant_id"])[0]


def test_audit_witness_says_equal_for_an_honest_trail_and_names_a_rewritten_head(
        eu: RegionalApi, tenant: dict[str, Any], emulated: Emulated, clock: Clock, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tid = tenant["tenant_id"]
    first = _land_and_seal(eu, tid, 100)
    clock.advance(minutes=6)
    second = _land_and_seal(eu, tid, 100)
    heads = tmp_path / "heads.json"
    heads.write_text(json.dumps(_get(eu, tenant, "heads")))
    capsys.readouterr()
    assert main(["audit", "witness", "--tenant", tid, "--region", REGION, str(heads)]) == 0
    out = capsys.readouterr().out
    assert f"EQUAL: tree head of size {first}" in out
    assert f"EQUAL: tree head of size {second}" in out
    assert "WITNESSED: 2 tree head(s)" in out

    # an operator with table access rewrites the later head (another history, signed anew or not)
    table = emulated.clients.dynamodb(REGION)
    key = {"pk": {"S": f"TENANT#{tid}"}, "sk": {"S": f"STH#{second:012d}"}}
    head = json.loads(table.get_item(TableName="enclave-audit-uk", Key=key)["Item"]["head"]["S"])
    head["root_hash"] = "ab" * 32
    table.update_item(TableName="enclave-audit-uk", Key=key, UpdateExpression="SET head = :h",
                      ExpressionAttributeValues={":h": {"S": json.dumps(head)}})
    heads.write_text(json.dumps(_get(eu, tenant, "heads")))
    reader = WitnessReader(emulated.clients.s3(REGION), eu.container.settings.witness_bucket)
    out_stream = io.StringIO()
    assert witness_report(tid, [str(heads)], lambda size: reader.versions(tid, size), out_stream) == 1
    report = out_stream.getvalue()
    assert f"EQUAL: tree head of size {first}" in report
    assert f"DIFFERS: tree head of size {second}" in report
    assert "root_hash" in report
    assert f"first at size {second}" in report
