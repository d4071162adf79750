"""Step 2 of the webhook pipeline, *record*: the event is committed to `WebhookEventLog`
(unique Stripe event id) before any effect, with its secrets redacted; a known event
counts one more delivery instead. Used by deliveries and by reconciliation's backfill.
"""

import contextlib

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.prepared_statements import prepared_fetchone
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


def _upsert_sql(error_message_sql: str) -> str:
    # Built once from constants (no input reaches the SQL text; values are parameters).
    return (
        f"INSERT INTO finances_webhookeventlog ({', '.join(_UPSERT_COLUMNS)}, "  # noqa: S608
        f"error_message, retry_count, delivery_count) "
        f"VALUES ({', '.join(['%s'] * len(_UPSERT_COLUMNS))}, {error_message_sql}, 0, 1) "
        "ON CONFLICT (stripe_event_id) DO UPDATE "
        "SET delivery_count = finances_webhookeventlog.delivery_count + %s "
        "RETURNING id, status, (xmax = 0) AS inserted"
    )


_UPSERT_SQL = _upsert_sql("''")


# A delivery's record step, autocommitted, does not wait for its WAL flush: the
# statement sets `synchronous_commit = off` for its own implicit transaction only
# (set_config(..., is_local => true), evaluated once, in the value of error_message).
#
# Why that loses nothing: Stripe gets a 2xx only after a later commit that waited for
# its WAL flush — the processing transaction (webhook_event_process, durable and
# synchronous), or, for a duplicate, the earlier synchronous commit that finished the
# event. WAL is flushed in order, so that flush also makes this record durable. If the
# server crashes before it, the record may be lost, but so is any effect, and Stripe,
# which got no 2xx, delivers the event again. A failed processing answers 5xx after a
# synchronous commit of the failure. Only deliveries (source WEBHOOK) outside any
# caller's transaction take this path; tests/webhooks/test_record_step_commit.py holds it.
_UPSERT_RELAXED_SQL = _upsert_sql("left(set_config('synchronous_commit', 'off', true), 0)")


def _record_with_upsert(values: dict, *, count_delivery: bool) -> tuple[WebhookEventLog, bool]:
    meta = WebhookEventLog._meta
    parameters = [
        meta.get_field(name).get_db_prep_save(values[name], connection) for name in _UPSERT_COLUMNS
    ]
    in_transaction = connection.in_atomic_block
    sql = _UPSERT_SQL if in_transaction or not count_delivery else _UPSERT_RELAXED_SQL
    # Inside a caller's transaction (tests), a refused row must not abort it.
    savepoint = transaction.atomic() if in_transaction else contextlib.nullcontext()
    with savepoint:
        row_id, status, inserted = prepared_fetchone(sql, [*parameters, 1 if count_delivery else 0])
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
