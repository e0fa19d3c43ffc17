"""Incidents and what follows them: the incident register, its migration, obligations, the inbox and the
hourly alerts job."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.composition.base import Parts

if TYPE_CHECKING:
    from chalicelib.adapters.alert_store import AlertStore
    from chalicelib.adapters.incident_store import IncidentStore
    from chalicelib.services.alerts import AlertJob
    from chalicelib.services.inbox import InboxService
    from chalicelib.services.incident_migration import IncidentMigration
    from chalicelib.services.incidents import IncidentService
    from chalicelib.services.obligations import ObligationService


class IncidentParts(Parts):
    """The container's builders of the incident parts, each built on first use (see the module)."""

    @cached_property
    def incidents(self) -> IncidentService:
        from chalicelib.services.incidents import IncidentService

        return IncidentService(self.access, self.jurisdictions, self.audit_store, self.clock, self.settings.region,
                               self.settings.endpoint_of, self.incident_store, self.idempotent,
                               evict_keys=self.tenant_keys.evict)

    @cached_property
    def incident_store(self) -> IncidentStore:
        from chalicelib.adapters.incident_store import IncidentStore

        return IncidentStore(self.clients.dynamodb(self.settings.region), self.data_store, self.settings.region)

    @cached_property
    def incident_migration(self) -> IncidentMigration:
        """The one-off job listing this region's incidents recorded before ``GET /v1/incidents``."""
        from chalicelib.services.incident_migration import IncidentMigration

        return IncidentMigration(self.directory, self.audit_store, self.incident_store,
                                 self.jurisdictions.by_region(self.settings.region).code, self.settings.region)

    @cached_property
    def obligations(self) -> ObligationService:
        from chalicelib.adapters.obligation_store import ObligationStore
        from chalicelib.services.obligations import ObligationService

        store = ObligationStore(self.clients.dynamodb(self.settings.region), self.data_store)
        return ObligationService(self.access, store, self.audit_store, self.jurisdictions, self.clock)

    @cached_property
    def alert_store(self) -> AlertStore:
        from chalicelib.adapters.alert_store import AlertStore

        home = self.jurisdictions.by_region(self.settings.region).code
        return AlertStore(self.clients.dynamodb(self.settings.region), self.data_store, home)

    @cached_property
    def inbox(self) -> InboxService:
        from chalicelib.services.inbox import InboxService

        return InboxService(self.access, self.alert_store, self.audit_store,
                            self.jurisdictions.by_region(self.settings.region).code, self.clock)

    @cached_property
    def alerts(self) -> AlertJob:
        """The hourly reminders job of this region (SES e-mail, recipients from the region's pool)."""
        from chalicelib.adapters.request_store import RequestStore
        from chalicelib.adapters.ses_mailer import SesNotifier
        from chalicelib.adapters.user_pool import UserPoolRecipients
        from chalicelib.services.alerts import AlertJob

        settings = self.settings
        client = self.clients.dynamodb(settings.region)
        pool = settings.cognito_pools[settings.region].pool_id
        link = (settings.console_origin or "https://console.enclave.example") + "/#/inbox"
        return AlertJob(self.directory, RequestStore(client, self.data_store), self.incident_store, self.audit_store,
                        self.alert_store, UserPoolRecipients(self.clients.cognito(settings.region), pool),
                        SesNotifier(self.clients.ses(settings.region), settings.alert_sender), self.clock,
                        settings.region, self.jurisdictions.by_region(settings.region).code, link,
                        on_new_alert=self._publish_alert)

    def _publish_alert(self, alert: Any) -> None:
        """A new alert of the hourly job as domain events, one per tenant it names (never raising)."""
        self.event_seam.from_alert(alert.kind, alert.threshold, alert.subject_id, alert.tenant_ids, alert.due_at)
