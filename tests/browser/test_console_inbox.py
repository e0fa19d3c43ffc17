"""The inbox in the browser: a compliance officer sees an overdue request's alert, with the unread count in the
menu, and marks it read; an admin's outbox shows the e-mail the emulator's SES recorded.

The reminders job runs as ``make run`` runs it (``python -m devtools.reminders`` against the platform's emulator).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.cognito_admin import LOCAL_MAIL_DOMAIN
from chalicelib.settings import PROJECT_ROOT
from tests.browser.test_console import UK, accessible, days_ago, enrol, onboard, sign_in
from tests.support.platform import Platform, cli_environment

pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # axe is injected
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()


def run_reminders(platform: Platform) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "devtools.reminders", "--region", UK], capture_output=True,
                            text=True, env=cli_environment(platform.local), cwd=PROJECT_ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_a_compliance_officer_sees_an_overdue_request_in_the_inbox(page: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Inbox School")
    learner = enrol(platform, tenant, "inbox.request@example.org")
    status, request = platform.call(UK, "POST", f"/v1/tenants/{tenant}/requests",
                                    platform.token("tenant_admin", tenant, UK),
                                    body={"learner_id": learner, "type": "rectification", "received_at": days_ago(45)})
    assert status == 201, request
    sign_in(page, platform, "compliance_officer")  # the officer exists in the region's pool before the job runs
    report = run_reminders(platform)
    assert report["kinds"].get("request.overdue", 0) >= 1
    page.goto(platform.local.console_url + "/#/inbox")
    page.get_by_role("heading", name="Inbox", level=1).wait_for()
    row = page.get_by_role("row").filter(has_text=request["request_id"])
    row.wait_for()
    assert "A data-subject request is overdue" in row.inner_text()
    assert tenant in row.inner_text()
    count = page.get_by_test_id("unread-count")
    count.wait_for()
    assert int(count.inner_text().split()[0]) >= 1
    accessible(page, "officer-inbox")
    row.get_by_role("button", name="Mark read").click()
    page.get_by_role("row").filter(has_text=request["request_id"]).filter(has_text="Read").wait_for()
    assert run_reminders(platform)["new"] == 0  # the next run tells nobody again
    with urllib.request.urlopen(platform.local.console_url + "/local/outbox", timeout=10) as answer:
        sent = [m for m in json.load(answer) if request["request_id"] in m["subject"]]
    assert [m["to"] for m in sent].count([f"console-compliance_officer-{UK}@{LOCAL_MAIL_DOMAIN}"]) == 1
    assert not any("inbox.request" in m["body"] for m in sent)


def test_an_admin_sees_the_outbox(page: Any, platform: Platform) -> None:
    sign_in(page, platform, "regional_admin")
    page.get_by_role("link", name="Outbox").click()
    page.get_by_role("heading", name="Outbox", level=1).wait_for()
    page.get_by_role("row").filter(has_text="[Enclave eu-west-2]").first.wait_for()
    accessible(page, "admin-outbox")
