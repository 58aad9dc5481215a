"""The webhook channel: a signed JSON POST saying a report was delivered, with a link to it
(``report.delivered``; a dashboard's PDF: ``dashboard.delivered``, with ``dashboard`` in place
of ``report`` and ``result``).

Requests are signed as the Standard Webhooks spec says, so receivers can use its libraries:

- ``webhook-id``: the delivery id, the same on every retry (receivers deduplicate on it);
- ``webhook-timestamp``: unix seconds, so receivers can refuse replays;
- ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``.

The secret is the recipient's own ``secret``, else the tenant's webhook secret (which the
delivery service passes as ``parcel.extra["webhook_secret"]``). One in the spec's form
(``whsec_`` + base64, as the tenant's is made) signs with its decoded bytes, so a receiver
gives the spec's libraries the secret exactly as shown: ``Webhook(secret).verify(body,
headers)``; any other (a recipient's plain secret, a tenant secret made before that form)
signs with its UTF-8 bytes, which a receiver gives as ``Webhook(secret.encode())``. See
:mod:`broadsheet.kit.webhook_secrets`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC
from typing import Any

import orjson

from broadsheet.config import Settings
from broadsheet.deliveries.channels.base import DeliveryFailed, Parcel
from broadsheet.deliveries.http import post_json
from broadsheet.deliveries.recipients import Recipient
from broadsheet.kit.jsonvalues import jsonable
from broadsheet.kit.webhook_secrets import signing_key

EVENT_TYPE = "report.delivered"
DASHBOARD_EVENT_TYPE = "dashboard.delivered"


class WebhookChannel:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, parcel: Parcel, recipient: Recipient) -> dict[str, Any]:
        secret = _secret(parcel, recipient)
        body = orjson.dumps(_payload(parcel), default=jsonable, option=orjson.OPT_UTC_Z)
        msg_id = str(parcel.delivery_id)
        timestamp = int(time.time())
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
        }
        response = post_json(recipient.address, body, headers, self._settings)
        return {"status": response.status_code}


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one request: ``v1,<base64 HMAC-SHA256>``,
    keyed with :func:`signing_key` of ``secret``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _secret(parcel: Parcel, recipient: Recipient) -> str:
    secret = recipient.secret or parcel.extra.get("webhook_secret")
    if not isinstance(secret, str) or not secret:
        raise DeliveryFailed(
            "no key to sign the webhook with: the recipient has no secret and the tenant "
            "has no webhook secret",
            permanent=True,
        )
    try:
        signing_key(secret)
    except ValueError as exc:  # recipients' are checked when saved: a defence only
        raise DeliveryFailed(f"cannot sign the webhook: {exc}", permanent=True) from None
    return secret


def _payload(parcel: Parcel) -> dict[str, Any]:
    # Datetimes are converted to UTC here; orjson writes them as ISO 8601 with a Z.
    artifact = parcel.artifact
    about: dict[str, Any] = {
        "report": {"id": str(parcel.report_id), "name": parcel.report_name},
        "result": {
            "id": str(parcel.result_id),
            "rowCount": parcel.row_count,
            "url": parcel.result_url,
        },
    }
    if parcel.dashboard_id is not None:
        about = {
            "dashboard": {
                "id": str(parcel.dashboard_id),
                "name": parcel.report_name,
                "url": parcel.result_url,
            }
        }
    return {
        "type": DASHBOARD_EVENT_TYPE if parcel.dashboard_id is not None else EVENT_TYPE,
        "deliveryId": str(parcel.delivery_id),
        "execution": {
            "id": str(parcel.execution_id),
            "scheduledFor": parcel.scheduled_for.astimezone(UTC),
        },
        "schedule": {
            "id": str(parcel.schedule_id),
            "name": parcel.schedule_name,
            "timezone": parcel.timezone,
        },
        **about,
        "artifact": {
            "url": parcel.artifact_url,
            "filename": artifact.filename,
            "format": artifact.format,
            "mediaType": artifact.media_type,
            "size": artifact.size,
        },
        "parameters": parcel.parameters,
        "summary": [{"label": label, "value": value} for label, value in parcel.summary],
    }
