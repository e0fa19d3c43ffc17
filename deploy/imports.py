"""The bulk-import worker's resources in a stage's merge template.

``app.py`` declares the worker with ``@app.on_sqs_message(queue_arn=...)`` on a placeholder ARN (the
account is not known when Chalice imports the app); Chalice makes the function and its event source. This
module adds what Chalice does not make, points the event source at the queue resource, and wires it up:

* the queue (SSE with the stage's operations key: messages hold identifiers only; a visibility timeout
  six times the worker's timeout, as Lambda asks; deleted with the stack: it holds nothing to keep)
  and its dead-letter queue (after 5 failed receives; kept 14 days), with an alarm as soon as one
  message lands there;
* the queue policy letting the export bucket (and only it, of this account) send its upload events;
* on the export bucket: the upload events of ``imports/`` to the queue, and a lifecycle rule deleting
  whatever is left under ``imports/`` (current and noncurrent versions) after a day (the worker deletes
  every version of a file as soon as it is processed);
* CORS on the bucket for PUTs from the console's origin (its import screen uploads from the browser);
* the worker function's timeout, and its event source pointed at the queue resource (so it is created first).
"""
from __future__ import annotations

from typing import Any

from deploy.appmodel import AppModel
from deploy.render.operations import alarm
from deploy.stages import Stage

WORKER_FUNCTION = "ImportWorker"
"""Chalice's logical id of ``import_worker`` in app.py."""
EVENT_SOURCE = "ImportWorkerSqsEventSource"
WORKER_TIMEOUT_SECONDS = 300
"""A chunk of 1,000 rows takes seconds; the margin covers a cold start and a throttled table."""
MAX_RECEIVES = 5
PREFIX = "imports/"


def import_resources(stage: Stage, app: AppModel, resources: dict[str, Any]) -> None:
    """Add the queues, the alarm and the bucket's wiring to ``resources`` (when the app has the worker)."""
    if not any(function.logical_id == WORKER_FUNCTION for function in app.functions):
        return
    name = stage.settings.import_queue
    key = {"Fn::GetAtt": ["OpsKey", "Arn"]}
    transient = {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}
    resources["ImportDeadLetterQueue"] = {"Type": "AWS::SQS::Queue", **transient, "Properties": {
        "QueueName": f"{name}-dlq", "KmsMasterKeyId": key, "MessageRetentionPeriod": 1_209_600}}
    resources["ImportQueue"] = {"Type": "AWS::SQS::Queue", **transient, "Properties": {
        "QueueName": name, "KmsMasterKeyId": key, "KmsDataKeyReusePeriodSeconds": 3600,
        "VisibilityTimeout": 6 * WORKER_TIMEOUT_SECONDS, "MessageRetentionPeriod": 345_600,
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["ImportDeadLetterQueue", "Arn"]},
                          "maxReceiveCount": MAX_RECEIVES}}}
    resources["ImportQueuePolicy"] = {"Type": "AWS::SQS::QueuePolicy", "Properties": {
        "Queues": [{"Ref": "ImportQueue"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Sid": "UploadEventsOfTheExportBucket", "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["ImportQueue", "Arn"]},
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{stage.export_bucket}"},
                          "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]}}}
    resources["ImportDeadLetterAlarm"] = {**alarm(
        f"{name}: a bulk-import message failed {MAX_RECEIVES} times and waits in the dead-letter queue "
        "(its import stays processing; look at the worker's log, fix, then redrive)", "AWS/SQS",
        "ApproximateNumberOfMessagesVisible", [{"Name": "QueueName", "Value": {"Fn::GetAtt": [
            "ImportDeadLetterQueue", "QueueName"]}}], threshold=1)}
    resources["ImportDeadLetterAlarm"]["Properties"]["Statistic"] = "Maximum"
    _wire_bucket(resources, stage.settings.console_origin)
    function = resources.setdefault(WORKER_FUNCTION, {})
    function.setdefault("Properties", {})["Timeout"] = WORKER_TIMEOUT_SECONDS
    function["Properties"]["Events"] = {EVENT_SOURCE: {"Type": "SQS", "Properties": {
        "Queue": {"Fn::GetAtt": ["ImportQueue", "Arn"]}, "BatchSize": 1}}}


def _wire_bucket(resources: dict[str, Any], console_origin: str | None) -> None:
    bucket = resources["ExportBucket"]
    bucket.setdefault("DependsOn", []).append("ImportQueuePolicy")
    properties = bucket["Properties"]
    if console_origin:  # the console uploads the file from the browser with the presigned PUT
        properties["CorsConfiguration"] = {"CorsRules": [{
            "Id": "console-uploads", "AllowedMethods": ["PUT"], "AllowedOrigins": [console_origin],
            "AllowedHeaders": ["content-type", "x-amz-server-side-encryption",
                               "x-amz-server-side-encryption-aws-kms-key-id"], "MaxAge": 600}]}
    properties["NotificationConfiguration"] = {"QueueConfigurations": [{
        "Event": "s3:ObjectCreated:*", "Queue": {"Fn::GetAtt": ["ImportQueue", "Arn"]},
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": PREFIX}]}}}]}
    properties["LifecycleConfiguration"]["Rules"].insert(0, {
        "Id": "expire-import-files", "Status": "Enabled", "Prefix": PREFIX, "ExpirationInDays": 1,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1}, "AbortIncompleteMultipartUpload": {
            "DaysAfterInitiation": 1}})
