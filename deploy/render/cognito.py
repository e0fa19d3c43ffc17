"""The stage's Cognito user pool, its app client and the hosted UI.

The regional user pool with the five role groups and an immutable ``custom:tenant_id``, the API's
app client (no secret; SRP and the hosted UI's authorization code flow with the console's origin as
the only callback; no USER_PASSWORD_AUTH) and the hosted UI domain.
"""

from __future__ import annotations

from chalicelib.adapters.cognito_admin import CLIENT_NAME, POOL_NAME, ROLE_GROUPS
from deploy.render.common import Resource
from deploy.stages import Stage


def console_origin(stage: Stage) -> str:
    """The console's origin from the stage config: the hosted UI's only callback."""
    if not stage.settings.console_origin:
        raise ValueError(f"stage {stage.name}: ENCLAVE_CONSOLE_ORIGIN is not set")
    return stage.settings.console_origin


def hosted_ui_prefix(stage: Stage) -> str:
    """The hosted UI's domain prefix, from the stage's pool ``domain`` (``https://<prefix>.auth.<region>...``)."""
    pool = stage.settings.cognito_pools.get(stage.region)
    suffix = f".auth.{stage.region}.amazoncognito.com"
    host = (pool.domain or "").removeprefix("https://") if pool else ""
    if not host.endswith(suffix):
        raise ValueError(f"stage {stage.name}: the pool's domain must be https://<prefix>{suffix}")
    return host.removesuffix(suffix)


def cognito_resources(stage: Stage) -> dict[str, Resource]:
    resources: dict[str, Resource] = {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "UserPoolName": POOL_NAME.format(region=stage.region),
                "DeletionProtection": "ACTIVE",
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "UsernameConfiguration": {"CaseSensitive": False},
                "MfaConfiguration": "OPTIONAL",
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                "Policies": {"PasswordPolicy": {
                    "MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True,
                    "RequireNumbers": True, "RequireSymbols": True, "TemporaryPasswordValidityDays": 3,
                }},
                # Immutable: set once when an admin creates the user, so no later attribute update (by
                # the user or an admin) can move an account into another tenant.
                "Schema": [{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False,
                            "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "64"}}],
                "UserPoolTags": {"app": "enclave", "stage": stage.name},
            },
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "ClientName": CLIENT_NAME,
                "GenerateSecret": False,
                # No USER_PASSWORD_AUTH in AWS: users sign in on the hosted UI (authorization code + PKCE);
                # the password flow is the local platform's (the emulator has no hosted UI).
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                "AllowedOAuthFlowsUserPoolClient": True,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email"],
                "SupportedIdentityProviders": ["COGNITO"],
                "CallbackURLs": [f"{console_origin(stage)}/"],
                "LogoutURLs": [f"{console_origin(stage)}/"],
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": True,
                "IdTokenValidity": 60,
                "AccessTokenValidity": 60,
                "RefreshTokenValidity": 12,
                "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "hours"},
                "ReadAttributes": ["custom:tenant_id", "email", "email_verified"],
                "WriteAttributes": ["email"],
            },
        },
    }
    resources["UserPoolDomain"] = {
        "Type": "AWS::Cognito::UserPoolDomain",
        "Properties": {"UserPoolId": {"Ref": "UserPool"}, "Domain": hosted_ui_prefix(stage)},
    }
    for precedence, group in enumerate(ROLE_GROUPS):
        logical = "Group" + "".join(part.capitalize() for part in group.split("_"))
        resources[logical] = {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": {"Ref": "UserPool"}, "GroupName": group,
                           "Description": f"Enclave role {group}", "Precedence": precedence * 10},
        }
    return resources

