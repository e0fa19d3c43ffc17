"""A restored backup of a data table must not revive an erased learner: the restore tool re-applies erasures."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import datetime, timedelta
from typing import Any

from chalicelib import composition
from chalicelib.adapters.data_store import envelopes_of, wrapped_learner_key
from chalicelib.cli.__main__ import main as cli
from chalicelib.domain.crypto import StoredField, verify_shredded
from deploy.tables import DATA, create_table_kwargs
from tests.conftest import Emulated, RegionalApi, TokenFactory
from tests.test_learners_api import ALICE

RESTORED = "enclave-data-uk-restored"


def _copy_table(emulated: Emulated, source: str, target: str) -> None:
    """What a point-in-time restore produces: a new table with every item of the source at that time."""
    client = emulated.clients.dynamodb("eu-west-2")
    client.create_table(**{**create_table_kwargs(DATA, "UK"), "TableName": target})
    for page in client.get_paginator("scan").paginate(TableName=source):
        for item in page["Items"]:
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


def test_a_restored_backup_does_not_revive_an_erased_learner(
        api: dict[str, RegionalApi], emulated: Emulated, containers: dict[str, composition.Container],
        onboard: Any, token: TokenFactory) -> None:
    eu, container = api["eu-west-2"], containers["eu-west-2"]
    tid = onboard("UK")["tenant_id"]
    staff, admin = (token(role, tid, "eu-west-2") for role in ("tenant_staff", "tenant_admin"))
    path = f"/v1/tenants/{tid}/learners"
    victim = eu.call("POST", path, staff, ALICE)[1]["learner_id"]
    bystander = eu.call("POST", path, staff, {**ALICE, "email": "keep@example.org"})[1]["learner_id"]
    assert eu.call("POST", f"{path}/{victim}/results", staff,
                   {"assessment": "Latin", "score": 1, "max_score": 2, "taken_on": "2026-01-05"})[0] == 201
    _copy_table(emulated, "enclave-data-uk", RESTORED)  # the backup, taken before the erasure
    try:
        status, receipt = eu.call("DELETE", f"{path}/{victim}", admin)
        assert status == 200
        assert receipt["key_destroyed"] is True
        erased = datetime.fromisoformat(receipt["erased_at"].replace("Z", "+00:00"))
        expires = datetime.fromisoformat(receipt["backups_expire_by"].replace("Z", "+00:00"))
        assert expires - erased == timedelta(days=container.settings.recovery_window_days)

        restored = container.restore(RESTORED)._restored
        in_backup = restored.everything_about("UK", tid, victim)
        destroyed = wrapped_learner_key(tid, victim, next(i for i in in_backup if i["sk"]["S"].endswith("#K")))
        report = _restore_cli(container)
        assert report["keys_deleted"] == 1
        assert report["learners_reapplied"] == 1

        keys = container.tenant_keys.keys_for(container.directory.get(tid))  # type: ignore[arg-type]
        remaining = [wrapped_learner_key(tid, item["sk"]["S"].split("#")[1], item)
                     for item in restored.learner_key_items("UK", tid)]
        assert {record.learner_id for record in remaining} == {bystander}
        after = restored.everything_about("UK", tid, victim)
        shred = verify_shredded(destroyed, _stored_fields([*in_backup, *after]), remaining, keys)
        assert shred.fields_tried >= 7
        assert shred.keys_tried == 1
        assert shred.key_copies_left == 0
        assert shred.readable_fields == ()
        assert shred.shredded
        tombstone = next(i for i in after if i["sk"]["S"].endswith("#P"))
        assert "erased_at" in tombstone
        assert "lookup_pk" not in tombstone
        assert "fields" not in tombstone

        assert _restore_cli(container)["learners_reapplied"] == 0  # idempotent
        trail = list(container.audit_store.events(tid, "UK"))
        assert [e["details"]["learner_id"] for e in trail if e["action"] == "backup.erasure_reapplied"] == [victim]
    finally:
        emulated.clients.dynamodb("eu-west-2").delete_table(TableName=RESTORED)
