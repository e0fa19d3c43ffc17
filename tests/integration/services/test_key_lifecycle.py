"""Keys whose death is final: no restore, migration, sweep or stream brings back what an erasure, an
offboarding or a legal hold settled.

A restored copy of a data table opens no offboarded tenant and keeps every hold placed since its backup;
``restore`` refuses a live table; ``migrate-keys`` never moves an erased learner's key back; the retention
sweep deletes nothing of a learner a hold lands on while it runs; a receipt says ``key_destroyed`` only
when a key was destroyed; the key table's stream carries keys only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.governance_store import GovernanceStore
from chalicelib.adapters.legacy_keys import LegacyKeyItems
from chalicelib.cli.__main__ import main as cli
from chalicelib.domain.errors import Conflict
from chalicelib.domain.holds import HoldCreate
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import Caller
from chalicelib.services.holds import HoldService
from chalicelib.services.requests.erasure import ErasureService
from chalicelib.services.retention import RetentionService
from deploy.render import table_resources
from deploy.stages import load_stage, prod_stages
from deploy.tables import AUDIT, DATA, KEYS
from tests.conftest import moto_jwks
from tests.integration.cli.test_restore import RESTORED, _copy_table
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings
from tests.integration.services.test_holds_retention import (
    REASON,
    US,
    Clock,
    enrol_leaver,
    learner_body,
    raw_items,
    tenant_report,
)

EU = "eu-west-2"
RESULT = {"assessment": "Latin", "score": 1, "max_score": 2, "taken_on": "2026-01-05"}


def _items_of(emulated: Emulated, table: str, tenant_id: str, region: str = EU) -> list[dict[str, Any]]:
    return [item for item in _scan_in(emulated, table, region) if item["pk"]["S"] == f"TENANT#{tenant_id}"]


def _scan_in(emulated: Emulated, table: str, region: str) -> list[dict[str, Any]]:
    client = emulated.clients.dynamodb(region)
    return [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]


def _is_key(item: dict[str, Any]) -> bool:
    sk = item["sk"]["S"]
    return sk.startswith("TKEY#") or (sk.startswith("L#") and sk.endswith("#K"))


def _run(argv: list[str], container: composition.Container) -> tuple[int, dict[str, Any] | None, str]:
    composition.use(container)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli(argv)
    return code, (json.loads(out.getvalue()) if out.getvalue() else None), err.getvalue()


@pytest.fixture
def restored_table(emulated: Emulated) -> Iterator[str]:
    yield RESTORED
    with suppress(ClientError):
        emulated.clients.dynamodb(EU).delete_table(TableName=RESTORED)


@pytest.fixture
def clocked(emulated: Emulated, token: TokenFactory) -> dict[str, Any]:
    """A UK deployment whose clock the test moves, a school on it with a learner who has a result."""
    clock = Clock(datetime.now(UTC))
    container = composition.Container(regional_settings(EU, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                      clock=clock)
    eu = RegionalApi(container)
    platform = token("platform_admin", region=EU)
    status, tenant = eu.call("POST", "/v1/tenants", platform, {"name": "Old School", "kind": "school",
                                                               "jurisdiction": "UK"})
    assert status == 201, tenant
    tid = tenant["tenant_id"]
    staff = token("tenant_staff", tid, EU)
    path = f"/v1/tenants/{tid}/learners"
    learners = [eu.call("POST", path, staff, learner_body(n))[1]["learner_id"] for n in (81, 82)]
    assert eu.call("POST", f"{path}/{learners[0]}/results", staff, RESULT)[0] == 201
    return {"eu": eu, "container": container, "clock": clock, "tenant_id": tid, "platform": platform,
            "staff": staff, "admin": token("tenant_admin", tid, EU), "regional": token("regional_admin", region=EU),
            "path": path, "learners": learners}


# ------------------------------------------------------------------------------------------- restore


def test_restoring_an_old_copy_destroys_the_keys_of_a_tenant_offboarded_since(
        clocked: dict[str, Any], emulated: Emulated, restored_table: str) -> None:
    """A backup from before the key move holds the tenant's keys; the tenant is offboarded after it: the
    restore tool must reach the offboarded tenant too, or the copy opens all its learners again."""
    eu, tid, container = clocked["eu"], clocked["tenant_id"], clocked["container"]
    old_layout = _items_of(emulated, "enclave-keys-uk", tid)
    assert any(item["sk"]["S"].startswith("TKEY#") for item in old_layout)
    _copy_table(emulated, "enclave-data-uk", restored_table, extra=old_layout)

    status, pending = eu.call("DELETE", f"/v1/tenants/{tid}", clocked["platform"])
    assert status == 202, pending
    clocked["clock"].now += timedelta(days=31)
    status, receipt = eu.call("DELETE", f"/v1/tenants/{tid}?confirm={pending['offboarding_id']}",
                              clocked["platform"])
    assert status == 200, receipt
    live_keys = _items_of(emulated, "enclave-keys-uk", tid)
    assert not [item for item in live_keys if item["sk"]["S"].startswith("TKEY#")]  # offboarding destroyed them
    assert [item for item in _items_of(emulated, restored_table, tid) if item["sk"]["S"].startswith("TKEY#")]

    code, report, _ = _run(["restore", "--jurisdiction", "UK", "--table", restored_table], container)
    assert code == 0
    assert [item for item in _items_of(emulated, restored_table, tid) if _is_key(item)] == []
    assert report is not None
    assert report["offboarded_tenants"] >= 1
    assert report["legacy_keys_removed"] >= len(old_layout)
    trail = list(container.audit_store.events(tid, "UK"))
    assert any(e["action"] == "backup.legacy_keys_removed" for e in trail)
    again = _run(["restore", "--jurisdiction", "UK", "--table", restored_table], container)[1]
    assert again is not None
    assert again["legacy_keys_removed"] == 0


def test_restoring_a_copy_keeps_the_holds_placed_and_lifted_since_its_backup(
        clocked: dict[str, Any], emulated: Emulated, restored_table: str) -> None:
    """Holds live in the data table: a copy from before a hold would let an erasure through once it serves."""
    eu, tid, container = clocked["eu"], clocked["tenant_id"], clocked["container"]
    first, second = clocked["learners"]
    holds = f"/v1/tenants/{tid}/legal-holds"
    status, lifted = eu.call("POST", holds, clocked["regional"], {"reason": REASON, "learner_id": first})
    assert status == 201, lifted
    _copy_table(emulated, "enclave-data-uk", restored_table)  # the backup
    assert eu.call("DELETE", f"{holds}/{lifted['hold_id']}", clocked["regional"])[0] == 200
    assert eu.call("POST", holds, clocked["regional"], {"reason": REASON, "learner_id": second})[0] == 201
    assert eu.call("POST", holds, clocked["regional"], {"reason": "Audit by the regulator"})[0] == 201

    code, report, _ = _run(["restore", "--jurisdiction", "UK", "--table", restored_table], container)
    assert code == 0

    def holds_and_markers(table: str) -> list[dict[str, Any]]:
        return sorted((i for i in _items_of(emulated, table, tid) if i["sk"]["S"].startswith("H")),
                      key=lambda i: i["sk"]["S"])

    assert holds_and_markers(restored_table) == holds_and_markers("enclave-data-uk")
    assert report is not None
    assert report["holds_reapplied"] == 3
    copy = container.restore(restored_table)._restored
    assert sorted(GovernanceStore(emulated.clients.dynamodb(EU), copy).active_holds("UK", tid),
                  key=str) == sorted([second, None], key=str)
    erasure_guard = GovernanceStore(emulated.clients.dynamodb(EU), copy).no_hold_check("UK", tid, second)
    with pytest.raises(ClientError) as refused:  # an erasure's transaction on the copy is refused
        emulated.clients.dynamodb(EU).transact_write_items(TransactItems=[erasure_guard])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _run(["restore", "--jurisdiction", "UK", "--table", restored_table], container)[1]["holds_reapplied"] \
        == 0  # type: ignore[index]


@pytest.mark.parametrize("table", ["enclave-data-uk", "enclave-keys-uk"])
def test_restore_refuses_a_live_table(clocked: dict[str, Any], emulated: Emulated, table: str) -> None:
    tid, container = clocked["tenant_id"], clocked["container"]
    assert clocked["eu"].call("DELETE", f"{clocked['path']}/{clocked['learners'][1]}", clocked["admin"])[0] == 200
    before = (_scan_in(emulated, "enclave-data-uk", EU), _scan_in(emulated, "enclave-keys-uk", EU),
              len(list(container.audit_store.events(tid, "UK"))))
    code, report, error = _run(["restore", "--jurisdiction", "UK", "--table", table], container)
    assert (code, report) == (2, None)
    assert f"{table} is a live table of UK" in error
    assert (_scan_in(emulated, "enclave-data-uk", EU), _scan_in(emulated, "enclave-keys-uk", EU),
            len(list(container.audit_store.events(tid, "UK")))) == before


# ------------------------------------------------------------------------------------------- migrate-keys


def test_migrate_keys_never_moves_back_the_key_of_a_learner_erased_before_it(
        clocked: dict[str, Any], emulated: Emulated) -> None:
    """Deployed, not yet migrated: an erasure finds no key in the key table (its copy is still in the data
    table) and leaves a tombstone; the migration must not then put that copy into the key table."""
    eu, tid, container = clocked["eu"], clocked["tenant_id"], clocked["container"]
    victim, bystander = clocked["learners"]
    client = emulated.clients.dynamodb(EU)
    mine = _items_of(emulated, "enclave-keys-uk", tid)
    for item in mine:   # back to the layout before the key table
        client.put_item(TableName="enclave-data-uk", Item=item)
        client.delete_item(TableName="enclave-keys-uk", Key={"pk": item["pk"], "sk": item["sk"]})
    status, receipt = eu.call("DELETE", f"{clocked['path']}/{victim}", clocked["admin"])
    assert status == 200, receipt
    assert receipt["key_destroyed"] is False   # the key table held no key: the receipt does not pretend

    code, report, _ = _run(["migrate-keys", "--jurisdiction", "UK"], container)
    assert code == 0
    victim_key = f"L#{victim}#K"
    assert victim_key not in {i["sk"]["S"] for i in _items_of(emulated, "enclave-keys-uk", tid)}
    assert LegacyKeyItems(client, container.data_store).items("UK", tid) == []   # nor left in the data table
    assert report is not None
    assert report["skipped_erased"] == 1
    assert report["moved"] == len(mine) - 1
    assert eu.call("GET", f"{clocked['path']}/{victim}", clocked["staff"])[0] == 410
    assert eu.call("GET", f"{clocked['path']}/{bystander}", clocked["staff"])[0] == 200
    migrated = [e for e in container.audit_store.events(tid, "UK") if e["action"] == "keys.migrated"]
    assert [e["details"]["result"] for e in migrated if e["details"].get("learner_id") == victim] == ["erased"]
    assert _run(["migrate-keys", "--jurisdiction", "UK"], container)[1] == {
        "jurisdiction": "UK", "tenants": report["tenants"], "moved": 0, "already_moved": 0, "skipped_erased": 0,
        "skipped_offboarded": 0}


# ------------------------------------------------------------------------------------------- retention


@pytest.fixture
def us(emulated: Emulated, token: TokenFactory) -> dict[str, Any]:
    """A us-east-1 deployment whose clock the test moves, and a US tenant onboarded through it."""
    clock = Clock(datetime(2025, 1, 6, 9, 0, tzinfo=UTC))
    container = composition.Container(regional_settings(US, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                      clock=clock)
    app = RegionalApi(container)
    status, tenant = app.call("POST", "/v1/tenants", token("platform_admin", region=US),
                              {"name": "Held School", "kind": "school", "jurisdiction": "US"})
    assert status == 201
    tid = tenant["tenant_id"]
    return {"clock": clock, "api": app, "container": container, "tenant_id": tid,
            "staff": token("tenant_staff", tid, US), "admin": token("tenant_admin", tid, US),
            "regional": token("regional_admin", region=US), "learners": f"/v1/tenants/{tid}/learners/"}


class HoldLandsAfterListing(HoldService):
    """The hold service as the sweep sees it, with a hold placed just after the sweep listed the holds."""

    def __init__(self, inner: HoldService, place: Callable[[], None]) -> None:
        self.__dict__.update(inner.__dict__)
        self._place = place

    def active(self, tenant: Tenant) -> tuple[bool, frozenset[str]]:
        listed = super().active(tenant)
        self._place()
        return listed


class ErasureRefused(ErasureService):
    """An erasure that fails for a reason other than a hold (the learner changed meanwhile)."""

    def __init__(self, inner: ErasureService) -> None:
        self.__dict__.update(inner.__dict__)

    def shred(self, caller: Caller, tenant: Tenant, learner_id: str, action: str) -> dict[str, Any]:
        raise Conflict("the learner changed during erasure; retry")


def _racing_sweep(us: dict[str, Any], body: HoldCreate, erasure: ErasureService | None = None) -> dict[str, Any]:
    c, tid = us["container"], us["tenant_id"]
    regional = Caller(Principal("race-regional", "race-regional", Role.REGIONAL_ADMIN, US), "req-hold")

    def place() -> None:
        c.holds.place(regional, tid, body)

    holds = HoldLandsAfterListing(c.holds, place)
    sweep = RetentionService(c.access, c.directory, c.jurisdictions, c.data_store, c.governance_store, holds,
                             erasure or c.erasure, c.audit_store, c.clock, US)
    tenant = c.directory.get(tid)
    assert tenant is not None
    return sweep.run(Caller(c.verifier.verify(us["regional"]), "req-sweep"), [tenant], dry_run=False)


def _leaver_with_records(us: dict[str, Any], n: int) -> str:
    learner_id = enrol_leaver(us, n, "2025-01-03")
    app = us["api"]
    assert app.call("POST", us["learners"] + learner_id + "/results", us["staff"],
                    {"assessment": "Algebra", "score": 8, "max_score": 10, "taken_on": "2024-12-01"})[0] == 201
    return learner_id


def test_a_hold_landing_while_the_sweep_runs_keeps_every_record_of_the_learner(
        us: dict[str, Any], emulated: Emulated) -> None:
    """The shredding is refused by the hold: the learner's results must not be purged either."""
    learner_id = _leaver_with_records(us, 1)
    us["clock"].now = datetime(2028, 1, 4, 12, 0, tzinfo=UTC)
    before = [i for i in raw_items(emulated, us["tenant_id"]) if i["sk"]["S"].startswith(f"L#{learner_id}#")]
    mine = tenant_report(_racing_sweep(us, HoldCreate(reason=REASON, learner_id=learner_id)), us["tenant_id"])
    assert (mine["held"], mine["shred"], mine["purge"]) == ([learner_id], [], [])
    assert [i for i in raw_items(emulated, us["tenant_id"]) if i["sk"]["S"].startswith(f"L#{learner_id}#")] == before
    assert us["api"].call("GET", us["learners"] + learner_id, us["staff"])[0] == 200


def test_a_whole_tenant_hold_landing_before_the_purge_keeps_the_records(us: dict[str, Any],
                                                                         emulated: Emulated) -> None:
    """A learner erased already: only the purge deletes their records, and it must see the hold itself."""
    learner_id = _leaver_with_records(us, 2)
    assert us["api"].call("DELETE", us["learners"] + learner_id, us["admin"])[0] == 200
    us["clock"].now = datetime(2028, 1, 4, 12, 0, tzinfo=UTC)
    before = [i for i in raw_items(emulated, us["tenant_id"]) if i["sk"]["S"].startswith(f"L#{learner_id}#")]
    assert any("#R#" in i["sk"]["S"] for i in before)
    mine = tenant_report(_racing_sweep(us, HoldCreate(reason="Audit by the state")), us["tenant_id"])
    assert (mine["tenant_hold"], mine["held"], mine["purge"], mine["records_purged"]) == (True, [learner_id], [], 0)
    assert [i for i in raw_items(emulated, us["tenant_id"]) if i["sk"]["S"].startswith(f"L#{learner_id}#")] == before
    purges = [e for e in us["container"].audit_store.events(us["tenant_id"], "US") if e["action"] == "retention.purge"]
    assert purges == []


def test_a_learner_hold_landing_before_the_purge_keeps_the_results(us: dict[str, Any], emulated: Emulated) -> None:
    """The shredding failed (not for a hold), so only expired results would go: the purge checks the learner's
    own hold marker in its transaction."""
    learner_id = _leaver_with_records(us, 3)
    us["clock"].now = datetime(2028, 1, 4, 12, 0, tzinfo=UTC)
    before = [i for i in raw_items(emulated, us["tenant_id"]) if i["sk"]["S"].startswith(f"L#{learner_id}#")]
    mine = tenant_report(_racing_sweep(us, HoldCreate(reason=REASON, learner_id=learner_id),
                                       ErasureRefused(us["container"].erasure)), us["tenant_id"])
    assert (mine["tenant_hold"], mine["failed"], mine["held"], mine["purge"]) == (False, [learner_id], [learner_id], [])
    assert mine["records_purged"] == 0
    assert [i for i in raw_items(emulated, us["tenant_id"]) if i["sk"]["S"].startswith(f"L#{learner_id}#")] == before


# ------------------------------------------------------------------------------------------- receipts


def test_an_erasure_request_finding_the_learner_erased_destroys_nothing_and_says_so(clocked: dict[str, Any]) -> None:
    eu, tid = clocked["eu"], clocked["tenant_id"]
    learner_id = clocked["learners"][0]
    holds = f"/v1/tenants/{tid}/legal-holds"
    status, hold = eu.call("POST", holds, clocked["regional"], {"reason": REASON, "learner_id": learner_id})
    assert status == 201, hold
    status, request = eu.call("POST", f"/v1/tenants/{tid}/requests", clocked["admin"],
                              {"learner_id": learner_id, "type": "erasure"})
    assert status == 201, request
    assert (request["status"], request["fulfilment_error"]["code"]) == ("open", "legal_hold_active")
    assert eu.call("DELETE", f"{holds}/{hold['hold_id']}", clocked["regional"])[0] == 200
    status, erased = eu.call("DELETE", f"{clocked['path']}/{learner_id}", clocked["admin"])
    assert status == 200
    assert erased["key_destroyed"] is True

    status, done = eu.call("POST", f"/v1/tenants/{tid}/requests/{request['request_id']}/fulfil", clocked["admin"], {})
    assert status == 200, done
    receipt = done["outcome"]["receipt"]
    assert receipt["key_destroyed"] is False   # the key died with the earlier erasure, not now
    assert receipt["already_erased"] is True
    assert receipt["erased_at"] == erased["erased_at"]


# ------------------------------------------------------------------------------------------- the key stream


def test_the_key_tables_stream_carries_keys_only(emulated: Emulated) -> None:
    """A stream keeps every record 24 h: an old image would keep a shredded key readable that long."""
    described = emulated.clients.dynamodb(EU).describe_table(TableName="enclave-keys-uk")["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    for stage in prod_stages():
        tables = table_resources(load_stage(stage))
        views = {name: t["Properties"]["StreamSpecification"]["StreamViewType"] for name, t in tables.items()
                 if "StreamSpecification" in t["Properties"]}
        assert {v for n, v in views.items() if n.startswith(KEYS.logical_name)} == {"KEYS_ONLY"}, stage
        assert {v for n, v in views.items() if n.startswith((DATA.logical_name, AUDIT.logical_name))} \
            == {"NEW_AND_OLD_IMAGES"}, stage
        # nothing reads images from it: the one stream consumer (the audit sequencer) may read audit streams only
        statements = json.loads(load_stage(stage).policy_file.read_text())["Statement"]
        streams = [arn for st in statements for arn in (st["Resource"] if isinstance(st["Resource"], list)
                                                        else [st["Resource"]]) if "/stream/" in str(arn)]
        assert streams, stage
        assert all(f"table/{AUDIT.base_name}-" in str(arn) for arn in streams), stage
