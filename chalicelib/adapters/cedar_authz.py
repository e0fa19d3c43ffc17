"""Authorization decisions from the Cedar policies in ``policies/authz`` (evaluated with cedarpy).

The policy set is parsed once, on the first decision, not at import time. Deny by default:
anything but an explicit Allow (including NoDecision on an evaluation error) is a deny.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import cedarpy

from chalicelib.domain.authz import Resource, TenantResource
from chalicelib.domain.errors import PolicyFileError
from chalicelib.domain.identity import Principal

POLICY_FILE = "policies.cedar"
SCHEMA_FILE = "schema.cedarschema"




class CedarAuthorizer:
    """Answers "may this principal do this action on this resource?"."""

    def __init__(self, policy_dir: Path) -> None:
        self._policy_dir = policy_dir
        self._policies: Any = None
        self._lock = threading.Lock()

    def _policy_set(self) -> Any:
        if self._policies is None:
            with self._lock:
                if self._policies is None:
                    path = self._policy_dir / POLICY_FILE
                    try:
                        self._policies = cedarpy.PolicySet.from_str(path.read_text(encoding="utf-8"))
                    except (OSError, ValueError) as exc:
                        raise PolicyFileError(str(path), "*", str(exc)) from None
        return self._policies

    def prefetch(self) -> None:
        """Parse the policy set now (SnapStart warm-up) instead of on the first request."""
        self._policy_set()

    def validate(self) -> list[str]:
        """Schema validation errors of the policy file (empty when it is sound)."""
        policies = (self._policy_dir / POLICY_FILE).read_text(encoding="utf-8")
        schema = (self._policy_dir / SCHEMA_FILE).read_text(encoding="utf-8")
        result = cedarpy.validate_policies(policies, schema)
        return [str(error) for error in result.errors]

    def is_allowed(self, principal: Principal, action: str, resource: Resource) -> bool:
        request = {
            "principal": f'Enclave::User::{json.dumps(principal.sub)}',
            "action": f'Enclave::Action::{json.dumps(action)}',
            "resource": _resource_uid(resource),
            "context": {},
        }
        entities = json.dumps([_user_entity(principal), _resource_entity(resource)])
        result = cedarpy.is_authorized(request, self._policy_set(), entities)
        return bool(result.decision == cedarpy.Decision.Allow)


def _resource_uid(resource: Resource) -> str:
    if isinstance(resource, TenantResource):
        return f"Enclave::Tenant::{json.dumps(resource.tenant_id)}"
    return f"Enclave::Region::{json.dumps(resource.region)}"


def _user_entity(principal: Principal) -> dict[str, Any]:
    attrs: dict[str, Any] = {"role": principal.role.value, "region": principal.region}
    if principal.tenant_id:
        attrs["tenant"] = principal.tenant_id
    return {"uid": {"type": "Enclave::User", "id": principal.sub}, "attrs": attrs, "parents": []}


def _resource_entity(resource: Resource) -> dict[str, Any]:
    if isinstance(resource, TenantResource):
        return {
            "uid": {"type": "Enclave::Tenant", "id": resource.tenant_id},
            "attrs": {"tenant_id": resource.tenant_id, "home_region": resource.home_region},
            "parents": [],
        }
    return {"uid": {"type": "Enclave::Region", "id": resource.region},
            "attrs": {"region": resource.region}, "parents": []}
