"""The audit sequencer's stream triggers in a stage's merge template.

``app.py`` declares the sequencer with ``@app.on_dynamodb_record(stream_arn=settings.audit_stream_arn)``:
Chalice needs an ARN when it imports the app, but a stream's ARN exists only once the table does. So the
merge template replaces the ``Stream`` of Chalice's event source with the ``StreamArn`` of the stage's
first home audit table and adds one more event source per further home jurisdiction, all invoking the
same function. Lambda retries a failed batch (the sequencer is idempotent) and bisects it to isolate a
bad record; records stay in the stream 24 hours.
"""
from __future__ import annotations

from typing import Any

from deploy.appmodel import AppModel
from deploy.stages import Stage
from deploy.tables import AUDIT

SEQUENCER_FUNCTION = "AuditSequencer"
"""Chalice's logical id of ``audit_sequencer`` in app.py."""
EVENT_SOURCE = "AuditSequencerDynamodbEventSource"
"""Chalice's name of its event (``<name>-dynamodb-event-source``, CloudFormation-cased)."""
BATCH_SIZE = 100
BATCH_WINDOW_SECONDS = 1
"""The sealing delay's main part: Lambda waits up to this long to fill a batch."""


def stream_events(stage: Stage) -> dict[str, Any]:
    """SAM ``Events`` of the sequencer: one DynamoDB stream per home audit table of ``stage``."""
    events: dict[str, Any] = {}
    for index, policy in enumerate(stage.home_jurisdictions()):
        name = EVENT_SOURCE if index == 0 else f"{EVENT_SOURCE}{policy.code}"
        events[name] = {"Type": "DynamoDB", "Properties": {
            "Stream": {"Fn::GetAtt": [f"{AUDIT.logical_name}{policy.code}", "StreamArn"]},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": BATCH_SIZE,
            "MaximumBatchingWindowInSeconds": BATCH_WINDOW_SECONDS,
            "BisectBatchOnFunctionError": True,
        }}
    return events


def add_stream_sources(stage: Stage, app: AppModel, resources: dict[str, Any]) -> None:
    """Point the sequencer function (when the app has one) at the stage's home audit table streams."""
    if not any(function.logical_id == SEQUENCER_FUNCTION for function in app.functions):
        return
    events = stream_events(stage)
    if not events:
        raise ValueError(f"{stage.name} homes no jurisdiction: nothing for the audit sequencer to read")
    function = resources.setdefault(SEQUENCER_FUNCTION, {})
    function.setdefault("Properties", {})["Events"] = events
