"""The composition root: builds every adapter and service of one process, once, lazily.

``app.py`` asks ``container()`` for services; tests build a ``Container`` with fakes passed to its
constructor (a static JWKS, a fixed clock) and install it with ``use``. Nothing here runs at
import time except reading settings and the jurisdiction files (a broken file stops start-up).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.lawpack_cache import checked, load_catalog
from chalicelib.settings import Settings, load_settings

if TYPE_CHECKING:
    from chalicelib.adapters.alert_store import AlertStore
    from chalicelib.adapters.audit_store import AuditStore
    from chalicelib.adapters.cedar_authz import CedarAuthorizer
    from chalicelib.adapters.cognito_jwt import CognitoTokenVerifier, SigningKeySource
    from chalicelib.adapters.data_store import DataStore
    from chalicelib.adapters.directory import TenantDirectory
    from chalicelib.adapters.edge_routes import KeyValueStoreClient
    from chalicelib.adapters.export_bucket import ExportBucket
    from chalicelib.adapters.governance_store import GovernanceStore
    from chalicelib.adapters.idempotency import IdempotencyStore
    from chalicelib.adapters.incident_store import IncidentStore
    from chalicelib.adapters.kms_signer import KmsCheckpointSigner
    from chalicelib.adapters.webhook_store import WebhookStore
    from chalicelib.domain.crypto import Keyring
    from chalicelib.domain.identity import Principal
    from chalicelib.domain.jurisdictions import JurisdictionCatalog
    from chalicelib.domain.tenants import Tenant
    from chalicelib.domain.webhooks import SecretSealer
    from chalicelib.services.access import AccessControl
    from chalicelib.services.alerts import AlertJob
    from chalicelib.services.audit import AuditService, Checkpointer
    from chalicelib.services.audit_browse import AuditBrowser
    from chalicelib.services.audit_keys import AuditKeyService, SigningKeys
    from chalicelib.services.audit_proofs import AuditProofService, TreeHeads
    from chalicelib.services.audit_sequencer import Sequencer
    from chalicelib.services.consents import ConsentService
    from chalicelib.services.edge_routes import EdgeRouteSync
    from chalicelib.services.erasure import ErasureService
    from chalicelib.services.event_delivery import DomainEvents, EventSeam, TrailEvents
    from chalicelib.services.holds import HoldService
    from chalicelib.services.idempotency import Idempotency
    from chalicelib.services.imports import ImportService
    from chalicelib.services.inbox import InboxService
    from chalicelib.services.incident_migration import IncidentMigration
    from chalicelib.services.incidents import IncidentService
    from chalicelib.services.key_migration import KeyMigration
    from chalicelib.services.key_rotation import KeyRotationService
    from chalicelib.services.keys import TenantKeyService
    from chalicelib.services.learners import LearnerService
    from chalicelib.services.obligations import ObligationService
    from chalicelib.services.offboarding import OffboardingService
    from chalicelib.services.oversight import Oversight
    from chalicelib.services.requests import RequestService
    from chalicelib.services.research import ResearchShareService
    from chalicelib.services.restore import RestoreService
    from chalicelib.services.results import ResultService
    from chalicelib.services.retention import RetentionService
    from chalicelib.services.siem_delivery import SiemDelivery
    from chalicelib.services.siem_stream import SiemStreamService
    from chalicelib.services.tenants import TenantService
    from chalicelib.services.webhook_dispatch import WebhookDispatcher
    from chalicelib.services.webhooks import WebhookService


def utc_now() -> datetime:
    return datetime.now(UTC)


class Deferred:
    """Stands for a part that is built (by the container, once) when one of its attributes is first used."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def __getattr__(self, name: str) -> Any:
        return getattr(self._build(), name)


class Container:
    """Owns the process's adapters and services; each is built on first use and then reused."""

    def __init__(self, settings: Settings, *, clients: AwsClients | None = None,
                 key_source: SigningKeySource | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 jurisdictions: JurisdictionCatalog | None = None,
                 edge_client: KeyValueStoreClient | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``edge_client``: the KeyValueStore client to use instead of botocore's (tests; moto has none);
        ``monotonic``: the clock of the caches whose lifetime bounds how long an offboarding takes to reach
        this process (directory entries, tenant key records, unwrapped tenant keys)."""
        self.settings = settings
        self.monotonic = monotonic
        self._edge_client = edge_client
        self.clients = clients or AwsClients(endpoint_url=settings.aws_endpoint_url)
        self.clock = clock
        self._key_source = key_source
        # a broken law pack stops start-up; packs matching their package-time cache are built on first use
        self._catalog = jurisdictions or checked(settings.policy_dir / "jurisdictions")

    @cached_property
    def jurisdictions(self) -> JurisdictionCatalog:
        return self._catalog or load_catalog(self.settings.policy_dir / "jurisdictions")

    def forget_secrets(self) -> int:
        """Every part built so far that caches keys or tokens drops them (``forget()``); how many did."""
        parts = [part for part in vars(self).values() if callable(getattr(part, "forget", None))]
        for part in parts:
            part.forget()
        keyring = vars(self).get("keyring")
        if keyring is not None:  # unwrapped tenant keys, even where no key service was built over it
            keyring.cache.clear()
        return len(parts)

    @cached_property
    def verifier(self) -> CognitoTokenVerifier:
        from chalicelib.adapters.cognito_jwt import CognitoTokenVerifier, JwksKeySource

        keys = self._key_source or JwksKeySource(self.settings.jwks_url)
        return CognitoTokenVerifier(self.settings.cognito_pools, keys)

    @cached_property
    def authorizer(self) -> CedarAuthorizer:
        from chalicelib.adapters.cedar_authz import CedarAuthorizer

        return CedarAuthorizer(self.settings.policy_dir / "authz")

    @cached_property
    def directory(self) -> TenantDirectory:
        from chalicelib.adapters.directory import TenantDirectory

        return TenantDirectory(self.clients.dynamodb(self.settings.directory_region),
                               self.settings.directory_table, clock=self.monotonic,
                               on_offboarded=self._drop_tenant_keys)

    def _drop_tenant_keys(self, tenant_id: str) -> int:
        """A tenant found offboarded: its unwrapped keys leave this process (if any were ever loaded)."""
        keyring = vars(self).get("keyring")
        return keyring.evict(tenant_id) if keyring is not None else 0

    @cached_property
    def access(self) -> AccessControl:
        from chalicelib.services.access import AccessControl

        return AccessControl(self.directory, self.authorizer, self.settings.region, self.settings.endpoint_of,
                             on_denied=self._record_denial)

    def _record_denial(self, principal: Principal, tenant: Tenant, action: str, reason: str) -> None:
        """A refused attempt goes into the target tenant's audit trail (the refusal stands even if that fails)."""
        from chalicelib.domain.errors import EnclaveError
        from chalicelib.logs import REQUEST_ID, logger
        from chalicelib.services.context import Caller

        # pool_region: which region's user pool issued the token (a region code, no personal value)
        draft = Caller(principal, REQUEST_ID.get() or "-").draft(action, f"tenants/{tenant.tenant_id}",
                                                                 outcome="denied", reason=reason,
                                                                 pool_region=principal.region)
        try:
            self.audit_store.commit(tenant.tenant_id, tenant.jurisdiction, draft)
        except EnclaveError:
            logger.error("a refused attempt could not be audited", extra={"action": action})

    @cached_property
    def tenants(self) -> TenantService:
        from chalicelib.services.tenants import TenantService

        # a tenant read (a common first request) builds none of onboarding's parts: no KMS client, no audit store
        return TenantService(self.directory, cast("JurisdictionCatalog", Deferred(lambda: self.jurisdictions)),
                             self.access, self.clock, self.settings.region,
                             cast("AuditStore", Deferred(lambda: self.audit_store)),
                             create_key=lambda tenant, fresh: self.tenant_keys.create(tenant, fresh),  # noqa: PLW0108
                             on_onboarded=lambda tenant: self.edge_routes.added(tenant),  # noqa: PLW0108
                             idempotency=cast("Idempotency", Deferred(lambda: self.idempotent)))

    @cached_property
    def edge_routes(self) -> EdgeRouteSync:
        """The global entry's routing table, kept in step with the directory (off without a store ARN)."""
        from chalicelib.adapters.edge_routes import EdgeRouteStore
        from chalicelib.services.edge_routes import EdgeRouteSync

        arn = self.settings.edge_kvs_arn
        store = EdgeRouteStore(self._edge_client or self.clients.edge_routes(), arn) if arn else None
        return EdgeRouteSync(store, self.directory, self.settings.region)


    @cached_property
    def keyring(self) -> Keyring:
        from chalicelib.adapters.kms import KmsDataKeyProvider
        from chalicelib.domain.crypto import Keyring

        provider = KmsDataKeyProvider(self.clients.kms(self.settings.region), self.settings.kms_key_alias)
        return Keyring(provider, clock=self.monotonic)

    @cached_property
    def data_store(self) -> DataStore:
        from chalicelib.adapters.data_store import DataStore

        return DataStore(self.clients.dynamodb(self.settings.region), self.settings.region,
                         self.settings.data_table, self.jurisdictions, self.settings.key_table)

    @cached_property
    def audit_store(self) -> AuditStore:
        from chalicelib.adapters.audit_store import AuditStore

        return AuditStore(self.clients.dynamodb(self.settings.region), self.settings.audit_table,
                          self.settings.region, self.clock, after_commit=self._after_commit,
                          after_seal=self._after_seal)

    @cached_property
    def sequencer(self) -> Sequencer:
        from chalicelib.services.audit_sequencer import Sequencer

        return Sequencer(self.audit_store, after_tenant=self._after_tenant_sealed)

    def _after_tenant_sealed(self, tenant_id: str, jurisdiction: str) -> None:
        """After a tenant's batch is sealed: the OCSF stream, then the domain events (neither raises)."""
        self.siem_delivery.after_batch(tenant_id, jurisdiction)
        self.trail_events.after_batch(tenant_id, jurisdiction)

    @cached_property
    def domain_events(self) -> DomainEvents:
        """Publishes domain events to the region's bus and queues their webhook deliveries."""
        from chalicelib.adapters.event_bus import EventBus
        from chalicelib.services.event_delivery import DomainEvents

        bus = EventBus(self.clients.events(self.settings.region), self.settings.event_bus)
        return DomainEvents(bus, self.webhook_store, self.clock)

    @cached_property
    def trail_events(self) -> TrailEvents:
        """The domain events of sealed audit events, run by the sequencer after each tenant's sealing."""
        from chalicelib.adapters.event_cursor import EventCursors
        from chalicelib.services.event_delivery import TrailEvents

        cursors = EventCursors(self.clients.dynamodb(self.settings.region), self.data_store)
        return TrailEvents(cursors, self.audit_store.markers, self.domain_events)

    @cached_property
    def event_seam(self) -> EventSeam:
        """What the alerts job and the import worker call to publish their events."""
        from chalicelib.services.event_delivery import EventSeam

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
        from chalicelib.services.webhooks import WebhookService

        return WebhookService(self.access, self.webhook_store, self.webhook_sealer, self.audit_store, self.clock,
                              allow_local_http=self.settings.webhooks_allow_local_http)

    @cached_property
    def webhook_dispatcher(self) -> WebhookDispatcher:
        """Sends the due webhook deliveries of this region's tenants (the schedule, every minute)."""
        from chalicelib.adapters.webhook_http import HttpTransport
        from chalicelib.services.webhook_dispatch import WebhookDispatcher

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

    def _after_commit(self, jurisdiction: str, event: dict[str, Any]) -> None:
        self.checkpointer.after_commit(jurisdiction, event)

    def _after_seal(self, tenant_id: str, jurisdiction: str, tree_size: int, sealed: int) -> None:
        self.tree_heads.after_seal(tenant_id, jurisdiction, tree_size, sealed)

    @cached_property
    def tree_heads(self) -> TreeHeads:
        from chalicelib.adapters.tree_store import TreeStore
        from chalicelib.adapters.witness_bucket import WitnessBucket
        from chalicelib.services.audit_proofs import TreeHeads, Witness

        settings = self.settings
        tree = TreeStore(self.clients.dynamodb(settings.region), settings.audit_table)
        witness = Witness(WitnessBucket(self.clients.s3(settings.region), settings.witness_bucket),
                          self._audit_retention_days)
        return TreeHeads(tree, self.signing_keys, self.clock, region=settings.region, stage=settings.stage,
                         every=settings.checkpoint_every, interval=timedelta(seconds=settings.head_interval_seconds),
                         witness=witness)

    def _audit_retention_days(self, jurisdiction: str) -> int:
        """How long the jurisdiction's law pack keeps the audit trail (the witness bucket's lock)."""
        return self.jurisdictions.get(jurisdiction).retention.audit.days

    @cached_property
    def signing_keys(self) -> SigningKeys:
        """The signing key in use and the region's key history (in the home jurisdiction's audit table)."""
        from chalicelib.adapters.key_history import KeyHistory
        from chalicelib.services.audit_keys import SigningKeys

        home = self.jurisdictions.by_region(self.settings.region).code
        history = KeyHistory(self.clients.dynamodb(self.settings.region), self.settings.audit_table(home))
        return SigningKeys(self.signer, history, self.clock)

    @cached_property
    def audit_keys(self) -> AuditKeyService:
        from chalicelib.services.audit_keys import AuditKeyService

        return AuditKeyService(self.access, self.signing_keys)

    @cached_property
    def audit_proofs(self) -> AuditProofService:
        from chalicelib.services.audit_proofs import AuditProofService

        return AuditProofService(self.access, self.audit_store, self.tree_heads, self.signing_keys)

    @cached_property
    def checkpointer(self) -> Checkpointer:
        from chalicelib.services.audit import Checkpointer

        return Checkpointer(self.audit_store, self.signing_keys, self.clock, self.settings.checkpoint_every)

    @cached_property
    def export_bucket(self) -> ExportBucket:
        from chalicelib.adapters.export_bucket import ExportBucket

        return ExportBucket(self.clients.s3(self.settings.region), self.settings.export_bucket,
                            self.settings.kms_key_alias)

    @cached_property
    def audit(self) -> AuditService:
        from chalicelib.services.audit import AuditService

        return AuditService(self.access, self.audit_store, self.checkpointer, self.export_bucket, self.clock,
                            self.tree_heads, self.signing_keys)

    @cached_property
    def audit_browser(self) -> AuditBrowser:
        from chalicelib.adapters.audit_summaries import AuditSummaries
        from chalicelib.services.audit_browse import AuditBrowser

        summaries = AuditSummaries(self.clients.dynamodb(self.settings.region), self.settings.audit_table)
        return AuditBrowser(self.access, self.audit_store, self.clock, summaries)

    @cached_property
    def oversight(self) -> Oversight:
        from chalicelib.adapters.audit_latest import AuditLatest
        from chalicelib.adapters.audit_summaries import AuditSummaries
        from chalicelib.adapters.consent_counts import ConsentCounts
        from chalicelib.services.oversight import Oversight

        latest = AuditLatest(self.clients.dynamodb(self.settings.region), self.settings.audit_table)
        counts = ConsentCounts(self.clients.dynamodb(self.settings.region), self.data_store.table)
        summaries = AuditSummaries(self.clients.dynamodb(self.settings.region), self.settings.audit_table)
        return Oversight(self.access, self.audit_store, latest, self.data_store, self.jurisdictions, self.clock,
                         counts, summaries)

    @cached_property
    def signer(self) -> KmsCheckpointSigner:
        from chalicelib.adapters.kms_signer import KmsCheckpointSigner

        return KmsCheckpointSigner(self.clients.kms(self.settings.region), self.settings.signing_key_alias)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        from chalicelib.adapters.idempotency import IdempotencyStore

        return IdempotencyStore(self.clients.dynamodb(self.settings.region), self.settings.idempotency_table)

    @cached_property
    def idempotent(self) -> Idempotency:
        from chalicelib.services.idempotency import Idempotency

        return Idempotency(self.idempotency, self.tenant_keys)

    @cached_property
    def tenant_keys(self) -> TenantKeyService:
        from chalicelib.services.keys import TenantKeyService

        return TenantKeyService(self.keyring, self.data_store, self.audit_store, now=self.clock,
                                clock=self.monotonic, offboarded=self._offboarded)

    def _offboarded(self, tenant: Tenant) -> bool:
        """Whether the tenant's offboarding is confirmed (its keys destroyed or being destroyed)."""
        found = self.governance_store.offboarding(tenant.jurisdiction, tenant.tenant_id)
        return found is not None and "keys_destroyed_at" in found

    @cached_property
    def key_rotation(self) -> KeyRotationService:
        from chalicelib.services.key_rotation import KeyRotationService

        return KeyRotationService(self.access, self.tenant_keys, self.keyring, self.data_store, self.governance_store,
                                  self.audit_store, self.directory, self.clock, self.settings.region,
                                  rotate_after=timedelta(days=self.settings.key_rotation_days))

    @cached_property
    def learners(self) -> LearnerService:
        from chalicelib.services.learners import LearnerService

        return LearnerService(self.access, self.data_store, self.tenant_keys, self.audit_store, self.idempotent,
                              self.clock)

    @cached_property
    def erasure(self) -> ErasureService:
        from chalicelib.services.erasure import ErasureService

        return ErasureService(self.access, self.data_store, self.learners, self.audit_store, self.clock,
                              holds=self.holds.is_held_uncounted, hold_guards=self.holds.erasure_guards,
                              recovery_window=timedelta(days=self.settings.recovery_window_days))

    @cached_property
    def results(self) -> ResultService:
        from chalicelib.services.results import ResultService

        return ResultService(self.access, self.data_store, self.learners, self.audit_store, self.idempotent,
                             self.clock)

    @cached_property
    def governance_store(self) -> GovernanceStore:
        from chalicelib.adapters.governance_store import GovernanceStore

        return GovernanceStore(self.clients.dynamodb(self.settings.region), self.data_store)

    @cached_property
    def holds(self) -> HoldService:
        from chalicelib.services.holds import HoldService

        return HoldService(self.access, self.governance_store, self.data_store, self.tenant_keys, self.audit_store,
                           self.idempotent, self.clock)

    @cached_property
    def retention(self) -> RetentionService:
        from chalicelib.services.retention import RetentionService

        return RetentionService(self.access, self.directory, self.jurisdictions, self.data_store,
                                self.governance_store, self.holds, self.erasure, self.audit_store, self.clock,
                                self.settings.region)

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
    def offboarding(self) -> OffboardingService:
        from chalicelib.services.offboarding import OffboardingService

        return OffboardingService(self.access, self.governance_store, self.holds, self.learners, self.tenant_keys,
                                  self.audit, self.audit_store, self.export_bucket, self.directory, self.clock,
                                  timedelta(days=self.settings.offboarding_wait_days),
                                  on_offboarded=self.edge_routes.removed)

    @cached_property
    def consents(self) -> ConsentService:
        from chalicelib.services.consents import ConsentService

        return ConsentService(self.access, self.data_store, self.learners, self.audit_store, self.jurisdictions,
                              self.clock, self.idempotent)

    @cached_property
    def research(self) -> ResearchShareService:
        from chalicelib.services.research import ResearchShareService

        return ResearchShareService(self.access, self.consents, self.learners, self.tenant_keys, self.data_store,
                                    self.audit_store)

    @cached_property
    def obligations(self) -> ObligationService:
        from chalicelib.adapters.obligation_store import ObligationStore
        from chalicelib.services.obligations import ObligationService

        store = ObligationStore(self.clients.dynamodb(self.settings.region), self.data_store)
        return ObligationService(self.access, store, self.audit_store, self.jurisdictions, self.clock)

    @cached_property
    def requests(self) -> RequestService:
        from chalicelib.adapters.request_store import RequestStore
        from chalicelib.services.requests import RequestService

        store = RequestStore(self.clients.dynamodb(self.settings.region), self.data_store)
        return RequestService(self.access, self.data_store, store, self.tenant_keys, self.audit_store,
                              self.idempotent, self.export_bucket, self.erasure, self.jurisdictions,
                              self.settings.region, self.clock, self._package_url, learners=self.learners)

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

    @cached_property
    def imports(self) -> ImportService:
        """Bulk imports: the routes and the worker of the import queue (``import_worker`` in app.py)."""
        from chalicelib.adapters.import_files import ImportBucket, ImportQueue
        from chalicelib.adapters.import_store import ImportStore
        from chalicelib.services.import_writer import ImportWriter
        from chalicelib.services.imports import ImportService

        settings = self.settings
        store = ImportStore(self.clients.dynamodb(settings.region), self.data_store)
        bucket = ImportBucket(self.clients.s3(settings.region), settings.export_bucket, settings.kms_key_alias)
        queue = ImportQueue(self.clients.sqs(settings.region), settings.import_queue)
        writer = ImportWriter(self.data_store, store, self.tenant_keys, self.audit_store, self.jurisdictions,
                              self.clock)
        return ImportService(self.access, self.directory, store, bucket, queue, writer, self.data_store,
                             self.tenant_keys, self.audit_store, self.jurisdictions, self.clock, settings.region)

    def restore(self, restored_table: str) -> RestoreService:
        """The restore tool's service, working on ``restored_table`` (a restored copy of a data table) and the
        live key table (never restored: it has no point-in-time recovery)."""
        from chalicelib.adapters.data_store import DataStore
        from chalicelib.adapters.legacy_keys import LegacyKeyItems
        from chalicelib.adapters.restored_copy import RestoredCopy
        from chalicelib.services.restore import RestoreService

        client = self.clients.dynamodb(self.settings.region)
        restored = DataStore(client, self.settings.region, lambda jurisdiction: restored_table, self.jurisdictions,
                             self.settings.key_table)
        return RestoreService(self.directory, self.audit_store, restored, LegacyKeyItems(client, restored),
                              RestoredCopy(restored, self.data_store), self.settings.region)

    @cached_property
    def key_migration(self) -> KeyMigration:
        """The one-off job moving key items out of this region's data tables."""
        from chalicelib.adapters.legacy_keys import LegacyKeyItems
        from chalicelib.services.key_migration import KeyMigration

        legacy = LegacyKeyItems(self.clients.dynamodb(self.settings.region), self.data_store)
        return KeyMigration(self.directory, legacy, self.audit_store, self.settings.region)

    def _package_url(self, tenant_id: str, request_id: str) -> str:
        """Where this deployment serves an access package (``GET .../requests/{id}/package``)."""
        base = self.settings.endpoint_of(self.settings.region).rstrip("/")
        return f"{base}/v1/tenants/{tenant_id}/requests/{request_id}/package"


_current: Container | None = None


def container() -> Container:
    """The process's container, built from the environment's settings on first use."""
    global _current  # noqa: PLW0603 - one composition root per process
    if _current is None:
        _current = Container(load_settings())
    return _current


def use(replacement: Container) -> Container:
    """Install ``replacement`` as the process's container (tests, the local platform)."""
    global _current  # noqa: PLW0603
    _current = replacement
    return replacement
