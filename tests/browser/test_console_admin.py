"""The console's admin screens in a real browser, one test per job of a regional admin and of a platform admin.

At desk size (1366x768) each test does one job and checks what the admin sees: tenants by name, dates in
the browser's time zone with the zone named, countdowns, statuses. A smoke pass at phone size (390x844)
visits every admin screen of both roles: nothing scrolls sideways, no microseconds, axe-core finds no
serious or critical issue. The README's screenshots are taken here (docs/console/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.settings import PROJECT_ROOT
from tests.browser.test_console import AXE, SHOTS, UK, days_ago, enrol, onboard, onboard_in, sign_in
from tests.support.platform import Platform

DOCS = PROJECT_ROOT / "docs" / "console"
AU = "ap-southeast-2"
DESK = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
ZONE = "Europe/London"
LOCAL_TIME = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} (GMT|BST)")
MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d+")


def context(browser: Any, viewport: dict[str, int], csp: bool = False) -> Any:
    made = browser.new_context(viewport=viewport, bypass_csp=not csp, timezone_id=ZONE, locale="en-GB",
                               is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    made.set_default_timeout(15000)
    return made


@pytest.fixture
def desk(browser: Any) -> Iterator[Any]:
    made = context(browser, DESK)
    yield made.new_page()
    made.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    made = context(browser, PHONE)
    yield made.new_page()
    made.close()


def checked(page: Any, name: str, docs: bool = False) -> None:
    """axe-core: no serious or critical issue; nothing wider than the window; no microseconds; a screenshot."""
    page.add_script_tag(content=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    text = page.locator("body").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if docs:  # the README's: what the first screenful shows
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"))
    assert not bad, json.dumps(bad)
    assert widths[0] <= widths[1], f"{name}: {widths[0]} px wide in a {widths[1]} px window"
    assert not MICROSECONDS.search(text), name


def go(page: Any, link: str) -> None:
    """Open a screen from the menu (unless it is the one shown); focus lands on its heading."""
    item = page.get_by_role("navigation").get_by_role("link", name=link, exact=True)
    if item.get_attribute("aria-current") == "page":
        page.get_by_role("heading", level=1, name=link).wait_for()
        return
    item.click()
    page.get_by_role("heading", level=1, name=link).wait_for()
    assert page.evaluate("() => document.activeElement.tagName") == "H1"


def incident_naming(platform: Platform, region: str, tenants: list[str], hours_ago: float = 20) -> str:
    status, body = platform.call(region, "POST", "/v1/incidents", platform.token("platform_admin", region=region),
                                 body={"discovered_at": days_ago(hours_ago / 24), "tenant_ids": tenants,
                                       "summary": "Shared folder open to the web"})
    assert status == 201, body
    return str(body["incident_id"])


# ---------------------------------------------------------------------------------------------- regional admin


def test_regional_admin_sees_the_regions_tenants_by_name(desk: Any, platform: Platform) -> None:
    onboard(platform, "Kingfisher Primary")
    sign_in(desk, platform, "regional_admin")
    row = desk.get_by_role("row").filter(has_text="Kingfisher Primary").first
    row.wait_for()
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[3] == "UK"
    assert cells[6] == UK
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", cells[7]), cells  # a date, not a timestamp
    assert desk.get_by_role("link", name="Offboarding").count() == 0  # a platform admin's job
    assert desk.evaluate("() => document.title") == "Tenants · Enclave console"
    checked(desk, "regional-tenants-desktop", docs=True)


def test_regional_admin_sees_the_regions_requests_with_tenant_names_and_deadlines(
        desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Heron Academy")
    admin = platform.token("tenant_admin", tenant, UK)
    learner = enrol(platform, tenant, "heron.late@example.org")
    status, request = platform.call(UK, "POST", f"/v1/tenants/{tenant}/requests", admin,
                                    body={"learner_id": learner, "type": "rectification", "received_at": days_ago(40)})
    assert status == 201, request
    sign_in(desk, platform, "regional_admin")
    go(desk, "Requests")
    row = desk.get_by_role("row").filter(has_text="Heron Academy")
    row.wait_for()
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[0] == "Overdue"
    assert cells[2] == "Heron Academy"  # the tenant by name
    assert cells[3] == "rectification"  # the kind of request
    assert re.fullmatch(r"\d+ d \d+ h overdue", cells[1]), cells
    assert LOCAL_TIME.fullmatch(cells[5]), cells  # due: a date in the user's zone, the zone named
    assert cells[6] == "…" + request["request_id"][-6:]  # a short reference to quote to the school
    assert tenant not in row.inner_text()
    assert learner not in desk.locator("main").inner_text()  # neither the learner's id nor their name
    assert "No learner is named here" in desk.locator("main").inner_text()
    checked(desk, "regional-requests")


def test_regional_admin_places_a_hold_on_a_picked_learner_and_lifts_it_with_a_reason(
        desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Osprey College")
    learner = enrol(platform, tenant, "ada.osprey@example.org", given="Ada")
    sign_in(desk, platform, "regional_admin")
    go(desk, "Legal holds")
    desk.get_by_label("Tenant", exact=True).select_option(tenant)
    desk.get_by_role("button", name="Show holds").click()
    desk.get_by_text("0 hold(s) in force").wait_for()
    short = "…" + learner[-6:]
    desk.get_by_label("Find by").select_option("name")
    desk.get_by_label("Family name", exact=True).fill("lovelace")
    desk.get_by_role("button", name="Find learner").click()
    found = desk.get_by_test_id("hold-learner-found")
    found.wait_for()
    assert re.fullmatch(r"1 learner found, enrolled \d{1,2} [A-Z][a-z]{2} \d{4} \(…\w{6}\)", found.inner_text())
    assert short in found.inner_text()
    desk.get_by_text(f"Chosen: learner {short}, enrolled").wait_for()
    desk.get_by_label("Find by").select_option("email")
    desk.get_by_label("Learner's e-mail").fill("ada.osprey@example.org")
    desk.get_by_role("button", name="Find learner").click()
    desk.get_by_role("button", name=f"Choose learner {short}").wait_for()
    assert "Lovelace" not in desk.locator("main").inner_text()  # no learner's name on an admin screen
    desk.get_by_label("Reason", exact=True).fill("Claim filed by a parent")
    desk.get_by_role("button", name="Place hold").click()
    desk.get_by_text(f"Hold placed on learner {short}.").wait_for()
    row = desk.get_by_role("row").filter(has_text="Claim filed by a parent")
    assert row.get_by_role("cell").all_inner_texts()[:2] == [f"One learner ({short})", "Litigation"]
    assert "In force" in row.inner_text()
    assert LOCAL_TIME.search(row.inner_text())
    checked(desk, "regional-holds-desktop", docs=True)
    row.get_by_label("Reason for lifting").fill("Claim withdrawn")
    row.get_by_role("button", name="Lift hold").click()
    desk.get_by_text("Hold lifted (Litigation).").wait_for()
    lifted = desk.get_by_role("row").filter(has_text="Claim filed by a parent")
    assert re.search(r"Lifted \d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} (GMT|BST): Claim withdrawn", lifted.inner_text())
    assert "ada" not in desk.url.lower()
    checked(desk, "regional-holds-lifted")


def test_regional_admin_sees_an_incident_naming_a_uk_and_an_au_tenant(desk: Any, platform: Platform) -> None:
    uk = onboard(platform, "Wren Grammar School")
    au = onboard_in(platform, "AU")
    incident = incident_naming(platform, UK, [uk, au], hours_ago=60)
    sign_in(desk, platform, "regional_admin")
    go(desk, "Incidents")
    shown = desk.locator("article.incident").filter(has_text=incident)
    shown.wait_for()
    text = shown.inner_text()
    assert "Tenants: Wren Grammar School and 1 tenant in another region" in text
    assert au not in text
    assert "Far School" not in text  # the AU tenant is counted, never named
    regulator = shown.get_by_role("row").filter(has_text="regulator").filter(has_text="UK")
    assert "h left" in regulator.inner_text()
    assert LOCAL_TIME.search(regulator.inner_text())
    alternative = shown.locator("svg title").text_content() or ""  # the chart's text alternative
    assert re.search(r"UK regulator \(notify\): 1[12] h left", alternative), alternative
    assert shown.get_by_role("img").count() == 1
    checked(desk, "regional-incidents-desktop", docs=True)


def test_the_time_left_chart_draws_under_the_consoles_content_security_policy(browser: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Plover School")
    incident = incident_naming(platform, UK, [tenant], hours_ago=30)
    made = context(browser, DESK, csp=True)
    try:
        page = made.new_page()
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
                else None)
        sign_in(page, platform, "regional_admin")
        go(page, "Incidents")
        bar = page.locator(f"article[data-incident='{incident}'] svg rect").first
        bar.wait_for()
        box = bar.bounding_box()
        assert box is not None
        assert box["width"] > 20  # 42 h left of a 72 h deadline: a visible bar
        assert bar.evaluate("e => getComputedStyle(e).fill") == "rgb(30, 107, 52)"  # green: more than a day left
        assert page.evaluate("() => document.querySelector('link[rel=icon]').href").endswith("/favicon.svg")
        assert not blocked, blocked
    finally:
        made.close()


def test_regional_admin_runs_a_retention_dry_run_as_a_table_then_confirms(desk: Any, platform: Platform) -> None:
    onboard(platform, "Sandpiper School")
    sign_in(desk, platform, "regional_admin")
    go(desk, "Retention")
    desk.get_by_role("button", name="Dry run").click()
    row = desk.get_by_role("row").filter(has_text="Sandpiper School").first
    row.wait_for()
    assert row.get_by_role("cell").all_inner_texts()[:2] == ["Sandpiper School", "UK"]
    assert desk.get_by_text("Dry run: ").inner_text().startswith("Dry run: 0 learner record(s) would be erased")
    assert desk.locator("pre").count() == 0  # a table, no raw JSON
    checked(desk, "regional-retention-desktop", docs=True)
    desk.get_by_role("button", name="Run the sweep (erases)").click()
    desk.get_by_text("Sweep done:").wait_for()
    assert desk.get_by_role("columnheader", name="Erased").count() == 1
    checked(desk, "regional-retention-swept")


# ---------------------------------------------------------------------------------------------- platform admin


def test_platform_admin_onboards_with_a_duplicate_name_warned_and_the_form_cleared(
        desk: Any, platform: Platform) -> None:
    onboard(platform, "Puffin Bay School")
    sign_in(desk, platform, "platform_admin")
    desk.get_by_role("row").filter(has_text="Puffin Bay School").first.wait_for()
    name = desk.get_by_label("Name", exact=True)
    name.fill("puffin bay  school")
    desk.get_by_label("Jurisdiction").select_option("UK")
    warning = desk.locator("#onboard-duplicate")
    assert "A tenant named “Puffin Bay School” is already homed in eu-west-2" in warning.inner_text()
    before = desk.get_by_role("row").filter(has_text="Puffin Bay School").count()
    desk.get_by_role("button", name="Onboard another tenant of this name").click()  # warned: not yet sent
    assert desk.get_by_text(re.compile(r"^Onboarded .*tnt_")).count() == 0
    checked(desk, "platform-onboard-duplicate")
    name.fill("Puffin Bay Junior School")
    desk.get_by_label("Jurisdiction").select_option("AU")
    desk.get_by_label("Sector (optional)").select_option("government")
    assert warning.inner_text() == ""
    desk.get_by_role("button", name="Onboard tenant").click()
    desk.get_by_text("Onboarded Puffin Bay Junior School:").wait_for()
    assert "home region ap-southeast-2" in desk.get_by_text("Onboarded Puffin Bay Junior School:").inner_text()
    assert name.input_value() == ""  # the form is cleared for the next tenant
    assert desk.get_by_label("Sector (optional)").input_value() == ""
    assert desk.get_by_role("row").filter(has_text="Puffin Bay School").count() == before
    desk.get_by_role("row").filter(has_text="Puffin Bay Junior School").first.wait_for()
    checked(desk, "platform-onboarded")


def test_platform_admin_sees_the_tenants_of_every_region_in_one_list(desk: Any, platform: Platform) -> None:
    onboard(platform, "Avocet Academy")
    status, au = platform.call(AU, "POST", "/v1/tenants", platform.token("platform_admin", region=AU),
                               body={"name": "Wattle Creek School", "kind": "school", "jurisdiction": "AU"})
    assert status == 201, au
    sign_in(desk, platform, "platform_admin")
    desk.get_by_role("row").filter(has_text="Wattle Creek School").first.wait_for()
    uk_row = desk.get_by_role("row").filter(has_text="Avocet Academy").first
    au_row = desk.get_by_role("row").filter(has_text="Wattle Creek School").first
    assert uk_row.get_by_role("cell").all_inner_texts()[6] == UK
    assert au_row.get_by_role("cell").all_inner_texts()[6] == AU
    assert "Tenants of every region" in desk.locator("caption").first.inner_text()
    checked(desk, "platform-tenants-desktop", docs=True)


def test_platform_admin_sees_the_incidents_of_every_region_in_one_list(desk: Any, platform: Platform) -> None:
    uk = onboard(platform, "Curlew School")
    status, au = platform.call(AU, "POST", "/v1/tenants", platform.token("platform_admin", region=AU),
                               body={"name": "Banksia College", "kind": "school", "jurisdiction": "AU"})
    assert status == 201
    in_uk = incident_naming(platform, UK, [uk, au["tenant_id"]])
    in_au = incident_naming(platform, AU, [au["tenant_id"]])
    sign_in(desk, platform, "platform_admin")
    go(desk, "Incidents")
    desk.get_by_role("heading", name="Incidents of every region").wait_for()
    first = desk.locator(f"article[data-incident='{in_uk}']")
    second = desk.locator(f"article[data-incident='{in_au}']")
    first.wait_for()
    assert "Tenants: Curlew School, Banksia College" in first.inner_text()  # every tenant named: all in scope
    assert "recorded in eu-west-2" in first.inner_text()
    assert "Tenants: Banksia College" in second.inner_text()
    assert "recorded in ap-southeast-2" in second.inner_text()
    checked(desk, "platform-incidents")


def test_platform_admin_offboards_in_two_steps_typing_the_tenants_name(desk: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Dunlin School")
    held = onboard(platform, "Held Dunlin School")
    status, hold = platform.call(UK, "POST", f"/v1/tenants/{held}/legal-holds",
                                 platform.token("regional_admin", region=UK), body={"reason": "Open claim"})
    assert status == 201, hold
    sign_in(desk, platform, "platform_admin")
    go(desk, "Offboarding")
    desk.get_by_label("Tenant", exact=True).select_option(held)
    desk.get_by_role("button", name="Continue").click()
    desk.get_by_role("button", name="Request offboarding").click()
    assert "A legal hold is active on this tenant" in desk.get_by_role("alert").inner_text()  # the 409, explained
    desk.get_by_label("Tenant", exact=True).select_option(tenant)
    desk.get_by_role("button", name="Continue").click()
    desk.get_by_role("button", name="Request offboarding").click()
    requested = desk.get_by_role("status").filter(has_text="Offboarding requested")
    requested.wait_for()
    confirmable = (datetime.now(UTC) + timedelta(days=30)).astimezone()
    assert "Waiting period: 30 days" in requested.inner_text()
    assert confirmable.strftime("%Y") in requested.inner_text()
    assert LOCAL_TIME.search(requested.inner_text())
    assert "every learner record" in desk.get_by_role("heading", name="Confirming destroys").locator(
        "xpath=following-sibling::ul[1]").inner_text()
    confirm = desk.get_by_role("button", name="Offboard for good")
    assert confirm.is_disabled()
    desk.get_by_label("Tenant name").fill("Dunlin")
    assert confirm.is_disabled()  # only the tenant's whole name enables it
    desk.get_by_label("Tenant name").fill("Dunlin School")
    checked(desk, "platform-offboard-desktop", docs=True)
    confirm.click()
    alert = desk.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text().startswith("Not yet: the waiting period ends")
    assert "Nothing was destroyed." in alert.inner_text()
    status, still = platform.call(UK, "GET", f"/v1/tenants/{tenant}", platform.token("platform_admin", region=UK))
    assert status == 200, still


# ---------------------------------------------------------------------------------------------- phone


ROLE_SCREENS = {"regional_admin": ["Tenants", "Requests", "Legal holds", "Incidents", "Retention", "Inbox", "Outbox"],
                "platform_admin": ["Tenants", "Legal holds", "Incidents", "Retention", "Offboarding", "Inbox",
                                   "Outbox"]}


@pytest.mark.parametrize("role", sorted(ROLE_SCREENS))
def test_every_admin_screen_fits_a_phone(phone: Any, platform: Platform, role: str) -> None:
    tenant = onboard(platform, "Phone Check School")
    incident_naming(platform, UK, [tenant, onboard_in(platform, "AU")])
    status, _ = platform.call(UK, "POST", f"/v1/tenants/{tenant}/legal-holds",
                              platform.token("regional_admin", region=UK), body={"reason": "Phone check"})
    assert status == 201
    sign_in(phone, platform, role)
    assert [link.inner_text() for link in phone.get_by_role("navigation").get_by_role("link").all()] == \
        ROLE_SCREENS[role]  # the menu, all of it reachable at 390 px
    for screen in ROLE_SCREENS[role]:
        go(phone, screen)
        phone.locator("section.card").first.wait_for()
        if screen in ("Legal holds", "Offboarding"):
            phone.get_by_label("Tenant", exact=True).select_option(tenant)
            phone.get_by_role("button", name="Show holds" if screen == "Legal holds" else "Continue").click()
            phone.locator("section.card").nth(1).wait_for()
        if screen == "Retention":
            phone.get_by_role("button", name="Dry run").click()
            phone.get_by_role("button", name="Run the sweep (erases)").wait_for()
        if screen == "Incidents":
            phone.locator("article.incident").first.wait_for()
        slug = screen.lower().replace(" ", "-")
        checked(phone, f"{role.split('_', 1)[0]}-{slug}-phone", docs=screen in ("Incidents", "Legal holds"))
