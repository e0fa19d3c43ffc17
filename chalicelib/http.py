"""The HTTP edge: route registration, request parsing, authentication and error mapping.

Every view goes through ``Api.route``: it bounds the body, parses JSON (400), validates it with the
route's pydantic model (422 listing the fields), authenticates the bearer token (401), and maps
every ``EnclaveError`` to the one error shape of API.md. Chalice's REST middleware does not see
exceptions raised in views, so this is the one place errors become HTTP. Each route's metadata is
kept for the OpenAPI document. A route's body model may be named (``"module:Model"``) rather than given:
it is imported when a request first needs it (or the OpenAPI document, or the SnapStart warm-up), so a
cold start does not build the models of routes its first request does not use.
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from chalice.app import Chalice, CORSConfig, Response

from chalicelib.domain.errors import (
    EnclaveError,
    MalformedJson,
    PayloadTooLarge,
    ServiceUnavailable,
    Throttled,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.domain.ids import is_valid_id
from chalicelib.logs import REQUEST_ID, logger

if TYPE_CHECKING:  # pydantic is imported when a body is first parsed: a tenant read needs none
    from pydantic import BaseModel, ValidationError

    from chalicelib.domain.identity import Principal

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


_WARM = threading.Event()


def freeze_long_lived() -> None:
    """Once per process, after its first request: move every object alive then (modules, the container, SDK
    clients and their models, ~100k objects) to the collector's permanent generation. They live as long as
    the process, yet every full collection walked them all (tens of ms each, ~0.1 ms per request on
    average while caches fill); frozen objects are still freed by reference counting when dropped."""
    if not _WARM.is_set():
        _WARM.set()
        gc.freeze()


BodyModel: TypeAlias = "type[BaseModel] | str | None"
"""A route's body model: the class, or ``"module:Name"`` imported on first use, or None (no body)."""


@functools.cache
def _imported_model(reference: str) -> type[BaseModel]:
    from pydantic import BaseModel

    module, _, name = reference.partition(":")
    model = getattr(importlib.import_module(module), name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{reference} is not a pydantic model")
    return model


@dataclass(frozen=True)
class RouteSpec:
    """What the OpenAPI document says about one route."""

    path: str
    method: str
    summary: str
    status: int
    body_model: BodyModel
    public: bool
    query: tuple[str, ...]
    roles: tuple[str, ...]
    tags: tuple[str, ...]
    media_types: tuple[str, ...] = ("application/json",)  # of the success response
    body_optional: bool = False  # a body added to a route that had none: an empty body still means "none"

    @property
    def body(self) -> type[BaseModel] | None:
        """The body model, imported (once per process) when it was given by name."""
        if isinstance(self.body_model, str):
            return _imported_model(self.body_model)
        return self.body_model


@dataclass
class RequestContext:
    """What a view needs to know about the request it serves."""

    request_id: str
    principal_or_none: Principal | None
    query: Mapping[str, str]
    headers: Mapping[str, str]
    extra_log_keys: dict[str, str] = field(default_factory=dict)

    @property
    def principal(self) -> Principal:
        if self.principal_or_none is None:
            raise Unauthenticated("a bearer token is required")
        return self.principal_or_none

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Authenticator(Protocol):
    """Anything that turns a bearer token into a principal (``CognitoTokenVerifier``)."""

    def verify(self, token: str) -> Principal: ...


class Api:
    """Wraps a Chalice app: registers views with parsing, authentication and error mapping."""

    def __init__(self, app: Chalice, authenticator: Callable[[], Authenticator],
                 cors_origin: str | None = None) -> None:
        """``cors_origin``: the console's origin, the only one browsers may call from (None: no CORS)."""
        self.app = app
        self._cors: CORSConfig | bool = False if cors_origin is None else CORSConfig(
            allow_origin=cors_origin, allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["X-Request-Id"], max_age=600)
        self.specs: list[RouteSpec] = []
        self._authenticator = authenticator

    def route(self, path: str, method: str, *, summary: str, status: int = 200,
              body: BodyModel = None, public: bool = False, query: tuple[str, ...] = (),
              roles: tuple[str, ...] = (), tags: tuple[str, ...] = (),
              media_types: tuple[str, ...] = ("application/json",),
              body_optional: bool = False) -> Callable[[Callable[..., Any]], Any]:
        spec = RouteSpec(path, method, summary, status, body, public, query, roles, tags, media_types, body_optional)
        self.specs.append(spec)

        def register(view: Callable[..., Any]) -> Any:
            @functools.wraps(view)
            def handler(**params: str) -> Response:
                return self._serve(spec, view, params)

            # every media type reaches the view, so a wrong one is refused in Enclave's error shape
            # (Chalice's own 415 has another), and only where a JSON body is read
            return self.app.route(path, methods=[method], content_types=["*/*"], cors=self._cors)(handler)

        return register

    def body_models(self) -> tuple[type[BaseModel], ...]:
        """Every route's body model (importing those given by name)."""
        return tuple(model for model in (spec.body for spec in self.specs) if model is not None)

    def _serve(self, spec: RouteSpec, view: Callable[..., Any], params: dict[str, str]) -> Response:
        request = self.app.current_request
        assert request is not None  # set by Chalice before any view runs
        request_id = str((request.context or {}).get("requestId") or uuid.uuid4())
        started = time.perf_counter()
        REQUEST_ID.set(request_id)
        logger.thread_safe_append_keys(request_id=request_id, route=f"{spec.method} {spec.path}")
        try:
            response = self._dispatch(spec, view, params, request, request_id)
            logger.info("request served", extra={  # with the caller's role and tenant, not only on errors
                "status": response.status_code, "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
        finally:
            logger.thread_safe_remove_keys(["tenant_id", "role", "sub"])
        freeze_long_lived()
        return response

    def _dispatch(self, spec: RouteSpec, view: Callable[..., Any], params: dict[str, str],
                  request: Any, request_id: str) -> Response:
        try:
            ctx = self._context(spec, request, request_id)
            args: list[Any] = [ctx]
            model = spec.body
            if model is not None and spec.body_optional and not request.raw_body:
                args.append(None)
            elif model is not None:
                require_json(ctx.header("content-type"))
                args.append(parse_body(request.raw_body, model))
            result = view(*args, **params)
            return json_response(spec.status, result, request_id)
        except EnclaveError as err:
            if err.status >= 500:
                logger.error("request failed", extra={"error_code": err.code})
            return error_response(err, request_id)
        except Exception as exc:  # the last line of defence: never a stack trace to the caller
            logger.error("unhandled error", extra={"error_type": type(exc).__name__})
            return error_response(EnclaveError("an internal error occurred"), request_id)

    def _context(self, spec: RouteSpec, request: Any, request_id: str) -> RequestContext:
        headers = {k.lower(): v for k, v in (request.headers or {}).items()}
        raw = request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes")
        principal = None
        authorization = headers.get("authorization")
        if authorization or not spec.public:
            principal = self._authenticate(authorization)
            tenant_id = params_tenant(request)
            logger.thread_safe_append_keys(role=principal.role.value, sub=principal.sub,
                                           **({"tenant_id": tenant_id} if tenant_id else {}))
        return RequestContext(request_id, principal, dict(request.query_params or {}), headers)

    def _authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("a bearer token is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return self._authenticator().verify(token.strip())


def params_tenant(request: Any) -> str | None:
    """The path's tenant id for the log context, only when well-formed: a path segment is caller input
    and could carry anything (an e-mail pasted into a URL), which must not reach a log line."""
    value = str((request.uri_params or {}).get("tenant_id") or "")
    return value if is_valid_id(value, "tnt") else None


def require_json(content_type: str | None) -> None:
    """415 unless the body is sent as JSON (``application/json``, ``application/*+json``; none: JSON)."""
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType("send the body as application/json")


class _NotJson(ValueError):
    """Text ``json`` would accept that is not JSON (RFC 8259) or is ambiguous."""


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:  # parsers disagree on which repeat wins: refuse rather than guess
            raise _NotJson("the body repeats a member name")
        members[name] = value
    return members


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def parse_body(raw: bytes | None, model: type[BaseModel]) -> BaseModel:
    """The body as ``model``: 400 for malformed JSON, 422 listing each invalid field.

    The bytes must be UTF-8 (``json.loads`` of bytes would also take UTF-16/32 and encoded lone
    surrogates); nesting too deep for the parser, repeated member names and NaN/Infinity are 400.
    """
    if not raw:
        raise MalformedJson("a JSON body is required")
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_members, parse_constant=_constant)
    except _NotJson as exc:
        raise MalformedJson(str(exc)) from None
    except RecursionError:
        raise MalformedJson(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, integers of more than 4300 digits
        raise MalformedJson("the body is not valid JSON") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise MalformedJson(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "(body)", "message": "the body must be a JSON object"}])
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors without the offending input (which may be personal data)."""
    return [
        {"field": ".".join(str(part) for part in error["loc"]) or "(body)", "message": error["msg"]}
        for error in exc.errors(include_input=False, include_url=False)
    ]


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def json_response(status: int, body: Any, request_id: str, headers: Mapping[str, str] | None = None) -> Response:
    if isinstance(body, Response):
        return body
    return Response(body=json.dumps(body, separators=(",", ":"), default=str), status_code=status,
                    headers={**JSON_HEADERS, "X-Request-Id": request_id, **(headers or {})})


def error_response(err: EnclaveError, request_id: str) -> Response:
    headers: dict[str, str] = {}
    if isinstance(err, Throttled | ServiceUnavailable):
        headers["Retry-After"] = str(err.retry_after)
    body = err.body()
    body["error"]["request_id"] = request_id
    return json_response(err.status, body, request_id, headers)
