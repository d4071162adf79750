"""Stripe webhook pipeline: verify → record → dedupe → process → remember.

1. verify: the signature, against every configured secret, within the tolerance;
2. record: the event is committed to `WebhookEventLog` before any effect (unique event id);
3. dedupe: a delivery of an event already PROCESSED/IGNORED answers 200 with no effect;
4. process: one durable transaction locks the event row, then runs the handler, so two
   deliveries of one event (on any process) run one after the other and the second
   finds the first one's result;
5. remember: the outcome, error, retry schedule and timing are written to the row.

Only after the effects are committed does the endpoint answer 2xx; a failure answers 5xx
and leaves the row FAILED with its error and next retry time.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from finances import stripe_gateway
from finances.errors import WebhookPayloadInvalid
from finances.locks import webhook_event_lock
from finances.models import WebhookEventLog
from finances.services.payments import OutcomeKind, PaymentOutcome
from finances.stripe_payloads import EventEnvelope, MalformedStripeObject, event_envelope_parse
from finances.webhooks.handlers import EventContext, webhook_event_dispatch

logger = logging.getLogger(__name__)
Status = WebhookEventLog.Status


class Attempt(Enum):
    FIRST = "FIRST"  # this call recorded the event
    REDELIVERY = "REDELIVERY"  # Stripe sent an event we had not finished
    CLAIMED = "CLAIMED"  # a retry run claimed the row (and counted the retry)


@dataclass(frozen=True)
class WebhookReceipt:
    http_status: int
    event_id: str
    status: str
    message: str = ""
    duplicate: bool = False
    error_code: str | None = None


def webhook_retry_delay(retry_count: int) -> timedelta:
    """Exponential backoff: 1, 2, 4, 8, 16 minutes with the default base of 60 s."""
    return timedelta(seconds=settings.WEBHOOK_RETRY_BACKOFF_SECONDS * 2**retry_count)


def stripe_webhook_receive(*, payload: bytes, signature_header: str | None) -> WebhookReceipt:
    stripe_gateway.webhook_payload_verify(
        payload=payload,
        signature_header=signature_header,
        secrets=settings.STRIPE_WEBHOOK_SECRETS,
        tolerance_seconds=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )
    try:
        document = json.loads(payload)
        envelope = event_envelope_parse(document)
    except (ValueError, RecursionError) as error:
        raise WebhookPayloadInvalid(
            f"The event body is not a well-formed Stripe event: {error}"
        ) from error
    if b"\\u0000" in payload:
        # PostgreSQL cannot store NUL in text or jsonb; the audit copy gets U+FFFD instead,
        # processing reads the event as sent.
        document = _without_nul(document)
    event_log, created = webhook_event_record(
        envelope=envelope, document=document, source=WebhookEventLog.Source.WEBHOOK
    )
    if not created and event_log.is_final:
        logger.info(
            "webhook.duplicate",
            extra={
                "event_id": envelope.id,
                "event_type": envelope.type,
                "status": event_log.status,
            },
        )
        return WebhookReceipt(
            200, envelope.id, event_log.status, "Already handled.", duplicate=True
        )
    return webhook_event_process(
        event_log_id=event_log.pk,
        envelope=envelope,
        attempt=Attempt.FIRST if created else Attempt.REDELIVERY,
    )


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def webhook_event_record(
    *, envelope: EventEnvelope, document: dict, source: str
) -> tuple[WebhookEventLog, bool]:
    """Commits the event (or counts one more delivery of it). Returns (row, created).

    On PostgreSQL one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` both records a new
    event and recognises a duplicate, so a duplicate delivery costs a single statement.
    """
    now = timezone.now()
    delivered = source == WebhookEventLog.Source.WEBHOOK
    values = {
        "stripe_event_id": envelope.id,
        "event_type": envelope.type,
        "api_version": envelope.api_version,
        "livemode": envelope.livemode,
        "stripe_created_at": envelope.created_at,
        "stripe_object_id": envelope.object_id,
        "payload": document,
        "source": source,
        "status": Status.PROCESSING if delivered else Status.RECEIVED,
        "received_at": now,
        "processing_started_at": now if delivered else None,
    }
    try:
        if connection.vendor == "postgresql":
            return _record_with_upsert(values, count_delivery=delivered)
        return _record_with_insert(values, count_delivery=delivered)
    except (DataError, UnicodeEncodeError, ValueError) as error:
        # e.g. a NUL character, which PostgreSQL cannot store in text or jsonb.
        raise WebhookPayloadInvalid(
            "The event contains characters that cannot be stored."
        ) from error


_UPSERT_COLUMNS = (
    "stripe_event_id",
    "event_type",
    "api_version",
    "livemode",
    "stripe_created_at",
    "stripe_object_id",
    "payload",
    "source",
    "status",
    "received_at",
    "processing_started_at",
)


# Built once from constants (no input reaches the SQL text; values are parameters).
_UPSERT_SQL = (
    f"INSERT INTO finances_webhookeventlog ({', '.join(_UPSERT_COLUMNS)}, "  # noqa: S608
    f"error_message, retry_count, delivery_count) "
    f"VALUES ({', '.join(['%s'] * len(_UPSERT_COLUMNS))}, '', 0, 1) "
    "ON CONFLICT (stripe_event_id) DO UPDATE "
    "SET delivery_count = finances_webhookeventlog.delivery_count + %s "
    "RETURNING id, status, (xmax = 0) AS inserted"
)


def _record_with_upsert(values: dict, *, count_delivery: bool) -> tuple[WebhookEventLog, bool]:
    meta = WebhookEventLog._meta
    parameters = [
        meta.get_field(name).get_db_prep_save(values[name], connection) for name in _UPSERT_COLUMNS
    ]
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, [*parameters, 1 if count_delivery else 0])
        row_id, status, inserted = cursor.fetchone()
    event_log = WebhookEventLog(pk=row_id, status=status, stripe_event_id=values["stripe_event_id"])
    return event_log, inserted


def _record_with_insert(values: dict, *, count_delivery: bool) -> tuple[WebhookEventLog, bool]:
    try:
        if connection.in_atomic_block:
            # A failed INSERT must not poison the caller's transaction.
            with transaction.atomic():
                return WebhookEventLog.objects.create(**values), True
        return WebhookEventLog.objects.create(**values), True
    except IntegrityError:
        pass
    existing = WebhookEventLog.objects.only("id", "status", "stripe_event_id").get(
        stripe_event_id=values["stripe_event_id"]
    )
    if count_delivery:
        WebhookEventLog.objects.filter(pk=existing.pk).update(
            delivery_count=F("delivery_count") + 1
        )
    return existing, False


def _envelope_from_stored_payload(event_log_id: int) -> EventEnvelope:
    payload = WebhookEventLog.objects.values_list("payload", flat=True).get(pk=event_log_id)
    return event_envelope_parse(payload)


def _outcome_status(outcome: PaymentOutcome) -> str:
    if outcome.kind in (OutcomeKind.APPLIED, OutcomeKind.NO_CHANGE):
        return Status.PROCESSED
    if outcome.kind == OutcomeKind.NOT_OURS:
        return Status.IGNORED
    return Status.FAILED  # FLAGGED: needs a person, a retry cannot help


def webhook_event_process(
    *, event_log_id: int, envelope: EventEnvelope | None = None, attempt: Attempt = Attempt.FIRST
) -> WebhookReceipt:
    """Applies one recorded event exactly once; safe to call concurrently for the same row."""
    started = time.perf_counter()
    started_at = timezone.now()
    retry_count: int | None = None
    event_id = envelope.id if envelope else str(event_log_id)
    try:
        with transaction.atomic(durable=True):
            event_log = webhook_event_lock(event_log_id=event_log_id)
            event_id = event_log.stripe_event_id
            if event_log.is_final:
                return WebhookReceipt(
                    200, event_id, event_log.status, "Already handled.", duplicate=True
                )
            retry_count = event_log.retry_count + (1 if attempt == Attempt.REDELIVERY else 0)
            try:
                envelope = envelope or _envelope_from_stored_payload(event_log_id)
                outcome = webhook_event_dispatch(
                    EventContext(
                        id=envelope.id,
                        type=envelope.type,
                        created_at=envelope.created_at,
                        data_object=envelope.data_object,
                    )
                )
                status, http_status, error_code = _outcome_status(outcome), 200, None
            except MalformedStripeObject as error:
                outcome = PaymentOutcome(OutcomeKind.FLAGGED, f"Malformed event object: {error}")
                status, http_status, error_code = Status.FAILED, 400, "malformed_event"
            duration_ms = (time.perf_counter() - started) * 1000
            changes = {
                "status": status,
                "error_message": outcome.message if status == Status.FAILED else "",
                "retry_count": retry_count,
                "next_retry_at": None,
                "purchase_transaction_id": outcome.transaction_id,
                "processed_at": timezone.now(),
                "processing_duration_ms": duration_ms,
            }
            if attempt != Attempt.FIRST:
                changes["processing_started_at"] = started_at
            WebhookEventLog.objects.filter(pk=event_log_id).update(**changes)
    except Exception as error:
        return _record_failure(
            event_log_id=event_log_id,
            event_id=event_id,
            error=error,
            retry_count=retry_count,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    logger.info(
        "webhook.processed",
        extra={
            "event_id": event_id,
            "event_type": envelope.type if envelope else None,
            "status": status,
            "outcome": outcome.kind.value,
            "transaction_id": str(outcome.transaction_id) if outcome.transaction_id else None,
            "duration_ms": round(duration_ms, 2),
        },
    )
    return WebhookReceipt(http_status, event_id, status, outcome.message, error_code=error_code)


def _record_failure(
    *,
    event_log_id: int,
    event_id: str,
    error: Exception,
    retry_count: int | None,
    duration_ms: float,
) -> WebhookReceipt:
    logger.error(
        "webhook.processing_failed",
        exc_info=error,
        extra={"event_id": event_id, "error_class": type(error).__name__},
    )
    now = timezone.now()
    changes = {
        "status": Status.FAILED,
        "error_message": f"{type(error).__name__}: {error}"[:2000],
        "processed_at": None,
        "processing_duration_ms": duration_ms,
    }
    if retry_count is not None:
        changes["retry_count"] = retry_count
        changes["next_retry_at"] = (
            now + webhook_retry_delay(retry_count)
            if retry_count < settings.WEBHOOK_MAX_RETRIES
            else None
        )
    else:
        changes["next_retry_at"] = now + webhook_retry_delay(0)
    try:
        with transaction.atomic(durable=True):
            # Only if nobody finished it meanwhile (a concurrent delivery may have).
            WebhookEventLog.objects.filter(pk=event_log_id).exclude(
                status__in=WebhookEventLog.FINAL_STATUSES
            ).update(**changes)
    except DatabaseError:
        logger.exception("webhook.failure_not_recorded", extra={"event_id": event_id})
    return WebhookReceipt(
        500,
        event_id,
        Status.FAILED,
        "Processing failed; it will be retried.",
        error_code="processing_failed",
    )
