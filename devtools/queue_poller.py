"""Local stand-in for Lambda's SQS trigger: reads the import queue in the emulator and calls the app's
``on_sqs_message`` handler with the event Lambda would send (``{"Records": [...]}``).

Nothing invokes a Lambda from a queue in moto. Each endpoint that ``make run`` starts (``devtools.serve
--sequence``) runs this in a daemon thread for its region's queue, as the event source mapping does in AWS:
a message is deleted once the handler returned; a failed one becomes visible again after a second and is
delivered again (after 5 receives the queue's redrive policy moves it to the dead-letter queue). Polls are
short (``WaitTimeSeconds=0``): the emulator serves one request at a time, a long poll would stall it.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import botocore.session

logger = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], object]


def sqs_handlers(app: Any) -> list[tuple[str, Handler]]:
    """``(queue name, handler)`` of the app's ``on_sqs_message`` functions, called as Lambda calls them."""
    found: list[tuple[str, Handler]] = []
    for source in getattr(app, "event_sources", []):
        if type(source).__name__ == "SQSEventConfig" and source.name in app.handler_map:
            name = source.queue or str(source.queue_arn).rsplit(":", 1)[-1]
            found.append((str(name), functools.partial(app.handler_map[source.name], context=None)))
    return found


def lambda_message(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})), "messageAttributes": {}, "md5OfBody": message.get(
                "MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region}


class QueuePoller:
    """Receives from one queue and hands each message to ``handler`` (batch size 1, as the worker's mapping)."""

    def __init__(self, sqs: Any, queue_name: str, handler: Handler, region: str) -> None:
        self._sqs = sqs
        self._url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self._arn = sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._handler = handler
        self._region = region

    def poll_once(self) -> int:
        """Deliver the messages available now; how many the handler took."""
        taken = 0
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10,
                                                 WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return taken
            for message in messages:
                try:
                    self._handler({"Records": [lambda_message(message, self._arn, self._region)]})
                except Exception:  # as Lambda: the message comes back after its visibility timeout
                    logger.exception("the local import worker failed a message; it will be delivered again")
                    self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"],
                                                        VisibilityTimeout=1)
                    continue
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
                taken += 1


def start_workers(app: Any, region: str, endpoint_url: str, stop: threading.Event,
                  interval: float = 0.2) -> threading.Thread | None:
    """In a daemon thread, feed ``region``'s queues to the app's SQS handlers; None when it has none."""
    handlers = sqs_handlers(app)
    if not handlers:
        return None
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    sqs: Any = session.create_client("sqs", region_name=region, endpoint_url=endpoint_url)

    def run() -> None:
        pollers: list[QueuePoller] = []
        while not stop.is_set():
            try:
                pollers = pollers or [QueuePoller(sqs, name, handler, region) for name, handler in handlers]
                for poller in pollers:
                    poller.poll_once()
            except Exception:  # the queue not there yet, or the emulator restarting: try again
                logger.exception("the local import worker could not poll its queue; retrying")
            stop.wait(interval)

    thread = threading.Thread(target=run, name=f"import-worker-{region}", daemon=True)
    thread.start()
    return thread
