"""The console's jobs for tenant staff and tenant admins, in a real browser (Playwright + Debian's Chromium).

One test per job per role at desk size (1366 x 768), each asserting what the user sees (a name, a date, a
status), every screen checked by axe-core (no serious or critical issue); a smoke pass at phone size
(390 x 844) over every tenant screen asserting that nothing scrolls sideways. The browser runs in the
Europe/London zone, so dates read "4 Jan 2027, 20:40 GMT". Screenshots for the README's console guide go
to docs/console/; how long each screen took to become interactive goes to build/console-timings.json
(reported, never asserted).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import PROJECT_ROOT
from tests.browser.test_console import UK, accessible, onboard, sign_in
from tests.support.platform import Platform

playwright_api = pytest.importorskip("playwright.sync_api")

GUIDE = PROJECT_ROOT / "docs" / "console"
TIMINGS = PROJECT_ROOT / "build" / "console-timings.json"
AU = "ap-southeast-2"
DESK = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
RAW_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\d{2}:\d{2}:\d{2}\.\d+")
timings: dict[str, float] = {}


def new_page(browser: Any, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, bypass_csp=True, timezone_id="Europe/London",
                                  locale="en-GB", accept_downloads=True)  # bypass_csp: axe is injected
    context.set_default_timeout(15000)
    return context.new_page()


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    tab = new_page(browser, DESK)
    yield tab
    tab.context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    tab = new_page(browser, PHONE)
    yield tab
    tab.context.close()


@pytest.fixture(scope="module", autouse=True)
def report_timings() -> Iterator[None]:
    yield
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps(timings, indent=2, sort_keys=True))


def staff_token(platform: Platform, tenant: str, region: str = UK) -> str:
    return platform.token("tenant_staff", tenant, region)


def enrol(platform: Platform, tenant: str, given: str, family: str, born: str = "2010-12-10",
          region: str = UK) -> str:
    status, learner = platform.call(region, "POST", f"/v1/tenants/{tenant}/learners",
                                    staff_token(platform, tenant, region),
                                    body={"given_name": given, "family_name": family, "date_of_birth": born,
                                          "email": f"{given}.{family}@example.org".lower().replace(" ", "")})
    assert status == 201, learner
    return str(learner["learner_id"])


def record_request(platform: Platform, tenant: str, learner: str, kind: str, days_ago: float = 0,
                   region: str = UK) -> dict[str, Any]:
    body: dict[str, Any] = {"learner_id": learner, "type": kind}
    if days_ago:
        body["received_at"] = (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, request = platform.call(region, "POST", f"/v1/tenants/{tenant}/requests",
                                    platform.token("tenant_admin", tenant, region), body=body)
    assert status == 201, request
    return dict(request)


def regional(platform: Platform) -> str:
    return platform.token("regional_admin", region=UK)


def visit(page: Any, platform: Platform, hash_path: str, ready: str, name: str) -> None:
    """Open a screen by its address and wait until ``ready`` (a text) shows; the time it took is reported."""
    began = time.monotonic()
    page.goto(f"{platform.local.console_url}/#/{hash_path}")
    page.get_by_text(ready).first.wait_for()
    timings[name] = round(time.monotonic() - began, 3)


def readable(page: Any) -> str:
    """The page's text, after checking it shows no raw timestamp (no ISO time, no microseconds)."""
    text = page.locator("main").inner_text()
    assert not RAW_TIME.search(text), RAW_TIME.search(text)
    return str(text)


def guide_shot(page: Any, name: str) -> None:
    GUIDE.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(GUIDE / f"{name}.png"), full_page=False)


def focused_heading(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.tagName"))


# -- tenant staff ----------------------------------------------------------------------------------------


def test_staff_find_a_learner_by_family_name_and_given_name(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Name Search School")
    enrol(platform, tenant, "Ada", "Lovelace")
    enrol(platform, tenant, "Anne", "Lovelace")
    enrol(platform, tenant, "Mary", "Shelley")
    sign_in(desk, platform, "tenant_staff", tenant)
    desk.get_by_label("Find by").select_option("name")
    desk.get_by_label("Family name", exact=True).fill("  LOVELACE ")
    desk.get_by_role("button", name="Search").click()
    desk.get_by_text("2 matches").wait_for()
    found = desk.locator("table").first.inner_text()
    assert "Ada Lovelace" in found
    assert "Anne Lovelace" in found
    assert "Shelley" not in found
    desk.get_by_label("Given name (optional)").fill("anne")
    desk.get_by_role("button", name="Search").click()
    desk.get_by_text("1 match", exact=True).wait_for()
    assert "Ada" not in desk.locator("table").first.inner_text()
    accessible(desk, "tenant-staff-search-name")


def test_staff_find_a_learner_by_id_and_view_the_record(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Id Search School")
    learner = enrol(platform, tenant, "Mary", "Shelley", born="2009-08-30")
    sign_in(desk, platform, "tenant_staff", tenant)
    desk.get_by_label("Find by").select_option("id")
    desk.get_by_label("Learner id", exact=True).fill(learner)
    began = time.monotonic()
    desk.get_by_role("button", name="Search").click()
    desk.get_by_role("heading", name="Mary Shelley", level=1).wait_for()
    desk.get_by_role("heading", name="Consent").wait_for()
    timings["learner record (desk)"] = round(time.monotonic() - began, 3)
    assert focused_heading(desk) == "H1"  # focus moved to the new screen's heading
    text = readable(desk)
    assert "30 Aug 2009" in text  # the birth date as people write it
    assert "GMT" in text  # enrolment time in the user's zone, the zone named
    assert desk.title() == "Learner · Enclave console"  # no name in the title
    assert "Shelley" not in desk.url
    accessible(desk, "tenant-staff-learner")


def test_staff_browse_learners_with_names_sorted_and_filtered_by_status(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Browse School")
    for given, family in (("Zadie", "Smith"), ("Ada", "Lovelace"), ("Mary", "Shelley")):
        enrol(platform, tenant, given, family)
    gone = enrol(platform, tenant, "Erin", "Erased")
    status, _ = platform.call(UK, "DELETE", f"/v1/tenants/{tenant}/learners/{gone}",
                              platform.token("tenant_admin", tenant, UK))
    assert status == 200
    sign_in(desk, platform, "tenant_staff", tenant)
    visit(desk, platform, "learners", "Learners of Browse School", "learners (desk)")
    listed = desk.get_by_role("table").filter(has_text="Learners of Browse School")
    names = listed.locator("tbody tr td:first-child a").all_inner_texts()
    assert names[:3] == ["Ada Lovelace", "Mary Shelley", "Zadie Smith"], names  # by family name
    assert "GMT" in readable(desk)
    guide_shot(desk, "staff-learners-desktop")
    desk.locator("select[name=status]").select_option("erased")
    desk.get_by_text("Learners of Browse School, 1 shown").wait_for()
    row = listed.locator("tbody tr").first
    assert gone in row.inner_text()
    assert "Erased" in row.inner_text()
    accessible(desk, "tenant-staff-learners")


def test_staff_enrol_a_learner_and_open_the_record_by_name(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Enrol School")
    sign_in(desk, platform, "tenant_staff", tenant)
    desk.get_by_role("link", name="Enrol").click()
    desk.get_by_label("Given name").fill("Grace")
    desk.get_by_label("Family name").fill("Hopper")
    desk.get_by_label("E-mail").fill("grace.hopper@example.org")
    desk.get_by_label("Date of birth").fill("2011-03-04")
    desk.get_by_role("button", name="Enrol learner").click()
    desk.get_by_role("link", name="Grace Hopper").click()  # the confirmation names the learner
    desk.get_by_role("heading", name="Grace Hopper", level=1).wait_for()
    assert "4 Mar 2011" in readable(desk)
    accessible(desk, "tenant-staff-enrolled")


def test_staff_add_a_result(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Results School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    sign_in(desk, platform, "tenant_staff", tenant)
    visit(desk, platform, f"learner/{learner}", "No result recorded yet.", "learner record (desk)")
    desk.get_by_label("Assessment").fill("Analytical engines")
    desk.get_by_label("Score").fill("17")
    desk.get_by_label("Out of").fill("20")
    desk.get_by_label("Taken on").fill("2025-03-01")
    desk.get_by_role("button", name="Add result").click()
    row = desk.get_by_role("row").filter(has_text="Analytical engines")
    row.wait_for()
    assert "17 / 20" in row.inner_text()
    assert "1 Mar 2025" in row.inner_text()
    readable(desk)
    accessible(desk, "tenant-staff-result")


def test_staff_record_a_guardians_consent_with_the_verification_the_law_asks(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Consent School")
    learner = enrol(platform, tenant, "Ada", "Lovelace", born="2016-01-01")  # under 13: a guardian decides
    sign_in(desk, platform, "tenant_staff", tenant)
    visit(desk, platform, f"learner/{learner}", "No consent decision recorded.", "learner record (desk)")
    verification = desk.get_by_label("How the guardian was verified")
    assert not verification.is_visible()  # the learner's own decision carries none
    desk.get_by_label("Purpose").select_option("research")
    desk.get_by_label("Given by").select_option("guardian")
    offered = desk.locator("select[name=verification] option").evaluate_all("os => os.map((o) => o.value)")
    assert offered == ["signed_form", "school_official", "id_document", "video_call"]  # from GET /v1/jurisdictions/UK
    assert "UK GDPR Art. 8(2)" in desk.locator("#verification-hint").inner_text()
    verification.select_option("video_call")
    desk.get_by_role("button", name="Record", exact=True).click()
    history = desk.get_by_role("table").filter(has_text="History, oldest first")
    history.get_by_text("video call").wait_for()
    row = history.locator("tbody tr").first.inner_text()
    assert "research" in row
    assert "granted" in row
    assert "guardian" in row
    assert "GMT" in row
    readable(desk)
    accessible(desk, "tenant-staff-consent-guardian")


def test_staff_record_a_learners_own_consent_and_see_the_history(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Own Consent School")
    learner = enrol(platform, tenant, "Zadie", "Smith", born="2005-01-01")
    sign_in(desk, platform, "tenant_staff", tenant)
    visit(desk, platform, f"learner/{learner}", "No consent decision recorded.", "learner record (desk)")
    desk.get_by_label("Purpose").select_option("analytics")
    desk.get_by_label("Decision").select_option("withdrawn")
    desk.get_by_role("button", name="Record", exact=True).click()
    current = desk.get_by_role("table").filter(has_text="Now in force")
    current.get_by_text("withdrawn").wait_for()
    assert "analytics" in current.inner_text()
    history = desk.get_by_role("table").filter(has_text="History, oldest first").inner_text()
    assert "learner" in history
    assert "withdrawn" in history
    guide_shot(desk, "staff-learner-desktop")


# -- tenant admin ----------------------------------------------------------------------------------------


def test_admin_see_the_schools_requests_with_deadlines_and_the_chart(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Deadline School")
    late = enrol(platform, tenant, "Ada", "Lovelace")
    soon = enrol(platform, tenant, "Mary", "Shelley")
    record_request(platform, tenant, late, "rectification", days_ago=40)  # UK: a month: overdue
    record_request(platform, tenant, soon, "rectification", days_ago=27)  # due within the week
    record_request(platform, tenant, soon, "access")  # fulfilled at once
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, "requests", "Ada Lovelace", "requests (desk)")
    row = desk.get_by_role("row").filter(has_text="Ada Lovelace")
    text = row.inner_text()
    assert "Overdue" in text
    assert "overdue" in text
    assert "GMT" in text
    assert "Due soon" in desk.get_by_role("row").filter(has_text="Mary Shelley").inner_text()
    chart = desk.locator("svg.chart")
    assert chart.get_attribute("role") == "img"
    summary = desk.locator("#requests-summary").inner_text()
    assert summary.startswith("2 open: 1 overdue, 1 due within 7 days, 0 due later, 0 paused; 1 fulfilled")
    assert desk.locator("svg.chart desc").text_content() == summary  # the chart's text alternative
    bars = desk.locator("svg.chart rect").evaluate_all("rs => rs.map((r) => Number(r.getAttribute('width')))")
    assert bars[0] > 0
    assert bars[1] > 0
    assert bars[2] == 0
    readable(desk)
    guide_shot(desk, "admin-requests-desktop")
    accessible(desk, "tenant-admin-requests")
    desk.locator("select[name=status]").select_option("fulfilled")
    desk.get_by_role("row").filter(has_text="Fulfilled").wait_for()
    assert desk.get_by_role("row").filter(has_text="Ada Lovelace").count() == 0


def test_admin_record_a_request_and_open_it(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Record School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, f"learner/{learner}", "Data-subject request", "learner record, admin (desk)")
    desk.get_by_label("Request type").select_option("rectification")
    desk.get_by_role("button", name="Record the request").click()
    recorded = desk.get_by_role("status").filter(has_text="Recorded: rectification request")
    recorded.wait_for()
    assert "GMT" in recorded.inner_text()
    assert not RAW_TIME.search(recorded.inner_text())
    desk.get_by_role("link", name="Open the request").click()
    desk.get_by_role("heading", name="rectification request", level=1).wait_for()
    text = readable(desk)
    assert "Ada Lovelace" in text
    assert "left" in text
    assert "UK GDPR" in text
    accessible(desk, "tenant-admin-request")


def test_admin_record_a_request_on_the_requests_screen_picking_the_learner_by_name(
        desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Picker School")
    enrol(platform, tenant, "Ada", "Lovelace")
    enrol(platform, tenant, "Anne", "Lovelace", born="2011-03-04")
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, "requests", "Record a request", "requests (desk)")
    recorder = desk.get_by_role("region", name="Record a request")
    assert recorder.get_by_label("Learner id").count() == 0  # no id to type
    recorder.get_by_label("Family name", exact=True).fill("LOVELACE")
    recorder.get_by_role("button", name="Find the learner").click()
    recorder.get_by_text("2 learners found").wait_for()
    assert "10 Dec 2010" in recorder.get_by_role("row").filter(has_text="Ada Lovelace").inner_text()
    recorder.get_by_role("button", name="Choose Anne Lovelace").click()
    recorder.get_by_text("Chosen: Anne Lovelace, born 4 Mar 2011.").wait_for()
    recorder.get_by_label("Type").select_option("rectification")
    recorder.get_by_role("button", name="Record request").click()
    recorded = recorder.get_by_role("status").filter(has_text="Recorded: rectification request for Anne Lovelace")
    recorded.wait_for()
    assert "GMT" in recorded.inner_text()
    desk.get_by_role("row").filter(has_text="Anne Lovelace").first.wait_for()  # the list shows it, by name
    recorder.get_by_label("Find by").select_option("email")
    recorder.get_by_label("Learner's e-mail").fill("ada.lovelace@example.org")
    recorder.get_by_role("button", name="Find the learner").click()
    recorder.get_by_text("Chosen: Ada Lovelace, born 10 Dec 2010.").wait_for()  # one match: chosen at once
    recorder.get_by_label("Type").select_option("access")
    recorder.get_by_role("button", name="Record request").click()
    recorder.get_by_role("status").filter(has_text="Recorded: access request for Ada Lovelace").wait_for()
    readable(desk)
    accessible(desk, "tenant-admin-record-request")


def test_admin_rectify_then_fulfil_the_rectification_request(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Rectify School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    request = record_request(platform, tenant, learner, "rectification")
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, f"learner/{learner}", "Rectify and erase", "learner record, admin (desk)")
    desk.get_by_role("form", name="Rectify").get_by_label("Family name").fill("King")
    desk.get_by_role("button", name="Save correction").click()
    desk.get_by_role("heading", name="Ada King", level=1).wait_for()
    visit(desk, platform, f"request/{request['request_id']}", "Act on this request", "request (desk)")
    desk.get_by_role("button", name="Fulfil").click()
    desk.locator(".badge").filter(has_text="Fulfilled").wait_for()
    assert "Ada King" in readable(desk)


def test_admin_reject_a_request_with_a_reason(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Reject School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    request = record_request(platform, tenant, learner, "rectification")
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, f"request/{request['request_id']}", "Act on this request", "request (desk)")
    desk.get_by_label("Reason to reject").select_option("no_change_needed")
    desk.get_by_role("button", name="Reject").click()
    desk.get_by_text("no change needed").wait_for()
    assert "Rejected" in desk.locator(".badge").first.inner_text()


def test_admin_download_an_access_package(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Package School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    request = record_request(platform, tenant, learner, "access")
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, f"request/{request['request_id']}", "Prepare the access package", "request (desk)")
    desk.get_by_role("button", name="Prepare the access package").click()
    link = desk.get_by_role("link", name="Download the access package (JSON)")
    with desk.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == f"access-package-{request['request_id']}.json"  # no name in it
    package = json.loads(Path(download.value.path()).read_text())
    assert "Lovelace" in json.dumps(package)
    assert "available until" in desk.locator("main").inner_text()
    accessible(desk, "tenant-admin-package")


def test_admin_stop_and_restart_a_requests_clock_where_the_law_allows(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Clock School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    request = record_request(platform, tenant, learner, "rectification")
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, f"request/{request['request_id']}", "Act on this request", "request (desk)")
    desk.get_by_label("Waiting for").select_option("identity")
    desk.get_by_role("button", name="Stop the clock").click()
    desk.locator(".badge").filter(has_text="Paused").wait_for()
    assert "(still paused)" in readable(desk)
    desk.get_by_role("button", name="Resume (the information arrived)").click()
    desk.get_by_role("button", name="Stop the clock").wait_for()
    assert "identity" in readable(desk)


def test_admin_is_told_the_law_does_not_stop_the_clock_in_australia(desk: Any, platform: Platform) -> None:
    status, tenant_body = platform.call(AU, "POST", "/v1/tenants", platform.token("platform_admin", region=AU),
                                        body={"name": "Sydney School", "kind": "school", "jurisdiction": "AU"})
    assert status == 201, tenant_body
    tenant = tenant_body["tenant_id"]
    learner = enrol(platform, tenant, "Ada", "Lovelace", region=AU)
    request = record_request(platform, tenant, learner, "rectification", region=AU)
    sign_in(desk, platform, "tenant_admin", tenant, region=AU)
    visit(desk, platform, f"request/{request['request_id']}", "Act on this request", "request (desk)")
    desk.get_by_role("button", name="Stop the clock").click()
    alert = desk.get_by_role("alert")
    alert.wait_for()
    assert "the clock cannot be stopped" in alert.inner_text()
    assert "Privacy Act" in alert.inner_text()  # the law named, as the API says it
    accessible(desk, "tenant-admin-clock-refused")


def test_admin_lift_a_restriction(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Restriction School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    record_request(platform, tenant, learner, "restriction")
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, f"learner/{learner}", "Processing of this learner is restricted", "learner restricted (desk)")
    assert "GMT" in readable(desk)
    accessible(desk, "tenant-admin-restricted")
    desk.get_by_role("button", name="Lift the restriction").click()
    desk.get_by_role("heading", name="Ada Lovelace", level=1).wait_for()


def test_admin_see_the_schools_legal_holds(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Hold School")
    learner = enrol(platform, tenant, "Ada", "Lovelace")
    status, hold = platform.call(UK, "POST", f"/v1/tenants/{tenant}/legal-holds", regional(platform),
                                 body={"reason": "Employment tribunal claim", "category": "litigation",
                                       "learner_id": learner})
    assert status == 201, hold
    sign_in(desk, platform, "tenant_admin", tenant)
    visit(desk, platform, "holds", "Employment tribunal claim", "legal holds (desk)")
    row = desk.get_by_role("row").filter(has_text="Employment tribunal claim").inner_text()
    assert "Ada Lovelace" in row
    assert "In force" in row
    assert "GMT" in row
    assert desk.get_by_role("button", name="Lift").count() == 0  # read-only for the school
    readable(desk)
    accessible(desk, "tenant-admin-holds")


def test_admin_record_evidence_of_a_standing_obligation(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Obligation School")
    sign_in(desk, platform, "tenant_admin", tenant)
    desk.get_by_role("link", name="Obligations").click()
    desk.get_by_role("heading", name="Checklist").wait_for()
    row = desk.get_by_role("row").filter(has=desk.locator(".badge", has_text="Due")).first
    title = row.locator("strong").inner_text()
    row.get_by_label("Done on").fill("2026-11-02")
    row.get_by_role("button", name="Record").click()
    done = desk.get_by_role("row").filter(has_text=title).first
    done.get_by_text("done 2 Nov 2026").wait_for()
    assert "Met" in done.inner_text()
    guide_shot(desk, "admin-obligations-desktop")
    accessible(desk, "tenant-admin-obligations")


# -- at phone size: every tenant screen, nothing scrolls sideways, the menu works ---------------------


def test_every_tenant_screen_fits_a_phone_and_passes_axe(phone: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Phone School With A Rather Long Name Indeed")
    learner = enrol(platform, tenant, "Maximiliana-Josefina", "Von Hohenzollern-Sigmaringen")
    request = record_request(platform, tenant, learner, "rectification", days_ago=40)
    record_request(platform, tenant, learner, "access")
    status, _ = platform.call(UK, "POST", f"/v1/tenants/{tenant}/legal-holds", regional(platform),
                              body={"reason": "Insurance claim", "learner_id": learner})
    assert status == 201
    sign_in(phone, platform, "tenant_admin", tenant)
    phone.get_by_role("link", name="Obligations").click()  # the menu works at phone width
    phone.get_by_role("heading", name="Checklist").wait_for()
    screens = [("learners", "Learners of Phone School"), ("enrol", "New learner"),
               (f"learner/{learner}", "No result recorded yet."), ("requests", "Von Hohenzollern"),
               (f"request/{request['request_id']}", "Act on this request"), ("holds", "Insurance claim"),
               ("obligations", "Checklist")]
    for path, ready in screens:
        name = path.split("/")[0]
        visit(phone, platform, path, ready, f"{name} (phone)")
        width = phone.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], (path, width)
        readable(phone)
        accessible(phone, f"tenant-phone-{name}")
        if name in ("requests", "learner"):
            guide_shot(phone, f"admin-{name}-phone")
    phone.get_by_role("button", name="Sign out").click()
    sign_in(phone, platform, "tenant_staff", tenant)
    phone.get_by_role("heading", name="Learners", level=1).wait_for()
    phone.get_by_text("Learners of Phone School").wait_for()
    assert phone.get_by_role("link", name="Requests").count() == 0  # not a staff screen
    guide_shot(phone, "staff-learners-phone")
    width = phone.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert width
