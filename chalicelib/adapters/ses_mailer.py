"""Alerts by e-mail through Amazon SES (the ``Notifier`` the hourly job uses; the emulator records the mail).

One message per alert per recipient, plain text, from the stage's sender address (its domain is the SES
identity of the stage's template). The text is ``domain.alerts.message``: ids, dates, counts, a link.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.alerts import Alert, Recipient, message
from chalicelib.domain.errors import ServiceUnavailable


class SesClient(Protocol):
    def send_email(self, **kwargs: Any) -> Any: ...


class SesNotifier:
    def __init__(self, client: SesClient, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, alert: Alert, recipient: Recipient) -> None:
        if not recipient.email:
            return
        mail = message(alert)
        try:
            self._client.send_email(
                Source=self._sender, Destination={"ToAddresses": [recipient.email]},
                Message={"Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                         "Body": {"Text": {"Data": mail.text, "Charset": "UTF-8"}}})
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the alert could not be e-mailed; the next run retries") from None
