"""The deploy tests' packages: every production stage packaged once per session."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every production stage packaged once per session (tests/integration/deploy/deploy_packages.py), for the
    SAM and CDK tests."""
    from tests.integration.deploy.deploy_packages import package_stages

    return dict(package_stages(tmp_path_factory.mktemp("deploy")))
