"""A profile's fields are bound to its version and to one another: replays and deletions are detected."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import composition
from chalicelib.adapters.data_store import profile_sk, result_sk, tenant_pk
from tests.conftest import capture_logs
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import RegionalApi, TokenFactory

REGION = "eu-west-2"


def _profile(container: composition.Container, tid: str, lid: str) -> dict[str, Any]:
    return container.data_store.learner_items("UK", tid, lid)["P"]


def _rewrite(container: composition.Container, tid: str, lid: str, fields: dict[str, str]) -> None:
    """What someone with write access to the table (not to the keys) can do: change the stored envelopes."""
    container.clients.dynamodb(REGION).update_item(
        TableName="enclave-data-uk", Key={"pk": {"S": tenant_pk(tid)}, "sk": {"S": profile_sk(lid)}},
        UpdateExpression="SET #f = :f", ExpressionAttributeNames={"#f": "fields"},
        ExpressionAttributeValues={":f": {"S": json.dumps(fields)}})


def test_an_old_envelope_replayed_into_a_newer_profile_or_a_deleted_field_is_detected(
        api: dict[str, RegionalApi], containers: dict[str, composition.Container], onboard: Any,
        token: TokenFactory) -> None:
    eu, container = api[REGION], containers[REGION]
    tid = onboard("UK")["tenant_id"]
    staff = token("tenant_staff", tid, REGION)
    lid = eu.call("POST", f"/v1/tenants/{tid}/learners", staff, ALICE)[1]["learner_id"]
    path = f"/v1/tenants/{tid}/learners/{lid}"
    version_1 = json.loads(_profile(container, tid, lid)["fields"]["S"])
    assert eu.call("PATCH", path, token("tenant_admin", tid, REGION), {"family_name": "Hargreaves"})[0] == 200
    version_2 = json.loads(_profile(container, tid, lid)["fields"]["S"])

    _rewrite(container, tid, lid, {**version_2, "family_name": version_1["family_name"]})  # undo the rectification
    with capture_logs() as logs:
        status, body = eu.call("GET", path, staff)
    assert status == 500
    assert body["error"]["code"] == "integrity_error"
    assert "Liddell" not in json.dumps(body)
    assert '"alert":"integrity_error"' in logs.getvalue().replace(" ", "")

    _rewrite(container, tid, lid, {name: env for name, env in version_2.items() if name != "programme"})
    assert eu.call("GET", path, staff)[1]["error"]["code"] == "integrity_error"

    _rewrite(container, tid, lid, version_2)
    status, body = eu.call("GET", path, staff)
    assert status == 200
    assert body["family_name"] == "Hargreaves"
    trail = [e for e in container.audit_store.events(tid, "UK") if e["outcome"] == "integrity_error"]
    assert len(trail) == 2


def test_profiles_written_before_the_tag_still_open(
        api: dict[str, RegionalApi], containers: dict[str, composition.Container], onboard: Any,
        token: TokenFactory) -> None:
    eu, container = api[REGION], containers[REGION]
    tid = onboard("UK")["tenant_id"]
    staff = token("tenant_staff", tid, REGION)
    lid = eu.call("POST", f"/v1/tenants/{tid}/learners", staff, ALICE)[1]["learner_id"]
    container.clients.dynamodb(REGION).update_item(
        TableName="enclave-data-uk", Key={"pk": {"S": tenant_pk(tid)}, "sk": {"S": profile_sk(lid)}},
        UpdateExpression="REMOVE tag")  # as stored before this change (v1 envelopes, no tag)
    assert eu.call("GET", f"/v1/tenants/{tid}/learners/{lid}", staff)[1]["given_name"] == ALICE["given_name"]
    assert eu.call("PATCH", f"/v1/tenants/{tid}/learners/{lid}", token("tenant_admin", tid, REGION),
                   {"programme": "Year 9"})[0] == 200
    assert "tag" in _profile(container, tid, lid)  # migrated on its next write


def test_a_result_s_record_type_comes_from_its_key_not_a_stored_attribute(
        api: dict[str, RegionalApi], containers: dict[str, composition.Container], onboard: Any,
        token: TokenFactory) -> None:
    """Copying result A's envelopes over result B, and B's stored ``record_id`` to A's, is still detected."""
    eu, container = api[REGION], containers[REGION]
    tid = onboard("UK")["tenant_id"]
    staff = token("tenant_staff", tid, REGION)
    lid = eu.call("POST", f"/v1/tenants/{tid}/learners", staff, ALICE)[1]["learner_id"]
    results = f"/v1/tenants/{tid}/learners/{lid}/results"
    first, second = (eu.call("POST", results, staff, {"assessment": name, "score": 1, "max_score": 2,
                                                      "taken_on": "2026-01-05"})[1]["result_id"]
                     for name in ("Failed Latin", "Passed Greek"))
    client = container.clients.dynamodb(REGION)
    original = client.get_item(TableName="enclave-data-uk",
                               Key={"pk": {"S": tenant_pk(tid)}, "sk": {"S": result_sk(lid, first)}})["Item"]
    client.update_item(
        TableName="enclave-data-uk", Key={"pk": {"S": tenant_pk(tid)}, "sk": {"S": result_sk(lid, second)}},
        UpdateExpression="SET #f = :f, record_id = :r", ExpressionAttributeNames={"#f": "fields"},
        ExpressionAttributeValues={":f": original["fields"], ":r": {"S": first}})
    status, body = eu.call("GET", results, staff)
    assert status == 500, body
    assert body["error"]["code"] == "integrity_error"
    assert "Latin" not in json.dumps(body)
