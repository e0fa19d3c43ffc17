"""Keys: the keyring of unwrapped tenant keys, tenant key versions, rotation and the key table migration."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.composition.base import Parts

if TYPE_CHECKING:
    from chalicelib.domain.crypto import Keyring
    from chalicelib.domain.tenants import Tenant
    from chalicelib.services.keys.migration import KeyMigration
    from chalicelib.services.keys.rotation import KeyRotationService
    from chalicelib.services.keys.tenant_keys import TenantKeyService


class KeyParts(Parts):
    """The container's builders of the key parts, each built on first use (see the module)."""

    @cached_property
    def keyring(self) -> Keyring:
        from chalicelib.adapters.kms import KmsDataKeyProvider
        from chalicelib.domain.crypto import Keyring

        provider = KmsDataKeyProvider(self.clients.kms(self.settings.region), self.settings.kms_key_alias)
        return Keyring(provider, clock=self.monotonic)

    @cached_property
    def tenant_keys(self) -> TenantKeyService:
        from chalicelib.services.keys.tenant_keys import TenantKeyService

        return TenantKeyService(self.keyring, self.data_store, self.audit_store, now=self.clock,
                                clock=self.monotonic, offboarded=self._offboarded)

    def _offboarded(self, tenant: Tenant) -> bool:
        """Whether the tenant's offboarding is confirmed (its keys destroyed or being destroyed)."""
        found = self.governance_store.offboarding(tenant.jurisdiction, tenant.tenant_id)
        return found is not None and "keys_destroyed_at" in found

    @cached_property
    def key_rotation(self) -> KeyRotationService:
        from chalicelib.services.keys.rotation import KeyRotationService

        return KeyRotationService(self.access, self.tenant_keys, self.keyring, self.data_store, self.governance_store,
                                  self.audit_store, self.directory, self.clock, self.settings.region,
                                  rotate_after=timedelta(days=self.settings.key_rotation_days))

    @cached_property
    def key_migration(self) -> KeyMigration:
        """The one-off job moving key items out of this region's data tables."""
        from chalicelib.adapters.legacy_keys import LegacyKeyItems
        from chalicelib.services.keys.migration import KeyMigration

        legacy = LegacyKeyItems(self.clients.dynamodb(self.settings.region), self.data_store)
        return KeyMigration(self.directory, legacy, self.audit_store, self.settings.region)
