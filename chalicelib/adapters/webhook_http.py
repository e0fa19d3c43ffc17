"""Sends a webhook attempt over HTTPS (the standard library's client, no AWS).

An attempt succeeds on any 2xx answer. Redirects are not followed (a redirect is a failed attempt: the
admin registers the final URL). A network error or timeout is a failed attempt with status ``network``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Protocol

TIMEOUT_SECONDS = 10


class Transport(Protocol):
    """Posts a body with headers; returns the HTTP status as text, or ``network``."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> str: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class HttpTransport:
    """The real transport."""

    def __init__(self, timeout: float = TIMEOUT_SECONDS) -> None:
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> str:
        if not url.startswith(("https://", "http://")):
            return "refused"
        request = urllib.request.Request(url, data=body,  # noqa: S310 - scheme checked just above
                                         headers={**headers, "user-agent": "Enclave-Webhooks/1"}, method="POST")
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return str(response.status)
        except urllib.error.HTTPError as exc:
            return str(exc.code)
        except (urllib.error.URLError, OSError):
            return "network"
