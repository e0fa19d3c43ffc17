"""Authorization decisions from the Cedar policies in ``policies/authz`` (evaluated with cedarpy).

The policy set is parsed once, on the first decision, not at import time. Deny by default:
anything but an explicit Allow (including NoDecision on an evaluation error) is a deny.

Decisions are kept briefly (``DECISION_SECONDS``, at most ``DECISION_ENTRIES``), keyed by everything the
evaluation sees: the principal's sub, role, token region and tenant, the action and the resource (the
request's context is always empty, the policy set fixed for the process). So a decision, allow or deny, is
reused only for the very same question, never for another user, role, tenant or resource; a cedarpy call
costs ~0.3 ms, a look-up microseconds. The token itself is verified before every decision is asked for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cedarpy

from chalicelib.domain.authz import Resource, TenantResource
from chalicelib.domain.cache import TtlCache
from chalicelib.domain.errors import PolicyFileError
from chalicelib.domain.identity import Principal

POLICY_FILE = "policies.cedar"
SCHEMA_FILE = "schema.cedarschema"
DECISION_ENTRIES = 4096
DECISION_SECONDS = 300.0

DecisionKey = tuple[str, str, str, str | None, str, Resource]


class CedarAuthorizer:
    """Answers "may this principal do this action on this resource?"."""

    def __init__(self, policy_dir: Path, *, decision_entries: int = DECISION_ENTRIES,
                 decision_seconds: float = DECISION_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy_dir = policy_dir
        self._policies: Any = None
        self._lock = threading.Lock()
        self._decisions: TtlCache[DecisionKey, bool] = TtlCache(decision_entries, decision_seconds, clock)
        self.evaluations = 0  # cedarpy calls made (the rest were answered from the decision cache)

    def forget(self) -> None:
        """Drop every kept decision (a SnapStart snapshot holds none of the warm-up's users)."""
        self._decisions.clear()

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
        key = (principal.sub, principal.role.value, principal.region, principal.tenant_id, action, resource)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._evaluate(principal, action, resource)
            self._decisions.put(key, decision)
        return decision

    def _evaluate(self, principal: Principal, action: str, resource: Resource) -> bool:
        self.evaluations += 1
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
