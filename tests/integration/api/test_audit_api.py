"""The audit trail through the API: what is recorded, exports, verification and tamper detection."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from chalicelib import composition
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory
from tests.support.audit_keys import event_key

PERSONAL = ("Alice", "Liddell", "alice.liddell@example.org", "2012-05-04", "Lorina", "lorina@example.org")


@pytest.fixture
def trail(api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> dict[str, Any]:
    """A UK tenant whose learner was enrolled, read, found, rectified, given a result and erased."""
    eu = api["eu-west-2"]
    tenant = onboard("UK")
    tid = tenant["tenant_id"]
    staff, admin = token("tenant_staff", tid, "eu-west-2"), token("tenant_admin", tid, "eu-west-2")
    path = f"/v1/tenants/{tid}/learners"
    learner = eu.call("POST", path, staff, ALICE)[1]
    lpath = f"{path}/{learner['learner_id']}"
    assert eu.call("GET", lpath, staff)[0] == 200
    assert eu.call("POST", f"{path}/search", staff, {"email": "alice.liddell@example.org"})[0] == 200
    assert eu.call("PATCH", lpath, admin, {"programme": "Year 9"})[0] == 200
    assert eu.call("POST", lpath + "/results", staff,
                   {"assessment": "Chess", "score": 3, "max_score": 4, "taken_on": "2026-02-02"})[0] == 201
    assert eu.call("DELETE", lpath, admin)[0] == 200
    return {"tenant_id": tid, "learner_id": learner["learner_id"],
            "officer": token("compliance_officer", region="eu-west-2")}


def ndjson(text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line]
    return lines[:-1], lines[-1]["manifest"]


def get_audit(eu: RegionalApi, trail: dict[str, Any], query: str = "") -> tuple[int, str]:
    composition.use(eu.container)
    response = eu._client.http.request("GET", f"/v1/tenants/{trail['tenant_id']}/audit{query}",
                                       headers={"Authorization": f"Bearer {trail['officer']}"})
    body = response.body.decode() if isinstance(response.body, bytes) else response.body
    return response.status_code, body


def test_every_access_is_recorded_in_order_without_personal_data(api: dict[str, RegionalApi],
                                                                trail: dict[str, Any]) -> None:
    status, text = get_audit(api["eu-west-2"], trail)
    assert status == 200
    events, manifest = ndjson(text)
    actions = [e["action"] for e in events]
    assert actions == ["tenant_key.create", "learner.create", "learner.read", "learner.search", "learner.update",
                       "result.create", "learner.erase"]
    assert [e["seq"] for e in events] == list(range(1, 8))
    assert events[0]["prev_hash"] == "0" * 64
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(events))
    assert {e["actor"]["role"] for e in events} == {"system", "tenant_staff", "tenant_admin"}
    assert all(e["region"] == "eu-west-2" and e["outcome"] == "success" and e["request_id"] for e in events)
    assert all(trail["learner_id"] in e["resource"] for e in events[1:] if e["action"] != "learner.search")
    assert not [p for p in PERSONAL if p.lower() in text.lower()]
    assert manifest["events"] == 7
    assert manifest["checkpoints"][-1]["seq"] == 7
    assert manifest["public_keys"]


def test_time_ranges_and_csv(api: dict[str, RegionalApi], trail: dict[str, Any]) -> None:
    eu = api["eu-west-2"]
    all_events, _ = ndjson(get_audit(eu, trail)[1])
    middle = all_events[2]["at"]
    status, text = get_audit(eu, trail, f"?from={urllib.parse.quote(middle)}")
    events, manifest = ndjson(text)
    assert next(e["seq"] for e in events) == 3
    assert manifest["anchor_prev_hash"] == all_events[1]["hash"]
    status, text = get_audit(eu, trail, f"?to={urllib.parse.quote(middle)}")
    assert [e["seq"] for e in ndjson(text)[0]] == [1, 2]
    status, text = get_audit(eu, trail, "?format=csv")
    assert status == 200
    assert text.splitlines()[0].startswith("tenant_id,seq,prev_hash,hash")
    assert get_audit(eu, trail, "?from=yesterday")[0] == 422
    assert get_audit(eu, trail, "?format=xml")[0] == 422


def test_only_auditors_in_scope_read_the_trail(api: dict[str, RegionalApi], trail: dict[str, Any],
                                              token: TokenFactory) -> None:
    eu = api["eu-west-2"]
    path = f"/v1/tenants/{trail['tenant_id']}/audit/verify"
    assert eu.call("GET", path, token("tenant_admin", trail["tenant_id"], "eu-west-2"))[0] == 403
    assert eu.call("GET", path, token("compliance_officer", region="us-east-1"))[0] == 404
    assert eu.call("GET", path, token("platform_admin"))[0] == 200
    assert api["us-east-1"].call("GET", path, trail["officer"])[0] == 421


def test_export_downloads_and_verifies_offline(api: dict[str, RegionalApi], trail: dict[str, Any],
                                              emulated: Emulated, tmp_path: Path) -> None:
    eu = api["eu-west-2"]
    for fmt in ("ndjson", "csv"):
        status, export = eu.call("POST", f"/v1/tenants/{trail['tenant_id']}/audit/exports", trail["officer"],
                                 {"format": fmt})
        assert status == 201, export
        assert export["events"] >= 6
        url = urllib.parse.urlparse(export["download_url"])
        query = urllib.parse.parse_qs(url.query)
        assert int(query.get("X-Amz-Expires", ["900"])[0]) <= 900
        bucket, key = _bucket_and_key(url)
        s3 = emulated.clients.s3("eu-west-2")
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        target = tmp_path / f"trail.{fmt}"
        target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        if fmt == "csv":
            (tmp_path / "trail.csv.manifest.json").write_bytes(
                s3.get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read())
        done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "audit", "verify", str(target)],
                              capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    status, text = get_audit(eu, trail)
    actions = [e["action"] for e in ndjson(text)[0]]
    assert actions.count("audit.export") == 2


def _bucket_and_key(url: urllib.parse.ParseResult) -> tuple[str, str]:
    host = url.netloc.split(".")[0]
    path = urllib.parse.unquote(url.path.lstrip("/"))
    if url.netloc.startswith("enclave-exports-"):
        return host, path
    bucket, _, key = path.partition("/")
    return bucket, key


def _event_key(trail: dict[str, Any], seq: int) -> dict[str, Any]:
    return event_key(trail["tenant_id"], seq)


def _stored(emulated: Emulated, trail: dict[str, Any], seq: int) -> dict[str, Any]:
    item = emulated.clients.dynamodb("eu-west-2").get_item(TableName="enclave-audit-uk",
                                                            Key=_event_key(trail, seq))["Item"]
    return dict(item)


def _store(emulated: Emulated, item: dict[str, Any]) -> None:
    emulated.clients.dynamodb("eu-west-2").put_item(TableName="enclave-audit-uk", Item=item)


def _edit(emulated: Emulated, trail: dict[str, Any]) -> int:
    item = _stored(emulated, trail, 3)
    event = json.loads(item["event"]["S"])
    event["outcome"] = "denied"
    item["event"] = {"S": json.dumps(event)}
    _store(emulated, item)
    return 3


def _delete(emulated: Emulated, trail: dict[str, Any]) -> int:
    emulated.clients.dynamodb("eu-west-2").delete_item(TableName="enclave-audit-uk", Key=_event_key(trail, 2))
    return 2


def _reorder(emulated: Emulated, trail: dict[str, Any]) -> int:
    second, third = _stored(emulated, trail, 2), _stored(emulated, trail, 3)
    second["event"], third["event"] = third["event"], second["event"]
    _store(emulated, second)
    _store(emulated, third)
    return 2


def _insert(emulated: Emulated, trail: dict[str, Any]) -> int:
    """A forged event slipped in at seq 4, re-chained (hash recomputed) so only the successor disagrees."""
    from chalicelib.domain.audit import event_hash

    fourth = _stored(emulated, trail, 4)
    event = json.loads(fourth["event"]["S"])
    event["action"] = "learner.read"
    event.pop("hash")
    event["hash"] = event_hash(event)
    fourth["event"] = {"S": json.dumps(event)}
    _store(emulated, fourth)
    return 5


def _forge_checkpoint(emulated: Emulated, trail: dict[str, Any]) -> int:
    client = emulated.clients.dynamodb("eu-west-2")
    items = client.query(TableName="enclave-audit-uk", KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
                         ExpressionAttributeValues={":p": {"S": f"TENANT#{trail['tenant_id']}"},
                                                    ":c": {"S": "CKP#"}})["Items"]
    for item in items:
        checkpoint = json.loads(item["checkpoint"]["S"])
        checkpoint["head_hash"] = "f" * 64
        item["checkpoint"] = {"S": json.dumps(checkpoint)}
        _store(emulated, item)
    return 6


@pytest.mark.parametrize("tamper", [_edit, _delete, _reorder, _insert, _forge_checkpoint],
                         ids=["edit", "delete", "reorder", "insert", "forged-checkpoint"])
def test_verify_endpoint_detects_tampering(api: dict[str, RegionalApi], trail: dict[str, Any],
                                           emulated: Emulated, tamper: Any) -> None:
    eu = api["eu-west-2"]
    path = f"/v1/tenants/{trail['tenant_id']}/audit/verify"
    status, body = eu.call("GET", path, trail["officer"])
    assert status == 200
    assert body["valid"] is True, body
    assert body["checkpoints"] >= 1
    bad_seq = tamper(emulated, trail)
    status, body = eu.call("GET", path, trail["officer"])
    assert status == 200
    assert body["valid"] is False
    assert body["first_invalid"]["seq"] <= bad_seq + 1


def test_a_cut_tail_is_detected_against_the_last_checkpoint(api: dict[str, RegionalApi], trail: dict[str, Any],
                                                           emulated: Emulated) -> None:
    eu = api["eu-west-2"]
    path = f"/v1/tenants/{trail['tenant_id']}/audit/verify"
    assert eu.call("GET", path, trail["officer"])[1]["valid"] is True  # signs a checkpoint at the head
    eu.container.audit_store.head(trail["tenant_id"], "UK")  # seal the verify's own event, as the stream would
    client = emulated.clients.dynamodb("eu-west-2")
    head = client.get_item(TableName="enclave-audit-uk",
                           Key={"pk": {"S": f"TENANT#{trail['tenant_id']}"}, "sk": {"S": "HEAD"}})["Item"]
    last = int(head["seq"]["N"])  # 7: the verify itself was recorded after the checkpoint at 6
    kept = last - 3
    previous = json.loads(_stored(emulated, trail, kept)["event"]["S"])
    for seq in range(kept + 1, last + 1):
        client.delete_item(TableName="enclave-audit-uk", Key=_event_key(trail, seq))
    client.put_item(TableName="enclave-audit-uk", Item={**head, "seq": {"N": str(kept)},
                                                        "hash": {"S": previous["hash"]}})
    eu.container.audit_store.head(trail["tenant_id"], "UK")  # forget the cached head, as a fresh container would
    _status, body = eu.call("GET", path, trail["officer"])
    assert body["valid"] is False, body
    assert body["first_invalid"]["seq"] == kept + 1


def test_erasure_keeps_the_trail_verifiable(api: dict[str, RegionalApi], trail: dict[str, Any]) -> None:
    _status, body = api["eu-west-2"].call("GET", f"/v1/tenants/{trail['tenant_id']}/audit/verify", trail["officer"])
    assert body["valid"] is True
    assert body["events"] >= 6


def test_refused_attempts_are_recorded_in_the_target_tenants_trail(
        api: dict[str, RegionalApi], trail: dict[str, Any], onboard: Any, token: TokenFactory) -> None:
    eu = api["eu-west-2"]
    intruder = onboard("UK")
    probe = token("tenant_staff", intruder["tenant_id"], "eu-west-2")
    path = f"/v1/tenants/{trail['tenant_id']}/learners/{trail['learner_id']}"
    assert eu.call("GET", path, probe)[0] == 404
    staff = token("tenant_staff", trail["tenant_id"], "eu-west-2")
    assert eu.call("DELETE", path, staff)[0] == 403
    events, _ = ndjson(get_audit(eu, trail)[1])
    denied = [e for e in events if e["outcome"] == "denied"]
    assert [(e["action"], e["details"]["reason"], e["actor"]["role"]) for e in denied] == [
        ("learner.read", "not_found", "tenant_staff"), ("learner.erase", "forbidden", "tenant_staff")]
    assert all(e["request_id"] and e["request_id"] != "-" for e in denied)
    # refused in another region: as unknown there too (no residency hint for outsiders), and not written
    # to a trail that lives in eu-west-2
    assert api["us-east-1"].call("GET", path, probe)[0] == 404
    assert len([e for e in ndjson(get_audit(eu, trail)[1])[0] if e["outcome"] == "denied"]) == 2


def test_a_page_of_the_trail_reads_the_blocks_it_shows_and_the_cursor_goes_on_from_there(
        api: dict[str, RegionalApi], trail: dict[str, Any], token: TokenFactory) -> None:
    """The first page of a trail longer than a block reads one block (one Query of one event shard), not the
    first page of every shard; following the cursor still shows every event once, in order."""
    eu, tid = api["eu-west-2"], trail["tenant_id"]
    staff = token("tenant_staff", tid, "eu-west-2")
    for _ in range(70):  # more events than a block holds (64)
        assert eu.call("GET", f"/v1/tenants/{tid}/learners?limit=1", staff)[0] == 200
    path = f"/v1/tenants/{tid}/audit/events"
    client = eu.container.clients.dynamodb("eu-west-2")
    shards: list[str] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        if ":lo" in params.get("ExpressionAttributeValues", {}) and \
                params["ExpressionAttributeValues"][":lo"]["S"].startswith("EVT#"):
            shards.append(params["ExpressionAttributeValues"][":pk"]["S"])

    client.meta.events.register("provide-client-params.dynamodb.Query", seen)
    try:
        status, first = eu.call("GET", f"{path}?limit=10", trail["officer"])
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", seen)
    assert status == 200, first
    assert [event["seq"] for event in first["items"]] == list(range(1, 11))
    assert len(shards) == 1, shards
    seqs, cursor = [], ""
    while True:
        status, page = eu.call("GET", f"{path}?limit=25{cursor}", trail["officer"])
        assert status == 200, page
        seqs += [event["seq"] for event in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) > 64
