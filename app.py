"""Enclave's HTTP API (one regional deployment): views parse, authorize, call one service, serialise.

Everything else lives in ``chalicelib``: the composition root builds the services, ``http.Api``
turns errors into the error shape of API.md and keeps the metadata the OpenAPI document is
generated from.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, Response

from chalicelib.composition import container
from chalicelib.domain.audit_exports import AuditExportCreate
from chalicelib.domain.learners import LearnerCreate, LearnerPatch, ResultCreate
from chalicelib.domain.tenants import TenantCreate
from chalicelib.http import Api, RequestContext
from chalicelib.logs import bind_deployment
from chalicelib.openapi import build_document
from chalicelib.services.context import Caller

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


def caller(ctx: RequestContext) -> Caller:
    return Caller(ctx.principal, ctx.request_id)


LEARNERS = "/v1/tenants/{tenant_id}/learners"
LEARNER = LEARNERS + "/{learner_id}"


@api.route(LEARNERS, "POST", summary="Enrol a learner (every personal field encrypted)", status=201,
           body=LearnerCreate, roles=TENANT_ROLES, tags=("learners",))
def create_learner(ctx: RequestContext, body: LearnerCreate, tenant_id: str) -> dict[str, Any]:
    return container().learners.create(caller(ctx), tenant_id, body, ctx.header("Idempotency-Key"))


@api.route(LEARNERS, "GET", summary="Find learners by exact e-mail (blind index)", query=("email",),
           roles=TENANT_ROLES, tags=("learners",))
def find_learners(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().learners.find_by_email(caller(ctx), tenant_id, ctx.query.get("email"))


@api.route(LEARNER, "GET", summary="A learner, decrypted", roles=(*TENANT_ROLES, "regional_admin"),
           tags=("learners",))
def get_learner(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().learners.read(caller(ctx), tenant_id, learner_id)


@api.route(LEARNER, "PATCH", summary="Rectify a learner", body=LearnerPatch, roles=("tenant_admin",),
           tags=("learners",))
def update_learner(ctx: RequestContext, body: LearnerPatch, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().learners.update(caller(ctx), tenant_id, learner_id, body)


@api.route(LEARNER, "DELETE", summary="Erase a learner by crypto-shredding; returns the receipt",
           roles=("tenant_admin", "regional_admin"), tags=("learners",))
def erase_learner(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().learners.erase(caller(ctx), tenant_id, learner_id)


@api.route(LEARNER + "/results", "POST", summary="Record an assessment result", status=201, body=ResultCreate,
           roles=TENANT_ROLES, tags=("learners",))
def add_result(ctx: RequestContext, body: ResultCreate, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().learners.add_result(caller(ctx), tenant_id, learner_id, body)


@api.route(LEARNER + "/results", "GET", summary="A learner's assessment results", roles=TENANT_ROLES,
           tags=("learners",))
def list_results(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().learners.results(caller(ctx), tenant_id, learner_id)


AUDITORS = ("compliance_officer", "platform_admin")
AUDIT = "/v1/tenants/{tenant_id}/audit"


@api.route(AUDIT, "GET", summary="Audit events of a time range, oldest first (NDJSON with manifest, or CSV)",
           query=("from", "to", "format"), roles=AUDITORS, tags=("audit",))
def read_audit(ctx: RequestContext, tenant_id: str) -> Response:
    export = container().audit.stream(caller(ctx), tenant_id, dict(ctx.query))
    return Response(body="".join(export.lines), status_code=200,
                    headers={"Content-Type": export.content_type, "X-Request-Id": ctx.request_id})


@api.route(AUDIT + "/exports", "POST", summary="Export an audit range to the regional bucket (presigned URL)",
           status=201, body=AuditExportCreate, roles=AUDITORS, tags=("audit",))
def export_audit(ctx: RequestContext, body: AuditExportCreate, tenant_id: str) -> dict[str, Any]:
    return container().audit.export(caller(ctx), tenant_id, body)


@api.route(AUDIT + "/verify", "GET", summary="Verify the tenant's whole chain and its signed checkpoints",
           roles=AUDITORS, tags=("audit",))
def verify_audit(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().audit.verify(caller(ctx), tenant_id)
