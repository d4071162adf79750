"""Step 2 of the webhook pipeline, *record*: the event is committed to `WebhookEventLog`
(unique Stripe event id) before any effect, with its secrets redacted; a known event
counts one more delivery instead. Used by deliveries and by reconciliation's backfill.
"""

import contextlib

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from finances.errors import WebhookPayloadInvalid
from finances.models import WebhookEventLog
from finances.stripe_payloads import EventEnvelope
from finances.stripe_redaction import stripe_document_redact

Status = WebhookEventLog.Status


def webhook_event_record(
    *, envelope: EventEnvelope, document: dict, source: str
) -> tuple[WebhookEventLog, bool]:
    """Commits the event (or counts one more delivery of it). Returns (row, created).

    The stored payload has its secrets redacted (`finances.stripe_redaction`); the
    caller's `envelope` and `document` keep them for processing in memory.

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
        "payload": stripe_document_redact(document),
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
    # Inside a caller's transaction (tests), a refused row must not abort it.
    savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with savepoint, connection.cursor() as cursor:
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
    existing = (
        WebhookEventLog.objects.only("id", "status", "stripe_event_id")
        .filter(stripe_event_id=values["stripe_event_id"])
        .first()
    )
    if existing is None:  # refused by another constraint, not a duplicate
        raise WebhookPayloadInvalid("The event could not be stored.")
    if count_delivery:
        WebhookEventLog.objects.filter(pk=existing.pk).update(
            delivery_count=F("delivery_count") + 1
        )
    return existing, False
