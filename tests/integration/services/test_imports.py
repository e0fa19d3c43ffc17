"""Bulk imports in-process: the API, the bucket's upload event through SQS to the worker, the rows written
as the API writes them (one audit event each), the error report, re-uploads, and the file's deletion."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.import_files import object_key
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory

REGION = "eu-west-2"
BUCKET = f"enclave-exports-{REGION}"
HEADER = ["given_name", "family_name", "email", "date_of_birth", "guardian_name", "guardian_email", "programme"]


def learner_rows(count: int, tag: str = "Imp") -> list[list[str]]:
    return [[f"{tag}Given{n:05d}", f"{tag}Family{n:05d}", f"{tag.lower()}{n:05d}@school.example",
             f"{2000 + n % 8}-0{1 + n % 9}-1{n % 9}", f"{tag}Carer{n:05d}", f"carer{n:05d}@family.example",
             "Year 12"] for n in range(count)]


def to_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


class Importer:
    """Starts imports through the API and plays the upload and the worker's queue in-process."""

    def __init__(self, api: RegionalApi, container: composition.Container, emulated: Emulated, admin: str,
                 tenant_id: str) -> None:
        self.api, self.container, self.emulated, self.admin, self.tenant_id = api, container, emulated, admin, tenant_id
        self.sqs = emulated.clients.sqs(REGION)
        self.queue = self.sqs.get_queue_url(QueueName="enclave-imports")["QueueUrl"]

    def run(self, data: bytes, kind: str = "learners", fmt: str = "csv", **extra: Any) -> dict[str, Any]:
        status, started = self.api.call("POST", f"/v1/tenants/{self.tenant_id}/imports", self.admin,
                                        {"kind": kind, "format": fmt, **extra})
        assert status == 201, started
        upload = started["upload"]
        assert upload["headers"]["x-amz-server-side-encryption"] == "aws:kms"
        assert "aws:kms" in upload["url"] or "server-side-encryption" in upload["url"]
        self.emulated.clients.s3(REGION).put_object(Bucket=BUCKET, Key=object_key(self.tenant_id, started["import_id"]),
                                                    Body=data, ServerSideEncryption="aws:kms",
                                                    SSEKMSKeyId="alias/enclave-data")
        self.drain()
        return self.status(started["import_id"])

    def drain(self) -> int:
        handled = 0
        composition.use(self.container)
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return handled
            for message in messages:
                self.container.imports.handle(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
                handled += 1

    def status(self, import_id: str) -> dict[str, Any]:
        status, body = self.api.call("GET", f"/v1/tenants/{self.tenant_id}/imports/{import_id}", self.admin)
        assert status == 200, body
        return dict(body)


@pytest.fixture
def importer(api: dict[str, RegionalApi], containers: dict[str, composition.Container], emulated: Emulated,
             token: TokenFactory, onboard: Callable[..., dict[str, Any]]) -> Importer:
    tenant = onboard("UK")
    return Importer(api[REGION], containers[REGION], emulated, token("tenant_admin", tenant["tenant_id"], REGION),
                    tenant["tenant_id"])


def learners_of(importer: Importer, token: TokenFactory) -> list[dict[str, Any]]:
    staff = token("tenant_staff", importer.tenant_id, REGION)
    status, page = importer.api.call("GET", f"/v1/tenants/{importer.tenant_id}/learners?limit=200", staff)
    assert status == 200
    return list(page["items"])


def audit_actions(importer: Importer, token: TokenFactory) -> list[str]:
    officer = token("compliance_officer", region=REGION)
    status, verified = importer.api.call("GET", f"/v1/tenants/{importer.tenant_id}/audit/verify", officer)
    assert status == 200
    assert verified["valid"] is True, verified
    composition.use(importer.container)
    tenant = importer.container.directory.get(importer.tenant_id)
    assert tenant is not None
    return [e["action"] for e in importer.container.audit_store.events(importer.tenant_id, tenant.jurisdiction)]


def test_a_csv_is_imported_as_the_api_enrols_each_learner_with_one_event_each(
        importer: Importer, token: TokenFactory, emulated: Emulated) -> None:
    rows = learner_rows(60)
    report = importer.run(to_csv(HEADER, rows))
    assert report["state"] == "completed", report
    counts = (report["rows"], report["done"], report["failed"], report["created"], report["errors"])
    assert counts == (60, 60, 0, 60, [])
    listed = learners_of(importer, token)
    assert sorted(item["given_name"] for item in listed) == sorted(row[0] for row in rows)
    staff = token("tenant_staff", importer.tenant_id, REGION)
    status, one = importer.api.call("GET", f"/v1/tenants/{importer.tenant_id}/learners/{listed[0]['learner_id']}",
                                    staff)
    assert status == 200
    assert one["guardian"]["email"].startswith("carer")
    assert one["programme"] == "Year 12"
    actions = audit_actions(importer, token)
    assert actions.count("learner.create") == 60
    assert actions.count("import.create") == actions.count("import.complete") == 1
    versions = emulated.clients.s3(REGION).list_object_versions(Bucket=BUCKET, Prefix=f"imports/{importer.tenant_id}/")
    assert not versions.get("Versions")
    assert not versions.get("DeleteMarkers")


def test_a_re_upload_of_the_same_file_creates_nothing(importer: Importer, token: TokenFactory) -> None:
    data = to_csv(HEADER, learner_rows(30, "Again"))
    assert importer.run(data)["created"] == 30
    again = importer.run(data)
    assert (again["state"], again["created"], again["skipped"], again["done"], again["failed"]) == (
        "completed", 0, 30, 30, 0)
    assert len(learners_of(importer, token)) == 30
    assert audit_actions(importer, token).count("learner.create") == 30


def test_a_file_put_again_after_the_import_ended_is_deleted_and_writes_nothing(
        importer: Importer, token: TokenFactory, emulated: Emulated) -> None:
    report = importer.run(to_csv(HEADER, learner_rows(5, "Late")))
    s3 = emulated.clients.s3(REGION)
    s3.put_object(Bucket=BUCKET, Key=object_key(importer.tenant_id, report["import_id"]),
                  Body=to_csv(HEADER, learner_rows(9, "Later")))
    importer.drain()
    assert not s3.list_object_versions(Bucket=BUCKET, Prefix=f"imports/{importer.tenant_id}/").get("Versions")
    assert importer.status(report["import_id"])["created"] == 5
    assert len(learners_of(importer, token)) == 5


def test_a_redelivered_chunk_writes_and_counts_nothing_twice(importer: Importer, token: TokenFactory) -> None:
    report = importer.run(to_csv(HEADER, learner_rows(10, "Redo")))
    composition.use(importer.container)
    importer.container.imports.handle({"tenant_id": importer.tenant_id, "import_id": report["import_id"], "chunk": 0})
    assert importer.status(report["import_id"])["created"] == 10
    assert len(learners_of(importer, token)) == 10


def test_bad_rows_are_reported_by_row_field_and_code_and_the_rest_is_written(
        importer: Importer, token: TokenFactory) -> None:
    header = [*HEADER, "consent_purpose", "consent_given_by", "consent_verification"]
    good = [[*row, "", "", ""] for row in learner_rows(12, "Good")]
    good[0][-3:] = ["research", "guardian", "signed_form"]
    bad = [
        [*learner_rows(1, "BadDate")[0][:3], "2011-02-30", "", "", "", "", "", ""],
        ["NoMail", "Person", "", "2010-01-01", "", "", "", "", "", ""],
        [*learner_rows(1, "Young")[0][:3], "2018-03-04", "", "", "", "research", "learner", ""],
        list(good[3]),
    ]
    report = importer.run(to_csv(header, good + bad))
    assert report["state"] == "completed"
    assert report["errors"] == [{"row": 14, "field": "date_of_birth", "code": "invalid_date"},
                                {"row": 15, "field": "email", "code": "missing"},
                                {"row": 16, "field": "consent_given_by", "code": "under_consent_age"},
                                {"row": 17, "field": "email", "code": "duplicate"}]
    assert (report["created"], report["failed"]) == (12, 4)
    text = json.dumps(report)
    assert not any(value in text for row in bad for value in row[:4] if value)
    actions = audit_actions(importer, token)
    assert actions.count("learner.create") == 12
    assert actions.count("consent.create") == 1


def test_a_header_mapping_renames_the_files_columns(importer: Importer, token: TokenFactory) -> None:
    names = ["First", "Last", "Mail", "DOB", "Carer", "Carer Mail", "Course"]
    report = importer.run(to_csv(names, learner_rows(5, "Mapped")), mapping=dict(zip(names, HEADER, strict=True)))
    assert report["created"] == 5, report


def test_a_file_without_the_required_columns_fails_as_a_whole_and_is_deleted(
        importer: Importer, emulated: Emulated) -> None:
    report = importer.run(b"name,mail\nAda,ada@example.org\n")
    assert report["state"] == "failed"
    assert report["errors"] == [{"row": 1, "field": "column 1", "code": "unknown_column"}]
    assert not emulated.clients.s3(REGION).list_object_versions(
        Bucket=BUCKET, Prefix=f"imports/{importer.tenant_id}/").get("Versions")


def oneroster(version: str) -> bytes:
    users = [["sourcedId", "status", "givenName", "familyName", "email", "agentSourcedIds"]
             + (["role"] if version == "1.1" else [])]
    people = [("s1", "Orla", "Rostered", "orla@school.example", "g1", "student"),
              ("s2", "Pim", "Rostered", "pim@school.example", "", "student"),
              ("g1", "Greta", "Rostered", "greta@family.example", "", "guardian"),
              ("t1", "Tess", "Teacher", "tess@school.example", "", "teacher")]
    for sourced, given, family, email, agents, role in people:
        users.append([sourced, "active", given, family, email, agents] + ([role] if version == "1.1" else []))
    files = {"users.csv": users,
             "demographics.csv": [["sourcedId", "birthDate"], ["s1", "2009-04-01"], ["s2", "2010-05-02"]]}
    if version == "1.2":
        files["roles.csv"] = [["sourcedId", "userSourcedId", "roleType", "role"]] + [
            [f"r{n}", p[0], "primary", p[5]] for n, p in enumerate(people)]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, rows in files.items():
            text = io.StringIO()
            csv.writer(text).writerows(rows)
            archive.writestr(name, text.getvalue())
    return out.getvalue()


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_oneroster_set_imports_its_students_with_their_guardian(
        importer: Importer, token: TokenFactory, version: str) -> None:
    report = importer.run(oneroster(version), fmt="oneroster")
    assert (report["state"], report["created"], report["failed"]) == ("completed", 2, 0), report
    staff = token("tenant_staff", importer.tenant_id, REGION)
    status, found = importer.api.call("POST", f"/v1/tenants/{importer.tenant_id}/learners/search", staff,
                                      {"email": "orla@school.example"})
    assert status == 200
    assert found["items"][0]["guardian"] == {"name": "Greta Rostered",
                                                               "email": "greta@family.example"}
    assert found["items"][0]["date_of_birth"] == "2009-04-01"


def test_results_import_by_learner_id_or_email_with_one_event_each(importer: Importer, token: TokenFactory) -> None:
    importer.run(to_csv(HEADER, learner_rows(3, "Res")))
    learners = {item["given_name"]: item["learner_id"] for item in learners_of(importer, token)}
    rows = [[learners["ResGiven00000"], "", "Mock 1", "7", "10", "2026-09-01"],
            ["", "res00001@school.example", "Mock 1", "8.5", "10", "2026-09-01"],
            ["", "nobody@school.example", "Mock 1", "8", "10", "2026-09-01"],
            [learners["ResGiven00002"], "", "Mock 1", "11", "10", "2026-09-01"],
            [learners["ResGiven00000"], "", "mock 1", "7", "10", "2026-09-01"]]
    report = importer.run(to_csv(["learner_id", "email", "assessment", "score", "max_score", "taken_on"], rows),
                          kind="results")
    assert report["created"] == 2, report
    assert [(e["row"], e["code"]) for e in report["errors"]] == [(4, "unknown_learner"), (5, "invalid"),
                                                                 (6, "duplicate")]
    staff = token("tenant_staff", importer.tenant_id, REGION)
    status, results = importer.api.call(
        "GET", f"/v1/tenants/{importer.tenant_id}/learners/{learners['ResGiven00001']}/results", staff)
    assert status == 200
    assert results["items"][0]["score"] == 8.5
    assert audit_actions(importer, token).count("result.create") == 2
    assert importer.run(to_csv(["learner_id", "email", "assessment", "score", "max_score", "taken_on"], rows[:2]),
                        kind="results")["created"] == 0


def test_only_the_tenants_admin_may_import_and_oneroster_is_for_learners(
        importer: Importer, token: TokenFactory) -> None:
    path = f"/v1/tenants/{importer.tenant_id}/imports"
    staff = token("tenant_staff", importer.tenant_id, REGION)
    assert importer.api.call("POST", path, staff, {"kind": "learners"})[0] == 403
    status, body = importer.api.call("POST", path, importer.admin, {"kind": "results", "format": "oneroster"})
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    assert importer.api.call("POST", path, importer.admin, {"kind": "learners", "mapping": {"A": "nope"}})[0] == 422
    assert importer.api.call("GET", path + "/imp_" + "a" * 26, importer.admin)[0] == 404
