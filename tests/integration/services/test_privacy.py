"""Proofs about personal data: never stored in plaintext, never outside its allowed regions,
ciphertexts bound to their place, erasure final, and a warm process makes no KMS calls."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from chalicelib import composition
from chalicelib.adapters.data_store import DataStore, envelopes_of, wrapped_learner_key
from chalicelib.domain.crypto import StoredField, verify_shredded
from chalicelib.domain.errors import ResidencyViolation
from chalicelib.settings import REGIONS
from tests.conftest import capture_logs, moto_jwks
from tests.integration.audit_streams import poller
from tests.integration.conftest import HOME, Emulated, RegionalApi, TokenFactory, regional_settings

DISTINCT = {
    "PH": ("Maricel", "Dimaculangan", "Maricel.Dimaculangan@Paaralan.ph", "2011-02-17", "Rosario Dimaculangan",
           "rosario.dimaculangan@pamilya.ph"),
    "AU": ("Bindi", "Warrumbungle", "Bindi.Warrumbungle@School.au", "2010-08-23", "Kylie Warrumbungle",
           "kylie.warrumbungle@family.au"),
    "UK": ("Tamsin", "Featherstonehaugh", "Tamsin.Featherstonehaugh@School.uk", "2012-11-05",
           "Perpetua Featherstonehaugh", "perpetua.f@family.uk"),
    "US": ("Jolene", "Quackenbush", "Jolene.Quackenbush@School.us", "2013-03-29", "Dolly Quackenbush",
           "dolly.quackenbush@family.us"),
}


def learner_body(code: str) -> dict[str, Any]:
    given, family, email, dob, guardian, guardian_email = DISTINCT[code]
    return {"given_name": given, "family_name": family, "email": email, "date_of_birth": dob,
            "guardian": {"name": guardian, "email": guardian_email}, "programme": f"Programme of {given}"}


def needles(code: str) -> set[str]:
    values = set(DISTINCT[code])
    values |= {v.lower() for v in values} | {v.upper() for v in values}
    values |= {DISTINCT[code][3].replace("-", "")}
    return values


def all_items(emulated: Emulated) -> Iterator[tuple[str, str, str]]:
    """``(region, table, item as text)`` of every item of every table in every emulated region."""
    for region in REGIONS:
        client = emulated.clients.dynamodb(region)
        for table in client.list_tables()["TableNames"]:
            for page in client.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    yield region, table, _text(item)


def all_objects(emulated: Emulated) -> Iterator[tuple[str, str]]:
    s3 = emulated.clients.s3("us-east-1")
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
                if body[:2] == b"\x1f\x8b":  # gzip (the SIEM stream's objects): scan what it holds
                    body = gzip.decompress(body)
                yield f"{bucket['Name']}/{obj['Key']}", body.decode("utf-8", "replace")


def _text(item: dict[str, Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            return value.decode("utf-8", "replace") + " " + base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return str(value)

    return json.dumps(plain(item), ensure_ascii=False)


@pytest.fixture(scope="module")
def enrolment_logs() -> Iterator[io.StringIO]:
    """What the app logs while the module's learners are enrolled, read and exported."""
    with capture_logs() as stream:
        yield stream


@pytest.fixture(scope="module")
def traced(api: dict[str, RegionalApi]) -> dict[str, int]:
    """Where each region's record of issued URLs stood when the module's scan began."""
    return {region: len(regional.issued) for region, regional in api.items()}


@pytest.fixture(scope="module")
def enrolled(api: dict[str, RegionalApi], token: TokenFactory, enrolment_logs: io.StringIO,
             traced: dict[str, int], emulated: Emulated) -> dict[str, dict[str, Any]]:
    """One tenant per jurisdiction, each with a learner of distinctive values, a result and a fulfilled
    access request (whose package is in the regional bucket), its OCSF stream on and delivered (the
    regional SIEM bucket)."""
    out: dict[str, dict[str, Any]] = {}
    for code, region in HOME.items():
        admin = token("platform_admin", region=region)
        status, tenant = api[region].call("POST", "/v1/tenants", admin,
                                          {"name": f"Scan School {code}", "kind": "school", "jurisdiction": code})
        assert status == 201
        assert api[region].call("PUT", f"/v1/tenants/{tenant['tenant_id']}/audit/stream",
                                token("compliance_officer", region=region), {"enabled": True})[0] == 200
        staff = token("tenant_staff", tenant["tenant_id"], region)
        status, learner = api[region].call("POST", f"/v1/tenants/{tenant['tenant_id']}/learners", staff,
                                           learner_body(code))
        assert status == 201, learner
        path = f"/v1/tenants/{tenant['tenant_id']}/learners/{learner['learner_id']}"
        assert api[region].call("POST", path + "/results", staff,
                                {"assessment": f"Essay by {DISTINCT[code][0]}", "score": 7, "max_score": 10,
                                 "taken_on": "2026-09-01"})[0] == 201
        assert api[region].call("GET", path, staff)[0] == 200
        status, found = api[region].call("POST", f"/v1/tenants/{tenant['tenant_id']}/learners/search", staff,
                                         {"email": DISTINCT[code][2]})
        assert [item["learner_id"] for item in found["items"]] == [learner["learner_id"]], found
        admin_of_tenant = token("tenant_admin", tenant["tenant_id"], region)
        status, request = api[region].call("POST", f"/v1/tenants/{tenant['tenant_id']}/requests", admin_of_tenant,
                                           {"learner_id": learner["learner_id"], "type": "access"})
        assert status == 201
        assert request["status"] == "fulfilled", request  # the access package now sits in the bucket
        out[code] = {"tenant": tenant, "learner": learner, "staff": staff, "region": region}
        poller(emulated, api[region].container.sequencer.handle, f"enclave-audit-{code.lower()}", region).poll_once()
    return out


def test_no_plaintext_in_any_table_or_bucket_of_any_region(
        enrolled: dict[str, dict[str, Any]], emulated: Emulated, enrolment_logs: io.StringIO) -> None:
    leaks = [(code, where, needle)
             for code in DISTINCT
             for where, text in [*((f"{r}:{t}", i) for r, t, i in all_items(emulated)), *all_objects(emulated)]
             for needle in needles(code) if needle in text]
    assert leaks == []
    logs = enrolment_logs.getvalue()
    assert logs.count("request served") >= 5 * len(DISTINCT)  # every enrolment, read and request was logged
    assert not [n for code in DISTINCT for n in needles(code) if n in logs]


def test_the_scan_covers_each_tenants_siem_stream(enrolled: dict[str, dict[str, Any]], emulated: Emulated) -> None:
    """The stream of every tenant is in the scanned buckets (else the scan above proves nothing about it)."""
    streamed = {where.split("/tenant=")[1].split("/")[0] for where, _ in all_objects(emulated) if "/tenant=" in where}
    assert {entry["tenant"]["tenant_id"] for entry in enrolled.values()} <= streamed


def test_no_personal_value_in_any_url_a_trace_would_record(
        enrolled: dict[str, dict[str, Any]], api: dict[str, RegionalApi], traced: dict[str, int]) -> None:
    """API Gateway's X-Ray trace and access log record each request's path and query string."""
    urls = [unquote_plus(url) for region, regional in api.items() for url in regional.issued[traced[region]:]]
    assert len(urls) >= 6 * len(DISTINCT)  # every enrolment, read, look-up and request was issued
    assert [(url, n) for url in urls for code in DISTINCT for n in needles(code) if n in url] == []


def test_each_tenants_data_stays_in_its_allowed_regions(enrolled: dict[str, dict[str, Any]],
                                                        emulated: Emulated) -> None:
    allowed = {code: emulated.jurisdictions.get(code).allowed_regions for code in DISTINCT}
    for code, seen in enrolled.items():
        tenant_id = seen["tenant"]["tenant_id"]
        regions = {region for region, table, text in all_items(emulated)
                   if tenant_id in text and table != "enclave-directory"}
        assert regions, code
        assert regions <= allowed[code], (code, regions)


def test_the_data_layer_refuses_a_region_the_law_does_not_allow(emulated: Emulated) -> None:
    store = DataStore(emulated.clients.dynamodb("ap-southeast-1"), "ap-southeast-1",
                      lambda code: f"enclave-data-{code}", emulated.jurisdictions, lambda code: f"enclave-keys-{code}")
    with pytest.raises(ResidencyViolation):
        store.table("UK")
    with pytest.raises(ResidencyViolation):
        store.tenant_keys("US", "tnt_" + "a" * 26)
    assert store.table("PH") == "enclave-data-PH"


def _profile_key(tenant_id: str, learner_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": f"L#{learner_id}#P"}}


def test_a_ciphertext_moved_to_another_field_or_learner_does_not_decrypt(
        api: dict[str, RegionalApi], emulated: Emulated, onboard: Any, token: TokenFactory) -> None:
    eu, dynamodb = api["eu-west-2"], emulated.clients.dynamodb("eu-west-2")
    tenant = onboard("UK")
    staff = token("tenant_staff", tenant["tenant_id"], "eu-west-2")
    path = f"/v1/tenants/{tenant['tenant_id']}/learners"
    first = eu.call("POST", path, staff, learner_body("UK"))[1]
    second = eu.call("POST", path, staff, {**learner_body("UK"), "given_name": "Other", "email": "o@school.uk"})[1]
    items = {lid: dynamodb.get_item(TableName="enclave-data-uk", Key=_profile_key(tenant["tenant_id"], lid))["Item"]
             for lid in (first["learner_id"], second["learner_id"])}
    swapped = envelopes_of(items[first["learner_id"]])
    swapped["given_name"], swapped["family_name"] = swapped["family_name"], swapped["given_name"]
    moved = dict(envelopes_of(items[second["learner_id"]]))
    moved["given_name"] = envelopes_of(items[first["learner_id"]])["given_name"]
    for learner_id, fields in ((first["learner_id"], swapped), (second["learner_id"], moved)):
        dynamodb.update_item(TableName="enclave-data-uk", Key=_profile_key(tenant["tenant_id"], learner_id),
                             UpdateExpression="SET #f = :f", ExpressionAttributeNames={"#f": "fields"},
                             ExpressionAttributeValues={":f": {"S": json.dumps(fields)}})
        status, body = eu.call("GET", f"{path}/{learner_id}", staff)
        assert status == 500
        assert body["error"]["code"] == "integrity_error"
        assert not any(value in json.dumps(body) for value in DISTINCT["UK"])


def test_after_erasure_nothing_left_anywhere_decrypts_the_learner(
        api: dict[str, RegionalApi], emulated: Emulated, containers: dict[str, composition.Container],
        onboard: Any, token: TokenFactory) -> None:
    eu = api["eu-west-2"]
    tenant = onboard("UK")
    tenant_id = tenant["tenant_id"]
    staff, admin = (token(role, tenant_id, "eu-west-2") for role in ("tenant_staff", "tenant_admin"))
    path = f"/v1/tenants/{tenant_id}/learners"
    victim = eu.call("POST", path, staff, learner_body("UK"))[1]
    bystander = eu.call("POST", path, staff, {**learner_body("UK"), "email": "keep@school.uk"})[1]
    assert eu.call("POST", f"{path}/{victim['learner_id']}/results", staff,
                   {"assessment": "Latin", "score": 1, "max_score": 2, "taken_on": "2026-01-05"})[0] == 201
    store = containers["eu-west-2"].data_store
    backup = store.everything_about("UK", tenant_id, victim["learner_id"])  # a copy, as a backup would hold
    destroyed = wrapped_learner_key(tenant_id, victim["learner_id"],
                                    next(i for i in backup if i["sk"]["S"].endswith("#K")))

    assert eu.call("DELETE", f"{path}/{victim['learner_id']}", admin)[0] == 200

    left = [item for region, table, text in all_items(emulated) if victim["learner_id"] in text
            for item in [text]]
    assert left, "the tombstone, the result ciphertext and the audit events remain"
    stored: list[StoredField] = [
        (("learner" if item["sk"]["S"].endswith("#P") else f"result:{item['record_id']['S']}"), name, envelope)
        for item in [*backup, *store.everything_about("UK", tenant_id, victim["learner_id"])] if "fields" in item
        for name, envelope in envelopes_of(item).items()]
    remaining = [wrapped_learner_key(tenant_id, item["sk"]["S"].split("#")[1], item)
                 for item in store.everything_about("UK", tenant_id, bystander["learner_id"])
                 if item["sk"]["S"].endswith("#K")]
    remaining += [wrapped_learner_key(tenant_id, victim["learner_id"], item)
                  for item in store.everything_about("UK", tenant_id, victim["learner_id"])
                  if item["sk"]["S"].endswith("#K")]
    report = verify_shredded(destroyed, stored, remaining, containers["eu-west-2"].tenant_keys.keys_for(
        containers["eu-west-2"].directory.get(tenant_id)))  # type: ignore[arg-type]
    assert report.fields_tried >= 7
    assert report.key_copies_left == 0
    assert report.readable_fields == ()
    assert report.shredded


def test_warm_reads_make_no_kms_calls(emulated: Emulated, token: TokenFactory) -> None:
    """1,000 reads over 100 learners of one tenant in one warm process: at most one KMS key call
    (the tenant key's unwrap); checkpoint signatures are counted and bounded separately."""
    from chalicelib.adapters.cognito_jwt import StaticKeySource

    container = composition.Container(regional_settings("eu-west-2", emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions)
    eu = RegionalApi(container)
    tenant = eu.call("POST", "/v1/tenants", token("platform_admin", region="eu-west-2"),
                     {"name": "Warm School", "kind": "school", "jurisdiction": "UK"})[1]
    staff = token("tenant_staff", tenant["tenant_id"], "eu-west-2")
    path = f"/v1/tenants/{tenant['tenant_id']}/learners"
    ids = [eu.call("POST", path, staff, {**learner_body("UK"), "email": f"l{i}@school.uk"})[1]["learner_id"]
           for i in range(100)]
    cold = composition.Container(regional_settings("eu-west-2", emulated.provisioned), clients=emulated.clients,
                                 key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions)
    reader = RegionalApi(cold)
    calls: list[str] = []
    events = emulated.clients.kms("eu-west-2").meta.events
    def counter(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events.register("before-call.kms", counter)
    try:
        for i in range(1000):
            assert reader.call("GET", f"{path}/{ids[i % 100]}", staff)[0] == 200
    finally:
        events.unregister("before-call.kms", counter)
    key_calls = [name for name in calls if name != "Sign"]
    assert len(key_calls) <= 1, key_calls
    # the only other KMS calls are the periodic audit checkpoints (one Sign per 100 events)
    assert set(calls) - {"Decrypt", "GenerateDataKey"} <= {"Sign"}
    assert calls.count("Sign") <= 1000 // 100 + 1
