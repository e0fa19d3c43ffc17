"""Structured JSON logging (Powertools Logger) with request id, region, tenant and role.

Log only identifiers, codes and counts: never a request body, a query string or a field value,
which may hold personal data.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="enclave")


def bind_deployment(region: str, stage: str, level: str) -> None:
    logger.setLevel(level)
    logger.append_keys(region=region, stage=stage)
