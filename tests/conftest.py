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

    Under ``pytest -n N --dist loadgroup`` (``make test``) a group runs whole on one worker: a module's tests
    keep their order and module fixtures (``fresh_tables``), and the stages are packaged once. Each worker
    that runs e2e or browser files starts its own local platform (free ports, its own data folder)."""
    for prefix, group in SHARED_GROUPS.items():
        if parts[:len(prefix)] == prefix:
            return group
    return "/".join(parts)


LONGEST = ("e2e/test_imports.py",)
"""Files that take minutes on their own (the 20,000-row import): handed out first under xdist, so that no
worker is left running one while the other has nothing more to do."""


def run_order(item: pytest.Item) -> tuple[int, int]:
    """Under xdist: the longest files, then the platform's levels (slow per file), then the rest."""
    path = item.path.relative_to(TESTS).as_posix() if item.path.is_relative_to(TESTS) else ""
    level = path.split("/", 1)[0]
    return (0 if path in LONGEST else 1, 0 if level in ("e2e", "browser") else 1)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which names each test by its group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its level, the folder under tests/ it lives in, and with its worker group.

    A worker of ``--dist loadgroup`` also orders the collection (``run_order``): with ``--no-loadscope-reorder``
    the groups are handed out in that order."""
    for item in items:
        parts = item.path.relative_to(TESTS).parts if item.path.is_relative_to(TESTS) else ()
        if parts and parts[0] in LEVELS:
            item.add_marker(parts[0])
        if parts:
            item.add_marker(pytest.mark.xdist_group(xdist_group(parts)))
    if getattr(config.option, "loadgroup", False):
        items.sort(key=run_order)  # stable: a file's tests keep their order


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
    """The local platform (tests/support/platform.py), started once for the e2e and browser tests together."""
    from tests.support.platform import running_platform

    with running_platform() as started:
        yield started
