"""The one hierarchy of Enclave's errors; ``chalicelib.http`` maps it to HTTP in one place.

Messages must never carry personal data: they reach clients and logs.
"""

from __future__ import annotations

from typing import Any, ClassVar


class EnclaveError(Exception):
    """Base of every error Enclave reports to a caller."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class BadRequest(EnclaveError):
    status, code = 400, "bad_request"


class MalformedJson(BadRequest):
    code = "malformed_json"


class Unauthenticated(EnclaveError):
    status, code = 401, "unauthenticated"


class Forbidden(EnclaveError):
    status, code = 403, "forbidden"


class WrongIdentityPool(Forbidden):
    """The token's user pool is not the one of the region the tenant (or this deployment) is homed in:
    a tenant's users live in its home region's pool, a regional role acts only in its own region."""

    code = "wrong_identity_pool"


class ConsentRequired(Forbidden):
    """The operation rests on consent and the learner's current decision for that purpose is not a grant."""

    code = "consent_required"


class NotFound(EnclaveError):
    status, code = 404, "not_found"


class Conflict(EnclaveError):
    status, code = 409, "conflict"


class LegalHoldActive(Conflict):
    code = "legal_hold_active"


class TenantOffboarding(Conflict):
    """The tenant's offboarding is confirmed: nothing new (key version, hold, learner) may be written."""

    code = "tenant_offboarding"


class OffboardingInProgress(Conflict):
    """Another request is confirming this offboarding right now: retry shortly for its receipt."""

    code = "offboarding_in_progress"


class ProcessingRestricted(Conflict):
    """The learner's processing is restricted (a data-subject request): only storage, access and erasure."""

    code = "processing_restricted"


class Gone(EnclaveError):
    status, code = 410, "erased"


class Withdrawn(Gone):
    """A route or form of a route that was withdrawn; the message names its replacement."""

    code = "gone"


class PayloadTooLarge(EnclaveError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(EnclaveError):
    """A body sent as something other than JSON."""

    status, code = 415, "unsupported_media_type"


class ResidencyMisdirected(EnclaveError):
    """The tenant's data lives in another region: the body points to its endpoint."""

    status, code = 421, "residency_misdirected"

    def __init__(self, home_region: str, endpoint: str) -> None:
        super().__init__(
            f"this tenant is served by its home region {home_region}; send the request to {endpoint}",
            home_region=home_region,
            endpoint=endpoint,
        )


class ValidationFailed(EnclaveError):
    """Field values are well-formed JSON but not acceptable; ``fields`` lists each problem."""

    status, code = 422, "validation_failed"

    def __init__(self, fields: list[dict[str, str]], message: str = "some fields are invalid") -> None:
        super().__init__(message, fields=fields)


class ResidencyViolation(EnclaveError):
    """A write of personal data to a region the tenant's jurisdiction does not allow (a bug, not input)."""

    status, code = 500, "residency_violation"


class IntegrityError(EnclaveError):
    """Stored ciphertext failed authentication: it was altered or moved to another record."""

    status, code = 500, "integrity_error"


class Throttled(EnclaveError):
    status, code = 429, "throttled"

    def __init__(self, message: str = "too many requests; retry later", retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(EnclaveError):
    status, code = 503, "service_unavailable"

    def __init__(self, message: str = "a dependency is unavailable; retry later", retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TenantKeyMissing(ServiceUnavailable):
    """The tenant has no key record: fail closed (never a new key on a read) and raise the alarm."""

    code = "tenant_key_missing"


class KeyAccessDenied(ServiceUnavailable):
    """KMS refused this deployment the tenant's key (revoked grant, key policy, the kill switch)."""

    code = "key_access_denied"


class PolicyFileError(RuntimeError):
    """A file under policies/ is missing or invalid; start-up must stop (not an HTTP error)."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        super().__init__(f"{path}: field {field!r}: {problem}")
        self.path = path
        self.field = field
        self.problem = problem
