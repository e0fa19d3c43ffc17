"""A compliance officer's jobs in the console, in Chromium at 1366x768, and every officer screen at 390x844.

One test per job, each asserting what the officer sees (a tenant's name, a date in their time zone, a
status, a count); axe-core on every screen at both sizes; the audit filter's time is printed (not
asserted). Screenshots of the officer's screens go to docs/console/ for the README.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import PROJECT_ROOT
from tests.browser.test_console import AXE, UK, days_ago, enrol, onboard, onboard_in, sign_in
from tests.support.platform import Platform

DOCS = PROJECT_ROOT / "docs" / "console"
ZONE = "Europe/London"
LOCAL_TIME = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} GMT")  # en-GB, London in winter: GMT
MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{4,6}")
SCREENS = {"home": "Home", "requests": "Requests due", "incidents": "Incidents", "tenants": "Audit trails",
           "consent": "Consent coverage"}


def context(chromium: Any, width: int, height: int) -> Iterator[Any]:
    made = chromium.new_context(viewport={"width": width, "height": height}, bypass_csp=False, locale="en-GB",
                               timezone_id=ZONE, accept_downloads=True)
    made.set_default_timeout(20000)
    yield made.new_page()
    made.close()


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    yield from context(browser, 1366, 768)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    yield from context(browser, 390, 844)


def check(page: Any, name: str | None = None, *, whole: bool = True) -> None:
    """No serious or critical axe-core issue (axe is added by evaluating it: the console's CSP stays on);
    no microseconds on screen; optionally a screenshot for the README."""
    page.evaluate(AXE + "\n;undefined")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert not bad, bad
    assert not MICROSECONDS.search(page.locator("body").inner_text())
    if name:
        DOCS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOCS / f"{name}.png"), full_page=whole)


def settled(page: Any, heading: str | re.Pattern[str] | None = None) -> None:
    """The screen named ``heading`` is shown and nothing on it is still loading."""
    if heading is not None:
        page.get_by_role("heading", name=heading, level=1).wait_for()
    page.wait_for_function("() => !document.querySelector('.loading') && !document.querySelector('[aria-busy=true]')")


@pytest.fixture(scope="module")
def region(platform: Platform) -> dict[str, Any]:
    """Two UK schools: requests overdue and due soon, an incident with the ICO's 72 hours running, consent
    decisions, a verified and exported trail; over 100 events of one kind in one trail (to page)."""
    names = {"wharfe": "Wharfedale Grammar", "calder": "Calder Valley Academy"}
    ids = {key: onboard(platform, name) for key, name in names.items()}
    admin = platform.token("tenant_admin", ids["wharfe"], UK)
    staff = platform.token("tenant_staff", ids["wharfe"], UK)
    learners = [enrol(platform, ids["wharfe"], f"learner{n}@wharfe.example") for n in range(3)]
    for learner, received in zip(learners, (45, 28), strict=False):  # UK rectification: one month
        status, body = platform.call(UK, "POST", f"/v1/tenants/{ids['wharfe']}/requests", admin, body={
            "learner_id": learner, "type": "rectification", "received_at": days_ago(received)})
        assert status == 201, body
    for learner, decision in zip(learners, ("granted", "withdrawn"), strict=False):
        status, body = platform.call(UK, "POST", f"/v1/tenants/{ids['wharfe']}/learners/{learner}/consents", staff,
                                     body={"purpose": "research", "decision": decision, "given_by": "guardian",
                                           "verification": "signed_form"})
        assert status == 201, body
    for _ in range(105):
        assert platform.call(UK, "GET", f"/v1/tenants/{ids['wharfe']}/learners/{learners[2]}", staff)[0] == 200
    status, incident = platform.call(UK, "POST", "/v1/incidents", platform.token("regional_admin", region=UK), body={
        "discovered_at": days_ago(60 / 24), "tenant_ids": [ids["calder"]], "summary": "Stolen laptop"})
    assert status == 201, incident
    officer = platform.token("compliance_officer", region=UK)
    assert platform.call(UK, "GET", f"/v1/tenants/{ids['calder']}/audit/verify", officer)[0] == 200
    assert platform.call(UK, "POST", f"/v1/tenants/{ids['calder']}/audit/exports", officer, body={})[0] == 201
    return {"names": names, "ids": ids, "incident": incident["incident_id"]}


def test_home_lists_overdue_and_due_soon_requests_by_tenant_name_with_local_dates(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    sign_in(desk, platform, "compliance_officer")
    settled(desk, "Home")
    card = desk.get_by_role("region", name="Requests due")
    rows = card.get_by_role("row").filter(has_text=region["names"]["wharfe"])
    assert rows.count() == 2
    overdue, soon = rows.filter(has_text="Overdue"), rows.filter(has_text="Due soon")
    assert overdue.count() == 1
    assert soon.count() == 1
    assert "overdue" in overdue.inner_text()  # the countdown
    assert LOCAL_TIME.search(overdue.inner_text()), overdue.inner_text()
    assert region["ids"]["wharfe"] not in card.inner_text()  # names, not ids
    assert "Rectification" in overdue.inner_text()  # the request's kind
    assert "lrn_" not in card.inner_text()  # no learner id (and no learner name: tenant screens only)
    assert "No learner is named" in card.inner_text()
    assert card.get_by_role("img", name=re.compile(r"Open requests: \d+ overdue")).count() == 1
    check(desk, "officer-home")


def test_incidents_show_each_deadline_counting_down_with_the_tenant_named(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    sign_in(desk, platform, "compliance_officer")
    desk.get_by_role("link", name="Incidents", exact=True).click()
    settled(desk, "Incidents")
    article = desk.locator("article.incident").filter(has_text=region["names"]["calder"]).first
    regulator = article.get_by_role("row").filter(has_text="regulator")
    text = regulator.inner_text()
    assert "h left" in text, text  # 60 hours after discovery: 12 of the ICO's 72 hours left
    assert "Due soon" in text
    assert LOCAL_TIME.search(text), text
    assert LOCAL_TIME.search(article.get_by_role("heading").inner_text())
    check(desk, "officer-incidents")


def test_each_tenant_shows_its_last_verification_and_last_export(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    sign_in(desk, platform, "compliance_officer")
    desk.get_by_role("link", name="Audit trails").click()
    settled(desk, "Audit trails")
    calder = desk.get_by_role("row").filter(has_text=region["names"]["calder"])
    cells = calder.get_by_role("cell").all_inner_texts()
    assert cells[1] == "UK"
    assert cells[3].startswith("Valid"), cells
    assert LOCAL_TIME.search(cells[3]), cells
    assert "to the export bucket" in cells[4]
    assert LOCAL_TIME.search(cells[4]), cells
    wharfe = desk.get_by_role("row").filter(has_text=region["names"]["wharfe"]).get_by_role("cell").all_inner_texts()
    assert wharfe[3] == "Never verified"
    assert wharfe[4] == "Never exported"
    check(desk)


def test_consent_coverage_counts_learners_per_purpose_without_naming_them(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    sign_in(desk, platform, "compliance_officer")
    desk.get_by_role("link", name="Consent coverage").click()
    settled(desk, "Consent coverage")
    table = desk.get_by_role("table").filter(has_text=f"{region['names']['wharfe']}: 3 learner(s)")
    research = table.get_by_role("row").filter(has_text="research").get_by_role("cell").all_inner_texts()
    assert research[0] == "research"
    assert research[2].strip() == "1 of 3", research
    assert research[3:] == ["1", "1"], research
    assert table.get_by_role("img", name="research: 1 of 3 learners with consent granted").count() == 1
    assert "Lovelace" not in desk.locator("body").inner_text()
    check(desk, "officer-consent")


def test_a_named_tenants_trail_filters_fast_pages_on_and_describes_actors(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    sign_in(desk, platform, "compliance_officer")
    settled(desk, "Home")
    desk.get_by_role("link", name=region["names"]["wharfe"]).first.click()
    settled(desk, f"Audit trail of {region['names']['wharfe']}")
    assert desk.evaluate("document.activeElement.tagName") == "H1"  # focus moved to the new screen's heading
    desk.get_by_label("Action").fill("learner.read")
    began = time.monotonic()
    desk.get_by_role("button", name="Filter").click()
    desk.get_by_text("100 event(s) with action learner.read, more to load").wait_for()
    took = time.monotonic() - began
    print(f"\naudit filter (action=learner.read, 100 of 105+ events): {took * 1000:.0f} ms in the test, "
          f"{desk.get_by_test_id('filter-time').inner_text()}")
    rows = desk.get_by_role("row").filter(has_text="learner.read")
    assert "Tenant staff · user " in rows.first.inner_text()
    assert LOCAL_TIME.search(rows.first.inner_text())
    desk.get_by_role("button", name="Load more events").click()
    desk.get_by_text("105 event(s) with action learner.read, oldest first").wait_for()
    chart = desk.get_by_role("img", name=re.compile("^Events per day"))
    drawn = chart.locator("rect").evaluate_all("rs => rs.filter((r) => +r.getAttribute('height') > 0).length")
    assert drawn >= 1
    assert "events from" in desk.get_by_test_id("picture-summary").inner_text()
    wide = desk.evaluate("document.documentElement.scrollWidth")
    assert wide <= 1366, wide
    check(desk, "officer-audit-trail", whole=False)


def test_export_and_verify_in_the_browser_name_the_first_bad_seq(
        desk: Any, platform: Platform, region: dict[str, Any], tmp_path: Path) -> None:
    sign_in(desk, platform, "compliance_officer")
    desk.goto(f"{platform.local.console_url}/#/audit/{region['ids']['wharfe']}")
    desk.get_by_role("button", name="Verify the stored trail").click()
    desk.get_by_text("Valid", exact=True).wait_for()
    desk.get_by_role("button", name="Export the trail").click()
    with desk.expect_download() as download:
        desk.get_by_role("link", name="Download the export (NDJSON)").click()
    assert download.value.suggested_filename.startswith("audit-wharfedale-grammar-")
    exported = Path(download.value.path()).read_text()
    desk.get_by_test_id("last-export").filter(has_text="downloaded").wait_for()
    assert LOCAL_TIME.search(desk.get_by_test_id("last-verification").inner_text())
    lines = exported.splitlines()
    third = json.loads(lines[2])
    third["action"] = "learner.forged"
    lines[2] = json.dumps(third)
    tampered = tmp_path / "tampered.ndjson"
    tampered.write_text("\n".join(lines) + "\n")
    desk.get_by_label("Verify an export file").set_input_files(str(tampered))
    desk.get_by_text("first bad event: seq 3").wait_for()
    check(desk)


def test_the_proof_of_one_event_downloads_and_checks_offline(
        desk: Any, platform: Platform, region: dict[str, Any], tmp_path: Path) -> None:
    sign_in(desk, platform, "compliance_officer")
    desk.goto(f"{platform.local.console_url}/#/audit/{region['ids']['calder']}")
    settled(desk, f"Audit trail of {region['names']['calder']}")
    desk.get_by_role("button", name="Proof of event 2", exact=True).click()
    link = desk.get_by_role("link", name=re.compile(r"^Download proof-calder-valley-academy-seq-2\.json"))
    with desk.expect_download() as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    checked = subprocess.run([sys.executable, "-m", "chalicelib.cli", "audit", "prove", str(saved)],
                             capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "audit prove" in desk.locator("code", has_text="chalicelib.cli audit prove").inner_text()
    check(desk)


def test_the_region_signing_keys_are_listed_for_offline_checks(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    status, keys = platform.call(UK, "GET", "/v1/audit/keys", platform.token("compliance_officer", region=UK))
    if status != 200:
        pytest.skip("GET /v1/audit/keys is not served by this build")
    sign_in(desk, platform, "compliance_officer")
    desk.goto(f"{platform.local.console_url}/#/audit/{region['ids']['calder']}")
    settled(desk, f"Audit trail of {region['names']['calder']}")
    card = desk.get_by_role("region", name="Signing keys")
    rows = card.get_by_role("row").filter(has_text=keys["keys"][-1]["key_id"].split("/")[-1])
    assert LOCAL_TIME.search(rows.first.inner_text())
    assert card.get_by_role("link", name="Download audit-keys.json").count() == 1


def test_an_officer_switches_a_tenants_siem_stream_on_and_off_from_its_trail(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    sign_in(desk, platform, "compliance_officer")
    desk.goto(f"{platform.local.console_url}/#/audit/{region['ids']['wharfe']}")
    settled(desk, f"Audit trail of {region['names']['wharfe']}")
    card = desk.get_by_role("region", name="SIEM stream (OCSF)")
    assert card.get_by_test_id("stream-state").inner_text() == "Off"
    card.get_by_role("button", name="Switch the stream on").click()
    card.get_by_role("button", name="Switch the stream off").wait_for()
    assert card.get_by_test_id("stream-state").inner_text() == "On"
    officer = platform.token("compliance_officer", region=UK)
    status, stream = platform.call(UK, "GET", f"/v1/tenants/{region['ids']['wharfe']}/audit/stream", officer)
    assert status == 200
    assert stream["enabled"] is True
    card.get_by_role("button", name="Switch the stream off").click()
    card.get_by_role("button", name="Switch the stream on").wait_for()
    status, page = platform.call(UK, "GET", f"/v1/tenants/{region['ids']['wharfe']}/audit/events"
                                 "?action=siem_stream.update", officer)
    assert status == 200
    assert [event["details"]["enabled"] for event in page["items"]] == [True, False]


def test_the_tenants_list_renders_once_and_every_officer_page_has_its_menu_entry(
        desk: Any, platform: Platform, region: dict[str, Any]) -> None:
    sign_in(desk, platform, "compliance_officer")
    settled(desk, "Home")  # the first screen after signing in used to be drawn twice
    assert desk.get_by_role("heading", name="Audit trails", level=2).count() == 1
    assert desk.get_by_role("link", name=region["names"]["calder"], exact=True).count() == 1
    nav = desk.get_by_role("navigation", name="Sections")
    assert nav.get_by_role("link").all_inner_texts() == ["Home", "Requests due", "Incidents", "Audit trails",
                                                         "Consent coverage", "Inbox"]
    nav.get_by_role("link", name="Audit trails").click()
    settled(desk, "Audit trails")
    assert desk.get_by_role("link", name=region["names"]["calder"], exact=True).count() == 1
    assert desk.get_by_role("table").count() == 1
    desk.goto(f"{platform.local.console_url}/#/requests")  # no longer silently another screen
    desk.get_by_role("heading", name="Requests due", level=1).wait_for()
    assert desk.evaluate("document.activeElement.textContent") == "Requests due"
    check(desk)
    desk.goto(f"{platform.local.console_url}/#/audit/{onboard_in(platform, 'AU')}")  # not of the officer's region
    desk.get_by_role("alert").wait_for()
    assert desk.get_by_role("button", name="Verify the stored trail").count() == 0


@pytest.mark.parametrize("screen", [*SCREENS, "audit"])
def test_every_officer_screen_fits_a_phone_and_passes_axe(
        phone: Any, platform: Platform, region: dict[str, Any], screen: str) -> None:
    sign_in(phone, platform, "compliance_officer")
    settled(phone, "Home")
    path = f"audit/{region['ids']['wharfe']}" if screen == "audit" else screen
    phone.goto(f"{platform.local.console_url}/#/{path}")
    settled(phone, re.compile("^" + SCREENS.get(screen, f"Audit trail of {region['names']['wharfe']}") + "$"))
    wide = phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"{screen} is {wide} px wide"
    check(phone, f"officer-{screen}-phone" if screen in ("home", "audit") else None, whole=screen == "home")
