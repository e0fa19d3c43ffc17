"""The OpenAPI 3 document, generated from the registered routes and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.http import RouteSpec

_PARAM = re.compile(r"{(\w+)}")
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "array", "items": {"type": "object"}},
                "home_region": {"type": "string"},
                "endpoint": {"type": "string"},
            },
        }
    },
}
_ERROR_STATUSES = {"400": "malformed request", "401": "unauthenticated", "403": "forbidden",
                   "404": "not found", "409": "conflict", "410": "erased", "413": "body too large",
                   "415": "body not sent as JSON",
                   "421": "served by another region", "422": "invalid fields",
                   "429": "throttled", "503": "unavailable"}


def build_document(specs: list[RouteSpec], title: str, version: str, server_url: str | None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for spec in specs:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, schemas)
    document: dict[str, Any] = {
        "openapi": "3.1.0",  # 3.1: its schemas are JSON Schema 2020-12, which pydantic generates
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _operation(spec: RouteSpec, schemas: dict[str, Any]) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
        for name in _PARAM.findall(spec.path)
    ] + [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in spec.query]
    if spec.method == "POST":
        parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "maxLength": 128}})
    operation: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": _operation_id(spec),
        "parameters": parameters,
        "responses": {
            str(spec.status): {"description": "success",
                               "content": {media_type: {"schema": {}} for media_type in spec.media_types}},
            **{code: {"description": text, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}} for code, text in _ERROR_STATUSES.items()},
        },
    }
    if spec.roles:
        operation["x-enclave-roles"] = list(spec.roles)
    if spec.tags:
        operation["tags"] = list(spec.tags)
    if not spec.public:
        operation["security"] = [{"cognito": []}]
    if spec.body is not None:
        schema = spec.body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[spec.body.__name__] = schema
        operation["requestBody"] = {"required": not spec.body_optional, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{spec.body.__name__}"}}}}
    return operation


def _operation_id(spec: RouteSpec) -> str:
    path = _PARAM.sub(lambda match: match.group(1), spec.path).strip("/").replace("/", "_").replace(".", "_")
    return f"{spec.method.lower()}_{path}"
