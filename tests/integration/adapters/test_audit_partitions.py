"""The audit table's sharded key layout: one tenant's items spread over many partition keys, reads merged in
``seq`` order, and a trail written in the layout of before still read, verified, exported and continued."""
from __future__ import annotations

import subprocess
import sys
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib import composition
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.audit.layout import EVENT_SHARDS, LEGACY, MARKER_SHARDS, SEQ_BLOCK, SHARDED, tenant_pk
from chalicelib.domain.audit.stream import read_batch
from chalicelib.domain.audit.tree_heads import check_inclusion
from chalicelib.domain.audit.verify import verify_chain
from chalicelib.domain.ids import new_id
from chalicelib.services.audit.sequencer import Sequencer
from tests.conftest import moto_jwks
from tests.integration.api.test_audit_api import _bucket_and_key, get_audit, ndjson, trail  # noqa: F401 - the fixture
from tests.integration.audit_streams import poller
from tests.integration.conftest import Emulated, RegionalApi, regional_settings
from tests.support.audit_keys import partitions, tenant_items
from tests.unit.domain.test_audit_chain import manifest_for

REGION = "eu-west-2"
TABLE = "enclave-audit-uk"


def _store(emulated: Emulated, layout: Any = SHARDED) -> AuditStore:
    now = lambda: datetime.now(UTC)  # noqa: E731
    return AuditStore(emulated.clients.dynamodb(REGION), lambda code: f"enclave-audit-{code.lower()}", REGION, now,
                      layout=layout)


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="staff", actor_role="tenant_staff", action="learner.read",
                           resource=f"learners/{n}", outcome="success", request_id=f"r-{n}", details={"n": n})


def _pks(emulated: Emulated, tenant_id: str, prefix: str) -> dict[str, int]:
    """partition key -> how many of the tenant's items of ``prefix`` it holds."""
    found: dict[str, int] = {}
    for item in tenant_items(emulated.clients.dynamodb(REGION), TABLE, tenant_id, prefix):
        found[item["pk"]["S"]] = found.get(item["pk"]["S"], 0) + 1
    return found


def _head(emulated: Emulated, tenant_id: str) -> dict[str, Any]:
    return dict(emulated.clients.dynamodb(REGION).get_item(
        TableName=TABLE, ConsistentRead=True, Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": "HEAD"}})["Item"])


def test_one_tenants_events_and_markers_spread_over_many_partition_keys(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(4 * SEQ_BLOCK):
        store.commit(tenant_id, "UK", _draft(n))
    assert store.seal(tenant_id, "UK") == 4 * SEQ_BLOCK
    events = _pks(emulated, tenant_id, "EVT#")
    assert len(events) == 4
    assert set(events.values()) == {SEQ_BLOCK}
    assert tenant_pk(tenant_id) not in events
    for prefix in ("PND#", "LND#"):
        markers = _pks(emulated, tenant_id, prefix)
        assert len(markers) > MARKER_SHARDS * 3 // 4, "256 event ids should reach most of the 64 marker shards"
        assert max(markers.values()) < 20
        assert tenant_pk(tenant_id) not in markers
    assert _head(emulated, tenant_id)["sharded_from"]["N"] == "1"


def test_a_range_across_event_shards_is_read_in_seq_order(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    total = (EVENT_SHARDS + 3) * SEQ_BLOCK  # wraps round every event shard
    for n in range(total):
        store.commit(tenant_id, "UK", _draft(n))
    assert store.seal(tenant_id, "UK") == total
    assert len(_pks(emulated, tenant_id, "EVT#")) == EVENT_SHARDS
    everything = list(store.events(tenant_id, "UK"))
    assert [e["seq"] for e in everything] == list(range(1, total + 1))
    assert [e["details"]["n"] for e in everything] == list(range(total))
    assert verify_chain(everything, manifest_for(everything, tenant_id=tenant_id)).valid
    middle = list(store.events(tenant_id, "UK", SEQ_BLOCK - 5, 5 * SEQ_BLOCK + 7))
    assert [e["seq"] for e in middle] == list(range(SEQ_BLOCK - 5, 5 * SEQ_BLOCK + 8))


def test_a_trail_of_the_layout_of_before_is_read_where_it_is_and_continues_sharded(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    before = _store(emulated, LEGACY)
    for n in range(70):
        before.commit(tenant_id, "UK", _draft(n))
    assert before.seal(tenant_id, "UK") == 70
    for n in range(70, 73):  # landed under the old keys, not yet sealed when the new code arrives
        before.commit(tenant_id, "UK", _draft(n))
    assert set(_pks(emulated, tenant_id, "EVT#")) == {tenant_pk(tenant_id)}
    assert "sharded_from" not in _head(emulated, tenant_id)

    after = _store(emulated)
    assert [e["seq"] for e in after.events(tenant_id, "UK", 1, 70)] == list(range(1, 71))
    for n in range(73, 140):
        after.commit(tenant_id, "UK", _draft(n))
    everything = list(after.events(tenant_id, "UK"))  # seals the old keys' pending events and the new ones
    assert [e["details"]["n"] for e in everything] == list(range(140))
    assert verify_chain(everything, manifest_for(everything, tenant_id=tenant_id)).valid
    assert _head(emulated, tenant_id)["sharded_from"]["N"] == "71"
    events = _pks(emulated, tenant_id, "EVT#")
    assert events[tenant_pk(tenant_id)] == 70, "the old items stay where they were: nothing copied or moved"
    assert sum(events.values()) == 140
    assert [e["seq"] for e in after.events(tenant_id, "UK", 60, 80)] == list(range(60, 81))  # across the two
    first, last = after.seq_range(tenant_id, "UK", everything[65]["at"], everything[76]["at"]) or (0, 0)
    assert first <= 66  # the time index finds events under both layouts
    assert last >= 76


def test_the_layouts_boundary_is_set_once_whoever_seals_next(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    before = _store(emulated, LEGACY)
    for n in range(5):
        before.commit(tenant_id, "UK", _draft(n))
    before.seal(tenant_id, "UK")
    for round_ in range(3):  # fresh containers, each sealing more
        store = _store(emulated)
        store.commit(tenant_id, "UK", _draft(5 + round_))
        assert store.seal(tenant_id, "UK") == 1
        assert _head(emulated, tenant_id)["sharded_from"]["N"] == "6"
    everything = list(_store(emulated).events(tenant_id, "UK"))
    assert [e["seq"] for e in everything] == list(range(1, 9))


def test_the_stream_sequencer_seals_events_that_landed_under_either_layout(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    before = _store(emulated, LEGACY)
    before.commit(tenant_id, "UK", _draft(0))
    before.seal(tenant_id, "UK")
    before.commit(tenant_id, "UK", _draft(1))  # old keys
    _store(emulated).commit(tenant_id, "UK", _draft(2))  # a marker shard
    records = [record for batch in _batches(emulated) for record in batch["Records"]]
    assert {owner for owner in read_batch(records) if owner[0] == tenant_id} == {(tenant_id, "UK")}
    handled = Sequencer(_store(emulated)).handle({"Records": [r for r in records if _of(r, tenant_id)]})
    assert handled == 2
    assert [e["details"]["n"] for e in _store(emulated).events(tenant_id, "UK")] == [0, 1, 2]


def _batches(emulated: Emulated) -> list[Any]:
    batches: list[Any] = []
    poller(emulated, batches.append).poll_once()
    return batches


def _of(record: Any, tenant_id: str) -> bool:
    return str(record["dynamodb"]["Keys"]["pk"]["S"]) in partitions(tenant_id)


def _to_layout_of_before(emulated: Emulated, tenant_id: str) -> None:
    """Put every audit item of the tenant where the layout of before kept it, as a trail written then."""
    client = emulated.clients.dynamodb(REGION)
    for pk in partitions(tenant_id)[1:]:
        items = client.query(TableName=TABLE, ConsistentRead=True, KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": {"S": pk}})["Items"]
        for item in items:
            moved = {**item, "pk": {"S": tenant_pk(tenant_id)}}
            if item["sk"]["S"].startswith("EVT#"):
                moved["tenant_id"] = {"S": tenant_id}
            client.put_item(TableName=TABLE, Item=moved)
            client.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    client.update_item(TableName=TABLE, Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": "HEAD"}},
                       UpdateExpression="REMOVE sharded_from")


def test_a_tenant_whose_trail_predates_sharding_verifies_exports_and_proves_through_the_api(
        api: dict[str, RegionalApi], trail: dict[str, Any], emulated: Emulated, tmp_path: Path) -> None:  # noqa: F811
    tenant_id = trail["tenant_id"]
    api[REGION].container.audit_store.head(tenant_id, "UK")  # everything sealed, as the stream would
    _to_layout_of_before(emulated, tenant_id)
    assert set(_pks(emulated, tenant_id, "EVT#")) == {tenant_pk(tenant_id)}
    fresh = composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                  key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions)
    eu = RegionalApi(fresh)  # a container deployed with the sharded layout, meeting the old trail
    path = f"/v1/tenants/{tenant_id}/audit"
    status, body = eu.call("GET", path + "/verify", trail["officer"])
    assert (status, body["valid"]) == (200, True), body
    status, proof = eu.call("GET", path + "/proof?seq=2", trail["officer"])
    assert status == 200
    assert check_inclusion(proof, list(proof["public_keys"].values())).valid
    status, export = eu.call("POST", path + "/exports", trail["officer"], {"format": "ndjson"})
    assert status == 201, export
    bucket, key = _bucket_and_key(urllib.parse.urlparse(export["download_url"]))
    target = tmp_path / "trail.ndjson"
    target.write_bytes(emulated.clients.s3(REGION).get_object(Bucket=bucket, Key=key)["Body"].read())
    done = subprocess.run([sys.executable, "-m", "chalicelib.cli", "audit", "verify", str(target)],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    events, manifest = ndjson(get_audit(eu, trail)[1])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert manifest["events"] == len(events)
    shards = _pks(emulated, tenant_id, "EVT#")
    assert shards.pop(tenant_pk(tenant_id)) >= 7, "the old events stay where they were"
    assert shards, "the new ones are sharded"
    assert eu.call("GET", path + "/verify", trail["officer"])[1]["valid"] is True
