"""The composition root: builds every adapter and service of one process, once, lazily.

``app.py`` asks ``container()`` for services; tests build a ``Container`` with fakes passed to its
constructor (a static JWKS, a fixed clock) and install it with ``use``. Nothing here runs at
import time except reading settings and the jurisdiction files (a broken file stops start-up).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.cognito_jwt import CognitoTokenVerifier, JwksKeySource, SigningKeySource
from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.jurisdictions import JurisdictionCatalog
from chalicelib.settings import Settings, load_settings

if TYPE_CHECKING:
    from chalicelib.adapters.cedar_authz import CedarAuthorizer
    from chalicelib.adapters.directory import TenantDirectory
    from chalicelib.services.access import AccessControl
    from chalicelib.services.tenants import TenantService


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    """Owns the process's adapters and services; each is built on first use and then reused."""

    def __init__(self, settings: Settings, *, clients: AwsClients | None = None,
                 key_source: SigningKeySource | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 jurisdictions: JurisdictionCatalog | None = None) -> None:
        self.settings = settings
        self.clients = clients or AwsClients(endpoint_url=settings.aws_endpoint_url)
        self.clock = clock
        self._key_source = key_source
        self.jurisdictions = jurisdictions or load_jurisdictions(settings.policy_dir / "jurisdictions")

    @cached_property
    def verifier(self) -> CognitoTokenVerifier:
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
                               self.settings.directory_table)

    @cached_property
    def access(self) -> AccessControl:
        from chalicelib.services.access import AccessControl

        return AccessControl(self.directory, self.authorizer, self.settings.region, self.settings.endpoint_of)

    @cached_property
    def tenants(self) -> TenantService:
        from chalicelib.services.tenants import TenantService

        return TenantService(self.directory, self.jurisdictions, self.access, self.clock)


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
