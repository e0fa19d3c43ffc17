"""Webhooks on the local platform (``make run``): a request created through the API reaches the developer's
receiver (devtools.webhook_receiver), signed and verified; the tenant admin's console screen registers an
endpoint, shows its secret once and lists it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import HTTPServer
from typing import Any

import pytest

from devtools.webhook_receiver import handler
from tests.browser.test_console import UK, accessible, enrol, onboard, sign_in
from tests.support.platform import Platform

DEADLINE_SECONDS = 60.0
"""The sequencer polls every 0.2 s and the local dispatcher runs every 5 s: far below this."""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # axe is injected
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def receiver() -> Iterator[tuple[HTTPServer, list[str]]]:
    secrets: list[str] = []
    server = HTTPServer(("127.0.0.1", 0), handler(secrets, 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, secrets
    server.shutdown()


def test_a_created_request_reaches_the_local_receiver_signed(
        platform: Platform, receiver: tuple[HTTPServer, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    server, secrets = receiver
    tenant = onboard(platform, "Webhook School")
    admin = platform.token("tenant_admin", tenant, UK)
    status, hook = platform.call(UK, "POST", f"/v1/tenants/{tenant}/webhooks", admin, body={
        "url": f"http://127.0.0.1:{server.server_port}/", "event_types": ["request.created"]})
    assert status == 201, hook
    secrets.append(hook["secret"])
    learner = enrol(platform, tenant, "webhook.learner@example.org")
    status, request = platform.call(UK, "POST", f"/v1/tenants/{tenant}/requests", admin,
                                    body={"learner_id": learner, "type": "rectification"})
    assert status == 201, request
    deadline = time.monotonic() + DEADLINE_SECONDS
    seen = ""
    while "verified" not in seen and time.monotonic() < deadline:
        threading.Event().wait(0.5)
        seen += capsys.readouterr().out
    assert "type=request.created" in seen, seen
    assert f"tenant_id={tenant}" in seen
    assert "webhook.learner" not in seen  # ids only


def test_the_tenant_admin_registers_an_endpoint_in_the_console(page: Any, platform: Platform) -> None:
    tenant = onboard(platform, "Webhook Console School")
    sign_in(page, platform, "tenant_admin", tenant)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("Endpoint URL").fill("https://hooks.console-school.example/enclave")
    page.get_by_label("request.created").check()
    page.get_by_role("button", name="Register endpoint").click()
    page.get_by_text("shown this once").wait_for()
    assert page.locator("code").inner_text().startswith("whsec_")
    page.get_by_text("https://hooks.console-school.example/enclave").wait_for()
    accessible(page, "tenant-webhooks")
