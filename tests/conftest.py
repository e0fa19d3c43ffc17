"""Shared test set-up: one in-process AWS emulator (moto ``mock_aws``) for the whole session.

Resources of all four regions are created once (moto's CreateKey alone costs ~50 ms); tests
isolate themselves by onboarding tenants of their own, whose ids are random. Each regional
deployment is a ``Container`` built from that region's settings with a static JWKS (moto signs
every pool with one fixed key) and installed before each call through ``RegionalApi``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[_name] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("ENCLAVE_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

import moto  # noqa: E402
import moto.cognitoidp  # noqa: E402
from chalice.test import Client  # noqa: E402

from chalicelib import composition  # noqa: E402
from chalicelib.adapters.aws import AwsClients  # noqa: E402
from chalicelib.adapters.cognito_admin import sign_in  # noqa: E402
from chalicelib.adapters.cognito_jwt import StaticKeySource  # noqa: E402
from chalicelib.adapters.policy_files import load_jurisdictions  # noqa: E402
from chalicelib.domain.catalog import JurisdictionCatalog  # noqa: E402
from chalicelib.settings import PROJECT_ROOT, REGIONS, Settings  # noqa: E402
from devtools.provision import Provisioned, create_tables, drop_tables, provision  # noqa: E402
from tests import emulator  # noqa: E402

DIRECTORY_REGION = "us-east-1"
MOTO_JWKS_DIR = Path(moto.cognitoidp.__file__).parent / "resources"


def moto_jwks(kind: str = "public") -> dict[str, Any]:
    """moto's fixed Cognito signing key set (``private`` lets tests forge tokens with any claims)."""
    with gzip.open(MOTO_JWKS_DIR / f"jwks-{kind}.json.gz", "rt") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


@dataclass
class Emulated:
    clients: AwsClients
    provisioned: Provisioned
    jurisdictions: JurisdictionCatalog


@pytest.fixture(scope="session")
def emulated() -> Iterator[Emulated]:
    emulator.install()
    with moto.mock_aws():
        clients = AwsClients()
        jurisdictions = load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")
        settings = Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION)
        yield Emulated(clients, provision(clients, settings, jurisdictions), jurisdictions)


@pytest.fixture(scope="module", autouse=True)
def fresh_tables(request: pytest.FixtureRequest) -> None:
    """Each test module starts from empty tables, so the emulator's per-transaction table copies stay small."""
    if "emulated" not in request.fixturenames:
        return
    emulated: Emulated = request.getfixturevalue("emulated")
    drop_tables(emulated.clients)
    create_tables(emulated.clients, Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION),
                  emulated.jurisdictions)


def regional_settings(region: str, provisioned: Provisioned) -> Settings:
    return Settings(
        stage="test",
        region=region,
        directory_region=DIRECTORY_REGION,
        endpoints={r: f"https://{r}.enclave.test" for r in REGIONS},
        cognito_pools=provisioned.cognito_pools,
    )


class RegionalApi:
    """The app as one region's deployment: installs that region's container before each call."""

    def __init__(self, container: composition.Container) -> None:
        import app as app_module

        self.container = container
        self._client = Client(app_module.app)
        self.issued: list[str] = []  # every path with its query, as API Gateway's trace would record it

    def call(self, method: str, path: str, token: str | None = None, body: Any = None, *,
             raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        composition.use(self.container)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.issued.append(path)
        response = self._client.http.request(method, path, headers=all_headers, body=payload)
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        return response.status_code, json.loads(text) if text else None


@pytest.fixture(scope="session")
def containers(emulated: Emulated) -> dict[str, composition.Container]:
    keys = StaticKeySource(moto_jwks())
    return {
        region: composition.Container(regional_settings(region, emulated.provisioned), clients=emulated.clients,
                                      key_source=keys, jurisdictions=emulated.jurisdictions)
        for region in REGIONS
    }


@pytest.fixture(scope="session")
def api(containers: dict[str, composition.Container]) -> dict[str, RegionalApi]:
    return {region: RegionalApi(container) for region, container in containers.items()}


TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def token(emulated: Emulated) -> TokenFactory:
    """``token(role, tenant=None, region=...)``: a real ID token from that region's emulated pool."""
    cache: dict[tuple[str, str | None, str, str | None], str] = {}

    def issue(role: str, tenant: str | None = None, region: str = DIRECTORY_REGION, sub: str | None = None) -> str:
        key = (role, tenant, region, sub)
        if key not in cache:
            username = sub or "-".join(p for p in (role, tenant, region) if p)
            pool = emulated.provisioned.cognito_pools[region]
            cache[key] = sign_in(emulated.clients.cognito(region), pool, username, role, tenant)
        return cache[key]

    return issue


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


HOME = {"PH": "ap-southeast-1", "AU": "ap-southeast-2", "UK": "eu-west-2", "US": "us-east-1"}


@pytest.fixture
def onboard(api: dict[str, RegionalApi], token: TokenFactory) -> Callable[..., dict[str, Any]]:
    """Onboard a fresh tenant of ``jurisdiction`` through its home region; returns the tenant."""

    def create(jurisdiction: str = "UK", kind: str = "school", name: str = "Test School") -> dict[str, Any]:
        region = HOME[jurisdiction]
        status, body = api[region].call("POST", "/v1/tenants", token("platform_admin", region=region),
                                        {"name": name, "kind": kind, "jurisdiction": jurisdiction})
        assert status == 201, body
        return dict(body)

    return create


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every production stage packaged once per session (tests/deploy_packages.py), for the SAM and CDK tests."""
    from tests.deploy_packages import package_stages

    return dict(package_stages(tmp_path_factory.mktemp("deploy")))
