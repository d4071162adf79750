"""The outbound signals as a signed HTTP webhook to the platform (`PLATFORM_WEBHOOK_URL`).

Each event is enqueued as a delivery job inside the transaction that made the change
(`signal_send_on_commit` calls `platform_webhook_enqueue` before registering the signal),
so it exists only if that transaction commits and survives a crash right after it. The job
POSTs `{"id", "type", "created", "data"}` signed like Stripe's webhooks:

    X-Aprende-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>

keyed with PLATFORM_WEBHOOK_SECRET.

A failed delivery (network error or non-2xx) is a failed job in the admin and is tried
again by a one-off schedule after a doubling backoff, up to PLATFORM_WEBHOOK_MAX_ATTEMPTS;
the event id stays the same, so the platform can drop duplicates.
"""

import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

DELIVER_JOB = "finances.services.platform_webhooks.platform_webhook_deliver"
SIGNATURE_HEADER = "X-Aprende-Signature"


class PlatformWebhookError(RuntimeError):
    pass


def platform_webhook_enqueue(*, event_type: str, payload: dict) -> str | None:
    """Enqueues the delivery in the caller's transaction; the event id, or None when no
    URL is configured."""
    if not settings.PLATFORM_WEBHOOK_URL:
        return None
    event_id = f"evt_{uuid.uuid4().hex}"
    async_task(
        DELIVER_JOB,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        created=int(time.time()),
        group="platform_webhook",
    )
    return event_id


def platform_webhook_signature(*, body: bytes, timestamp: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def platform_webhook_deliver(
    *, event_id: str, event_type: str, payload: dict, created: int, attempt: int = 1
) -> str:
    body = json.dumps(
        {"id": event_id, "type": event_type, "created": created, "data": payload},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    signature = platform_webhook_signature(
        body=body, timestamp=int(time.time()), secret=settings.PLATFORM_WEBHOOK_SECRET
    )
    try:
        response = requests.post(
            settings.PLATFORM_WEBHOOK_URL,
            data=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
            timeout=settings.PLATFORM_WEBHOOK_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
    except requests.RequestException as error:
        retried = attempt < settings.PLATFORM_WEBHOOK_MAX_ATTEMPTS
        if retried:
            _retry_later(
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                created=created,
                attempt=attempt,
            )
        status = getattr(error.response, "status_code", None) or type(error).__name__
        raise PlatformWebhookError(
            f"Delivery of {event_id} ({event_type}) failed, attempt {attempt}: {status}"
            + ("; retried later." if retried else "; no attempts left.")
        ) from None
    return f"Delivered {event_id} ({event_type}): HTTP {response.status_code}."


def _retry_later(*, event_id: str, event_type: str, payload: dict, created: int, attempt: int):
    backoff = settings.PLATFORM_WEBHOOK_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
    kwargs = {
        "event_id": event_id,
        "event_type": event_type,
        "payload": payload,
        "created": created,
        "attempt": attempt + 1,
    }
    Schedule.objects.create(
        name=f"platform webhook {event_id} attempt {attempt + 1}",
        func=DELIVER_JOB,
        kwargs=repr(kwargs),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + timedelta(seconds=backoff),
    )
