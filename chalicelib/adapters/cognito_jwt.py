"""Verification of Cognito ID tokens (RS256) with PyJWT.

Checks, in order: size, header (alg allow-list, kid), issuer in the allow-list of the four
regional pools, signature against that pool's JWKS (cached), audience = the pool's app client,
``token_use`` = ``id``, ``exp``/``iat``/``nbf``, then the role (Cognito group) and tenant claim.
Any failure is ``Unauthenticated`` with a message that names the check, never the token.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jwt
from jwt import PyJWK

from chalicelib.domain.cache import TtlCache
from chalicelib.domain.errors import ServiceUnavailable, Unauthenticated
from chalicelib.domain.identity import Principal, Role

ALLOWED_ALGORITHMS = ("RS256",)
MAX_TOKEN_BYTES = 8192


class SigningKeySource(Protocol):
    """Finds the public key a pool signed with, by ``kid``."""

    def key_for(self, region: str, kid: str) -> PyJWK: ...


class JwksKeySource:
    """Fetches each pool's JWKS over HTTPS once and keeps it (PyJWKClient caches keys)."""

    def __init__(self, url_of_region: Callable[[str], str], lifespan_seconds: int = 3600) -> None:
        self._url_of_region = url_of_region
        self._lifespan = lifespan_seconds
        self._clients: dict[str, jwt.PyJWKClient] = {}
        self._lock = threading.Lock()

    def prefetch(self, region: str) -> None:
        """Fetch ``region``'s JWKS now (public keys; SnapStart warm-up) instead of on the first request."""
        self._client(region).get_signing_keys()

    def _client(self, region: str) -> jwt.PyJWKClient:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = jwt.PyJWKClient(self._url_of_region(region), cache_keys=True,
                                         lifespan=self._lifespan, timeout=5)
                self._clients[region] = client
        return client

    def key_for(self, region: str, kid: str) -> PyJWK:
        client = self._client(region)
        try:
            return client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise ServiceUnavailable("the identity provider's keys could not be fetched; retry later") from None
        except jwt.PyJWKClientError:
            raise Unauthenticated("the token's signing key is unknown") from None


class StaticKeySource:
    """A fixed JWKS document (tests, or a pinned key set)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = {key["kid"]: PyJWK(dict(key)) for key in jwks["keys"]}

    def key_for(self, region: str, kid: str) -> PyJWK:
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthenticated("the token's signing key is unknown") from None


class PoolRef(Protocol):
    @property
    def pool_id(self) -> str: ...

    @property
    def client_id(self) -> str: ...


class CognitoTokenVerifier:
    """Turns a bearer token into a verified ``Principal``."""

    def __init__(self, pools: Mapping[str, PoolRef], keys: SigningKeySource, leeway_seconds: int = 30, *,
                 clock: Callable[[], float] = time.time, cache_size: int = 1024) -> None:
        self._keys = keys
        self._leeway = leeway_seconds
        self._clock = clock
        # Verified tokens, by SHA-256 of the whole token (signature included), until they expire:
        # a client's next request skips the RS256 check. Cognito ID tokens cannot be revoked anyway.
        self._verified: TtlCache[bytes, tuple[Principal, float]] = TtlCache(cache_size, 3600.0)
        self._issuers = {
            f"https://cognito-idp.{region}.amazonaws.com/{pool.pool_id}": (region, pool.client_id)
            for region, pool in pools.items()
        }

    def forget(self) -> None:
        """Drop every verified token (a SnapStart snapshot must hold none)."""
        self._verified.clear()

    def prefetch(self) -> None:
        """Fetch every pool's signing keys now, where the key source can (SnapStart warm-up)."""
        fetch = getattr(self._keys, "prefetch", None)
        if callable(fetch):
            for region, _ in self._issuers.values():
                fetch(region)

    def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("the token is too large")
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(digest)
        if cached is not None and self._clock() < cached[1] + self._leeway:
            return cached[0]
        kid = self._checked_kid(token)
        region, client_id = self._issuer_of(token)
        key = self._keys.key_for(region, kid)
        claims = self._decode(token, key, client_id)
        principal = self._principal(claims, region)
        self._verified.put(digest, (principal, float(claims["exp"])))
        return principal

    @staticmethod
    def _checked_kid(token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the token is malformed") from None
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthenticated("the token's algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key")
        return kid

    def _issuer_of(self, token: str) -> tuple[str, str]:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthenticated("the token is malformed") from None
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._issuers:
            raise Unauthenticated("the token was not issued by an Enclave user pool")
        return self._issuers[issuer]

    def _decode(self, token: str, key: PyJWK, client_id: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=client_id,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token was issued for another client") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token's signature or claims are invalid") from None
        if claims.get("token_use") != "id":
            raise Unauthenticated("an ID token is required")
        return claims

    @staticmethod
    def _principal(claims: Mapping[str, Any], region: str) -> Principal:
        groups = claims.get("cognito:groups") or []
        roles = [Role(g) for g in groups if g in Role.__members__.values()]
        if len(roles) != 1:
            raise Unauthenticated("the user must belong to exactly one Enclave role group")
        role = roles[0]
        tenant_id = claims.get("custom:tenant_id") or None
        if role.is_tenant_role and not tenant_id:
            raise Unauthenticated("a tenant user's token must carry custom:tenant_id")
        return Principal(
            sub=str(claims["sub"]),
            username=str(claims.get("cognito:username", claims["sub"])),
            role=role,
            region=region,
            tenant_id=str(tenant_id) if tenant_id and role.is_tenant_role else None,
        )
