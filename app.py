"""Enclave's HTTP API (one regional deployment): views parse, authorize, call one service, serialise.

Everything else lives in ``chalicelib``: the composition root builds the services, ``http.Api``
turns errors into the error shape of API.md and keeps the metadata the OpenAPI document is
generated from.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice

from chalicelib.composition import container
from chalicelib.domain.tenants import TenantCreate
from chalicelib.http import Api, RequestContext
from chalicelib.logs import bind_deployment
from chalicelib.openapi import build_document

app = Chalice(app_name="enclave")
app.api.binary_types = []
_settings = container().settings  # reads settings and validates the law packs: a broken file stops start-up
bind_deployment(_settings.region, _settings.stage, _settings.log_level)
api = Api(app, lambda: container().verifier)

ADMINS = ("platform_admin", "regional_admin")
TENANT_ROLES = ("tenant_admin", "tenant_staff")


@api.route("/v1/health", "GET", summary="Liveness of this regional deployment", public=True, tags=("platform",))
def health(ctx: RequestContext) -> dict[str, Any]:
    settings = container().settings
    return {"status": "ok", "region": settings.region, "stage": settings.stage}


@api.route("/v1/openapi.json", "GET", summary="This API's OpenAPI 3 document", public=True, tags=("platform",))
def openapi(ctx: RequestContext) -> dict[str, Any]:
    settings = container().settings
    return build_document(api.specs, "Enclave", "1", settings.endpoints.get(settings.region))


@api.route("/v1/jurisdictions", "GET", summary="The law packs in force", tags=("jurisdictions",),
           roles=("any",))
def list_jurisdictions(ctx: RequestContext) -> dict[str, Any]:
    services = container()
    services.access.region(ctx.principal, "jurisdiction.read")
    return {"items": [policy.public_view() for policy in services.jurisdictions.all()]}


@api.route("/v1/jurisdictions/{code}", "GET", summary="One jurisdiction's law pack", tags=("jurisdictions",),
           roles=("any",))
def get_jurisdiction(ctx: RequestContext, code: str) -> dict[str, Any]:
    services = container()
    services.access.region(ctx.principal, "jurisdiction.read")
    return services.jurisdictions.get(code.upper()).public_view()


@api.route("/v1/tenants", "POST", summary="Onboard a tenant in its home region", status=201, body=TenantCreate,
           roles=ADMINS, tags=("tenants",))
def create_tenant(ctx: RequestContext, body: TenantCreate) -> dict[str, Any]:
    return container().tenants.onboard(ctx.principal, body).to_json()


@api.route("/v1/tenants/{tenant_id}", "GET", summary="A tenant's directory entry (served by every region)",
           roles=(*ADMINS, "compliance_officer", *TENANT_ROLES), tags=("tenants",))
def get_tenant(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().tenants.read(ctx.principal, tenant_id).to_json()
