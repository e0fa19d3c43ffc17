"""The benchmarks' baseline: a bare Chalice + boto3 app, no authentication, authorization, encryption or audit.

Same URL shapes, the same tables of the same emulator and the same data calls as Enclave's routes
(``bench.bench_calls`` lists Enclave's), minus the audit append and the learner's key item:

* ``GET /v1/tenants/{tenant_id}``: one GetItem on the directory (the cold-start baseline);
* ``POST /v1/tenants/{tenant_id}/learners``: one conditional PutItem of the plaintext profile;
* ``GET /v1/tenants/{tenant_id}/learners/{learner_id}``: one Query of the learner's items, as Enclave
  reads the key and profile items together;
* ``POST .../learners/{learner_id}/results``: that Query (the learner must exist), then one PutItem;
* ``GET .../results``: that Query, then one Query of the results.

Under ``/same-calls`` the same four routes make the DynamoDB calls Enclave's warm routes make (section 2 of
the benchmarks), with items of the same shape, still without authentication, authorization, encryption or
hashing: a read is its read (one BatchGetItem of the profile and key items; one Query of the learner's profile
and results, the key range Enclave's results read queries) plus one conditional PutItem of an audit item in the
audit table (as Enclave's read stores its audit event); a write is one TransactWriteItems of the items
Enclave's lands: enrolment = the key item, the profile item (with its look-up index attributes), the
tenant-not-offboarded check and the audit item; a result = the result, the profile and key checks and the
audit item. The items carry Enclave's attributes in plaintext: the fields as one JSON attribute (Enclave's
holds their envelopes, which are longer), the record's version and times, and an audit item holding the
event as JSON with Enclave's members (actor, resource, request id, details, event id), not a stub. The
emulator's work per request is then the same for both apps
(in AWS it is DynamoDB's, not the app's): the fair baseline of the load benchmark, what any service making
those calls pays.

Configured by ``BARE_DIRECTORY_TABLE``/``BARE_DIRECTORY_REGION``, ``BARE_DATA_TABLE``/``BARE_DATA_REGION``,
``BARE_KEY_TABLE`` and ``BARE_AUDIT_TABLE`` (in the data region); ``AWS_ENDPOINT_URL`` points boto3 at the
emulator.
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from chalice.app import Chalice, Response

app = Chalice(app_name="bare")


@functools.cache
def dynamodb(region: str) -> Any:
    """Configured as Enclave's clients are (``chalicelib.adapters.aws``): boto3's default client-side
    parameter validation would cost the baseline CPU that Enclave's clients do not spend."""
    return boto3.client("dynamodb", region_name=region, config=Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10, tcp_keepalive=True,
        parameter_validation=False))


def _directory() -> tuple[Any, str]:
    return dynamodb(os.environ.get("BARE_DIRECTORY_REGION", "us-east-1")), os.environ.get(
        "BARE_DIRECTORY_TABLE", "enclave-directory")


def _data() -> tuple[Any, str]:
    return dynamodb(os.environ.get("BARE_DATA_REGION", "eu-west-2")), os.environ.get(
        "BARE_DATA_TABLE", "enclave-data-uk")


def _json(status: int, body: Any) -> Response:
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status,
                    headers={"Content-Type": "application/json"})


def _body() -> dict[str, Any]:
    request = app.current_request
    raw = request.raw_body if request is not None else b""
    data = json.loads(raw or b"{}")
    return data if isinstance(data, dict) else {}


@app.route("/v1/tenants/{tenant_id}", methods=["GET"])
def get_tenant(tenant_id: str) -> Response:
    client, table = _directory()
    item = client.get_item(TableName=table, Key={"tenant_id": {"S": tenant_id}}).get("Item")
    if item is None:
        return _json(404, {"error": {"code": "not_found", "message": "no such tenant"}})
    return _json(200, {name: value.get("S") for name, value in item.items()})


@app.route("/v1/tenants/{tenant_id}/learners", methods=["POST"])
def create_learner(tenant_id: str) -> Response:
    fields = {name: json.dumps(value) for name, value in _body().items()}
    learner_id = "lrn_" + uuid.uuid4().hex
    client, table = _data()
    client.put_item(TableName=table, Item={
        "pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": f"L#{learner_id}#P"},
        **{name: {"S": value} for name, value in fields.items()},
    }, ConditionExpression="attribute_not_exists(pk)")
    return _json(201, {"learner_id": learner_id, **{name: json.loads(value) for name, value in fields.items()}})


def _profile(tenant_id: str, learner_id: str) -> dict[str, Any] | None:
    """The learner's profile item: one Query over its items, as Enclave's ``DataStore.learner_items``."""
    client, table = _data()
    items = client.query(TableName=table, KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                         ExpressionAttributeValues={":pk": {"S": f"TENANT#{tenant_id}"},
                                                    ":lo": {"S": f"L#{learner_id}#K"},
                                                    ":hi": {"S": f"L#{learner_id}#P"}}).get("Items", [])
    return next((item for item in items if item["sk"]["S"].endswith("#P")), None)


def _not_found() -> Response:
    return _json(404, {"error": {"code": "not_found", "message": "no such learner"}})


@app.route("/v1/tenants/{tenant_id}/learners/{learner_id}", methods=["GET"])
def get_learner(tenant_id: str, learner_id: str) -> Response:
    item = _profile(tenant_id, learner_id)
    if item is None:
        return _not_found()
    fields = {name: json.loads(value["S"]) for name, value in item.items() if name not in ("pk", "sk")}
    return _json(200, {"learner_id": learner_id, **fields})


@app.route("/v1/tenants/{tenant_id}/learners/{learner_id}/results", methods=["POST"])
def add_result(tenant_id: str, learner_id: str) -> Response:
    if _profile(tenant_id, learner_id) is None:
        return _not_found()
    fields = {name: json.dumps(value) for name, value in _body().items()}
    result_id = "res_" + uuid.uuid4().hex
    client, table = _data()
    client.put_item(TableName=table, Item={
        "pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": f"L#{learner_id}#R#{result_id}"},
        **{name: {"S": value} for name, value in fields.items()},
    })
    return _json(201, {"result_id": result_id, **{name: json.loads(value) for name, value in fields.items()}})


@app.route("/v1/tenants/{tenant_id}/learners/{learner_id}/results", methods=["GET"])
def list_results(tenant_id: str, learner_id: str) -> Response:
    if _profile(tenant_id, learner_id) is None:
        return _not_found()
    client, table = _data()
    items = client.query(TableName=table, KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                         ExpressionAttributeValues={":pk": {"S": f"TENANT#{tenant_id}"},
                                                    ":lo": {"S": f"L#{learner_id}#R#"},
                                                    ":hi": {"S": f"L#{learner_id}#R#~"}}).get("Items", [])
    results = [{"result_id": item["sk"]["S"].rsplit("#", 1)[1],
                **{name: json.loads(value["S"]) for name, value in item.items() if name not in ("pk", "sk")}}
               for item in items]
    return _json(200, {"items": results})


SAME = "/same-calls/v1/tenants/{tenant_id}/learners"
CREATED = "attribute_not_exists(pk)"


def _audit_item(tenant_id: str, action: str, resource: str, **details: str) -> dict[str, Any]:
    """An audit event as Enclave's pending item holds it (its members as JSON, no hash), put only if new
    as Enclave's are; in a partition of its own (``#BARE``), away from Enclave's trail of the same tenant."""
    event_id = f"{time.strftime('%Y%m%dT%H%M%S')}{time.time_ns() % 1_000_000:06d}-{uuid.uuid4().hex}"
    event = {"tenant_id": tenant_id, "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
             "region": os.environ.get("BARE_DATA_REGION", "eu-west-2"),
             "actor": {"sub": str(uuid.uuid4()), "role": "tenant_staff"}, "action": action, "resource": resource,
             "outcome": "success", "request_id": str(uuid.uuid4()), "details": details, "event_id": event_id}
    return {"TableName": os.environ.get("BARE_AUDIT_TABLE", "enclave-audit-uk"), "ConditionExpression": CREATED,
            "Item": {"pk": {"S": f"TENANT#{tenant_id}#BARE"}, "sk": {"S": f"PND#{event_id}"},
                     "tenant_id": {"S": tenant_id}, "jurisdiction": {"S": "UK"},
                     "pending": {"S": json.dumps(event, separators=(",", ":"))}}}


def _resource(tenant_id: str, learner_id: str, *rest: str) -> str:
    return "/".join((f"tenants/{tenant_id}/learners/{learner_id}", *rest))


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _key_table() -> str:
    return os.environ.get("BARE_KEY_TABLE", "enclave-keys-uk")


def _transaction(audit: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """One TransactWriteItems: ``items`` and the audit item."""
    client, _ = _data()
    client.transact_write_items(TransactItems=[*items, {"Put": audit}])


def _learner_key(tenant_id: str, learner_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": f"L#{learner_id}#K"}}


@app.route(SAME, methods=["POST"])
def same_calls_create_learner(tenant_id: str) -> Response:
    """Enclave's enrolment transaction: the key item, the profile item (with its two look-up index
    attributes), the tenant-not-offboarded check, a consent-coverage count shard, the audit item."""
    fields = _body()
    learner_id = "lrn_" + uuid.uuid4().hex
    _, table = _data()
    pk = {"S": f"TENANT#{tenant_id}"}
    now = _now()
    _transaction(_audit_item(tenant_id, "learner.create", _resource(tenant_id, learner_id), learner_id=learner_id), [
        {"Put": {"TableName": _key_table(), "ConditionExpression": CREATED, "Item": {
            **_learner_key(tenant_id, learner_id), "fingerprint": {"S": learner_id[4:20]},
            "blob": {"B": uuid.uuid4().bytes * 4}}}},
        {"Put": {"TableName": table, "ConditionExpression": CREATED, "Item": {
            "pk": pk, "sk": {"S": f"L#{learner_id}#P"}, "lookup_pk": {"S": f"LOOKUP#{tenant_id}#email#{learner_id}"},
            "lookup_sk": {"S": learner_id}, "name_pk": {"S": f"LOOKUP#{tenant_id}#family_name#{learner_id}"},
            "name_sk": {"S": learner_id}, "fields": {"S": json.dumps(fields, separators=(",", ":"))},
            "version": {"N": "1"}, "created_at": {"S": now}, "updated_at": {"S": now},
            "rectifications": {"S": "[]"}}}},
        {"ConditionCheck": {"TableName": table, "Key": {"pk": pk, "sk": {"S": "OFFBOARD"}},
                            "ConditionExpression": "attribute_not_exists(keys_destroyed_at)"}},
        {"Update": {"TableName": table, "Key": {"pk": {"S": f"TENANT#{tenant_id}#CC#{uuid.uuid4().int % 16}"},
                                                 "sk": {"S": "CC"}},
                    "UpdateExpression": "ADD #a0 :d0", "ExpressionAttributeNames": {"#a0": "live"},
                    "ExpressionAttributeValues": {":d0": {"N": "1"}}}},
    ])
    return _json(201, {"learner_id": learner_id, **fields, "version": 1, "created_at": now, "updated_at": now})


@app.route(SAME + "/{learner_id}", methods=["GET"])
def same_calls_get_learner(tenant_id: str, learner_id: str) -> Response:
    """Enclave's read: one BatchGetItem of the profile and key items, then the audit PutItem."""
    client, table = _data()
    profile = {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": f"L#{learner_id}#P"}}
    found = client.batch_get_item(RequestItems={
        table: {"Keys": [profile], "ConsistentRead": True},
        _key_table(): {"Keys": [_learner_key(tenant_id, learner_id)], "ConsistentRead": True}})["Responses"]
    client.put_item(**_audit_item(tenant_id, "learner.read", _resource(tenant_id, learner_id), learner_id=learner_id))
    item = next(iter(found.get(table, [])), None)
    if item is None:
        return _not_found()
    return _json(200, {"learner_id": learner_id, **json.loads(item["fields"]["S"]),
                       "version": int(item["version"]["N"]), "created_at": item["created_at"]["S"],
                       "updated_at": item["updated_at"]["S"]})


@app.route(SAME + "/{learner_id}/results", methods=["POST"])
def same_calls_add_result(tenant_id: str, learner_id: str) -> Response:
    """Enclave's warm result transaction: the result, the profile and key checks, the audit item."""
    fields = _body()
    result_id = "res_" + uuid.uuid4().hex
    _, table = _data()
    pk = {"S": f"TENANT#{tenant_id}"}
    now = _now()
    _transaction(_audit_item(tenant_id, "result.create", _resource(tenant_id, learner_id, "results", result_id),
                             learner_id=learner_id, result_id=result_id), [
        {"Put": {"TableName": table, "ConditionExpression": CREATED, "Item": {
            "pk": pk, "sk": {"S": f"L#{learner_id}#R#{result_id}"},
            "fields": {"S": json.dumps(fields, separators=(",", ":"))}, "recorded_at": {"S": now},
            "record_id": {"S": result_id}}}},
        {"ConditionCheck": {"TableName": table, "Key": {"pk": pk, "sk": {"S": f"L#{learner_id}#P"}},
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(erased_at) "
                                                   "AND attribute_not_exists(restricted_at)"}},
        {"ConditionCheck": {"TableName": _key_table(), "Key": _learner_key(tenant_id, learner_id),
                            "ConditionExpression": "fingerprint = :f",
                            "ExpressionAttributeValues": {":f": {"S": learner_id[4:20]}}}},
    ])
    return _json(201, {"result_id": result_id, **fields, "recorded_at": now})


@app.route(SAME + "/{learner_id}/results", methods=["GET"])
def same_calls_list_results(tenant_id: str, learner_id: str) -> Response:
    """Enclave's warm results read: one Query of the learner's profile and results (the profile says the
    learner exists), then the audit PutItem."""
    client, table = _data()
    items = client.query(TableName=table, KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                         ConsistentRead=True,
                         ExpressionAttributeValues={":pk": {"S": f"TENANT#{tenant_id}"},
                                                    ":lo": {"S": f"L#{learner_id}#P"},
                                                    ":hi": {"S": f"L#{learner_id}#R#~"}}).get("Items", [])
    client.put_item(**_audit_item(tenant_id, "results.read", _resource(tenant_id, learner_id, "results"),
                                  learner_id=learner_id))
    if not items or not items[0]["sk"]["S"].endswith("#P"):
        return _not_found()
    results = [{"result_id": item["record_id"]["S"], **json.loads(item["fields"]["S"]),
                "recorded_at": item["recorded_at"]["S"]} for item in items[1:]]
    return _json(200, {"items": results})
