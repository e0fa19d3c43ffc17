"""What leaves the platform: domain events on the bus, webhooks and their dispatch, the SIEM (OCSF) stream."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.composition.base import Parts

if TYPE_CHECKING:
    from chalicelib.adapters.webhook_store import WebhookStore
    from chalicelib.domain.webhooks import SecretSealer
    from chalicelib.services.events.delivery import DomainEvents, EventSeam, TrailEvents
    from chalicelib.services.events.webhook_dispatch import WebhookDispatcher
    from chalicelib.services.events.webhooks import WebhookService
    from chalicelib.services.siem_delivery import SiemDelivery
    from chalicelib.services.siem_stream import SiemStreamService


class EventParts(Parts):
    """The container's builders of the parts that send events out, each built on first use (see the module)."""

    @cached_property
    def domain_events(self) -> DomainEvents:
        """Publishes domain events to the region's bus and queues their webhook deliveries."""
        from chalicelib.adapters.event_bus import EventBus
        from chalicelib.services.events.delivery import DomainEvents

        bus = EventBus(self.clients.events(self.settings.region), self.settings.event_bus)
        return DomainEvents(bus, self.webhook_store, self.clock)

    @cached_property
    def trail_events(self) -> TrailEvents:
        """The domain events of sealed audit events, run by the sequencer after each tenant's sealing."""
        from chalicelib.adapters.event_cursor import EventCursors
        from chalicelib.services.events.delivery import TrailEvents

        cursors = EventCursors(self.clients.dynamodb(self.settings.region), self.data_store)
        return TrailEvents(cursors, self.audit_store.markers, self.domain_events)

    @cached_property
    def event_seam(self) -> EventSeam:
        """What the alerts job and the import worker call to publish their events."""
        from chalicelib.services.events.delivery import EventSeam

        return EventSeam(self.domain_events, self.settings.region, self.clock, tenant_of=self.directory.get)

    @cached_property
    def webhook_store(self) -> WebhookStore:
        from chalicelib.adapters.webhook_store import WebhookStore

        return WebhookStore(self.clients.dynamodb(self.settings.region), self.data_store)

    @cached_property
    def webhook_sealer(self) -> SecretSealer:
        from chalicelib.adapters.kms import KmsDataKeyProvider
        from chalicelib.domain.webhooks import SecretSealer

        return SecretSealer(KmsDataKeyProvider(self.clients.kms(self.settings.region), self.settings.kms_key_alias))

    @cached_property
    def webhooks(self) -> WebhookService:
        from chalicelib.services.events.webhooks import WebhookService

        return WebhookService(self.access, self.webhook_store, self.webhook_sealer, self.audit_store, self.clock,
                              allow_local_http=self.settings.webhooks_allow_local_http)

    @cached_property
    def webhook_dispatcher(self) -> WebhookDispatcher:
        """Sends the due webhook deliveries of this region's tenants (the schedule, every minute)."""
        from chalicelib.adapters.webhook_http import HttpTransport
        from chalicelib.services.events.webhook_dispatch import WebhookDispatcher

        return WebhookDispatcher(self.webhook_store, self.webhook_sealer, HttpTransport(), self.clock,
                                 self.jurisdictions.by_region(self.settings.region).code)

    @cached_property
    def siem_delivery(self) -> SiemDelivery:
        """The OCSF stream's deliverer, run by the sequencer after each tenant's sealing."""
        from chalicelib.adapters.siem_bucket import SiemBucket
        from chalicelib.adapters.siem_cursor import SiemCursors
        from chalicelib.services.siem_delivery import SiemDelivery

        settings = self.settings
        cursors = SiemCursors(self.clients.dynamodb(settings.region), self.data_store)
        bucket = SiemBucket(self.clients.s3(settings.region), settings.siem_bucket)
        return SiemDelivery(cursors, self.audit_store.markers, bucket, settings.region, settings.siem_account_id)

    @cached_property
    def siem_stream(self) -> SiemStreamService:
        from chalicelib.adapters.siem_cursor import SiemCursors
        from chalicelib.services.siem_stream import SiemStreamService

        settings = self.settings
        return SiemStreamService(self.access, SiemCursors(self.clients.dynamodb(settings.region), self.data_store),
                                 self.audit_store, self.clock, settings.siem_bucket, settings.region,
                                 settings.siem_account_id)
