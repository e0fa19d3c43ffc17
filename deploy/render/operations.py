"""Operations of a stage and the changes it merges into Chalice's own resources.

* **Operations**: log groups with retention, alarms on API 5xx, Lambda errors and throttles and the
  application's metrics (``AuditWriteFailures``, ``AuditEventsMissing``, ``AuditEventsAltered``,
  ``KeyFailures``, the edge route sync failures), an encrypted SNS topic they notify.
* **Changes to Chalice's own resources** (the merge is a deep dict merge): function names, reserved
  concurrency, provisioned concurrency on a ``live`` alias that API Gateway invokes, a regional (not
  edge) endpoint so requests terminate in the region, access logs, tracing, and a gateway response
  turning API Gateway's ``MISSING_AUTHENTICATION_TOKEN`` (its answer for an unknown route) into 404
  ``{"error": {"code": "not_found", ...}}``.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.services.edge_routes import SYNC_FAILURE_METRIC
from deploy.appmodel import API_HANDLER, AppModel, Function
from deploy.render.common import (
    ALIAS_NAME,
    AUDIT_FAILURE_METRIC,
    KEY_FAILURE_METRIC,
    LOG_RETENTION_DAYS,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    NOT_FOUND_BODY,
    RUNTIME,
    Resource,
    skips,
    tags,
)
from deploy.stages import Stage


def log_group(name: str | dict[str, Any]) -> Resource:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {"LogGroupName": name, "RetentionInDays": LOG_RETENTION_DAYS,
                       "KmsKeyId": {"Fn::GetAtt": ["OpsKey", "Arn"]}},
    }


def alarm(description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]], threshold: int,
          periods: int = 1, datapoints: int = 1) -> Resource:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": datapoints,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
        },
    }


def function_resources(stage: Stage, app: AppModel) -> dict[str, Resource]:
    """Log groups, alarms and the merged-in settings of every Chalice function."""
    resources: dict[str, Resource] = {}
    for function in app.functions:
        log_id = f"{function.logical_id}LogGroup"
        resources[log_id] = log_group(f"/aws/lambda/{function.function_name}")
        resources[function.logical_id] = _function_override(stage, function, log_id)
        dims = [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]
        resources[f"{function.logical_id}ErrorsAlarm"] = alarm(
            f"{function.function_name}: 5 or more errors within 5 minutes", "AWS/Lambda", "Errors", dims,
            threshold=5, periods=5, datapoints=1)
        resources[f"{function.logical_id}ThrottlesAlarm"] = alarm(
            f"{function.function_name}: throttled (reserved concurrency reached)", "AWS/Lambda", "Throttles",
            dims, threshold=1)
    resources["AuditWriteFailuresAlarm"] = alarm(
        "An audit event could not be written: the change it records was refused or must be investigated",
        METRICS_NAMESPACE, AUDIT_FAILURE_METRIC, [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["AuditEventsMissingAlarm"] = alarm(
        "A pending audit event vanished before the sequencer sealed it (someone deleted an audit item)",
        METRICS_NAMESPACE, "AuditEventsMissing", [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["AuditEventsAlteredAlarm"] = alarm(
        "An audit event was changed outside the sequencer before or after it was sealed (someone rewrote an "
        "audit item); the chain names it in an audit.event_altered event",
        METRICS_NAMESPACE, "AuditEventsAltered", [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["SiemDeliveryFailuresAlarm"] = alarm(
        "The OCSF stream to SIEMs could not be written for a tenant: delivery resumes from its cursor with the "
        "tenant's next batch (docs/siem.md)",
        METRICS_NAMESPACE, "SiemDeliveryFailures", [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["EventPublishFailuresAlarm"] = alarm(
        "Domain events of a tenant could not be published to the event bus: the next batch of the tenant publishes "
        "them from its cursor (docs/events.md)",
        METRICS_NAMESPACE, "EventPublishFailures", [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["KeyFailuresAlarm"] = alarm(
        "A tenant key or ciphertext failed (missing key, KMS access denied, failed authentication)",
        METRICS_NAMESPACE, KEY_FAILURE_METRIC, [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["EdgeRouteSyncAlarm"] = alarm(
        "A tenant's route in the global entry's KeyValueStore could not be updated: the hourly reconciliation "
        "repairs it (python -m chalicelib.cli edge reconcile does it now)",
        METRICS_NAMESPACE, SYNC_FAILURE_METRIC, [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["AlarmTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {"TopicName": f"enclave-{stage.name}-alarms", "KmsMasterKeyId": {"Ref": "OpsKey"},
                       "Tags": tags(stage.name)},
    }
    return resources


def _function_override(stage: Stage, function: Function, log_id: str) -> Resource:
    properties: dict[str, Any] = {"FunctionName": function.function_name, "Runtime": RUNTIME,
                                  # merged into Chalice's variables: the SIEM stream's accountId partition
                                  "Environment": {"Variables": {"ENCLAVE_SIEM_ACCOUNT_ID": {"Ref": "AWS::AccountId"}}}}
    if function.is_api_handler:
        properties.update({"ReservedConcurrentExecutions": stage.capacity.reserved, "AutoPublishAlias": ALIAS_NAME})
        if stage.capacity.snapstart:  # Lambda refuses SnapStart and provisioned concurrency on one version
            properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
        else:
            properties["ProvisionedConcurrencyConfig"] = {
                "ProvisionedConcurrentExecutions": stage.capacity.provisioned}
    else:
        properties["ReservedConcurrentExecutions"] = stage.capacity.background_reserved
    return {
        "DependsOn": [log_id],
        "Metadata": skips("CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_173"),
        "Properties": properties,
    }


def api_resources(stage: Stage, app: AppModel) -> dict[str, Resource]:
    """Overrides of Chalice's ``RestAPI`` and its invoke permission, and the API's alarm and logs.

    Every route's integration invokes the ``live`` alias (SAM names it ``APIHandlerAliaslive``; SAM
    resolves ``APIHandler.Alias`` in ``Ref`` but not inside the swagger's ``Fn::Sub``), so requests use
    the provisioned concurrency.
    """
    if not app.routes:
        return {}
    alias_uri = {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                            f"${{{API_HANDLER}Alias{ALIAS_NAME}}}/invocations"}
    paths: dict[str, dict[str, Any]] = {}
    for path, method in app.routes:
        paths.setdefault(path, {})[method] = {"x-amazon-apigateway-integration": {"uri": alias_uri}}
    access_format = json.dumps({
        "requestId": "$context.requestId", "time": "$context.requestTimeEpoch", "method": "$context.httpMethod",
        "resource": "$context.resourcePath", "status": "$context.status", "bytes": "$context.responseLength",
        "latencyMs": "$context.responseLatency", "integrationStatus": "$context.integrationStatus",
        "error": "$context.error.responseType",
    }, separators=(",", ":"))
    return {
        "RestAPI": {
            "DependsOn": ["ApiGatewayAccount"],
            "Metadata": skips("CKV_AWS_120"),
            "Properties": {
                # Regional, not edge-optimised: TLS terminates in this region, not at CloudFront edges.
                "EndpointConfiguration": "REGIONAL",
                "TracingEnabled": True,
                "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                                     "Format": access_format},
                "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True,
                                    "LoggingLevel": "ERROR", "DataTraceEnabled": False}],
                "DefinitionBody": {
                    "paths": paths,
                    "x-amazon-apigateway-gateway-responses": {
                        # API Gateway answers an unknown route with 403 MISSING_AUTHENTICATION_TOKEN.
                        "MISSING_AUTHENTICATION_TOKEN": {
                            "statusCode": "404",
                            "responseTemplates": {"application/json": NOT_FOUND_BODY},
                        },
                    },
                },
            },
        },
        "APIHandlerInvokePermission": {"Properties": {"FunctionName": {"Ref": f"{API_HANDLER}.Alias"}}},
        "ApiAccessLogGroup": log_group(f"/aws/apigateway/enclave-{stage.name}-access"),
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
                "ManagedPolicyArns": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                "AmazonAPIGatewayPushToCloudWatchLogs"}],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}},
        },
        "Api5xxAlarm": alarm(
            f"enclave {stage.name}: 5 or more 5xx answers in 3 of 5 minutes", "AWS/ApiGateway", "5XXError",
            [{"Name": "ApiName", "Value": stage.app_name}, {"Name": "Stage", "Value": stage.api_gateway_stage}],
            threshold=5, periods=5, datapoints=3),
    }

