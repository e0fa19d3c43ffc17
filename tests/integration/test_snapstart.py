"""SnapStart hooks (``chalicelib.snapstart``): warm-up before the snapshot, and no key or token kept in it
or after a restore."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import composition, snapstart
from chalicelib.domain.learners import LearnerCreate
from tests.integration.conftest import RegionalApi, TokenFactory

REGION = "eu-west-2"
LEARNER = {"given_name": "Ada", "family_name": "Byron", "email": "ada@example.org", "date_of_birth": "2010-12-10"}


def _secrets(container: composition.Container) -> dict[str, int]:
    return {"tenant keys": len(container.tenant_keys._records), "unwrapped keys": len(container.keyring.cache),
            "verified tokens": len(container.verifier._verified)}


def _use_keys_and_tokens(api: dict[str, RegionalApi], token: TokenFactory,
                         onboard: Callable[..., dict[str, Any]]) -> composition.Container:
    tenant = onboard("UK")["tenant_id"]
    staff = token("tenant_staff", tenant, region=REGION)
    status, body = api[REGION].call("POST", f"/v1/tenants/{tenant}/learners", staff, LEARNER)
    assert status == 201, body
    container = api[REGION].container
    assert all(_secrets(container).values()), _secrets(container)
    return container


def test_after_restore_drops_every_key_and_token(api: dict[str, RegionalApi], token: TokenFactory,
                                                 onboard: Callable[..., dict[str, Any]]) -> None:
    container = _use_keys_and_tokens(api, token, onboard)
    snapstart.after_restore(container)
    assert _secrets(container) == {"tenant keys": 0, "unwrapped keys": 0, "verified tokens": 0}


def test_before_snapshot_warms_up_and_keeps_no_secret(api: dict[str, RegionalApi], token: TokenFactory,
                                                      onboard: Callable[..., dict[str, Any]]) -> None:
    container = _use_keys_and_tokens(api, token, onboard)
    snapstart.before_snapshot(container, (LearnerCreate,))
    assert _secrets(container) == {"tenant keys": 0, "unwrapped keys": 0, "verified tokens": 0}
    assert container.authorizer._policies is not None  # the Cedar policy set is parsed in the snapshot
    assert LearnerCreate.__pydantic_complete__


def test_a_failing_warm_up_step_is_reported_not_raised() -> None:
    class Broken:
        settings = property(lambda self: (_ for _ in ()).throw(RuntimeError("no settings")))

        def forget_secrets(self) -> int:
            return 0

    assert snapstart.warm_up(Broken()) == ["clients", "directory_client", "cedar", "jwks"]


def test_hooks_are_registered_only_where_the_runtime_offers_them(monkeypatch: pytest.MonkeyPatch,
                                                                 api: dict[str, RegionalApi], token: TokenFactory,
                                                                 onboard: Callable[..., dict[str, Any]]) -> None:
    monkeypatch.delitem(sys.modules, "snapshot_restore_py", raising=False)
    assert snapstart.register(lambda: api[REGION].container) is False  # off Lambda: nothing to register
    hooks: dict[str, list[Callable[[], None]]] = {"before": [], "after": []}
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = hooks["before"].append  # type: ignore[attr-defined]
    runtime.register_after_restore = hooks["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    container = _use_keys_and_tokens(api, token, onboard)
    assert snapstart.register(lambda: container) is True
    assert (len(hooks["before"]), len(hooks["after"])) == (1, 1)
    hooks["after"][0]()
    assert not any(_secrets(container).values())


def test_a_keyring_built_without_a_key_service_is_emptied_too(api: dict[str, RegionalApi]) -> None:
    used = api[REGION].container
    fresh = composition.Container(used.settings, clients=used.clients, jurisdictions=used.jurisdictions)
    fresh.keyring.cache.put(("tnt_x", 1, b"blob"), object())  # type: ignore[arg-type]
    assert "tenant_keys" not in vars(fresh)
    snapstart.after_restore(fresh)
    assert len(fresh.keyring.cache) == 0
