"""Settings from the environment: the checks a deployment's configuration must pass, and a cold start's
first request (a tenant read) importing no pydantic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.settings import PROJECT_ROOT, CognitoPool, LocalPlatformSettings, Settings, SettingsError

BASE = {"ENCLAVE_REGION": "eu-west-2", "ENCLAVE_DIRECTORY_REGION": "us-east-1"}


def test_numbers_paths_and_pools_come_typed_from_the_environment() -> None:
    settings = Settings.from_environ({**BASE, "ENCLAVE_CHECKPOINT_EVERY": "25", "ENCLAVE_POLICY_DIR": "/tmp/p",
                                      "ENCLAVE_COGNITO_POOLS": '{"eu-west-2": {"pool_id": "p", "client_id": "c"}}'})
    assert settings.checkpoint_every == 25
    assert settings.policy_dir == Path("/tmp/p")
    assert settings.cognito_pools["eu-west-2"] == CognitoPool(pool_id="p", client_id="c")
    assert settings.issuer_of("eu-west-2").endswith("/p")
    assert (settings.directory_region, settings.stage) == ("us-east-1", "dev")


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("ENCLAVE_RECOVERY_WINDOW_DAYS", "36", "recovery_window_days"),
    ("ENCLAVE_CHECKPOINT_EVERY", "0", "checkpoint_every"),
    ("ENCLAVE_HEAD_INTERVAL_SECONDS", "soon", "head_interval_seconds"),
    ("ENCLAVE_CONSOLE_ORIGIN", "console.example", "console_origin"),
    ("ENCLAVE_COGNITO_POOLS", '{"eu-west-2": {"pool_id": "p"}}', "cognito_pools"),
    ("ENCLAVE_COGNITO_POOLS", '{"eu-west-2": {"pool_id": "p", "client_id": "c", "domain": "http://x"}}',
     "cognito_pools.domain"),
])
def test_a_bad_value_stops_start_up_naming_the_setting(variable: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=f"invalid settings: {named}"):
        Settings.from_environ({**BASE, variable: value})


def test_a_copy_with_changes_is_checked_again() -> None:
    settings = Settings.from_environ(BASE)
    assert settings.model_copy(update={"edge_kvs_arn": None}) == settings
    with pytest.raises(SettingsError, match="offboarding_wait_days"):
        settings.model_copy(update={"offboarding_wait_days": 400})


def test_the_local_platform_reads_its_flags_and_ports() -> None:
    local = LocalPlatformSettings.from_environ({"ENCLAVE_FRESH": "1", "ENCLAVE_JOURNAL": "false",
                                                "ENCLAVE_MOTO_PORT": "5123"})
    assert (local.fresh, local.journal, local.moto_port) == (True, False, 5123)
    with pytest.raises(SettingsError, match="invalid local platform settings: journal"):
        LocalPlatformSettings.from_environ({"ENCLAVE_JOURNAL": "maybe"})


def test_importing_the_app_loads_no_pydantic() -> None:
    """A cold start's first request (a tenant read) needs none: pydantic waits for a request body.

    As in a package (``make package`` writes the law packs' cache first), whatever test ran before this one."""
    from chalicelib.adapters import lawpack_cache

    policies = PROJECT_ROOT / "policies" / "jurisdictions"
    if lawpack_cache.cached(policies) is None:
        lawpack_cache.build(policies)
    env = {**os.environ, **BASE}
    done = subprocess.run([sys.executable, "-c", "import sys, app; print(sorted(m for m in sys.modules "
                           "if m.split('.')[0] == 'pydantic'))"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
