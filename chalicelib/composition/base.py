"""What every builder of the composition root may use: the settings, the AWS clients, the clocks, and the parts
other capabilities build (declared here for the type checker; each is built by its capability's module)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws import AwsClients
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from chalicelib.adapters.audit_store import AuditStore
    from chalicelib.adapters.data_store import DataStore
    from chalicelib.adapters.directory import TenantDirectory
    from chalicelib.adapters.export_bucket import ExportBucket
    from chalicelib.adapters.governance_store import GovernanceStore
    from chalicelib.domain.catalog import JurisdictionCatalog
    from chalicelib.services.access import AccessControl
    from chalicelib.services.audit.trail import AuditService
    from chalicelib.services.edge_routes import EdgeRouteSync
    from chalicelib.services.events.delivery import EventSeam, TrailEvents
    from chalicelib.services.holds import HoldService
    from chalicelib.services.idempotency import Idempotency
    from chalicelib.services.keys.tenant_keys import TenantKeyService
    from chalicelib.services.learners.service import LearnerService
    from chalicelib.services.requests.erasure import ErasureService
    from chalicelib.services.siem_delivery import SiemDelivery


def utc_now() -> datetime:
    return datetime.now(UTC)


class Deferred:
    """Stands for a part that is built (by the container, once) when one of its attributes is first used."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def __getattr__(self, name: str) -> Any:
        return getattr(self._build(), name)


class Parts:
    """The container's state, and the parts one capability's builders take from another's."""

    settings: Settings
    clients: AwsClients
    clock: Callable[[], datetime]
    monotonic: Callable[[], float]

    if TYPE_CHECKING:
        @property
        def access(self) -> AccessControl: ...

        @property
        def audit(self) -> AuditService: ...

        @property
        def audit_store(self) -> AuditStore: ...

        @property
        def data_store(self) -> DataStore: ...

        @property
        def directory(self) -> TenantDirectory: ...

        @property
        def edge_routes(self) -> EdgeRouteSync: ...

        @property
        def erasure(self) -> ErasureService: ...

        @property
        def event_seam(self) -> EventSeam: ...

        @property
        def export_bucket(self) -> ExportBucket: ...

        @property
        def governance_store(self) -> GovernanceStore: ...

        @property
        def holds(self) -> HoldService: ...

        @property
        def idempotent(self) -> Idempotency: ...

        @property
        def jurisdictions(self) -> JurisdictionCatalog: ...

        @property
        def learners(self) -> LearnerService: ...

        @property
        def siem_delivery(self) -> SiemDelivery: ...

        @property
        def tenant_keys(self) -> TenantKeyService: ...

        @property
        def trail_events(self) -> TrailEvents: ...
