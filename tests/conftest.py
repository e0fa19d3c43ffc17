"""What every level of tests shares: the process's AWS environment (no real account is ever reached), moto's
fixed Cognito signing keys, the app's log lines, the local platform for the e2e and browser tests, and a
marker per level (``-m unit``, ``integration``, ``e2e``, ``browser``).

Each level's own set-up lives in its conftest: tests/integration/conftest.py (the in-process emulator
and the regional deployments), tests/browser/conftest.py (Chromium).
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[_name] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("ENCLAVE_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

if TYPE_CHECKING:
    from tests.support.platform import Platform

TESTS = Path(__file__).parent
LEVELS = ("unit", "integration", "e2e", "browser")
_MOTO = importlib.util.find_spec("moto")
MOTO_JWKS_DIR = Path(_MOTO.origin if _MOTO and _MOTO.origin else ".").parent / "cognitoidp" / "resources"


def moto_jwks(kind: str = "public") -> dict[str, Any]:
    """moto's fixed Cognito signing key set (``private`` lets tests forge tokens with any claims)."""
    with gzip.open(MOTO_JWKS_DIR / f"jwks-{kind}.json.gz", "rt") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


SHARED_GROUPS = {("integration", "deploy"): "deploy"}
"""Folders whose files share one expensive session fixture: the packaged stages (deploy; they also share
Chalice's wheel cache in .chalice/deployments)."""


def xdist_group(parts: tuple[str, ...]) -> str:
    """The worker group of a test file (``parts``: its path under tests/): its shared folder's, else the file.

    Under ``pytest -n N`` (``make test``; ``pytest_xdist_make_scheduler``) a group runs whole on one worker: a
    module's tests keep their order and module fixtures (``fresh_tables``), and the stages are packaged once.
    Each worker that runs e2e or browser files starts its own local platform (free ports, own data folder)."""
    for prefix, group in SHARED_GROUPS.items():
        if parts[:len(prefix)] == prefix:
            return group
    return "/".join(parts)


LONGEST = ("e2e/test_imports.py", "integration/deploy/", "integration/adapters/test_audit_time_ranges.py")
"""Files (or folders) that take minutes on their own (the 20,000-row import; packaging every stage and linting
and synthesizing it; sixteen writers racing on one trail), longest first: handed out first under xdist, so that
no worker is left running one of them while the others have nothing more to do."""


def run_order(item: pytest.Item) -> tuple[int, int, int]:
    """Under xdist: the browser files first, on platforms still small (as in one process, where tests/browser
    is collected first: the officer's screens list every tenant of the platform, and after the e2e files'
    thousands of learners they missed their 20 s waits), then the longest files, the e2e files, the rest."""
    path = item.path.relative_to(TESTS).as_posix() if item.path.is_relative_to(TESTS) else ""
    level = path.split("/", 1)[0]
    rank = next((n for n, prefix in enumerate(LONGEST) if path.startswith(prefix)), len(LONGEST))
    return (0 if level == "browser" else 1, rank, 0 if level == "e2e" else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its level, the folder under tests/ it lives in; an xdist worker also orders the
    collection (``run_order``), the order in which the groups are handed out (``--no-loadscope-reorder``)."""
    for item in items:
        level = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if level in LEVELS:
            item.add_marker(level)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=run_order)  # stable: a file's tests keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scope scheduling with ``xdist_group``'s scopes: each group whole on one worker, handed out one
    at a time to the worker that asks (``--dist loadgroup`` cannot be used: it marks node ids with the group,
    which pytest 9's node ids no longer take)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            parts = tuple(nodeid.split("::", 1)[0].split("/"))
            return xdist_group(parts[1:]) if parts[0] == TESTS.name else "/".join(parts)

    return GroupScheduling(config, log)


@contextlib.contextmanager
def capture_logs() -> Iterator[io.StringIO]:
    """Everything the app logs meanwhile, as formatted (JSON) lines.

    Powertools' handler keeps the stdout object it found at import, which pytest's per-test capture
    (capsys/capfd) does not see; this adds a second handler with the same formatter."""
    from chalicelib.logs import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger(logger.name).removeHandler(handler)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    with capture_logs() as stream:
        yield stream


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    """The local platform (tests/support/platform.py), started once per process (per xdist worker) for the e2e
    and browser tests together."""
    from tests.support.platform import running_platform

    with running_platform() as started:
        yield started
