"""The audit export end to end: a compliance officer exports the trail through the API, downloads the presigned URL
over HTTP and the offline CLI verifies the file; a tampered copy is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", "audit", "verify", str(path)],
                          capture_output=True, text=True, timeout=60, check=False, env={"PATH": "/usr/bin:/bin"})


def test_exported_trail_downloads_and_verifies_offline(platform: Platform, tmp_path: Path) -> None:
    admin = platform.token("platform_admin", region="eu-west-2")
    status, tenant = platform.call("eu-west-2", "POST", "/v1/tenants", admin,
                                   body={"name": "Export Academy", "kind": "school", "jurisdiction": "UK"})
    assert status == 201
    tid = tenant["tenant_id"]
    staff = platform.token("tenant_staff", tid)
    for n in range(3):
        status, learner = platform.call("eu-west-2", "POST", f"/v1/tenants/{tid}/learners", staff, body={
            "given_name": "Eve", "family_name": f"Export{n}", "email": f"eve{n}@example.org",
            "date_of_birth": "2011-01-01"})
        assert status == 201
        assert platform.call("eu-west-2", "GET", f"/v1/tenants/{tid}/learners/{learner['learner_id']}", staff)[0] == 200
    officer = platform.token("compliance_officer", region="eu-west-2")
    status, export = platform.call("eu-west-2", "POST", f"/v1/tenants/{tid}/audit/exports", officer,
                                   body={"format": "ndjson"})
    assert status == 201, export
    assert export["events"] == 7  # tenant_key.create at onboarding, 3 enrolments, 3 reads
    download = requests.get(export["download_url"], timeout=30)
    assert download.status_code == 200
    trail = tmp_path / "trail.ndjson"
    trail.write_bytes(download.content)
    done = _verify(trail)
    assert done.returncode == 0, done.stderr
    assert "VALID" in done.stderr
    assert b"Export0" not in download.content
    assert b"eve0@example.org" not in download.content

    lines = trail.read_text().splitlines()
    assert '"learner.create"' in lines[3]
    lines[3] = lines[3].replace('"learner.create"', '"learner.erase"')
    tampered = tmp_path / "tampered.ndjson"
    tampered.write_text("\n".join(lines) + "\n")
    done = _verify(tampered)
    assert done.returncode == 1
    assert "seq 4" in done.stderr
    assert "Traceback" not in done.stderr
