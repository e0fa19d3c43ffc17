"""The verified-token cache: a repeat token skips the signature check, but never outlives its expiry."""

from __future__ import annotations

import jwt
import pytest

from chalicelib.adapters.cognito_jwt import CognitoTokenVerifier, StaticKeySource
from chalicelib.domain.errors import Unauthenticated
from tests.conftest import moto_jwks
from tests.integration.conftest import Emulated, TokenFactory


class CountingKeys(StaticKeySource):
    def __init__(self) -> None:
        super().__init__(moto_jwks())
        self.lookups = 0

    def key_for(self, region: str, kid: str) -> jwt.PyJWK:
        self.lookups += 1
        return super().key_for(region, kid)


def test_a_cached_token_expires_like_any_other(emulated: Emulated, token: TokenFactory) -> None:
    real = token("platform_admin", region="eu-west-2")
    expiry = float(jwt.decode(real, options={"verify_signature": False})["exp"])
    now = [expiry - 600]
    keys = CountingKeys()
    verifier = CognitoTokenVerifier(emulated.provisioned.cognito_pools, keys, clock=lambda: now[0])
    first = verifier.verify(real)
    assert verifier.verify(real) == first
    assert keys.lookups == 1  # the second request reused the verified token
    now[0] = expiry + 31  # past exp and the 30 s leeway: the cache does not vouch for it any more,
    verifier.verify(real)  # so the full check runs again (PyJWT judges expiry by the real clock)
    assert keys.lookups == 2


def test_a_tampered_copy_of_a_cached_token_is_not_a_cache_hit(emulated: Emulated, token: TokenFactory) -> None:
    real = token("tenant_staff", "tnt_" + "a" * 26, "eu-west-2")
    verifier = CognitoTokenVerifier(emulated.provisioned.cognito_pools, StaticKeySource(moto_jwks()))
    verifier.verify(real)
    header, payload, signature = real.split(".")
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.{payload}.{signature[:-4]}AAAA")
