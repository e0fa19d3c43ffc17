"""The stage's EventBridge bus of domain events (docs/events.md).

``<event_bus_prefix>-<region>``: the function's role may only PutEvents to it (deploy/iam.py). An archive
keeps what the bus received for ``ARCHIVE_DAYS`` so a consumer that was down can be replayed to (ids and
dates only: nothing personal is kept). Consumers add their own rules (their accounts, by a bus policy
they ask for; none is granted here).
"""

from __future__ import annotations

from deploy.render.common import Resource
from deploy.stages import Stage

ARCHIVE_DAYS = 14


def event_resources(stage: Stage) -> dict[str, Resource]:
    """The bus and its archive."""
    bus: Resource = {"Type": "AWS::Events::EventBus", "Properties": {"Name": stage.settings.event_bus}}
    archive: Resource = {
        "Type": "AWS::Events::Archive",
        "Properties": {"SourceArn": {"Fn::GetAtt": ["EventBus", "Arn"]}, "RetentionDays": ARCHIVE_DAYS,
                       "Description": "Enclave domain events, for replay to a consumer that missed them",
                       "EventPattern": {"source": ["enclave"]}},
    }
    return {"EventBus": bus, "EventBusArchive": archive}
