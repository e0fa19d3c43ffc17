"""The tenant admin's import screen in a real browser: choose a CSV, upload it (straight to the bucket with the
presigned PUT), watch the progress bar reach 100 % and read the error report as a table."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_console import accessible, onboard, sign_in
from tests.support.platform import Platform

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True,
                                  timezone_id="Europe/London", locale="en-GB")  # bypass_csp: axe is injected
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()


def roster(count: int) -> bytes:
    """``count`` rows; rows 11 and 21 (lines of the file) are bad: a date that does not exist, no e-mail."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["given_name", "family_name", "email", "date_of_birth"])
    for n in range(count):
        line = n + 2
        email = "" if line == 21 else f"pupil{n}@upload.example"
        born = "2010-02-30" if line == 11 else f"2010-0{1 + n % 9}-1{n % 9}"
        writer.writerow([f"Pupil{n}", "Uploaded", email, born])
    return out.getvalue().encode()


def test_an_admin_uploads_a_csv_and_watches_the_progress_reach_100_with_the_error_table(
        desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Upload School")
    sign_in(desk, platform, "tenant_admin", tenant)
    desk.goto(f"{platform.local.console_url}/#/imports")
    desk.get_by_role("heading", name="Import a file").wait_for()
    desk.get_by_label("File", exact=True).set_input_files(
        {"name": "roster.csv", "mimeType": "text/csv", "buffer": roster(300)})
    desk.get_by_role("button", name="Upload and import").click()
    status = desk.get_by_role("status").filter(has_text="rows")
    seen = set()
    for _ in range(600):  # the bar moves while the worker writes; it ends at 100
        seen.add(int(desk.get_by_label("Import progress").get_attribute("value") or 0))
        if "completed" in status.inner_text():
            break
        desk.wait_for_timeout(200)
    assert desk.get_by_label("Import progress").get_attribute("value") == "100"
    assert "298 added" in status.inner_text()
    assert "2 failed" in status.inner_text()
    table = desk.get_by_role("table").filter(has_text="Problem")
    table.wait_for()
    rows = [row.inner_text().split("\t") for row in table.get_by_role("row").all()[1:]]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["11", "date_of_birth", "not a valid date (YYYY-MM-DD)"], ["21", "email", "missing"]]
    assert "pupil" not in table.inner_text().lower()  # the report quotes no value from the file
    accessible(desk, "tenant-admin-import")
    assert seen  # the bar was read while the import ran
