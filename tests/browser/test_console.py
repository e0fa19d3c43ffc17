"""The console in a real browser (Playwright driving Debian's Chromium) against the platform ``make run`` starts.

Each flow signs in through the console's own form (USER_PASSWORD_AUTH against the emulator's
pools), checks what a user sees, runs axe-core on the page (no serious or critical issue) and
saves a screenshot under build/screenshots/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.cognito_admin import create_user_with_password, find_user_pool
from chalicelib.settings import PROJECT_ROOT
from tests.support.platform import Platform

playwright_api = pytest.importorskip("playwright.sync_api")

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
SHOTS = PROJECT_ROOT / "build" / "screenshots"
UK = "eu-west-2"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # axe is injected
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, platform: Platform, role: str, tenant: str | None = None, region: str = UK) -> None:
    cognito = platform.emulator().cognito(region)
    pool = find_user_pool(cognito, region)
    assert pool is not None
    username = "-".join(p for p in ("console", role, tenant, region) if p)
    password = create_user_with_password(cognito, pool, username, role, tenant)
    page.goto(platform.local.console_url + "/")
    page.get_by_label("Region of your account").select_option(region)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def accessible(page: Any, name: str) -> None:
    """axe-core finds no serious or critical issue; the screenshot is kept for the README and review."""
    page.add_script_tag(content=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert not bad, json.dumps(bad)


def onboard(platform: Platform, name: str = "Console School") -> str:
    status, tenant = platform.call(UK, "POST", "/v1/tenants", platform.token("platform_admin", region=UK),
                                   body={"name": name, "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    return str(tenant["tenant_id"])


def enrol(platform: Platform, tenant: str, email: str, given: str = "Ada") -> str:
    status, learner = platform.call(UK, "POST", f"/v1/tenants/{tenant}/learners",
                                    platform.token("tenant_staff", tenant, UK),
                                    body={"given_name": given, "family_name": "Lovelace", "email": email,
                                          "date_of_birth": "2010-12-10"})
    assert status == 201, learner
    return str(learner["learner_id"])


def test_sign_in_page_is_accessible(page: Any, platform: Platform) -> None:
    page.goto(platform.local.console_url + "/")
    page.get_by_role("heading", name="Sign in").wait_for()
    accessible(page, "sign-in")


def test_admin_onboards_a_tenant(page: Any, platform: Platform) -> None:
    sign_in(page, platform, "platform_admin")
    page.get_by_label("Name").fill("Riverside Academy")
    page.get_by_label("Jurisdiction").select_option("UK")
    page.get_by_role("button", name="Onboard tenant").click()
    page.get_by_text("Onboarded Riverside Academy:").wait_for()
    row = page.get_by_role("row").filter(has_text="Riverside Academy")
    assert "eu-west-2" in row.first.inner_text()
    accessible(page, "admin-tenants")


US = "us-east-1"


def test_admin_onboards_a_us_tenant_in_new_york_and_its_incident_names_the_state_rule(
        page: Any, platform: Platform) -> None:
    status, pack = platform.call(US, "GET", "/v1/jurisdictions/US", platform.token("platform_admin", region=US))
    assert status == 200, pack
    sign_in(page, platform, "platform_admin", region=US)
    page.get_by_label("Name").fill("Hudson Valley School")
    page.get_by_label("Jurisdiction").select_option("UK")
    page.get_by_text("UK has no state rules").wait_for()
    assert page.get_by_label("State or territory (optional)").is_disabled()
    page.get_by_label("Jurisdiction").select_option("AU")
    page.get_by_text("New South Wales (NSW)").wait_for()
    assert "NSW, government (public sector)" in page.locator("#onboard-sector-hint").inner_text()
    page.get_by_label("Jurisdiction").select_option("US")
    page.get_by_text("New York (NY)").wait_for()  # the overlays, loaded from GET /v1/jurisdictions/US
    offered = page.locator("#onboard-states option").evaluate_all("options => options.map((o) => o.value)")
    assert offered == sorted(pack["overlays"])
    assert "NY" in offered
    state = page.get_by_label("State or territory (optional)")
    state.fill("ZZ")
    page.get_by_role("button", name="Onboard tenant").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "unknown state of US; expected one of" in alert.inner_text()  # the API's 422, field by field
    assert state.get_attribute("aria-invalid") == "true"
    accessible(page, "admin-onboard-unknown-state")
    state.fill("NY")
    page.get_by_label("Sector (optional)").select_option("government")
    page.get_by_role("button", name="Onboard tenant").click()
    page.get_by_text("Onboarded Hudson Valley School:").wait_for()
    assert "state NY" in page.get_by_text("Onboarded Hudson Valley School:").inner_text()
    row = page.get_by_role("row").filter(has_text="Hudson Valley School").first
    row.wait_for()  # the list reloads after the onboarding
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[3:7] == ["US", "NY", "Government (public sector)", US], cells
    assert cells[1].startswith("tnt_")
    accessible(page, "admin-tenants-state")
    page.get_by_role("link", name="Incidents", exact=True).click()
    page.get_by_label("Discovered at").fill((datetime.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Hudson Valley School").first.check()
    page.get_by_label("Summary").fill("Lost USB stick")
    page.get_by_role("button", name="Record incident").click()
    recorded = page.get_by_role("status").filter(has_text="Recorded the incident for Hudson Valley School")
    recorded.wait_for()
    incident = recorded.inner_text().rsplit(": ", 1)[1].rstrip(".")
    listed = page.locator("article.incident").filter(has_text=incident)
    listed.wait_for()
    individuals = listed.get_by_role("row").filter(has_text="individuals")
    text = individuals.inner_text()
    assert "US-NY" in text  # 60 days: New York's rule beat the federal one
    assert "NY Education Law 2-d" in text
    assert "US · NY" in text
    assert " d " in text  # a countdown in days: the federal rule sets no deadline at all
    assert "left" in text
    accessible(page, "admin-incident-state-rule")


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_admin_sees_requests_overdue_in_red_and_due_soon_in_amber_and_runs_a_retention_dry_run(
        page: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Requests School")
    admin = platform.token("tenant_admin", tenant, UK)
    for received, email in ((45, "late.request@example.org"), (28, "soon.request@example.org")):
        learner = enrol(platform, tenant, email)  # UK: one month to answer a rectification
        status, body = platform.call(UK, "POST", f"/v1/tenants/{tenant}/requests", admin,
                                     body={"learner_id": learner, "type": "rectification",
                                           "received_at": days_ago(received)})
        assert status == 201, body
    sign_in(page, platform, "regional_admin")
    page.get_by_role("link", name="Requests", exact=True).click()
    page.get_by_role("heading", name="Data requests due").wait_for()
    rows = page.get_by_role("row").filter(has_text="Requests School")  # the tenant by its name
    rows.nth(1).wait_for()
    overdue, soon = page.locator(".badge.overdue").first, page.locator(".badge.due_soon").first
    assert overdue.inner_text() == "Overdue"
    assert soon.inner_text() == "Due soon"
    assert overdue.evaluate("e => getComputedStyle(e).color") == "rgb(164, 22, 26)"  # red
    assert soon.evaluate("e => getComputedStyle(e).color") == "rgb(122, 75, 0)"  # amber
    accessible(page, "admin-requests")
    page.get_by_role("link", name="Retention").click()
    page.get_by_role("button", name="Dry run").click()
    page.get_by_role("row").filter(has_text="Requests School").first.wait_for()  # the dry run as a table
    assert page.get_by_role("button", name="Run the sweep (erases)").is_enabled()
    accessible(page, "admin-retention")


def test_admin_sees_the_regions_incidents_with_countdowns_to_each_deadline(page: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Breached School")
    admin = platform.token("regional_admin", region=UK)
    recorded = []
    for hours in (80, 60):  # UK: the ICO within 72 hours: one overdue, one due within the day
        status, incident = platform.call(UK, "POST", "/v1/incidents", admin, body={
            "discovered_at": days_ago(hours / 24), "tenant_ids": [tenant], "summary": "Stolen laptop"})
        assert status == 201, incident
        recorded.append(incident["incident_id"])
    sign_in(page, platform, "regional_admin")
    page.get_by_role("link", name="Incidents", exact=True).click()
    late = page.locator("article.incident").filter(has_text=recorded[0])
    soon = page.locator("article.incident").filter(has_text=recorded[1])
    late.wait_for()
    regulator_late = late.get_by_role("row").filter(has_text="regulator")
    assert "h overdue" in regulator_late.inner_text()
    assert regulator_late.locator(".badge.overdue").count() == 1
    regulator_soon = soon.get_by_role("row").filter(has_text="regulator")
    assert "h left" in regulator_soon.inner_text()
    assert regulator_soon.locator(".badge.due_soon").count() == 1
    assert "as soon as practicable" in soon.get_by_role("row").filter(has_text="individuals").inner_text()
    accessible(page, "admin-incidents")
    page.get_by_role("link", name="Legal holds").click()
    page.get_by_label("Tenant", exact=True).select_option(tenant)
    page.get_by_role("button", name="Show holds").click()
    page.get_by_role("button", name="Place hold").wait_for()
    accessible(page, "admin-holds")


def test_staff_enrol_and_search_a_learner(page: Any, platform: Platform) -> None:
    tenant = onboard(platform)
    sign_in(page, platform, "tenant_staff", tenant)
    page.get_by_role("link", name="Enrol").click()
    page.get_by_label("Given name").fill("Grace")
    page.get_by_label("Family name").fill("Hopper")
    page.get_by_label("E-mail").fill("grace.hopper@example.org")
    page.get_by_label("Date of birth").fill("2011-03-04")
    page.get_by_role("button", name="Enrol learner").click()
    page.get_by_text("Enrolled:").wait_for()
    accessible(page, "staff-enrol")
    page.get_by_role("link", name="Learners", exact=True).click()
    page.get_by_role("cell", name="Active").first.wait_for()
    page.get_by_label("E-mail address").fill("Grace.Hopper@example.org")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("cell", name="Grace Hopper").wait_for()
    accessible(page, "staff-learners")
    page.get_by_role("table").first.get_by_role("link").first.click()
    page.get_by_role("heading", name="Consent").wait_for()
    assert page.get_by_text("grace.hopper@example.org").count() == 1
    assert page.get_by_role("button", name="Erase learner…").count() == 0  # staff may not erase
    accessible(page, "staff-learner")
    storage = page.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert "grace" not in storage.lower()
    assert "eyJ" not in storage  # no token kept in web storage


def test_erased_learner_shows_as_erased(page: Any, platform: Platform) -> None:
    tenant = onboard(platform)
    learner = enrol(platform, tenant, "to.erase@example.org")
    sign_in(page, platform, "tenant_admin", tenant)
    page.goto(f"{platform.local.console_url}/#/learner/{learner}")
    page.get_by_role("button", name="Erase learner…").click()
    dialog = page.get_by_role("dialog")
    assert "cannot be undone" in dialog.inner_text()
    accessible(page, "admin-erase-confirm")
    dialog.get_by_role("button", name="Erase for good").click()
    page.get_by_text(f"{learner} erased at").wait_for()
    page.get_by_role("link", name="Learners", exact=True).click()
    row = page.get_by_role("row").filter(has_text=learner)
    row.get_by_text("Erased").wait_for()
    page.goto(f"{platform.local.console_url}/#/learner/{learner}")
    page.get_by_text("was erased").wait_for()
    accessible(page, "admin-erased-learner")
    page.get_by_role("link", name="Requests", exact=True).click()
    page.get_by_role("button", name="Record request").wait_for()
    accessible(page, "tenant-requests")


def test_officer_exports_and_verifies_and_a_tampered_export_is_invalid(
        page: Any, platform: Platform, tmp_path: Path) -> None:
    tenant = onboard(platform, "Audited School")
    enrol(platform, tenant, "audited@example.org")
    sign_in(page, platform, "compliance_officer")
    page.get_by_role("link", name="Audited School").first.wait_for()
    accessible(page, "officer-tenants")
    page.get_by_role("link", name="Audited School").first.click()
    page.get_by_role("button", name="Verify the stored trail").click()
    page.get_by_text("Valid", exact=True).wait_for()
    page.get_by_role("button", name="Export the trail").click()
    link = page.get_by_role("link", name="Download the export (NDJSON)")
    with page.expect_download() as download:
        link.click()
    exported = Path(download.value.path()).read_text()
    assert page.get_by_test_id("verdict").first.inner_text().startswith("Valid")
    page.get_by_label("Action").fill("learner.create")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("cell", name="learner.create").wait_for()
    accessible(page, "officer-audit")
    lines = exported.splitlines()
    second = json.loads(lines[1])
    second["action"] = "learner.forged"
    lines[1] = json.dumps(second)
    tampered = tmp_path / "tampered.ndjson"
    tampered.write_text("\n".join(lines) + "\n")
    page.get_by_label("Verify an export file").set_input_files(str(tampered))
    page.get_by_text("first bad event: seq 2").wait_for()
    accessible(page, "officer-tampered")


def test_each_role_is_refused_what_it_may_not_do(page: Any, platform: Platform) -> None:
    sign_in(page, platform, "regional_admin")  # eu-west-2's admin may not onboard a Philippine tenant
    page.get_by_label("Name").fill("Manila School")
    page.get_by_label("Jurisdiction").select_option("PH")
    page.get_by_role("button", name="Onboard tenant").click()
    page.get_by_role("alert").wait_for()
    refusal = page.get_by_role("alert").inner_text()  # refused by the scope check before Cedar is asked
    assert "may not onboard" in refusal or "user pool is not the one of this jurisdiction" in refusal
    page.get_by_role("button", name="Sign out").click()
    tenant = onboard(platform)
    sign_in(page, platform, "tenant_staff", tenant)
    assert page.get_by_role("link", name="Tenants").count() == 0
    page.goto(f"{platform.local.console_url}/#/audit/{tenant}")  # not a staff screen: back to learners
    page.get_by_role("heading", name="Learners", exact=True, level=1).wait_for()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, platform, "compliance_officer")
    page.goto(f"{platform.local.console_url}/#/audit/{onboard(platform)}")
    page.get_by_role("button", name="Verify the stored trail").wait_for()
    assert page.get_by_role("link", name="Enrol").count() == 0
    other = onboard_in(platform, "AU")
    page.goto(f"{platform.local.console_url}/#/audit/{other}")
    page.get_by_role("alert").wait_for()
    accessible(page, "officer-refused")


def onboard_in(platform: Platform, jurisdiction: str) -> str:
    region = {"PH": "ap-southeast-1", "AU": "ap-southeast-2", "US": "us-east-1"}[jurisdiction]
    status, tenant = platform.call(region, "POST", "/v1/tenants", platform.token("platform_admin", region=region),
                                   body={"name": "Far School", "kind": "school", "jurisdiction": jurisdiction})
    assert status == 201, tenant
    return str(tenant["tenant_id"])


def test_apis_allow_the_consoles_origin_only(platform: Platform) -> None:
    import requests

    response = requests.options(platform.url(UK) + "/v1/tenants", timeout=10, headers={
        "Origin": platform.local.console_url, "Access-Control-Request-Method": "GET"})
    assert response.headers.get("Access-Control-Allow-Origin") == platform.local.console_url
    assert "Authorization" in response.headers.get("Access-Control-Allow-Headers", "")
