"""The local endpoints hold a crowd: 64 concurrent clients for 20 s, nothing retried, nothing fails.

``devtools.crowd`` (also ``python -m devtools.crowd`` against ``make run``): each client enrols and
reads on its kept-alive connection and opens a new connection for ``GET /v1/health``, all starting at
once. With the socketserver's listen backlog of 5 that Chalice's local server had, the same crowd saw
connection resets within 15 s.
"""

from __future__ import annotations

import pytest

from devtools.crowd import crowd
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

HOME = "eu-west-2"


def test_64_clients_for_20_seconds_get_no_reset_no_refusal_no_error(platform: Platform) -> None:
    status, tenant = platform.call(HOME, "POST", "/v1/tenants", platform.token("platform_admin", region=HOME),
                                   body={"name": "Crowd School", "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    staff = platform.token("tenant_staff", tenant["tenant_id"])
    result = crowd(platform.url(HOME), tenant["tenant_id"], staff, clients=64, seconds=20)
    print(result.summary())
    assert result.requests > 64 * 3, "every client completed at least one round"
    assert dict(result.errors) == {}
