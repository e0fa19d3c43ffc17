"""A restored backup of a data table must not revive an erased learner.

Keys live in the key table, which has no point-in-time recovery: a restored data table alone opens
nothing of a learner erased since, even before the restore tool runs; the tool then puts the
tombstones back and drops any key item a backup from before the key move still holds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.data_store import DataStore, envelopes_of, wrapped_learner_key
from chalicelib.adapters.legacy_keys import LegacyKeyItems
from chalicelib.cli.__main__ import main as cli
from chalicelib.domain.crypto import StoredField, WrappedLearnerKey, verify_shredded
from deploy.tables import DATA, create_table_kwargs
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory

RESTORED = "enclave-data-uk-restored"
EU = "eu-west-2"
RESULT = {"assessment": "Latin", "score": 1, "max_score": 2, "taken_on": "2026-01-05"}


def _scan(emulated: Emulated, table: str) -> list[dict[str, Any]]:
    client = emulated.clients.dynamodb(EU)
    return [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]


def _copy_table(emulated: Emulated, source: str, target: str, extra: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    """What a point-in-time restore produces: a new table with every item of the source at that time."""
    client = emulated.clients.dynamodb(EU)
    client.create_table(**{**create_table_kwargs(DATA, "UK"), "TableName": target})
    for item in [*_scan(emulated, source), *extra]:
        client.put_item(TableName=target, Item=item)


def _stored_fields(items: list[dict[str, Any]]) -> list[StoredField]:
    return [(("learner" if item["sk"]["S"].endswith("#P") else f"result:{item['record_id']['S']}"), name, envelope)
            for item in items if "fields" in item for name, envelope in envelopes_of(item).items()]


def _restore_cli(container: composition.Container) -> dict[str, Any]:
    composition.use(container)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["restore", "--jurisdiction", "uk", "--table", RESTORED]) == 0
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def _every_key(restored: DataStore, emulated: Emulated, tid: str) -> list[WrappedLearnerKey]:
    """Every learner key the platform could still use: the live key table and whatever the copy holds."""
    in_copy = [item for item in _scan(emulated, RESTORED)
               if item["pk"]["S"] == f"TENANT#{tid}" and item["sk"]["S"].endswith("#K")]
    return [wrapped_learner_key(tid, item["sk"]["S"].split("#")[1], item)
            for item in [*restored.learner_key_items("UK", tid), *in_copy]]


@pytest.fixture
def school(api: dict[str, RegionalApi], containers: dict[str, composition.Container], onboard: Any,
           token: TokenFactory) -> dict[str, Any]:
    eu, container = api[EU], containers[EU]
    tid = onboard("UK")["tenant_id"]
    staff, admin = (token(role, tid, EU) for role in ("tenant_staff", "tenant_admin"))
    path = f"/v1/tenants/{tid}/learners"
    victim = eu.call("POST", path, staff, ALICE)[1]["learner_id"]
    bystander = eu.call("POST", path, staff, {**ALICE, "email": "keep@example.org"})[1]["learner_id"]
    assert eu.call("POST", f"{path}/{victim}/results", staff, RESULT)[0] == 201
    key_item = container.data_store.learner_key_item("UK", tid, victim)
    assert key_item is not None
    return {"eu": eu, "container": container, "tid": tid, "admin": admin, "path": path, "victim": victim,
            "bystander": bystander, "destroyed": wrapped_learner_key(tid, victim, key_item)}


@pytest.fixture
def cleanup(emulated: Emulated) -> Iterator[None]:
    yield
    emulated.clients.dynamodb(EU).delete_table(TableName=RESTORED)


def _erase(school: dict[str, Any]) -> None:
    status, receipt = school["eu"].call("DELETE", f"{school['path']}/{school['victim']}", school["admin"])
    assert status == 200, receipt
    assert receipt["key_destroyed"] is True
    erased = datetime.fromisoformat(receipt["erased_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(receipt["backups_expire_by"].replace("Z", "+00:00"))
    assert expires - erased == timedelta(days=school["container"].settings.recovery_window_days)


def _opens_nothing(school: dict[str, Any], emulated: Emulated, restored: DataStore,
                   in_backup: list[dict[str, Any]]) -> None:
    tid, container = school["tid"], school["container"]
    keys = container.tenant_keys.keys_for(container.directory.get(tid))  # type: ignore[arg-type]
    remaining = _every_key(restored, emulated, tid)
    assert {record.learner_id for record in remaining} == {school["bystander"]}
    after = restored.everything_about("UK", tid, school["victim"])
    shred = verify_shredded(school["destroyed"], _stored_fields([*in_backup, *after]), remaining, keys)
    assert shred.fields_tried >= 7
    assert shred.keys_tried == 1
    assert shred.key_copies_left == 0
    assert shred.readable_fields == ()


def test_a_restored_data_table_alone_opens_nothing_of_an_erased_learner(
        school: dict[str, Any], emulated: Emulated, cleanup: None) -> None:
    tid, victim, container = school["tid"], school["victim"], school["container"]
    _copy_table(emulated, "enclave-data-uk", RESTORED)  # the backup, taken before the erasure
    _erase(school)
    restored = container.restore(RESTORED)._restored
    in_backup = restored.everything_about("UK", tid, victim)
    assert any("fields" in item for item in in_backup)   # the ciphertext is back in the copy ...
    _opens_nothing(school, emulated, restored, in_backup)  # ... and nothing opens it, before the tool

    report = _restore_cli(container)
    assert (report["keys_deleted"], report["learners_reapplied"], report["legacy_keys_removed"]) == (0, 1, 0)
    _opens_nothing(school, emulated, restored, in_backup)
    tombstone = restored.learner_items("UK", tid, victim)["P"]
    assert "erased_at" in tombstone
    assert "lookup_pk" not in tombstone
    assert "fields" not in tombstone
    assert _restore_cli(container)["learners_reapplied"] == 0  # idempotent
    trail = list(container.audit_store.events(tid, "UK"))
    assert [e["details"]["learner_id"] for e in trail if e["action"] == "backup.erasure_reapplied"] == [victim]


def test_a_backup_from_before_the_key_move_is_cleaned_by_the_restore_tool(
        school: dict[str, Any], emulated: Emulated, cleanup: None) -> None:
    """A backup taken while keys still lived in the data table holds them: the tool drops every one."""
    tid, victim, container = school["tid"], school["victim"], school["container"]
    old_layout = [item for item in _scan(emulated, "enclave-keys-uk") if item["pk"]["S"] == f"TENANT#{tid}"]
    _copy_table(emulated, "enclave-data-uk", RESTORED, extra=old_layout)
    _erase(school)
    restored = container.restore(RESTORED)._restored
    in_backup = restored.everything_about("UK", tid, victim)
    keys = container.tenant_keys.keys_for(container.directory.get(tid))  # type: ignore[arg-type]
    revived = verify_shredded(school["destroyed"], _stored_fields(in_backup), _every_key(restored, emulated, tid), keys)
    assert revived.readable_fields   # the danger the tool exists for: the old copy opens the erased learner

    report = _restore_cli(container)
    assert report["keys_deleted"] == 1
    assert report["legacy_keys_removed"] == len(old_layout) - 1   # the bystander's key and the tenant key
    _opens_nothing(school, emulated, restored, in_backup)
    assert not [item for item in _scan(emulated, RESTORED) if item["sk"]["S"].startswith("TKEY#")]
    assert _restore_cli(container)["legacy_keys_removed"] == 0


def test_migrate_keys_moves_key_items_out_of_the_data_table_once(
        school: dict[str, Any], emulated: Emulated, token: TokenFactory) -> None:
    """The one-off job: a tenant of the old layout (keys in the data table) ends with keys only in the key table."""
    tid, container, client = school["tid"], school["container"], emulated.clients.dynamodb(EU)
    mine = [item for item in _scan(emulated, "enclave-keys-uk") if item["pk"]["S"] == f"TENANT#{tid}"]
    for item in mine:   # back to the old layout
        client.put_item(TableName="enclave-data-uk", Item=item)
        client.delete_item(TableName="enclave-keys-uk", Key={"pk": item["pk"], "sk": item["sk"]})
    staff = token("tenant_staff", tid, EU)
    learner = f"{school['path']}/{school['bystander']}"
    assert school["eu"].call("GET", learner, staff)[0] != 200   # the new code reads keys only in the key table

    def migrate() -> dict[str, Any]:
        composition.use(container)
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli(["migrate-keys", "--jurisdiction", "UK"]) == 0
        report: dict[str, Any] = json.loads(out.getvalue())
        return report

    assert migrate()["moved"] == len(mine)
    assert LegacyKeyItems(client, container.data_store).items("UK", tid) == []
    assert sorted(str(i) for i in _scan(emulated, "enclave-keys-uk") if i["pk"]["S"] == f"TENANT#{tid}") \
        == sorted(str(i) for i in mine)
    assert school["eu"].call("GET", learner, staff)[0] == 200
    migrated = [e for e in container.audit_store.events(tid, "UK") if e["action"] == "keys.migrated"]
    assert len(migrated) == len(mine)   # one event per item, in the item's own transaction
    assert {e["details"]["kind"] for e in migrated} == {"learner_key", "tenant_key"}
    assert {e["details"]["learner_id"] for e in migrated if e["details"]["kind"] == "learner_key"} \
        >= {school["bystander"]}
    assert all(e["details"]["result"] == "moved" and "wrapped" not in json.dumps(e) for e in migrated)
    assert migrate()["moved"] == 0   # idempotent
    assert len([e for e in container.audit_store.events(tid, "UK") if e["action"] == "keys.migrated"]) \
        == len(mine)
