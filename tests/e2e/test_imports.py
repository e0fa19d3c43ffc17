"""Bulk imports through the local platform: the file goes up with the presigned PUT the API answers, the
bucket's upload event reaches the worker through SQS in the emulator, and the worker runs inside the
platform's regional endpoint (``devtools/queue_poller.py``), as in a deployed stage.

Every personal value in these files carries a marker (``Qzv`` and a letter, then five digits) so that the
raw-store scan can look for all of them at once in every table and every S3 object version.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.data_store import wrapped_learner_key
from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.tenants import Tenant
from chalicelib.services.learners.service import open_profile
from chalicelib.settings import PROJECT_ROOT, REGIONS
from tests.support.platform import Platform, run_cli

HOME = "eu-west-2"
BUCKET = f"enclave-exports-{HOME}"
HEADER = ["given_name", "family_name", "email", "date_of_birth", "guardian_name", "guardian_email", "programme",
          "consent_purpose", "consent_given_by", "consent_verification"]
MARKED = re.compile(r"qzv[a-z]\d{5}[a-z]", re.IGNORECASE)
BIRTH_DATE = re.compile(r"20[01]\d-\d\d-\d\d")


def person(n: int, tag: str = "a") -> list[str]:
    """A row whose every personal value is marked (``tag``: one letter per file, so files never overlap)."""
    return [f"Qzvg{n:05d}{tag}", f"Qzvf{n:05d}{tag}", f"qzvm{n:05d}{tag}@school.example",
            f"{2000 + n % 10}-{1 + n % 12:02d}-{1 + n % 28:02d}", f"Qzvc{n:05d}{tag} Carer",
            f"qzvp{n:05d}{tag}@family.example", "Year 12", "", "", ""]


def as_csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


UPLOADED: list[bytes] = []
"""Every file this module uploaded (the raw-store scan looks for their values)."""


@pytest.fixture
def school(platform: Platform) -> dict[str, Any]:
    """A school of its own per test: each test's trail holds its own events only (verified and exported whole)."""
    admin = platform.token("platform_admin", region=HOME)
    status, tenant = platform.call(HOME, "POST", "/v1/tenants", admin,
                                   body={"name": "Bulk Import School", "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    tenant_id = tenant["tenant_id"]
    return {"tenant": tenant, "tenant_id": tenant_id, "admin": platform.token("tenant_admin", tenant_id),
            "staff": platform.token("tenant_staff", tenant_id),
            "officer": platform.token("compliance_officer", region=HOME)}


def run_import(platform: Platform, school: dict[str, Any], data: bytes, kind: str = "learners",
               fmt: str = "csv", timeout: float = 900) -> dict[str, Any]:
    """Start an import, PUT the file to the presigned URL, follow it until it is done."""
    path = f"/v1/tenants/{school['tenant_id']}/imports"
    status, started = platform.call(HOME, "POST", path, school["admin"], body={"kind": kind, "format": fmt})
    assert status == 201, started
    upload = started["upload"]
    response = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=60)
    assert response.status_code == 200, response.text
    UPLOADED.append(data)
    deadline, pause = time.monotonic() + timeout, 0.2
    while True:
        status, report = platform.call(HOME, "GET", f"{path}/{started['import_id']}", school["admin"])
        assert status == 200, report
        if report["state"] in ("completed", "failed"):
            return dict(report)
        assert time.monotonic() < deadline, f"the import did not finish within {timeout} s: {report}"
        # Each read is an audited request the platform serves next to the worker: back off to a few seconds
        # (a poll every 0.5 s was about a thousand extra audited requests during the 20,000-row import).
        time.sleep(pause)
        pause = min(pause * 1.5, 4.0)


def patient(platform: Platform, service: str) -> Any:
    """A client of the emulator that waits as long as the sequencer keeps it busy (botocore's own)."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    return session.create_client(service, region_name=HOME, endpoint_url=platform.local.emulator_url,
                                 config=Config(read_timeout=900, retries={"max_attempts": 1}))


def items(platform: Platform, table: str, tenant_id: str) -> Iterator[dict[str, Any]]:
    for page in patient(platform, "dynamodb").get_paginator("query").paginate(
            TableName=table, KeyConditionExpression="pk = :pk AND begins_with(sk, :l)",
            ExpressionAttributeValues={":pk": {"S": f"TENANT#{tenant_id}"}, ":l": {"S": "L#"}}):
        yield from page["Items"]


def decrypted_profiles(platform: Platform, tenant_id: str) -> dict[str, dict[str, Any]]:
    """Every learner of the tenant, decrypted from the raw items with the tenant's key (not through the API)."""
    from chalicelib import composition
    from chalicelib.settings import Settings

    settings = Settings(region=HOME, directory_region="us-east-1", aws_endpoint_url=platform.local.emulator_url)
    clients = AwsClients(endpoint_url=platform.local.emulator_url, emulator_credentials=True)
    jurisdictions = load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")
    container = composition.Container(settings, clients=clients, jurisdictions=jurisdictions)
    tenant = container.directory.get(tenant_id)
    assert isinstance(tenant, Tenant)
    keys = {item["sk"]["S"].split("#")[1]: item for item in items(platform, "enclave-keys-uk", tenant_id)}
    found = {}
    for item in items(platform, "enclave-data-uk", tenant_id):
        if not item["sk"]["S"].endswith("#P"):
            continue
        learner_id = item["sk"]["S"].split("#")[1]
        key = container.tenant_keys.unwrap(tenant, wrapped_learner_key(tenant_id, learner_id, keys[learner_id]))
        found[learner_id] = dict(open_profile(key, item))
    return found


def audit_events(platform: Platform, school: dict[str, Any]) -> list[dict[str, Any]]:
    """The tenant's whole trail (an export: the bucket's copy), after checking that it verifies (both read it
    sealed, whatever is pending)."""
    auth = {"Authorization": f"Bearer {school['officer']}"}
    base = f"{platform.url(HOME)}/v1/tenants/{school['tenant_id']}/audit"
    verified = requests.get(f"{base}/verify", headers=auth, timeout=900)
    assert verified.status_code == 200
    assert verified.json()["valid"] is True, verified.json()
    exported = requests.post(f"{base}/exports", headers=auth, json={}, timeout=900)  # too large for one response
    assert exported.status_code == 201, exported.text
    response = requests.get(exported.json()["download_url"], timeout=300)
    assert response.status_code == 200
    return [e for e in (json.loads(line) for line in response.text.splitlines() if line) if "action" in e]


def test_twenty_thousand_learners_from_a_csv_each_readable_decrypting_with_one_event(
        platform: Platform, school: dict[str, Any]) -> None:
    rows = [person(n) for n in range(20_000)]
    started = time.monotonic()
    report = run_import(platform, school, as_csv(rows))
    seconds = time.monotonic() - started
    assert report["state"] == "completed", report
    assert (report["rows"], report["created"], report["done"], report["failed"], report["errors"]) == (
        20_000, 20_000, 20_000, 0, [])
    profiles = decrypted_profiles(platform, school["tenant_id"])
    expected = {row[2]: row for row in rows}
    assert len(profiles) == 20_000
    for profile in profiles.values():
        row = expected[profile["email"]]
        assert [profile["given_name"], profile["family_name"], profile["date_of_birth"], profile["guardian"]] == [
            row[0], row[1], row[3], {"name": row[4], "email": row[5]}]
    # and through the API as a user reads them: pages of the list (names decrypted) and whole records
    status, page = platform.call(HOME, "GET", f"/v1/tenants/{school['tenant_id']}/learners?limit=200",
                                 school["staff"])
    assert status == 200
    assert len(page["items"]) == 200
    assert all(item["given_name"] == profiles[item["learner_id"]]["given_name"] for item in page["items"])
    for learner_id in sorted(profiles)[::1000]:
        status, read = platform.call(HOME, "GET", f"/v1/tenants/{school['tenant_id']}/learners/{learner_id}",
                                     school["staff"])
        assert status == 200
        assert {k: read[k] for k in profiles[learner_id]} == profiles[learner_id]
    created = [e for e in audit_events(platform, school) if e["action"] == "learner.create"]
    assert sorted(e["details"]["learner_id"] for e in created) == sorted(profiles)
    print(f"\n20,000 learners imported through the local platform in {seconds:.1f} s "
          f"({20_000 / seconds:.0f} rows/s)")


def oneroster_set() -> bytes:
    """A OneRoster 1.2 set: students, their guardians (agentSourcedIds), a teacher; roles in roles.csv."""
    users = [["sourcedId", "status", "dateLastModified", "enabledUser", "username", "givenName", "familyName",
              "email", "agentSourcedIds"]]
    roles = [["sourcedId", "status", "userSourcedId", "roleType", "role", "orgSourcedId"]]
    demographics = [["sourcedId", "status", "birthDate", "sex"]]
    for n in range(40):
        values = person(n, "o")
        users.append([f"stu-{n}", "active", "2026-09-01", "true", f"u{n}", values[0], values[1], values[2],
                      f"par-{n}"])
        users.append([f"par-{n}", "active", "2026-09-01", "true", f"p{n}", f"Qzvc{n:05d}o", "Carer", values[5], ""])
        roles += [[f"r-s{n}", "active", f"stu-{n}", "primary", "student", "org-1"],
                  [f"r-p{n}", "active", f"par-{n}", "primary", "guardian", "org-1"]]
        demographics.append([f"stu-{n}", "active", values[3], "female"])
    users.append(["tea-1", "active", "2026-09-01", "true", "t1", "Qzvt00001o", "Teacher", "qzvt00001o@school.example",
                  ""])
    roles.append(["r-t1", "active", "tea-1", "primary", "teacher", "org-1"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, table in (("users.csv", users), ("roles.csv", roles), ("demographics.csv", demographics)):
            text = io.StringIO()
            csv.writer(text).writerows(table)
            archive.writestr(name, text.getvalue())
    return out.getvalue()


def test_a_oneroster_set_imports_its_students_with_guardians_and_birth_dates(
        platform: Platform, school: dict[str, Any]) -> None:
    before = set(decrypted_profiles(platform, school["tenant_id"]))
    report = run_import(platform, school, oneroster_set(), fmt="oneroster")
    assert (report["state"], report["rows"], report["created"], report["failed"]) == ("completed", 40, 40, 0), report
    new = {k: v for k, v in decrypted_profiles(platform, school["tenant_id"]).items() if k not in before}
    assert sorted(p["email"] for p in new.values()) == sorted(person(n, "o")[2] for n in range(40))
    for profile in new.values():
        n = int(profile["email"][4:9])
        assert profile["date_of_birth"] == person(n, "o")[3]
        assert profile["guardian"] == {"name": f"Qzvc{n:05d}o Carer", "email": person(n, "o")[5]}
    events = audit_events(platform, school)
    assert {e["details"]["learner_id"] for e in events if e["action"] == "learner.create"} >= set(new)


def bad_file() -> tuple[bytes, list[dict[str, Any]]]:
    """200 rows, every 4th of them bad (bad date, missing e-mail, under-age self-consent, duplicate of an
    earlier row, in turn): 50 bad rows among 150 good ones, and the report they must give (a row is its line,
    the header line 1)."""
    rows: list[list[str]] = []
    expected: list[dict[str, Any]] = []
    for index in range(200):
        row = person(index, "b")
        if index % 4 == 2:
            kind = (index // 4) % 4
            if kind == 0:
                row[3] = f"20{index % 10:02d}-02-30"
            elif kind == 1:
                row[2] = ""
            elif kind == 2:
                row[3] = "2018-06-01"  # 8 years old: below the UK's consent age of 13
                row[7:10] = ["research", "learner", ""]
            else:
                row = list(rows[index - 5])
            expected.append({"row": index + 2, "field": ["date_of_birth", "email", "consent_given_by", "email"][kind],
                             "code": ["invalid_date", "missing", "under_consent_age", "duplicate"][kind]})
        rows.append(row)
    return as_csv(rows), expected


def test_fifty_bad_rows_are_reported_exactly_and_the_rest_written_and_a_re_upload_creates_nothing(
        platform: Platform, school: dict[str, Any]) -> None:
    data, expected = bad_file()
    before = len(decrypted_profiles(platform, school["tenant_id"]))
    report = run_import(platform, school, data)
    assert report["state"] == "completed"
    assert report["errors"] == expected
    assert (report["rows"], report["created"], report["failed"]) == (200, 150, 50)
    assert not MARKED.search(json.dumps(report))  # the report quotes no value from the file
    assert len(decrypted_profiles(platform, school["tenant_id"])) == before + 150
    again = run_import(platform, school, data)
    assert (again["created"], again["skipped"], again["failed"], again["errors"]) == (0, 150, 50, expected)
    assert len(decrypted_profiles(platform, school["tenant_id"])) == before + 150
    creates = [e for e in audit_events(platform, school) if e["action"] == "learner.create"]
    assert len(creates) == before + 150


def test_the_cli_imports_a_file_with_a_progress_bar_and_prints_the_report(
        platform: Platform, school: dict[str, Any], tmp_path: Path) -> None:
    rows = [person(n, "c") for n in range(60)]
    rows[5][3] = "2011-13-01"
    path = tmp_path / "roster.csv"
    path.write_bytes(as_csv(rows))
    UPLOADED.append(path.read_bytes())
    done = run_cli(platform.local, "import", str(path), "--tenant", school["tenant_id"], "--kind", "learners")
    assert done.returncode == 3, done.stderr  # completed, with a failed row
    report = json.loads(done.stdout)
    assert (report["state"], report["created"], report["failed"]) == ("completed", 59, 1)
    assert report["errors"] == [{"row": 7, "field": "date_of_birth", "code": "invalid_date"}]
    assert "[##############################] 100% 60/60 rows, 1 failed (completed)" in done.stderr
    assert not MARKED.search(done.stdout + done.stderr)


def all_versions(clients: AwsClients, region: str) -> Iterator[tuple[str, bytes]]:
    s3 = clients.s3(region)
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"]):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"])
                yield f"{bucket['Name']}/{version['Key']}@{version['VersionId']}", body["Body"].read()


def test_the_uploaded_files_are_gone_and_no_value_from_them_is_stored_in_plaintext_anywhere(
        platform: Platform) -> None:
    assert len(UPLOADED) >= 5  # every file of the tests above
    clients = platform.emulator()
    s3 = clients.s3(HOME)
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix="imports/")
    assert listed.get("Versions", []) == []
    assert listed.get("DeleteMarkers", []) == []
    # A marker's shape also turns up by chance in megabytes of ciphertext: a leak is a value the files held.
    values = {m.lower() for body in UPLOADED for m in MARKED.findall(body.decode("utf-8", "replace"))}
    values |= {d for body in UPLOADED for d in BIRTH_DATE.findall(body.decode("utf-8", "replace"))}

    def found(text: str) -> list[str]:
        return [m for m in MARKED.findall(text) + BIRTH_DATE.findall(text) if m.lower() in values]

    leaks: list[tuple[str, str]] = []
    for region in REGIONS:
        dynamodb = clients.dynamodb(region)
        for table in dynamodb.list_tables()["TableNames"]:
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                text = json.dumps(page["Items"], default=str)
                leaks += [(f"{region}:{table}", m) for m in found(text)]
        for where, body in all_versions(clients, region):
            text = body.decode("utf-8", "replace")
            leaks += [(where, m) for m in found(text)]
    assert leaks == []
