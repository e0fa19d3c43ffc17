"""Structured JSON logging (Powertools Logger) with request id, region, tenant and role.

Log only identifiers, codes and counts: never a request body, a query string or a field value,
which may hold personal data.
"""

from __future__ import annotations

from contextvars import ContextVar

from aws_lambda_powertools import Logger

logger = Logger(service="enclave")

REQUEST_ID: ContextVar[str] = ContextVar("enclave_request_id", default="")
"""The id of the request being served (set by ``chalicelib.http``), for what is recorded outside a
service call's own parameters, such as refused attempts."""


def bind_deployment(region: str, stage: str, level: str) -> None:
    logger.setLevel(level)
    logger.append_keys(region=region, stage=stage)
