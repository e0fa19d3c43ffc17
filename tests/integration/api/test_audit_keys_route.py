"""The region's published signing keys: GET /v1/audit/keys, and proofs checked against it with --keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.cli.audit import verify_file
from chalicelib.cli.audit_proofs import consistency_file, prove_file
from chalicelib.domain.audit.signing import public_key_pem
from chalicelib.domain.audit.tree_heads import check_inclusion, head_payload
from tests.integration.api.test_audit_api import get_audit
from tests.integration.api.test_audit_proofs_api import _land
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory

REGION = "eu-west-2"
WARNING = "WARNING: no --keys given"


@pytest.fixture
def tenant(api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> dict[str, Any]:
    tid = onboard("UK")["tenant_id"]
    api[REGION].call("POST", f"/v1/tenants/{tid}/learners", token("tenant_staff", tid, REGION), ALICE)
    return {"tenant_id": tid, "officer": token("compliance_officer", region=REGION)}


def _keys_file(api: dict[str, RegionalApi], token: TokenFactory, path: Path, role: str = "compliance_officer",
               tenant_id: str | None = None) -> dict[str, Any]:
    """GET /v1/audit/keys through the app, saved to ``path`` as an auditor would."""
    status, body = api[REGION].call("GET", "/v1/audit/keys", token(role, tenant_id, REGION))
    assert status == 200, body
    path.write_text(json.dumps(body))
    return dict(body)


def _proof(api: dict[str, RegionalApi], tenant: dict[str, Any], path: Path, route: str) -> dict[str, Any]:
    status, body = api[REGION].call("GET", f"/v1/tenants/{tenant['tenant_id']}/audit/{route}", tenant["officer"])
    assert status == 200, body
    path.write_text(json.dumps(body))
    return dict(body)


def _resigned(document: dict[str, Any], key_id: str, sign: Any, pem: str) -> dict[str, Any]:
    """The proof with its head re-signed by another key (which the document then names as its own)."""
    head = dict(document["tree_head"], key_id=key_id)
    head["signature"] = base64.b64encode(sign(head_payload(head))).decode()
    return dict(document, tree_head=head, public_keys={key_id: pem})


def test_any_signed_in_role_reads_the_keys_and_nobody_else(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                                          token: TokenFactory, tmp_path: Path) -> None:
    tid = tenant["tenant_id"]
    for role, of in (("tenant_staff", tid), ("tenant_admin", tid), ("compliance_officer", None),
                     ("regional_admin", None), ("platform_admin", None)):
        keys = _keys_file(api, token, tmp_path / "keys.json", role, of)["keys"]
        assert keys
        assert all(set(k) >= {"key_id", "public_key", "valid_from"} for k in keys)
        assert all(k["public_key"].startswith("-----BEGIN PUBLIC KEY-----") for k in keys)
    current = api[REGION].container.signer.current_key()[0]
    assert current in {k["key_id"] for k in keys}
    assert api[REGION].call("GET", "/v1/audit/keys")[0] == 401
    status, document = api[REGION].call("GET", "/v1/openapi.json")
    assert status == 200
    assert "get" in document["paths"]["/v1/audit/keys"]
    assert "get" in document["paths"]["/v1/tenants/{tenant_id}/audit/heads"]


def test_a_proof_checks_against_the_published_keys_and_a_key_not_in_them_is_refused(
        api: dict[str, RegionalApi], tenant: dict[str, Any], token: TokenFactory, emulated: Emulated,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _land(api, tenant["tenant_id"], 5)
    keys = tmp_path / "keys.json"
    _keys_file(api, token, keys)
    proof = _proof(api, tenant, tmp_path / "proof.json", "proof?seq=2")
    consistency = tmp_path / "consistency.json"
    _proof(api, tenant, consistency, f"consistency?from=1&to={proof['tree_head']['tree_size']}")
    capsys.readouterr()
    assert prove_file(str(tmp_path / "proof.json"), keys_file=str(keys)) == 0
    assert consistency_file(str(consistency), keys_file=str(keys)) == 0
    assert WARNING not in capsys.readouterr().err

    # a second KMS key of the same account, and a key generated on a laptop: both sign a head that is
    # consistent with itself, and neither is among the region's published keys
    kms = emulated.clients.kms(REGION)
    second = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    second_pem = public_key_pem(kms.get_public_key(KeyId=second)["PublicKey"])
    local = ec.generate_private_key(ec.SECP256R1())
    local_pem = local.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    forgeries = {
        "kms": _resigned(proof, second, lambda data: kms.sign(KeyId=second, Message=data, MessageType="RAW",
                                                              SigningAlgorithm="ECDSA_SHA_256")["Signature"],
                         second_pem),
        "local": _resigned(proof, "laptop-key", lambda data: local.sign(data, ec.ECDSA(hashes.SHA256())), local_pem),
    }
    for name, forged in forgeries.items():
        assert check_inclusion(forged).valid, name  # the document's own key vouches for it
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(forged))
        capsys.readouterr()
        assert prove_file(str(path)) == 0  # old usage: same exit code, and a loud warning
        assert WARNING in capsys.readouterr().err
        assert prove_file(str(path), keys_file=str(keys)) == 1
        out = capsys.readouterr().err
        assert "REFUSED" in out
        assert "not among the published keys" in out
        assert "Traceback" not in out


def test_an_export_and_its_keys_file_verify_with_keys(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                                      token: TokenFactory, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _land(api, tenant["tenant_id"], 110)
    status, text = get_audit(api[REGION], tenant)
    assert status == 200
    trail = tmp_path / "trail.ndjson"
    trail.write_text(text)
    keys = tmp_path / "keys.json"
    _keys_file(api, token, keys)
    capsys.readouterr()
    assert verify_file(str(trail), keys_file=str(keys)) == 0
    assert WARNING not in capsys.readouterr().err
    status, body = api[REGION].call("POST", f"/v1/tenants/{tenant['tenant_id']}/audit/exports", tenant["officer"],
                                    {"format": "ndjson"})
    assert status == 201, body
    assert body["keys_url"]  # the key set beside the export, as published when it was exported
    unknown = tmp_path / "other-keys.json"
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    unknown.write_text(json.dumps({"keys": [{"key_id": "someone-else", "public_key": other,
                                             "valid_from": "2020-01-01T00:00:00.000000Z"}]}))
    assert verify_file(str(trail), keys_file=str(unknown)) == 1
    assert "not among the published keys" in capsys.readouterr().err
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    assert verify_file(str(trail), keys_file=str(garbled)) == 1
    err = capsys.readouterr().err
    assert "unreadable" in err
    assert "Traceback" not in err


def test_a_signature_outside_its_keys_validity_is_refused(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                                          token: TokenFactory, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.json"
    published = _keys_file(api, token, keys)
    proof = _proof(api, tenant, tmp_path / "proof.json", "proof?seq=1")
    head_at = proof["tree_head"]["at"]
    late = {"keys": [dict(k, valid_from="2999-01-01T00:00:00.000000Z") for k in published["keys"]]}
    keys.write_text(json.dumps(late))
    assert prove_file(str(tmp_path / "proof.json"), keys_file=str(keys)) == 1
    assert f"signed at {head_at}, outside the validity" in capsys.readouterr().err


def test_a_warm_container_signs_with_one_kms_call(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                                  tmp_path: Path) -> None:
    """The signing key's id is remembered: a head signed after the first costs one KMS Sign, no DescribeKey."""
    _proof(api, tenant, tmp_path / "first.json", "proof?seq=1")  # the container has signed once
    kms = api[REGION].container.clients.kms(REGION)  # the one client per region the signer uses
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    kms.meta.events.register("before-call.kms", count)
    try:
        _land(api, tenant["tenant_id"], 100)  # the seal crosses a hundred: a checkpoint and a head are signed
        after = _proof(api, tenant, tmp_path / "after.json", "proof?seq=100")
    finally:
        kms.meta.events.unregister("before-call.kms", count)
    assert after["tree_head"]["tree_size"] >= 100
    assert calls, "nothing was signed"
    assert set(calls) == {"Sign"}, calls


def test_key_history_survives_a_key_change(api: dict[str, RegionalApi], tenant: dict[str, Any],
                                           token: TokenFactory, emulated: Emulated, tmp_path: Path) -> None:
    """Last in this module: it points the region's signing alias at a new key and back."""
    container = api[REGION].container
    old = container.signer.current_key()[0]
    before = _proof(api, tenant, tmp_path / "before.json", "proof?seq=1")
    assert before["tree_head"]["key_id"] == old
    kms = emulated.clients.kms(REGION)
    alias = container.settings.signing_key_alias
    new = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    kms.update_alias(AliasName=alias, TargetKeyId=new)
    try:
        _land(api, tenant["tenant_id"], 100)  # the seal crosses a hundred: a head signed by the new key
        after = _proof(api, tenant, tmp_path / "after.json", "proof?seq=1")
        assert after["tree_head"]["key_id"] == new
        keys = _keys_file(api, token, tmp_path / "keys.json")["keys"]
        by_id = {k["key_id"]: k for k in keys}
        assert {old, new} <= set(by_id)
        assert by_id[old]["valid_until"] == by_id[new]["valid_from"]
        assert "valid_until" not in by_id[new]
        assert prove_file(str(tmp_path / "before.json"), keys_file=str(tmp_path / "keys.json")) == 0
        assert prove_file(str(tmp_path / "after.json"), keys_file=str(tmp_path / "keys.json")) == 0
    finally:
        kms.update_alias(AliasName=alias, TargetKeyId=old)
