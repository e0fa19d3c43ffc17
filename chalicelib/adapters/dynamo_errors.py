"""Translation of DynamoDB ``ClientError``s into domain errors, shared by the table adapters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import ServiceUnavailable, Throttled

_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
_UNAVAILABLE = {"InternalServerError", "ServiceUnavailable",
                "TransactionInProgressException"}  # botocore's retry (same ClientRequestToken) while the first runs


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise throttling and outages as 429/503 errors; other client errors pass through."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in _THROTTLING:
            raise Throttled(f"{what} is throttled; retry later", retry_after=1) from None
        if code in _UNAVAILABLE:
            raise ServiceUnavailable(f"{what} is unavailable; retry later") from None
        raise
    except BotoCoreError:
        raise ServiceUnavailable(f"{what} could not be reached; retry later") from None
