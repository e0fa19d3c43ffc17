"""Who may be told of an alert: the users of the region's Cognito pool in the roles that act on alerts.

Lists the members of the ``regional_admin``, ``compliance_officer`` and ``tenant_admin`` groups (paged),
with their ``sub``, ``custom:tenant_id`` and ``email`` attributes; disabled users are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.alerts import REGION_ROLES, TENANT_ROLE, Recipient
from chalicelib.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient


class UserPoolRecipients:
    def __init__(self, client: CognitoIdentityProviderClient, pool_id: str) -> None:
        self._client = client
        self._pool_id = pool_id

    def people(self) -> list[Recipient]:
        """Every enabled member of the groups that receive alerts."""
        found: list[Recipient] = []
        for group in (*REGION_ROLES, TENANT_ROLE):
            found += [person for user in self._members(group) if (person := _recipient(user, group))]
        return found

    def _members(self, group: str) -> list[Any]:
        users: list[Any] = []
        params: dict[str, Any] = {"UserPoolId": self._pool_id, "GroupName": group, "Limit": 60}
        try:
            while True:
                page = self._client.list_users_in_group(**params)
                users += page.get("Users", [])
                if not page.get("NextToken"):
                    return users
                params["NextToken"] = page["NextToken"]
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the user pool could not be read; the next run retries") from None


def _recipient(user: Any, group: str) -> Recipient | None:
    if user.get("Enabled") is False:
        return None
    attributes = {a["Name"]: a.get("Value", "") for a in user.get("Attributes", [])}
    sub = attributes.get("sub")
    if not sub:
        return None
    return Recipient(sub=sub, role=group, tenant_id=attributes.get("custom:tenant_id") or None,
                     email=attributes.get("email") or None)
