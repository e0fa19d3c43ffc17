"""A SAM template translated to plain CloudFormation by ``aws-sam-translator`` (offline).

Used by the deploy checks (``deploy.verify``) and the CDK app (``deploy.cdk.template``).
"""

from __future__ import annotations

import copy
from typing import Any


def expand_sam(template: dict[str, Any], region: str,
               code_uri: str = "s3://enclave-artifacts/deployment.zip") -> dict[str, Any]:
    """The SAM template as plain CloudFormation (``code_uri`` stands for the uploaded deployment.zip)."""
    import boto3
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = code_uri
    session = boto3.session.Session(region_name=region)
    expanded: dict[str, Any] = Translator({}, Parser(), boto_session=session).translate(
        sam, parameter_values={}, passthrough_metadata=True)
    return expanded
