"""Enclave's HTTP API (one regional deployment): views parse, authorize, call one service, serialise.

Everything else lives in ``chalicelib``: the composition root builds the services, ``http.Api``
turns errors into the error shape of API.md and keeps the metadata the OpenAPI document is
generated from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Rate, Response

from chalicelib.composition import container
from chalicelib.domain.paging import page_request
from chalicelib.http import Api, RequestContext, json_response
from chalicelib.logs import bind_deployment
from chalicelib.snapstart import register as register_snapshot_hooks

if TYPE_CHECKING:  # body models are named in the routes and imported on first use (a cold start builds fewer)
    from chalicelib.domain.alerts import InboxRead, NotificationsUpdate
    from chalicelib.domain.audit.export_request import AuditExportCreate
    from chalicelib.domain.consents import ConsentCreate
    from chalicelib.domain.holds import HoldCreate, HoldLift
    from chalicelib.domain.imports import ImportCreate
    from chalicelib.domain.incidents import IncidentCreate
    from chalicelib.domain.learners import LearnerCreate, LearnerPatch, LearnerSearch, ResultCreate
    from chalicelib.domain.obligations_api import EvidenceCreate
    from chalicelib.domain.ocsf import StreamSwitch
    from chalicelib.domain.requests import RequestClose, RequestCreate, RequestPause
    from chalicelib.domain.retention import DepartureUpdate
    from chalicelib.domain.tenant_bodies import TenantCreate
    from chalicelib.domain.webhooks import WebhookCreate
    from chalicelib.services.context import Caller

app = Chalice(app_name="enclave")
app.api.binary_types = []
_settings = container().settings  # reads settings and validates the law packs: a broken file stops start-up
bind_deployment(_settings.region, _settings.stage, _settings.log_level)
api = Api(app, lambda: container().verifier, cors_origin=_settings.console_origin)

MODELS = "chalicelib.domain."  # where the body models live (each named, imported on first use)
ADMINS = ("platform_admin", "regional_admin")
TENANT_ROLES = ("tenant_admin", "tenant_staff")


@api.route("/v1/health", "GET", summary="Liveness of this regional deployment", public=True, tags=("platform",))
def health(ctx: RequestContext) -> dict[str, Any]:
    settings = container().settings
    return {"status": "ok", "region": settings.region, "stage": settings.stage}


@api.route("/v1/openapi.json", "GET", summary="This API's OpenAPI 3 document", public=True, tags=("platform",))
def openapi(ctx: RequestContext) -> dict[str, Any]:
    from chalicelib.openapi import build_document

    settings = container().settings
    return build_document(api.specs, "Enclave", "1", settings.endpoints.get(settings.region))


@api.route("/v1/jurisdictions", "GET", summary="The law packs in force", tags=("jurisdictions",),
           roles=("any",))
def list_jurisdictions(ctx: RequestContext) -> dict[str, Any]:
    services = container()
    services.access.region(ctx.principal, "jurisdiction.read")
    return {"items": [services.jurisdictions.view(code) for code in services.jurisdictions.codes()]}


@api.route("/v1/jurisdictions/{code}", "GET", summary="One jurisdiction's law pack", tags=("jurisdictions",),
           roles=("any",))
def get_jurisdiction(ctx: RequestContext, code: str) -> dict[str, Any]:
    services = container()
    services.access.region(ctx.principal, "jurisdiction.read")
    return services.jurisdictions.view(code.upper())


@api.route("/v1/tenants", "POST", summary="Onboard a tenant in its home region", status=201,
           body=MODELS + "tenant_bodies:TenantCreate", roles=ADMINS, tags=("tenants",))
def create_tenant(ctx: RequestContext, body: TenantCreate) -> dict[str, Any]:
    return container().tenants.onboard(ctx.principal, body, ctx.header("Idempotency-Key"))


@api.route("/v1/tenants", "GET", summary="The tenants homed in this region, paged (opaque cursor)",
           query=("cursor", "limit"), roles=(*ADMINS, "compliance_officer"), tags=("tenants",))
def list_tenants(ctx: RequestContext) -> dict[str, Any]:
    return container().tenants.list_in_region(caller(ctx), page_request(ctx.query))


@api.route("/v1/tenants/{tenant_id}", "GET", summary="A tenant's directory entry (served by every region)",
           roles=(*ADMINS, "compliance_officer", *TENANT_ROLES), tags=("tenants",))
def get_tenant(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().tenants.read(ctx.principal, tenant_id).to_json()


@api.route("/v1/tenants/{tenant_id}", "DELETE", summary="Offboard a tenant in two steps: 202 with the date it "
           "can be confirmed; ?confirm=<offboarding_id> then exports, shreds every learner and tombstones the entry",
           query=("confirm",), status=202, roles=("platform_admin",), tags=("tenants",))
def offboard_tenant(ctx: RequestContext, tenant_id: str) -> Response:
    status, body = container().offboarding.offboard(caller(ctx), tenant_id, ctx.query.get("confirm"))
    return json_response(status, body, ctx.request_id)


def caller(ctx: RequestContext) -> Caller:
    from chalicelib.services.context import Caller

    return Caller(ctx.principal, ctx.request_id)


LEARNERS = "/v1/tenants/{tenant_id}/learners"
LEARNER = LEARNERS + "/{learner_id}"


@api.route(LEARNERS, "POST", summary="Enrol a learner (every personal field encrypted)", status=201,
           body=MODELS + "learners:LearnerCreate", roles=TENANT_ROLES, tags=("learners",))
def create_learner(ctx: RequestContext, body: LearnerCreate, tenant_id: str) -> dict[str, Any]:
    return container().learners.create(caller(ctx), tenant_id, body, ctx.header("Idempotency-Key"))


@api.route(LEARNERS, "GET", summary="The tenant's learners, paged in id order (?status= active, restricted or "
           "erased): ids, status, dates and each active learner's names, sorted within the page (?sort= "
           "family_name or enrolled); one audit event names the learners shown. ?email= is withdrawn: 410 "
           "naming the search route", query=("cursor", "limit", "status", "sort"),
           roles=(*TENANT_ROLES, "regional_admin"),
           tags=("learners",))
def find_learners(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    if "email" in ctx.query:  # a URL reaches traces and access logs: 410 (after the 421 of a wrong region)
        container().learners.withdrawn_email_lookup(caller(ctx), tenant_id)
    return container().learners.list_page(caller(ctx), tenant_id, page_request(ctx.query), ctx.query)


@api.route(LEARNERS + "/search", "POST", summary="Find learners by exact e-mail, or by family name (and given "
           "name), normalised (blind indexes, re-checked against the decrypted values)",
           body=MODELS + "learners:LearnerSearch", roles=(*TENANT_ROLES, "regional_admin"), tags=("learners",))
def search_learners(ctx: RequestContext, body: LearnerSearch, tenant_id: str) -> dict[str, Any]:
    return container().learners.search(caller(ctx), tenant_id, body)


@api.route(LEARNER, "GET", summary="A learner, decrypted", roles=(*TENANT_ROLES, "regional_admin"),
           tags=("learners",))
def get_learner(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().learners.read(caller(ctx), tenant_id, learner_id)


@api.route(LEARNER, "PATCH", summary="Rectify a learner", body=MODELS + "learners:LearnerPatch",
           roles=("tenant_admin",), tags=("learners",))
def update_learner(ctx: RequestContext, body: LearnerPatch, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().learners.update(caller(ctx), tenant_id, learner_id, body)


@api.route(LEARNER, "DELETE", summary="Erase a learner by crypto-shredding; returns the receipt",
           roles=("tenant_admin", "regional_admin"), tags=("learners",))
def erase_learner(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().erasure.erase(caller(ctx), tenant_id, learner_id)


@api.route(LEARNER + "/restriction", "DELETE", summary="Lift a restriction of processing (set by a request)",
           roles=("tenant_admin", "regional_admin"), tags=("learners",))
def lift_restriction(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().erasure.lift_restriction(caller(ctx), tenant_id, learner_id)


@api.route(LEARNER + "/results", "POST", summary="Record an assessment result", status=201,
           body=MODELS + "learners:ResultCreate", roles=TENANT_ROLES, tags=("learners",))
def add_result(ctx: RequestContext, body: ResultCreate, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().results.add(caller(ctx), tenant_id, learner_id, body, ctx.header("Idempotency-Key"))


@api.route(LEARNER + "/results", "GET", summary="A learner's assessment results", roles=TENANT_ROLES,
           tags=("learners",))
def list_results(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().results.read(caller(ctx), tenant_id, learner_id)


@api.route(LEARNER + "/results/research-share", "POST",
           summary="A de-identified extract of the learner's results for research; 403 without research consent",
           roles=TENANT_ROLES, tags=("consents",))
def share_results_for_research(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().research.share(caller(ctx), tenant_id, learner_id)


@api.route(LEARNER + "/consents", "POST", summary="Record a consent decision (append-only)", status=201,
           body=MODELS + "consents:ConsentCreate", roles=TENANT_ROLES, tags=("consents",))
def record_consent(ctx: RequestContext, body: ConsentCreate, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().consents.record(caller(ctx), tenant_id, learner_id, body, ctx.header("Idempotency-Key"))


@api.route(LEARNER + "/consents", "GET", summary="Current consent per purpose and the history, oldest first",
           roles=(*TENANT_ROLES, "compliance_officer"), tags=("consents",))
def consent_history(ctx: RequestContext, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().consents.history(caller(ctx), tenant_id, learner_id)


@api.route("/v1/tenants/{tenant_id}/consents/coverage", "GET", summary="Per purpose, how many live learners have "
           "consent granted, not granted, or no decision (counts only, no learner named)",
           roles=("compliance_officer", "platform_admin"), tags=("consents",))
def consent_coverage(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().oversight.consent_coverage(caller(ctx), tenant_id)


IMPORTS = "/v1/tenants/{tenant_id}/imports"


@api.route(IMPORTS, "POST", summary="Start a bulk import of learners or results (plain CSV or a OneRoster zip): "
           "answers a presigned PUT for the file; the worker processes it from the upload event", status=201,
           body=MODELS + "imports:ImportCreate", roles=("tenant_admin",), tags=("imports",))
def create_import(ctx: RequestContext, body: ImportCreate, tenant_id: str) -> dict[str, Any]:
    return container().imports.create(caller(ctx), tenant_id, body)


@api.route(IMPORTS + "/{import_id}", "GET", summary="An import's state, rows done and failed, and its error report "
           "[{row, field, code}] (no value from the file)", roles=("tenant_admin",), tags=("imports",))
def get_import(ctx: RequestContext, tenant_id: str, import_id: str) -> dict[str, Any]:
    return container().imports.status(caller(ctx), tenant_id, import_id)


# the account is not known here: the stage template points the event source at its queue (deploy/imports.py)
@app.on_sqs_message(queue_arn=f"arn:aws:sqs:{_settings.region}:000000000000:{_settings.import_queue}", batch_size=1,
                    name="import_worker")
def import_worker(event: Any) -> dict[str, int]:
    """The bulk-import queue (the bucket's upload events and the worker's own chunk messages): thin."""
    import json

    written = 0
    for record in event:
        written += container().imports.handle(json.loads(record.body))
    return {"written": written}


REQUESTS = "/v1/tenants/{tenant_id}/requests"
REQUEST_HANDLERS = ("tenant_admin", "regional_admin")


@api.route(REQUESTS, "POST", summary="Record a data-subject request with its statutory due date; access, erasure "
           "and restriction are fulfilled at once", status=201,
           body=MODELS + "requests:RequestCreate", roles=REQUEST_HANDLERS, tags=("requests",))
def create_request(ctx: RequestContext, body: RequestCreate, tenant_id: str) -> dict[str, Any]:
    return container().requests.create(caller(ctx), tenant_id, body, ctx.header("Idempotency-Key"))


@api.route(REQUESTS, "GET", summary="The tenant's data-subject requests, paged (?status= open, fulfilled or "
           "rejected; ?due_before= a date or time: open ones due before it), each with its urgency and, for the "
           "tenant's users, the learner's name; one audit event", query=("status", "due_before", "cursor", "limit"),
           roles=("tenant_admin", "regional_admin", "compliance_officer"), tags=("requests",))
def list_tenant_requests(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().requests.list_tenant(caller(ctx), tenant_id, page_request(ctx.query), ctx.query)


@api.route(REQUESTS + "/{request_id}", "GET", summary="A data-subject request's status (a fulfilled access "
           "request carries a fresh download_url)", roles=(*REQUEST_HANDLERS, "compliance_officer"),
           tags=("requests",))
def get_request(ctx: RequestContext, tenant_id: str, request_id: str) -> dict[str, Any]:
    return container().requests.get(caller(ctx), tenant_id, request_id)


@api.route(REQUESTS + "/{request_id}/package", "GET", summary="A fulfilled access request's package, decrypted "
           "with the learner's key (410 once expired or the learner erased)", roles=REQUEST_HANDLERS,
           tags=("requests",))
def download_package(ctx: RequestContext, tenant_id: str, request_id: str) -> dict[str, Any]:
    return container().requests.download(caller(ctx), tenant_id, request_id)


@api.route(REQUESTS + "/{request_id}/fulfil", "POST", summary="Fulfil an open request (rectification done, or a "
           "retry) or reject it with a reason", body=MODELS + "requests:RequestClose",
           roles=REQUEST_HANDLERS, tags=("requests",))
def close_request(ctx: RequestContext, body: RequestClose, tenant_id: str, request_id: str) -> dict[str, Any]:
    return container().requests.close(caller(ctx), tenant_id, request_id, body)


@api.route(REQUESTS + "/{request_id}/pause", "POST", summary="Stop a request's clock while waiting for proof of "
           "identity or a clarification, where the law allows it (UK GDPR Art. 12A; elsewhere 422 naming the law)",
           body=MODELS + "requests:RequestPause", roles=REQUEST_HANDLERS, tags=("requests",))
def pause_request(ctx: RequestContext, body: RequestPause, tenant_id: str, request_id: str) -> dict[str, Any]:
    return container().requests.pause(caller(ctx), tenant_id, request_id, body)


@api.route(REQUESTS + "/{request_id}/resume", "POST", summary="Restart a paused request's clock: its due date "
           "moves by the paused time; a held-back access, erasure or restriction is fulfilled now",
           roles=REQUEST_HANDLERS, tags=("requests",))
def resume_request(ctx: RequestContext, tenant_id: str, request_id: str) -> dict[str, Any]:
    return container().requests.resume(caller(ctx), tenant_id, request_id)


OBLIGATIONS = "/v1/tenants/{tenant_id}/obligations"


@api.route(OBLIGATIONS, "GET", summary="The tenant's standing obligations (by jurisdiction, state and sector) with "
           "status and evidence date", roles=("tenant_admin", "regional_admin", "compliance_officer"),
           tags=("obligations",))
def list_obligations(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().obligations.list(caller(ctx), tenant_id)


@api.route(OBLIGATIONS + "/{key}/evidence", "POST", summary="Record that the tenant met an obligation (the day "
           "it was done, and where the document is)", status=201, body=MODELS + "obligations_api:EvidenceCreate",
           roles=("tenant_admin",),
           tags=("obligations",))
def record_obligation_evidence(ctx: RequestContext, body: EvidenceCreate, tenant_id: str, key: str) -> dict[str, Any]:
    return container().obligations.record_evidence(caller(ctx), tenant_id, key, body)


@api.route("/v1/requests", "GET", summary="Open requests of this region past or near their due date",
           query=("overdue", "due_soon", "due_within_days"), roles=("regional_admin", "compliance_officer"),
           tags=("requests",))
def overdue_requests(ctx: RequestContext) -> dict[str, Any]:
    from chalicelib.domain.requests import overdue_query

    include_due_soon, due_within = overdue_query(ctx.query)
    return container().requests.overdue(caller(ctx), include_due_soon, due_within)

AUDITORS = ("compliance_officer", "platform_admin")
AUDIT = "/v1/tenants/{tenant_id}/audit"


@api.route(AUDIT, "GET", summary="Audit events of a time range, oldest first (NDJSON with manifest, or CSV)",
           query=("from", "to", "format"), roles=AUDITORS, tags=("audit",),
           media_types=("application/x-ndjson", "text/csv"))
def read_audit(ctx: RequestContext, tenant_id: str) -> Response:
    export = container().audit.stream(caller(ctx), tenant_id, dict(ctx.query))
    return Response(body="".join(export.lines), status_code=200,
                    headers={"Content-Type": export.content_type, "X-Request-Id": ctx.request_id})


@api.route(AUDIT + "/events", "GET", summary="Audit events as JSON, filtered by time, action, actor (sub or role) "
           "and outcome, paged by seq (the console's trail view)",
           query=("from", "to", "action", "actor", "outcome", "cursor", "limit"), roles=AUDITORS, tags=("audit",))
def browse_audit(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().audit_browser.events(caller(ctx), tenant_id, ctx.query)


@api.route(AUDIT + "/status", "GET", summary="The chain's head, its last verification and last export (from the "
           "chain's own events; null when never done)", roles=AUDITORS, tags=("audit",))
def audit_status(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().oversight.audit_status(caller(ctx), tenant_id)


@api.route(AUDIT + "/activity", "GET", summary="Events per hour of a time range (default the last 30 days, at "
           "most 92) and the checkpoints signed in it: the console's picture of the chain", query=("from", "to"),
           roles=AUDITORS, tags=("audit",))
def audit_activity(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().oversight.activity(caller(ctx), tenant_id, ctx.query)


@api.route(AUDIT + "/exports", "POST", summary="Export an audit range to the regional bucket (presigned URL)",
           status=201, body=MODELS + "audit.export_request:AuditExportCreate", roles=AUDITORS, tags=("audit",))
def export_audit(ctx: RequestContext, body: AuditExportCreate, tenant_id: str) -> dict[str, Any]:
    return container().audit.export(caller(ctx), tenant_id, body)


@api.route(AUDIT + "/verify", "GET", summary="Verify the tenant's whole chain and its signed checkpoints",
           roles=AUDITORS, tags=("audit",))
def verify_audit(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().audit.verify(caller(ctx), tenant_id)


@api.route(AUDIT + "/proof", "GET", summary="Inclusion proof of the event at seq N against a KMS-signed Merkle tree "
           "head (RFC 9162); check offline with `audit prove`", query=("seq",), roles=AUDITORS, tags=("audit",))
def prove_audit_event(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().audit_proofs.proof(caller(ctx), tenant_id, ctx.query)


@api.route(AUDIT + "/consistency", "GET", summary="Consistency proof that the signed tree head at size `to` "
           "(default: now) extends the one at size `from`; check offline with `audit consistency`",
           query=("from", "to"), roles=AUDITORS, tags=("audit",))
def prove_audit_consistency(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().audit_proofs.consistency(caller(ctx), tenant_id, ctx.query)


@api.route(AUDIT + "/heads", "GET", summary="Every signed tree head of the tenant's trail, oldest first (the "
           "timeline); compare with the witness bucket with `audit witness`", roles=AUDITORS, tags=("audit",))
def list_tree_heads(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().audit_proofs.heads(caller(ctx), tenant_id)


@api.route(AUDIT + "/stream", "GET", summary="The tenant's OCSF stream to a SIEM: on or off, the last seq "
           "delivered, where it is written (docs/siem.md)", roles=AUDITORS, tags=("audit",))
def read_audit_stream(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().siem_stream.read(caller(ctx), tenant_id)


@api.route(AUDIT + "/stream", "PUT", summary="Switch the tenant's OCSF stream on or off ({enabled}); on again, "
           "delivery resumes from its cursor (back-fills)", body=MODELS + "ocsf:StreamSwitch", roles=AUDITORS,
           tags=("audit",))
def switch_audit_stream(ctx: RequestContext, body: StreamSwitch, tenant_id: str) -> dict[str, Any]:
    return container().siem_stream.switch(caller(ctx), tenant_id, body)


@api.route("/v1/audit/keys", "GET", summary="Every audit signing key this region has used, with its validity: "
           "check proofs and exports against it with `--keys`", roles=("any",), tags=("audit",))
def list_audit_keys(ctx: RequestContext) -> dict[str, Any]:
    return container().audit_keys.keys(caller(ctx))


HOLDS = "/v1/tenants/{tenant_id}/legal-holds"


@api.route(HOLDS, "POST", summary="Place a legal hold on a learner or (no learner_id) the whole tenant; blocks "
           "erasure and retention", status=201, body=MODELS + "holds:HoldCreate", roles=ADMINS,
           tags=("retention",))
def place_hold(ctx: RequestContext, body: HoldCreate, tenant_id: str) -> dict[str, Any]:
    return container().holds.place(caller(ctx), tenant_id, body, ctx.header("Idempotency-Key"))


@api.route(HOLDS, "GET", summary="The tenant's legal holds (active=true: only those in force)", query=("active",),
           roles=(*ADMINS, "compliance_officer", "tenant_admin"), tags=("retention",))
def list_holds(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().holds.list_holds(caller(ctx), tenant_id, ctx.query.get("active"))


@api.route(HOLDS + "/{hold_id}", "DELETE", summary="Lift a legal hold (it stays on record with lifted_at); "
           "optional body {reason}: why, encrypted like the hold's reason", body=MODELS + "holds:HoldLift",
           body_optional=True, roles=ADMINS, tags=("retention",))
def lift_hold(ctx: RequestContext, body: HoldLift | None, tenant_id: str, hold_id: str) -> dict[str, Any]:
    return container().holds.lift(caller(ctx), tenant_id, hold_id, body)


@api.route(LEARNER + "/departure", "PUT", summary="Record the day a learner left (null: still enrolled); "
           "retention periods count from it", body=MODELS + "retention:DepartureUpdate",
           roles=("tenant_admin",), tags=("retention",))
def record_departure(ctx: RequestContext, body: DepartureUpdate, tenant_id: str, learner_id: str) -> dict[str, Any]:
    return container().retention.record_departure(caller(ctx), tenant_id, learner_id, body)


@api.route("/v1/retention/sweep", "POST", summary="Sweep this region's expired learner records now "
           "(dry_run=true: report only)", query=("dry_run",), roles=ADMINS, tags=("retention",))
def retention_sweep(ctx: RequestContext) -> dict[str, Any]:
    return container().retention.sweep(caller(ctx), ctx.query.get("dry_run"))


@app.schedule(Rate(1, unit=Rate.DAYS), name="retention",
              description="Daily retention sweep of the tenants homed in this region")
def retention(event: Any) -> dict[str, Any]:
    request_id = getattr(getattr(event, "context", None), "aws_request_id", None)
    return container().retention.scheduled(request_id if isinstance(request_id, str) else None)


@api.route("/v1/tenants/{tenant_id}/keys/rotate", "POST", summary="Rotate the tenant's key: a new version, "
           "everything re-wrapped and e-mails re-indexed under it; old versions retired by a later run",
           roles=ADMINS, tags=("keys",))
def rotate_tenant_key(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().key_rotation.rotate(caller(ctx), tenant_id)


@app.schedule(Rate(1, unit=Rate.DAYS), name="key_rotation",
              description="Daily: rotate tenant keys that are due, finish re-wraps, retire unused versions")
def key_rotation(event: Any) -> dict[str, Any]:
    request_id = getattr(getattr(event, "context", None), "aws_request_id", None)
    return container().key_rotation.scheduled(request_id if isinstance(request_id, str) else None)


@app.schedule(Rate(1, unit=Rate.HOURS), name="edge_routes",
              description="Hourly: repair the global entry's routes of the tenants homed in this region")
def edge_routes(event: Any) -> dict[str, Any]:
    return container().edge_routes.reconcile()


@api.route("/v1/incidents", "POST", summary="Record a suspected breach: each jurisdiction's notification "
           "deadlines and the affected learners from the audit trail", status=201,
           body=MODELS + "incidents:IncidentCreate", roles=ADMINS, tags=("incidents",))
def create_incident(ctx: RequestContext, body: IncidentCreate) -> dict[str, Any]:
    return container().incidents.create(caller(ctx), body, ctx.header("Idempotency-Key"))


@api.route("/v1/incidents", "GET", summary="This region's incidents naming a tenant of the caller's scope, newest "
           "first, with every regulator deadline; tenants outside the scope counted, never listed (paged, opaque "
           "cursor)", query=("cursor", "limit"), roles=(*ADMINS, "compliance_officer"), tags=("incidents",))
def list_incidents(ctx: RequestContext) -> dict[str, Any]:
    return container().incidents.list_page(caller(ctx), page_request(ctx.query))


@api.route("/v1/incidents/{incident_id}", "GET", summary="A recorded incident, as its POST answered it "
           "(404 unless the caller may read it on every tenant it names)", roles=(*ADMINS, "compliance_officer"),
           tags=("incidents",))
def get_incident(ctx: RequestContext, incident_id: str) -> dict[str, Any]:
    return container().incidents.get(caller(ctx), incident_id)


ME = "/v1/me"
SIGNED_IN = ("any",)


@api.route(ME + "/notifications", "GET", summary="Which alerts the caller gets, per kind, by e-mail and in the "
           "console's inbox", roles=SIGNED_IN, tags=("alerts",))
def get_notifications(ctx: RequestContext) -> dict[str, Any]:
    return container().inbox.preferences(caller(ctx))


@api.route(ME + "/notifications", "PUT", summary="Choose which alerts the caller gets (kinds omitted stay as they "
           "were)", body=MODELS + "alerts:NotificationsUpdate", roles=SIGNED_IN, tags=("alerts",))
def put_notifications(ctx: RequestContext, body: NotificationsUpdate) -> dict[str, Any]:
    return container().inbox.update_preferences(caller(ctx), body)


@api.route(ME + "/inbox", "GET", summary="The caller's alerts, newest first (?unread=true: only unread), with the "
           "unread count", query=("unread",), roles=SIGNED_IN, tags=("alerts",))
def get_inbox(ctx: RequestContext) -> dict[str, Any]:
    return container().inbox.items(caller(ctx), ctx.query)


@api.route(ME + "/inbox/unread", "GET", summary="How many of the caller's alerts are unread (the console's menu)",
           roles=SIGNED_IN, tags=("alerts",))
def get_inbox_unread(ctx: RequestContext) -> dict[str, Any]:
    return container().inbox.unread(caller(ctx))


@api.route(ME + "/inbox/read", "POST", summary="Mark inbox items read", body=MODELS + "alerts:InboxRead",
           roles=SIGNED_IN, tags=("alerts",))
def mark_inbox_read(ctx: RequestContext, body: InboxRead) -> dict[str, Any]:
    return container().inbox.mark_read(caller(ctx), body)


@app.lambda_function(name="reminders")
def reminders(event: Any, context: Any) -> dict[str, Any]:
    """Hourly (EventBridge Scheduler, deploy/render/alerts.py): tell who acts what is due or wrong in this region."""
    request_id = getattr(context, "aws_request_id", None)
    return container().alerts.run(request_id if isinstance(request_id, str) else None)


WEBHOOKS = "/v1/tenants/{tenant_id}/webhooks"
DEAD_LETTERS = "/v1/tenants/{tenant_id}/webhook-dead-letters"
WEBHOOK_ADMINS = ("tenant_admin", "platform_admin")


@api.route(WEBHOOKS, "POST", summary="Register an HTTPS endpoint for chosen event types; the answer holds its "
           "signing secret, shown once (docs/events.md)", status=201, body=MODELS + "webhooks:WebhookCreate",
           roles=WEBHOOK_ADMINS, tags=("webhooks",))
def create_webhook(ctx: RequestContext, body: WebhookCreate, tenant_id: str) -> dict[str, Any]:
    return container().webhooks.create(caller(ctx), tenant_id, body)


@api.route(WEBHOOKS, "GET", summary="The tenant's webhook endpoints (never their secrets) and the event types",
           roles=WEBHOOK_ADMINS, tags=("webhooks",))
def list_webhooks(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().webhooks.list(caller(ctx), tenant_id)


@api.route(WEBHOOKS + "/{webhook_id}", "GET", summary="One webhook endpoint", roles=WEBHOOK_ADMINS,
           tags=("webhooks",))
def get_webhook(ctx: RequestContext, tenant_id: str, webhook_id: str) -> dict[str, Any]:
    return container().webhooks.get(caller(ctx), tenant_id, webhook_id)


@api.route(WEBHOOKS + "/{webhook_id}", "DELETE", summary="Remove a webhook endpoint (its queued deliveries park)",
           roles=WEBHOOK_ADMINS, tags=("webhooks",))
def delete_webhook(ctx: RequestContext, tenant_id: str, webhook_id: str) -> dict[str, Any]:
    return container().webhooks.delete(caller(ctx), tenant_id, webhook_id)


@api.route(WEBHOOKS + "/{webhook_id}/rotate", "POST", summary="A new signing secret (shown once); the old one "
           "signs beside it for 24 hours", roles=WEBHOOK_ADMINS, tags=("webhooks",))
def rotate_webhook_secret(ctx: RequestContext, tenant_id: str, webhook_id: str) -> dict[str, Any]:
    return container().webhooks.rotate(caller(ctx), tenant_id, webhook_id)


@api.route(DEAD_LETTERS, "GET", summary="Webhook deliveries that failed for 24 hours (parked)",
           roles=WEBHOOK_ADMINS, tags=("webhooks",))
def list_webhook_dead_letters(ctx: RequestContext, tenant_id: str) -> dict[str, Any]:
    return container().webhooks.dead_letters(caller(ctx), tenant_id)


@api.route(DEAD_LETTERS + "/{delivery_id}/replay", "POST", summary="Queue a parked delivery again, due now, "
           "with 24 hours of retries", roles=WEBHOOK_ADMINS, tags=("webhooks",))
def replay_webhook_dead_letter(ctx: RequestContext, tenant_id: str, delivery_id: str) -> dict[str, Any]:
    return container().webhooks.replay(caller(ctx), tenant_id, delivery_id)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="webhook_dispatch",
              description="Every minute: send the due webhook deliveries of this region's tenants")
def webhook_dispatch(event: Any) -> dict[str, int]:
    return container().webhook_dispatcher.run()

@app.on_dynamodb_record(stream_arn=_settings.audit_stream_arn, name="audit_sequencer", batch_size=100,
                        starting_position="TRIM_HORIZON", maximum_batching_window_in_seconds=1)
def audit_sequencer(event: Any) -> dict[str, int]:
    """The audit table's stream (one mapping per home audit table, deploy/sequencer.py): seal what landed."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event
    return {"sealed": container().sequencer.handle(raw)}


# SnapStart (Lambda only): warm-up before the snapshot, every key and token dropped before it and after a restore
register_snapshot_hooks(container, api.body_models)
