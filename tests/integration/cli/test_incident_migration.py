"""``cli migrate-incidents``: an incident recorded before ``GET /v1/incidents`` existed (an item without the
``by_lookup`` attributes) is readable by id only until the job runs; after it, the list shows it, in its
place by recorded time, and each run is audited in the chain of every resident tenant it names, once."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from typing import Any

from chalicelib import composition
from chalicelib.cli.__main__ import main as cli
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory
from tests.integration.services.test_holds_retention import learner_body

US = "us-east-1"
TABLE = "enclave-data-us"


def _tenant(us: RegionalApi, admin: str, name: str) -> str:
    status, body = us.call("POST", "/v1/tenants", admin, {"name": name, "kind": "school", "jurisdiction": "US",
                                                          "state": "NY"})
    assert status == 201, body
    return str(body["tenant_id"])


def _incident(us: RegionalApi, admin: str, tenants: list[str]) -> dict[str, Any]:
    status, body = us.call("POST", "/v1/incidents", admin, {"discovered_at": "2026-01-05T10:00:00Z",
                                                           "tenant_ids": tenants, "summary": "Lost USB stick"})
    assert status == 201, body
    return dict(body)


def _listed(us: RegionalApi, admin: str) -> list[str]:
    ids, cursor = [], None
    while True:
        status, page = us.call("GET", "/v1/incidents?limit=1" + (f"&cursor={cursor}" if cursor else ""), admin)
        assert status == 200, page
        ids += [item["incident_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def _migrate(container: composition.Container) -> dict[str, Any]:
    composition.use(container)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["migrate-incidents"]) == 0
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def test_an_incident_recorded_before_the_list_route_is_listed_after_the_migration_run_twice(
        api: dict[str, RegionalApi], emulated: Emulated, token: TokenFactory) -> None:
    us, admin = api[US], token("platform_admin", region=US)
    first, second = _tenant(us, admin, "Old Breach School"), _tenant(us, admin, "Second School")
    status, _ = us.call("POST", f"/v1/tenants/{first}/learners", token("tenant_staff", first, US), learner_body(1))
    assert status == 201
    old = _incident(us, admin, [first, second])
    new = _incident(us, admin, [first])
    client, key = emulated.clients.dynamodb(US), {"pk": {"S": f"INCIDENT#{old['incident_id']}"},
                                                  "sk": {"S": "INCIDENT"}}
    # the item as releases before the list route wrote it: pk, sk and the recorded answer only
    client.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE lookup_pk, lookup_sk")
    assert set(client.get_item(TableName=TABLE, Key=key)["Item"]) == {"pk", "sk", "doc"}
    assert us.call("GET", f"/v1/incidents/{old['incident_id']}", admin) == (200, old)  # by id only
    assert old["incident_id"] not in _listed(us, admin)

    report = _migrate(api[US].container)
    assert report["indexed"] == 1
    assert report["incident_ids"] == [old["incident_id"]]
    assert report["already_indexed"] == 1  # the incident recorded with the attributes is left alone
    assert (report["region"], report["jurisdiction"], report["tenants"]) == (US, "US", 2)
    assert _migrate(api[US].container)["indexed"] == 0  # idempotent
    assert _listed(us, admin) == [new["incident_id"], old["incident_id"]]  # newest first, in its place

    item = client.get_item(TableName=TABLE, Key=key)["Item"]
    assert set(item) == {"pk", "sk", "doc", "lookup_pk", "lookup_sk"}
    assert json.loads(item["doc"]["S"]) == old  # the record itself is untouched
    assert item["lookup_sk"]["S"] == f"{old['recorded_at']}#{old['incident_id']}"
    for tenant in (first, second):  # audited once in each resident tenant's chain, identifiers only
        indexed = [e for e in api[US].container.audit_store.events(tenant, "US") if e["action"] == "incident.indexed"]
        assert [(e["details"], e["actor"]["role"], e["resource"]) for e in indexed] == [
            ({"incident_id": old["incident_id"], "index": "by_lookup", "recorded_at": old["recorded_at"]},
             "system", f"incidents/{old['incident_id']}")]
