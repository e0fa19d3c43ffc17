"""The authorizer's kept decisions: the same question is answered without re-evaluating the policies, and a
decision (allow or deny) never answers another user, role, tenant, token region or resource."""

from __future__ import annotations

from chalicelib.adapters.cedar_authz import CedarAuthorizer
from chalicelib.domain.authz import RegionResource, TenantResource
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import new_id
from chalicelib.settings import PROJECT_ROOT

POLICIES = PROJECT_ROOT / "policies" / "authz"
HOME = "eu-west-2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_same_question_is_answered_once_by_the_policies() -> None:
    cedar = CedarAuthorizer(POLICIES)
    tenant = new_id("tnt")
    staff = Principal("sub-1", "staff", Role.TENANT_STAFF, HOME, tenant)
    assert all(cedar.is_allowed(staff, "learner.read", TenantResource(tenant, HOME)) for _ in range(5))
    assert cedar.evaluations == 1


def test_a_denial_is_not_reused_for_a_user_of_the_tenant_it_was_not_about() -> None:
    cedar = CedarAuthorizer(POLICIES)
    mine, theirs = new_id("tnt"), new_id("tnt")
    outsider = Principal("sub-1", "staff", Role.TENANT_STAFF, HOME, theirs)
    resource = TenantResource(mine, HOME)
    assert not cedar.is_allowed(outsider, "learner.read", resource)
    # the same sub with a token of the right tenant, and another user of it: each asked afresh, each allowed
    assert cedar.is_allowed(Principal("sub-1", "staff", Role.TENANT_STAFF, HOME, mine), "learner.read", resource)
    assert cedar.is_allowed(Principal("sub-2", "other", Role.TENANT_STAFF, HOME, mine), "learner.read", resource)
    assert not cedar.is_allowed(outsider, "learner.read", resource)
    assert cedar.evaluations == 3


def test_an_allow_is_not_reused_for_another_role_region_action_or_resource() -> None:
    cedar = CedarAuthorizer(POLICIES)
    tenant = new_id("tnt")
    admin = Principal("sub-1", "admin", Role.TENANT_ADMIN, HOME, tenant)
    resource = TenantResource(tenant, HOME)
    assert cedar.is_allowed(admin, "learner.erase", resource)
    assert not cedar.is_allowed(Principal("sub-1", "admin", Role.TENANT_STAFF, HOME, tenant), "learner.erase",
                                resource)  # the same user, demoted: a new token, a new role, asked again
    assert not cedar.is_allowed(Principal("sub-1", "admin", Role.TENANT_ADMIN, "us-east-1", tenant),
                                "learner.erase", resource)  # a token of another region's pool
    assert not cedar.is_allowed(admin, "learner.erase", TenantResource(new_id("tnt"), HOME))
    assert not cedar.is_allowed(admin, "learner.erase", RegionResource(HOME))
    assert cedar.evaluations == 5


def test_kept_decisions_expire_are_bounded_and_forgotten() -> None:
    clock = Clock()
    cedar = CedarAuthorizer(POLICIES, decision_entries=2, decision_seconds=60.0, clock=clock)
    tenant = new_id("tnt")
    resource = TenantResource(tenant, HOME)
    users = [Principal(f"sub-{n}", "u", Role.TENANT_STAFF, HOME, tenant) for n in range(3)]
    cedar.is_allowed(users[0], "learner.read", resource)
    clock.now += 61
    cedar.is_allowed(users[0], "learner.read", resource)  # expired: evaluated again
    assert cedar.evaluations == 2
    for user in users:  # three users in a cache of two: the oldest is dropped
        cedar.is_allowed(user, "learner.read", resource)
    assert cedar.evaluations == 4
    cedar.is_allowed(users[0], "learner.read", resource)
    assert cedar.evaluations == 5
    cedar.forget()  # a SnapStart snapshot keeps no decision
    cedar.is_allowed(users[0], "learner.read", resource)
    assert cedar.evaluations == 6
