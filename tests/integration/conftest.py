"""The integration tests' set-up: one in-process AWS emulator (moto ``mock_aws``) for the whole session.

Resources of all four regions are created once (moto's CreateKey alone costs ~50 ms); tests
isolate themselves by onboarding tenants of their own, whose ids are random. Each regional
deployment is a ``Container`` built from that region's settings with a static JWKS (moto signs
every pool with one fixed key) and installed before each call through ``RegionalApi``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import moto
import pytest
from chalice.test import Client

from chalicelib import composition
from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.cognito_admin import sign_in
from chalicelib.adapters.cognito_jwt import StaticKeySource
from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.settings import PROJECT_ROOT, REGIONS, Settings
from devtools.provision import Provisioned, create_tables, drop_tables, provision
from tests.conftest import moto_jwks
from tests.integration import emulator

DIRECTORY_REGION = "us-east-1"


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
