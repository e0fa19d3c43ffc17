"""Administration of the regional Cognito user pools: find a pool, create or sign in a user.

Used by the local platform's provisioning and by ``python -m chalicelib.cli token``; the API
itself only verifies tokens (``cognito_jwt``).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.settings import CognitoPool

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import AttributeTypeTypeDef

POOL_NAME = "enclave-{region}"
CLIENT_NAME = "enclave-api"
LOCAL_MAIL_DOMAIN = "users.enclave.test"
"""Users created here get ``<username>@users.enclave.test`` as e-mail (alerts reach them in the emulator's SES)."""
ROLE_GROUPS = ("platform_admin", "regional_admin", "compliance_officer", "tenant_admin", "tenant_staff")


def find_user_pool(cognito: CognitoIdentityProviderClient, region: str) -> CognitoPool | None:
    """The region's Enclave pool and its API app client, or None when not created yet."""
    name = POOL_NAME.format(region=region)
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((p["Id"] for p in pools if p.get("Name") == name and "Id" in p), None)
    if pool_id is None:
        return None
    app_clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in app_clients if c.get("ClientName") == CLIENT_NAME and "ClientId" in c),
                     None)
    return CognitoPool(pool_id=pool_id, client_id=client_id) if client_id else None


def create_user_pool(cognito: CognitoIdentityProviderClient, region: str) -> CognitoPool:
    """A pool with the five role groups, ``custom:tenant_id`` and a password-auth app client."""
    pool_id = cognito.create_user_pool(
        PoolName=POOL_NAME.format(region=region),
        Schema=[{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False,
                 "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "64"}}],
    )["UserPool"]["Id"]
    for group in ROLE_GROUPS:
        cognito.create_group(GroupName=group, UserPoolId=pool_id, Description=f"Enclave role {group}")
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName=CLIENT_NAME, GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return CognitoPool(pool_id=pool_id, client_id=client_id)


def sign_in(cognito: CognitoIdentityProviderClient, pool: CognitoPool, username: str, role: str,
            tenant_id: str | None) -> str:
    """The ID token of ``username``, creating the user (group = role, tenant attribute) on first use.

    A fresh random password is set on every call, so no credential is stored anywhere.
    """
    _ensure_user(cognito, pool, username, role, tenant_id)
    password = "Aa1!" + secrets.token_urlsafe(24)
    cognito.admin_set_user_password(UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True)
    result = cognito.initiate_auth(ClientId=pool.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": username, "PASSWORD": password})
    return str(result["AuthenticationResult"]["IdToken"])


def create_user_with_password(cognito: CognitoIdentityProviderClient, pool: CognitoPool, username: str, role: str,
                              tenant_id: str | None) -> str:
    """A fresh random password for ``username`` (created on first use): for signing in to the local console."""
    _ensure_user(cognito, pool, username, role, tenant_id)
    password = "Aa1!" + secrets.token_urlsafe(24)
    cognito.admin_set_user_password(UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True)
    return password


def _ensure_user(cognito: CognitoIdentityProviderClient, pool: CognitoPool, username: str, role: str,
                 tenant_id: str | None) -> None:
    try:
        cognito.admin_get_user(UserPoolId=pool.pool_id, Username=username)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "UserNotFoundException":
            raise
    attributes: list[AttributeTypeTypeDef] = [{"Name": "email", "Value": f"{username}@{LOCAL_MAIL_DOMAIN}"}]
    if tenant_id:
        attributes.append({"Name": "custom:tenant_id", "Value": tenant_id})
    cognito.admin_create_user(UserPoolId=pool.pool_id, Username=username, UserAttributes=attributes,
                              MessageAction="SUPPRESS")
    cognito.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=username, GroupName=role)
