"""The global entry and the console's static site, rendered into the directory stage's template.

* ``global_entry_resources(stage)``: in ``DIRECTORY_STAGE`` only (CloudFront is global), one
  distribution in front of the console (a private S3 bucket behind origin access control) and the
  four regional APIs. ``/v1/*`` runs the CloudFront Function ``deploy/edge/router.js``
  (cloudfront-js-2.0): it reads the tenant id from the path, looks its home region up in the
  ``TenantRegions`` KeyValueStore and selects that region's origin; without a tenant, the viewer's
  nearest region. The store holds tenant id -> region and nothing else (``kvs_entries``).
* ``build_site(out_dir, stage)``: the deployed console: ``console/`` without the local sign-in
  module and without the code between ``// local-only:begin`` and ``// local-only:end`` (the local
  sign-in form and its branch), and a ``config.json`` in ``hosted`` mode (Cognito hosted UI,
  authorization code + PKCE) whose every value comes from the stage config (``.chalice/config.json``:
  each region's app client id and hosted UI domain, the console's origin for the redirect); a value
  missing there stops the build. ``make package`` writes it to ``build/$(STAGE)/console``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chalicelib.adapters.edge_routes import edge_entry
from chalicelib.settings import PROJECT_ROOT, REGIONS
from deploy.stages import Stage, load_stage

Resource = dict[str, Any]

CONSOLE_DIR = PROJECT_ROOT / "console"
ROUTER = Path(__file__).parent / "edge" / "router.js"
LOCAL_ONLY = ("local-signin.js",)
"""Files of ``console/`` that only ``make run`` serves: never in the deployed site."""
LOCAL_BLOCK = re.compile(r"[ \t]*// local-only:begin.*?// local-only:end[^\n]*\n", re.DOTALL)
# AWS managed policies (ids are fixed and documented by CloudFront).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"

SKIPS: dict[str, str] = {
    "CKV_AWS_68": "WAF in front of the distribution is an operations decision (cost, rules); the APIs "
                  "authenticate every route and throttle per stage",
    "CKV_AWS_86": "standard logs need bucket ACLs, which the account's buckets disable (BucketOwnerEnforced); "
                  "the regional APIs keep their own access logs",
    "CKV_AWS_174": "the default *.cloudfront.net certificate until the console's domain and ACM certificate "
                   "exist; CloudFront negotiates TLS 1.2+ with modern clients",
    "CKV_AWS_21": "the site is rebuilt from git on each deploy: versions add nothing",
}


def _skips(*ids: str) -> dict[str, Any]:
    return {"checkov": {"skip": [{"id": check, "comment": SKIPS[check]} for check in ids]}}


def kvs_entries(tenants: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The KeyValueStore's items for ``tenants``: tenant id -> home region, nothing else crosses."""
    entries = []
    for tenant in tenants:
        tenant_id, region = edge_entry(str(tenant["tenant_id"]), str(tenant["home_region"]))
        entries.append({"key": tenant_id, "value": region})
    return entries


def api_domain(stage: Stage, region: str) -> str:
    endpoint = stage.settings.endpoint_of(region)
    return endpoint.split("://", 1)[-1].split("/", 1)[0]


def router_code() -> dict[str, Any]:
    code = ROUTER.read_text()
    if "${" in code:
        raise ValueError("router.js must not contain '${' (the template substitutes the store id)")
    return {"Fn::Sub": [code.replace("__KVS_ID__", "${StoreId}"), {"StoreId": {"Fn::GetAtt": ["TenantRegions", "Id"]}}]}


def _site_bucket(stage: Stage) -> dict[str, Resource]:
    bucket: Resource = {
        "Type": "AWS::S3::Bucket",
        "Metadata": _skips("CKV_AWS_21"),
        "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogBucket"},
                                     "LogFilePrefix": "console-site/"},
            "Tags": [{"Key": "app", "Value": "enclave"}, {"Key": "stage", "Value": stage.name}],
        },
    }
    policy: Resource = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {"Bucket": {"Ref": "ConsoleBucket"}, "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [{"Fn::GetAtt": ["ConsoleBucket", "Arn"]}, {"Fn::Sub": "${ConsoleBucket.Arn}/*"}],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "CloudFrontReadsTheSite", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
             "Action": "s3:GetObject", "Resource": {"Fn::Sub": "${ConsoleBucket.Arn}/*"},
             "Condition": {"StringEquals": {"AWS:SourceArn": {
                 "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${GlobalEntry}"}}}},
        ]}},
    }
    return {"ConsoleBucket": bucket, "ConsoleBucketPolicy": policy}


def _distribution(stage: Stage) -> Resource:
    api_origins = [{"Id": f"api-{region}", "DomainName": api_domain(stage, region),
                    "CustomOriginConfig": {"HTTPSPort": 443, "OriginProtocolPolicy": "https-only",
                                           "OriginSSLProtocols": ["TLSv1.2"]}} for region in REGIONS]
    site_origin = {"Id": "console-site", "DomainName": {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]},
                   "S3OriginConfig": {"OriginAccessIdentity": ""},
                   "OriginAccessControlId": {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}}
    return {
        "Type": "AWS::CloudFront::Distribution",
        "Metadata": _skips("CKV_AWS_68", "CKV_AWS_86", "CKV_AWS_174"),
        "Properties": {"DistributionConfig": {
            "Comment": "Enclave global entry: the console and the four regional APIs",
            "Enabled": True, "HttpVersion": "http2and3", "IPV6Enabled": True, "DefaultRootObject": "index.html",
            "PriceClass": "PriceClass_All",
            "Origins": [site_origin, *api_origins],
            "DefaultCacheBehavior": {"TargetOriginId": "console-site", "ViewerProtocolPolicy": "redirect-to-https",
                                     "CachePolicyId": CACHING_OPTIMIZED, "Compress": True,
                                     "ResponseHeadersPolicyId": SECURITY_HEADERS},
            "CacheBehaviors": [{
                "PathPattern": "/v1/*", "TargetOriginId": f"api-{REGIONS[-1]}",
                "ViewerProtocolPolicy": "https-only",
                "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                "CachedMethods": ["GET", "HEAD"], "CachePolicyId": CACHING_DISABLED,
                "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST, "ResponseHeadersPolicyId": SECURITY_HEADERS,
                "FunctionAssociations": [{"EventType": "viewer-request",
                                          "FunctionARN": {"Fn::GetAtt": ["TenantRouter", "FunctionARN"]}}],
            }],
            "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
        }},
    }


def global_entry_resources(stage: Stage) -> dict[str, Resource]:
    """The distribution, its function and key-value store, and the site bucket (directory stage only)."""
    if not stage.owns_directory:
        return {}
    return {
        **_site_bucket(stage),
        "ConsoleOriginAccessControl": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
            "OriginAccessControlConfig": {"Name": "enclave-console", "OriginAccessControlOriginType": "s3",
                                          "SigningBehavior": "always", "SigningProtocol": "sigv4"}}},
        "TenantRegions": {"Type": "AWS::CloudFront::KeyValueStore", "Properties": {
            "Name": "enclave-tenant-regions",
            "Comment": "tenant id -> home region (nothing personal); kept in step by the directory"}},
        "TenantRouter": {"Type": "AWS::CloudFront::Function", "Properties": {
            "Name": "enclave-tenant-router", "AutoPublish": True, "FunctionCode": router_code(),
            "FunctionConfig": {"Comment": "sends /v1/tenants/{id}/... to the tenant's home region",
                               "Runtime": "cloudfront-js-2.0",
                               "KeyValueStoreAssociations": [
                                   {"KeyValueStoreARN": {"Fn::GetAtt": ["TenantRegions", "Arn"]}}]}}},
        "GlobalEntry": _distribution(stage),
    }


def hosted_config(stage: Stage) -> dict[str, Any]:
    """The deployed console's config.json: hosted UI sign-in, same-origin APIs (CloudFront routes them).

    Every value comes from the stage's settings; one that is missing stops the build (ValueError)."""
    settings = stage.settings
    if not settings.console_origin:
        raise ValueError(f"stage {stage.name}: ENCLAVE_CONSOLE_ORIGIN (the console's origin) is not set")
    pools = {}
    for region in REGIONS:
        pool = settings.cognito_pools.get(region)
        if pool is None or not pool.domain:
            raise ValueError(f"stage {stage.name}: ENCLAVE_COGNITO_POOLS has no hosted UI domain for {region}")
        pools[region] = {"client_id": pool.client_id, "domain": pool.domain}
    return {"mode": "hosted", "regions": {}, "default_region": stage.region, "pools": pools,
            "redirect_uri": f"{settings.console_origin}/"}


def deployed_source(text: str) -> str:
    """A console file as deployed: every ``// local-only:begin`` ... ``// local-only:end`` block removed."""
    stripped = LOCAL_BLOCK.sub("", text)
    if "local-only:" in stripped:
        raise ValueError("an unmatched local-only marker")
    return stripped


def build_site(out_dir: Path, stage: Stage) -> list[Path]:
    """Write the deployed console into ``out_dir`` (emptied first); return the files written."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    written = []
    config = hosted_config(stage)
    for source in sorted(CONSOLE_DIR.iterdir()):
        if source.is_file() and source.name not in LOCAL_ONLY:
            target = out_dir / source.name
            target.write_text(deployed_source(source.read_text()))
            written.append(target)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    config_file = out_dir / "config.json"
    written.append(config_file)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the deployed console (static site)")
    parser.add_argument("stage")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    files = build_site(args.out_dir, load_stage(args.stage))
    print(f"console: {len(files)} files in {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
