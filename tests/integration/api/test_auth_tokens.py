"""Token attacks against the verifier, through the Chalice app (in-process emulator).

Every forged token differs from a working one in exactly one thing: forged tokens start from the
claims of a real ID token (decoded without verification) and are signed with moto's private key,
which the app trusts (moto signs every pool with it), so the one change is what gets rejected. The
probe is ``POST /v1/tenants`` with a valid body that the real token's platform admin may send: an
attack must answer 401 in the error shape and leave the tenant directory untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.cognito_admin import create_user_pool, sign_in
from chalicelib.settings import CognitoPool
from tests.conftest import moto_jwks
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory

REGION = "us-east-1"  # US tenants live here, so a platform admin's POST /v1/tenants here would succeed
DIRECTORY_TABLE = "enclave-directory"
PRIVATE_JWK = moto_jwks("private")
MOTO_KID = str(PRIVATE_JWK["kid"])
MOTO_KEY = jwt.PyJWK(PRIVATE_JWK).key
LEEWAY = 30  # the verifier's clock-skew allowance


# --- token surgery ------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def fresh(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The claims with current times (then ``changes``; a value of None drops the claim)."""
    now = int(time.time())
    result = {**claims, "iat": now, "auth_time": now, "exp": now + 3600, **changes}
    return {k: v for k, v in result.items() if v is not None}


def forge(claims: dict[str, Any], *, key: Any = MOTO_KEY, algorithm: str = "RS256",
          headers: dict[str, Any] | None = None) -> str:
    """A token signed with ``key`` (moto's by default, which the app trusts)."""
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": MOTO_KID, **(headers or {})})


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    return f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': MOTO_KID})}.{b64json(claims)}."


def hmac_signed(claims: dict[str, Any], secret: bytes) -> str:
    """HS256 with ``secret``: the algorithm-confusion attack when ``secret`` is the public key."""
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': MOTO_KID})}.{b64json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The real token with its payload edited and its original signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{b64json({**claims_of(token), **changes})}.{signature}"


def public_pem(fmt: serialization.PublicFormat) -> bytes:
    return bytes(MOTO_KEY.public_key().public_bytes(serialization.Encoding.PEM, fmt))


# --- fixtures -----------------------------------------------------------------------------------

@dataclass
class Kit:
    """Real tokens and material to forge from."""

    admin: str                # real ID token of a platform admin of the us-east-1 pool
    base: dict[str, Any]      # its claims
    staff: str                # real ID token of a tenant_staff (us-east-1 pool)
    tenant_admin: str         # real ID token of a tenant_admin (us-east-1 pool)
    access_token: str         # real access token of the same platform admin
    other_client: str         # real ID token of the right pool, issued to another app client
    foreign_pool: str         # real ID token of a pool in a fifth region (eu-west-1)
    sibling_pool: str         # real ID token of another pool in us-east-1
    stranger_key: rsa.RSAPrivateKey


def authentication_result(emulated: Emulated, pool: CognitoPool, username: str, role: str,
                          region: str = REGION) -> dict[str, Any]:
    """Every token moto's ``initiate_auth`` returns for ``username`` (created on first use)."""
    cognito = emulated.clients.cognito(region)
    sign_in(cognito, pool, username, role, None)
    password = "Aa1!" + secrets.token_urlsafe(18)
    cognito.admin_set_user_password(UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True)
    result = cognito.initiate_auth(ClientId=pool.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": username, "PASSWORD": password})
    return dict(result["AuthenticationResult"])


@pytest.fixture(scope="module")
def kit(emulated: Emulated, token: TokenFactory) -> Kit:
    pool = emulated.provisioned.cognito_pools[REGION]
    cognito = emulated.clients.cognito(REGION)
    admin = token("platform_admin", region=REGION, sub="auth-attacks-admin")
    other_client_id = cognito.create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="not-the-api", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    # create_user_pool names a pool after its argument: a pool of a fifth region, and a second
    # pool in the right region under another name (neither is one of the four the app trusts)
    foreign = create_user_pool(emulated.clients.cognito("eu-west-1"), "eu-west-1")
    sibling = create_user_pool(cognito, "rogue")
    return Kit(
        admin=admin,
        base=claims_of(admin),
        staff=token("tenant_staff", "tnt_" + "s" * 26, REGION, sub="auth-attacks-staff"),
        tenant_admin=token("tenant_admin", "tnt_" + "t" * 26, REGION, sub="auth-attacks-tenant-admin"),
        access_token=str(authentication_result(emulated, pool, "auth-attacks-admin", "platform_admin")[
            "AccessToken"]),
        other_client=sign_in(cognito, CognitoPool(pool_id=pool.pool_id, client_id=other_client_id),
                             "auth-attacks-other-client", "platform_admin", None),
        foreign_pool=sign_in(emulated.clients.cognito("eu-west-1"), foreign, "intruder", "platform_admin", None),
        sibling_pool=sign_in(cognito, sibling, "intruder", "platform_admin", None),
        stranger_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def directory_size(emulated: Emulated) -> int:
    paginator = emulated.clients.dynamodb(REGION).get_paginator("scan")
    return sum(page["Count"] for page in paginator.paginate(TableName=DIRECTORY_TABLE, Select="COUNT"))


def probe(api: dict[str, RegionalApi], token: str, raw: bytes | None = None) -> tuple[int, Any]:
    body = {"name": f"Probe {uuid.uuid4().hex[:8]}", "kind": "school", "jurisdiction": "US"}
    return api[REGION].call("POST", "/v1/tenants", token, body, raw=raw)


def assert_rejected(api: dict[str, RegionalApi], emulated: Emulated, token: str) -> dict[str, Any]:
    before = directory_size(emulated)
    status, body = probe(api, token)
    assert status == 401, body
    assert isinstance(body, dict)
    assert body["error"]["code"] == "unauthenticated"
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert token[:40] not in json.dumps(body), "the error must not echo the token"
    assert directory_size(emulated) == before, "a rejected request created a tenant"
    return dict(body["error"])


# --- the attacks --------------------------------------------------------------------------------

def _other_key_with_embedded_jwk(kit: Kit) -> str:
    """Sign with our own key and offer it in the header (``jwk``, ``jku``): a verifier must ignore both."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(kit.stranger_key.public_key()))
    return forge(fresh(kit.base), key=kit.stranger_key,
                 headers={"jwk": {**jwk, "kid": MOTO_KID}, "jku": "https://attacker.example/jwks.json"})


ATTACKS: dict[str, Callable[[Kit], str]] = {
    "alg none": lambda k: unsigned(fresh(k.base)),
    "alg None": lambda k: unsigned(fresh(k.base), "None"),
    "alg NONE": lambda k: unsigned(fresh(k.base), "NONE"),
    "real token, signature stripped": lambda k: k.admin.rsplit(".", 1)[0] + ".",
    "HS256 keyed with the public key (SubjectPublicKeyInfo PEM)":
        lambda k: hmac_signed(fresh(k.base), public_pem(serialization.PublicFormat.SubjectPublicKeyInfo)),
    "HS256 keyed with the public key (PKCS1 PEM)":
        lambda k: hmac_signed(fresh(k.base), public_pem(serialization.PublicFormat.PKCS1)),
    "RS512 with the right key (algorithm not allow-listed)": lambda k: forge(fresh(k.base), algorithm="RS512"),
    "expired": lambda k: forge(fresh(k.base, iat=int(time.time()) - 7200, exp=int(time.time()) - 4 * LEEWAY)),
    "no exp": lambda k: forge(fresh(k.base, exp=None)),
    "nbf in the future": lambda k: forge(fresh(k.base, nbf=int(time.time()) + 10 * LEEWAY)),
    "iat in the future": lambda k: forge(fresh(k.base, iat=int(time.time()) + 10 * LEEWAY,
                                                exp=int(time.time()) + 7200)),
    "real token of a pool in a fifth region": lambda k: k.foreign_pool,
    "real token of another pool in the right region": lambda k: k.sibling_pool,
    "forged iss of an unknown pool": lambda k: forge(fresh(
        k.base, iss=k.base["iss"].rsplit("/", 1)[0] + "/us-east-1_" + "0" * 32)),
    "no iss": lambda k: forge(fresh(k.base, iss=None)),
    "real token issued to another app client": lambda k: k.other_client,
    "forged aud": lambda k: forge(fresh(k.base, aud="someone-elses-client")),
    "aud list without the api client": lambda k: forge(fresh(k.base, aud=["someone-elses-client"])),
    "real access token": lambda k: k.access_token,
    "ID-shaped token with token_use access": lambda k: forge(fresh(k.base, token_use="access")),
    "no token_use": lambda k: forge(fresh(k.base, token_use=None)),
    "unknown kid": lambda k: forge(fresh(k.base), headers={"kid": "not-a-moto-key"}),
    "no kid": lambda k: jwt.encode(fresh(k.base), MOTO_KEY, algorithm="RS256"),
    "tampered: tenant_staff token promoted to platform_admin":
        lambda k: tampered(k.staff, **{"cognito:groups": ["platform_admin"]}),
    "tampered: tenant_admin token moved to another tenant":
        lambda k: tampered(k.tenant_admin, **{"custom:tenant_id": "tnt_" + "z" * 26}),
    "tampered: expiry extended on a real token": lambda k: tampered(k.admin, exp=int(time.time()) + 86400 * 365),
    "another RSA key with moto's kid": lambda k: forge(fresh(k.base), key=k.stranger_key),
    "another RSA key, own jwk and jku in the header": _other_key_with_embedded_jwk,
    "oversized (validly signed, > 8 KB)": lambda k: forge(fresh(k.base, padding="x" * 9000)),
    "no group": lambda k: forge(fresh(k.base, **{"cognito:groups": None})),
    "empty group list": lambda k: forge(fresh(k.base, **{"cognito:groups": []})),
    "a group that is no role": lambda k: forge(fresh(k.base, **{"cognito:groups": ["admins"]})),
    "two role groups": lambda k: forge(fresh(k.base, **{"cognito:groups": ["platform_admin", "tenant_staff"]})),
    "tenant role without custom:tenant_id": lambda k: forge(fresh(k.base, **{"cognito:groups": ["tenant_admin"]})),
    "tenant role with an empty custom:tenant_id":
        lambda k: forge(fresh(k.base, **{"cognito:groups": ["tenant_staff"], "custom:tenant_id": ""})),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_is_401_and_nothing_runs(api: dict[str, RegionalApi], emulated: Emulated, kit: Kit,
                                        attack: str) -> None:
    assert_rejected(api, emulated, ATTACKS[attack](kit))


def test_the_messages_name_the_failed_check(api: dict[str, RegionalApi], emulated: Emulated, kit: Kit) -> None:
    def message(attack: str) -> str:
        return str(assert_rejected(api, emulated, ATTACKS[attack](kit))["message"])

    assert "expired" in message("expired")
    assert "not valid yet" in message("nbf in the future")
    assert "algorithm" in message("alg none")
    assert "issued" in message("real token of a pool in a fifth region")
    assert "client" in message("real token issued to another app client")
    assert "ID token" in message("ID-shaped token with token_use access")
    assert "signing key" in message("unknown kid")
    assert "too large" in message("oversized (validly signed, > 8 KB)")


def test_authentication_comes_before_the_body_is_read(api: dict[str, RegionalApi], emulated: Emulated,
                                                      kit: Kit) -> None:
    before = directory_size(emulated)
    status, body = probe(api, unsigned(fresh(kit.base)), raw=b"{not json")
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    assert directory_size(emulated) == before


@pytest.mark.parametrize("control", ["real ID token", "its claims re-signed with moto's key",
                                     "expired within the leeway", "7 KB token"])
def test_positive_controls_still_work(api: dict[str, RegionalApi], emulated: Emulated, kit: Kit,
                                      control: str) -> None:
    """The same request with a genuine token (or a faithful re-signing of one) does create a tenant:
    each attack above fails for its one change, not because the probe or the forging is broken."""
    token = {
        "real ID token": kit.admin,
        "its claims re-signed with moto's key": forge(fresh(kit.base)),
        "expired within the leeway": forge(fresh(kit.base, exp=int(time.time()) - LEEWAY // 3)),
        "7 KB token": forge(fresh(kit.base, padding="x" * 5000)),
    }[control]
    if control == "7 KB token":
        assert 7000 < len(token) <= 8192
    before = directory_size(emulated)
    status, body = probe(api, token)
    assert status == 201, body
    assert body["home_region"] == REGION
    assert directory_size(emulated) == before + 1


def test_real_tokens_of_each_role_shape_are_accepted(api: dict[str, RegionalApi], kit: Kit) -> None:
    """A tenant role with its tenant and a staff role pass authentication (403 is authorization)."""
    for token in (kit.staff, kit.tenant_admin):
        status, body = probe(api, token)
        assert status == 403, body
        assert body["error"]["code"] == "forbidden"
