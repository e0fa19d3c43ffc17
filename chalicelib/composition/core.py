"""The parts every request meets: settings, AWS clients, law packs, the caller's token and access, the
tenant directory and tenants, the data table, idempotency, the export bucket and the global entry's routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, cast

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.lawpack_cache import checked, load_catalog
from chalicelib.composition.base import Deferred, Parts, utc_now
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from chalicelib.adapters.audit_store import AuditStore
    from chalicelib.adapters.cedar_authz import CedarAuthorizer
    from chalicelib.adapters.cognito_jwt import CognitoTokenVerifier, SigningKeySource
    from chalicelib.adapters.data_store import DataStore
    from chalicelib.adapters.directory import TenantDirectory
    from chalicelib.adapters.edge_routes import KeyValueStoreClient
    from chalicelib.adapters.export_bucket import ExportBucket
    from chalicelib.adapters.idempotency import IdempotencyStore
    from chalicelib.domain.catalog import JurisdictionCatalog
    from chalicelib.domain.identity import Principal
    from chalicelib.domain.tenants import Tenant
    from chalicelib.services.access import AccessControl
    from chalicelib.services.edge_routes import EdgeRouteSync
    from chalicelib.services.idempotency import Idempotency
    from chalicelib.services.tenants import TenantService


class Core(Parts):
    """The container's builders of the parts every request meets, each built on first use (see the module)."""

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
    def data_store(self) -> DataStore:
        from chalicelib.adapters.data_store import DataStore

        return DataStore(self.clients.dynamodb(self.settings.region), self.settings.region,
                         self.settings.data_table, self.jurisdictions, self.settings.key_table)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        from chalicelib.adapters.idempotency import IdempotencyStore

        return IdempotencyStore(self.clients.dynamodb(self.settings.region), self.settings.idempotency_table)

    @cached_property
    def idempotent(self) -> Idempotency:
        from chalicelib.services.idempotency import Idempotency

        return Idempotency(self.idempotency, self.tenant_keys)

    @cached_property
    def export_bucket(self) -> ExportBucket:
        from chalicelib.adapters.export_bucket import ExportBucket

        return ExportBucket(self.clients.s3(self.settings.region), self.settings.export_bucket,
                            self.settings.kms_key_alias)
