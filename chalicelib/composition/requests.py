"""Data-subject requests: recording and fulfilling them, erasure, and where access packages are served."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.composition.base import Parts

if TYPE_CHECKING:
    from chalicelib.services.requests.erasure import ErasureService
    from chalicelib.services.requests.service import RequestService


class RequestParts(Parts):
    """The container's builders of the data-subject request parts, each built on first use (see the module)."""

    @cached_property
    def erasure(self) -> ErasureService:
        from chalicelib.services.requests.erasure import ErasureService

        return ErasureService(self.access, self.data_store, self.learners, self.audit_store, self.clock,
                              holds=self.holds.is_held_uncounted, hold_guards=self.holds.erasure_guards,
                              recovery_window=timedelta(days=self.settings.recovery_window_days))

    @cached_property
    def requests(self) -> RequestService:
        from chalicelib.adapters.request_store import RequestStore
        from chalicelib.services.requests.service import RequestService

        store = RequestStore(self.clients.dynamodb(self.settings.region), self.data_store)
        return RequestService(self.access, self.data_store, store, self.tenant_keys, self.audit_store,
                              self.idempotent, self.export_bucket, self.erasure, self.jurisdictions,
                              self.settings.region, self.clock, self._package_url, learners=self.learners)

    def _package_url(self, tenant_id: str, request_id: str) -> str:
        """Where this deployment serves an access package (``GET .../requests/{id}/package``)."""
        base = self.settings.endpoint_of(self.settings.region).rstrip("/")
        return f"{base}/v1/tenants/{tenant_id}/requests/{request_id}/package"
