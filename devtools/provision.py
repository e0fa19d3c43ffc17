"""Creates Enclave's AWS resources in the emulator, from the same definitions the deployment uses.

Used by ``make run`` (moto server over HTTP) and by the tests (in-process ``mock_aws``): tables from
``deploy.tables``, per-jurisdiction tables in each jurisdiction's home region (moto has no global
tables, so no replicas are pretended), the regional KMS data and signing keys, the export buckets
the event buses and one Cognito user pool per region with the five role groups and ``custom:tenant_id``, and the
alerts' sender domain as a verified SES identity in each region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.cognito_admin import create_user_pool, find_user_pool
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.settings import REGIONS, CognitoPool, Settings
from deploy.tables import TABLES, TableDef, create_table_kwargs


@dataclass
class Provisioned:
    """What was created, for the settings of the regional endpoints."""

    cognito_pools: dict[str, CognitoPool] = field(default_factory=dict)
    data_key_ids: dict[str, str] = field(default_factory=dict)
    signing_key_ids: dict[str, str] = field(default_factory=dict)


def provision(clients: AwsClients, settings: Settings, jurisdictions: JurisdictionCatalog,
              regions: tuple[str, ...] = REGIONS) -> Provisioned:
    """Create every resource of every region; safe to run twice against the same emulator."""
    result = Provisioned()
    create_tables(clients, settings, jurisdictions, regions)
    for region in regions:
        result.data_key_ids[region] = _ensure_key(clients, region, settings.kms_key_alias, signing=False)
        result.signing_key_ids[region] = _ensure_key(clients, region, settings.signing_key_alias, signing=True)
        _ensure_bucket(clients, region, f"{settings.export_bucket_prefix}-{region}")
        _ensure_bucket(clients, region, f"{settings.witness_bucket_prefix}-{region}", object_lock=True)
        _ensure_bucket(clients, region, f"{settings.siem_bucket_prefix}-{region}")
        _ensure_bus(clients, region, f"{settings.event_bus_prefix}-{region}")
        ensure_import_queue(clients, region, settings.import_queue, f"{settings.export_bucket_prefix}-{region}")
        result.cognito_pools[region] = ensure_user_pool(clients, region)
        clients.ses(region).verify_domain_identity(Domain=settings.alert_domain)  # alerts' sender (idempotent)
    return result


def create_tables(clients: AwsClients, settings: Settings, jurisdictions: JurisdictionCatalog,
                  regions: tuple[str, ...] = REGIONS) -> None:
    for table in TABLES:
        for region, jurisdiction in _placements(table, settings, jurisdictions, regions):
            _create_table(clients, region, table, jurisdiction)


def drop_tables(clients: AwsClients, regions: tuple[str, ...] = REGIONS) -> None:
    """Delete every table (tests start modules from empty tables: moto copies whole tables per transaction)."""
    for region in regions:
        client = clients.dynamodb(region)
        for name in client.list_tables()["TableNames"]:
            client.delete_table(TableName=name)


def _placements(table: TableDef, settings: Settings, jurisdictions: JurisdictionCatalog,
                regions: tuple[str, ...]) -> list[tuple[str, str | None]]:
    if table.scope == "global":
        return [(settings.directory_region, None)]
    if table.scope == "regional":
        return [(region, None) for region in regions]
    return [(policy.home_region, policy.code) for policy in jurisdictions.all() if policy.home_region in regions]


def _create_table(clients: AwsClients, region: str, table: TableDef, jurisdiction: str | None) -> None:
    client = clients.dynamodb(region)
    kwargs = create_table_kwargs(table, jurisdiction)
    if kwargs["TableName"] in client.list_tables()["TableNames"]:
        _add_missing_indexes(client, kwargs)
        return
    client.create_table(**kwargs)
    if table.ttl_attribute:
        client.update_time_to_live(TableName=kwargs["TableName"], TimeToLiveSpecification={
            "Enabled": True, "AttributeName": table.ttl_attribute})


def _add_missing_indexes(client: Any, kwargs: dict[str, Any]) -> None:
    """A table kept from an earlier run (a persisted state dir) gets the indexes defined since."""
    have = {index["IndexName"] for index in
            client.describe_table(TableName=kwargs["TableName"])["Table"].get("GlobalSecondaryIndexes", [])}
    for index in kwargs.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in have:
            continue
        names = {key["AttributeName"] for key in index["KeySchema"]}
        client.update_table(TableName=kwargs["TableName"], AttributeDefinitions=[
            d for d in kwargs["AttributeDefinitions"] if d["AttributeName"] in names],
            GlobalSecondaryIndexUpdates=[{"Create": index}])


def _ensure_key(clients: AwsClients, region: str, alias: str, *, signing: bool) -> str:
    kms = clients.kms(region)
    for existing in kms.list_aliases()["Aliases"]:
        if existing["AliasName"] == alias and "TargetKeyId" in existing:
            return str(existing["TargetKeyId"])
    spec: dict[str, Any] = (
        {"KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256"} if signing
        else {"KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}
    )
    key_id = kms.create_key(Description=f"Enclave {alias} ({region})", **spec)["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return str(key_id)


def _ensure_bus(clients: AwsClients, region: str, name: str) -> None:
    """The region's EventBridge bus of domain events (created once)."""
    events = clients.events(region)
    if not any(bus["Name"] == name for bus in events.list_event_buses(NamePrefix=name).get("EventBuses", [])):
        events.create_event_bus(Name=name)


def _ensure_bucket(clients: AwsClients, region: str, bucket: str, *, object_lock: bool = False) -> None:
    s3 = clients.s3(region)
    if any(b["Name"] == bucket for b in s3.list_buckets().get("Buckets", [])):
        return
    lock: dict[str, Any] = {"ObjectLockEnabledForBucket": True} if object_lock else {}
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket, **lock)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
                         **lock)


def ensure_import_queue(clients: AwsClients, region: str, queue: str, bucket: str) -> str:
    """The import worker's queue and its dead-letter queue, and the bucket's upload events of ``imports/``
    sent to it (as the stage template wires them); the queue's URL."""
    sqs = clients.sqs(region)
    dlq_url = sqs.create_queue(QueueName=f"{queue}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=queue, Attributes={
        "VisibilityTimeout": "120",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients.s3(region).put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "imports", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "imports/"}]}}}]})
    clients.s3(region).put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return str(url)


def ensure_user_pool(clients: AwsClients, region: str) -> CognitoPool:
    cognito = clients.cognito(region)
    return find_user_pool(cognito, region) or create_user_pool(cognito, region)
