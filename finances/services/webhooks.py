"""Stripe webhook pipeline: verify → record → dedupe → process → remember.

1. verify: the signature, against every configured secret, within the tolerance;
2. record: the event is committed to `WebhookEventLog` before any effect (unique event id);
3. dedupe: a delivery of an event already PROCESSED/IGNORED answers 200 with no effect;
4. process: one durable transaction runs the handler, which locks the purchase row, so two
   deliveries of one event (on any process) apply it one after the other and the second
   finds nothing left to do;
5. remember: the outcome, error, retry schedule and timing are written to the row, unless
   a concurrent delivery finished it first.

Only after the effects are committed does the endpoint answer 2xx; a failure answers 5xx
and leaves the row FAILED with its error and next retry time. Anything correctly signed is
recorded and answered 2xx: a v2 thin event is IGNORED, a signed body that is not a readable
event is FAILED without retry (a person looks; Stripe must not resend it for three days).
Only a bad signature or a body that is not JSON gets 4xx.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from finances import stripe_gateway
from finances.errors import WebhookPayloadInvalid
from finances.models import WebhookEventLog
from finances.services.package_completion import EventFinish
from finances.services.payments import OutcomeKind, PaymentOutcome
from finances.services.webhook_recording import webhook_event_record
from finances.stripe_payloads import (
    EnvelopeKind,
    EventEnvelope,
    MalformedStripeObject,
    event_envelope_parse,
    unrecognised_envelope,
)
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


def _refuse_non_finite_number(token: str):
    raise ValueError(f"{token} is not a JSON number Stripe sends")


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
        document = json.loads(payload, parse_constant=_refuse_non_finite_number)
    except (ValueError, RecursionError) as error:
        # Not JSON (or nested too deeply to read): nothing can be recorded, and no Stripe
        # sends it, so 400 is the answer even though Stripe would retry it.
        raise WebhookPayloadInvalid(f"The event body is not JSON: {error}") from error
    envelope = event_envelope_read(document, fallback_id=unidentified_event_id(payload))
    if b"\\u0000" in payload:
        # PostgreSQL cannot store NUL in text or jsonb; the audit copy gets U+FFFD instead,
        # processing reads the event as sent.
        document = _without_nul(document)
    if not isinstance(document, dict):
        # A JSON null would be stored as SQL NULL; every stored payload is an object.
        document = {"not_an_object": document}
    event_log, created = webhook_event_record(
        envelope=envelope, document=document, source=WebhookEventLog.Source.WEBHOOK
    )
    if not created and envelope.kind == EnvelopeKind.UNRECOGNISED:
        # An unreadable body carrying the id of a known event must not overwrite that
        # event's outcome or retry schedule.
        return WebhookReceipt(
            200, envelope.id, event_log.status, "Already recorded.", duplicate=True
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


def unidentified_event_id(payload: bytes) -> str:
    """The log id of a signed body without a usable event id: the same body always gets the
    same id, so its redeliveries are counted on one row."""
    return f"unidentified:{hashlib.sha256(payload).hexdigest()}"


def event_envelope_read(document, *, fallback_id: str) -> EventEnvelope:
    """The event's envelope; a signed body that is not a readable event still gets one
    (kind UNRECOGNISED) so that it is recorded and answered 2xx rather than retried by
    Stripe for three days."""
    try:
        return event_envelope_parse(document)
    except MalformedStripeObject as error:
        return unrecognised_envelope(document, fallback_id=fallback_id, problem=str(error))


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _stored_event(event_log_id: int) -> tuple[str, str, dict]:
    """(Stripe event id, status, payload) of a recorded event."""
    return WebhookEventLog.objects.values_list("stripe_event_id", "status", "payload").get(
        pk=event_log_id
    )


def _outcome_status(outcome: PaymentOutcome) -> str:
    if outcome.kind in (OutcomeKind.APPLIED, OutcomeKind.NO_CHANGE):
        return Status.PROCESSED
    if outcome.kind == OutcomeKind.NOT_OURS:
        return Status.IGNORED
    return Status.FAILED  # FLAGGED: needs a person, a retry cannot help


# Constant SQL, values as parameters: this runs for every event (see services/ledger.py).
_FINISH_EVENT_SQL = (
    "UPDATE finances_webhookeventlog SET status = %s, error_message = %s, "
    "next_retry_at = NULL, purchase_transaction_id = %s, processed_at = %s, "
    "processing_duration_ms = %s, "
    "processing_started_at = COALESCE(%s, processing_started_at), "
    "retry_count = retry_count + %s "
    "WHERE id = %s AND status NOT IN ('PROCESSED', 'IGNORED')"
)


def _event_finish(
    *,
    event_log_id: int,
    status: str,
    error_message: str,
    purchase_transaction_id,
    duration_ms: float,
    processing_started_at,
    count_retry: bool,
) -> bool:
    """Writes the outcome onto the event row unless it is already finished."""
    fields = {field.attname: field for field in WebhookEventLog._meta.concrete_fields}
    parameters = [
        status,
        error_message,
        fields["purchase_transaction_id"].get_db_prep_save(purchase_transaction_id, connection),
        fields["processed_at"].get_db_prep_save(timezone.now(), connection),
        duration_ms,
        fields["processing_started_at"].get_db_prep_save(processing_started_at, connection),
        int(count_retry),
        event_log_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_FINISH_EVENT_SQL, parameters)
        return cursor.rowcount == 1


def webhook_event_process(
    *, event_log_id: int, envelope: EventEnvelope | None = None, attempt: Attempt = Attempt.FIRST
) -> WebhookReceipt:
    """Applies one recorded event exactly once; safe to call concurrently for the same row.

    Every effect happens under the purchase's row lock, through forward-only payment
    services, so a concurrent duplicate waits for the first, finds its result and changes
    nothing. The event row is finished only if nobody finished it meanwhile.
    """
    started = time.perf_counter()
    started_at = timezone.now()
    event_id = envelope.id if envelope else str(event_log_id)
    try:
        if envelope is None:
            # Retries and direct calls: the row's status is read with its payload, and a
            # finished event is left alone. A delivery knows it from the upsert already.
            event_id, stored_status, payload = _stored_event(event_log_id)
            if stored_status in WebhookEventLog.FINAL_STATUSES:
                return WebhookReceipt(
                    200, event_id, stored_status, "Already handled.", duplicate=True
                )
            envelope = event_envelope_read(payload, fallback_id=event_id)
        finish = EventFinish(
            event_log_id=event_log_id,
            processing_started_at=None if attempt == Attempt.FIRST else started_at,
            count_retry=attempt == Attempt.REDELIVERY,
            started=started,
        )
        with transaction.atomic(durable=True):
            try:
                outcome = _envelope_dispatch(envelope, finish=finish)
            except MalformedStripeObject as error:
                # Signed by Stripe but unreadable: a retry cannot help, so FAILED for a
                # person to look at, answered 200 so that Stripe does not resend it.
                outcome = PaymentOutcome(OutcomeKind.FLAGGED, f"Malformed event object: {error}")
            status, http_status, error_code = _outcome_status(outcome), 200, None
            duration_ms = (time.perf_counter() - started) * 1000
            if outcome.event_finished is not None:
                # The service finished the row in its own statement (always PROCESSED).
                finished_here = outcome.event_finished
            else:
                finished_here = _event_finish(
                    event_log_id=event_log_id,
                    status=status,
                    error_message=outcome.message if status == Status.FAILED else "",
                    purchase_transaction_id=outcome.transaction_id,
                    duration_ms=duration_ms,
                    processing_started_at=finish.processing_started_at,
                    count_retry=finish.count_retry,
                )
    except Exception as error:
        return _record_failure(
            event_log_id=event_log_id,
            event_id=event_id,
            error=error,
            count_retry=attempt == Attempt.REDELIVERY,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    if not finished_here:
        # A concurrent delivery finished the event first; ours found nothing left to do.
        final_status = WebhookEventLog.objects.values_list("status", flat=True).get(pk=event_log_id)
        return WebhookReceipt(200, event_id, final_status, "Already handled.", duplicate=True)
    logger.info(
        "webhook.processed",
        extra={
            "event_id": event_id,
            "event_type": envelope.type,
            "status": status,
            "outcome": outcome.kind.value,
            "transaction_id": str(outcome.transaction_id) if outcome.transaction_id else None,
            "duration_ms": round(duration_ms, 2),
            # One line per event: the purchase's status change, when the service left it
            # here instead of logging payment.status_changed.
            **(
                {"from_status": outcome.transition[0], "to_status": outcome.transition[1]}
                if outcome.transition
                else {}
            ),
        },
    )
    return WebhookReceipt(http_status, event_id, status, outcome.message, error_code=error_code)


def _envelope_dispatch(envelope: EventEnvelope, *, finish: EventFinish) -> PaymentOutcome:
    if envelope.kind == EnvelopeKind.THIN:
        return PaymentOutcome(
            OutcomeKind.NOT_OURS, f"Thin (v2) event {envelope.type} changes no purchase."
        )
    if envelope.kind == EnvelopeKind.UNRECOGNISED:
        return PaymentOutcome(
            OutcomeKind.FLAGGED, f"Not a readable Stripe event: {envelope.problem}"
        )
    return webhook_event_dispatch(
        EventContext(
            id=envelope.id,
            type=envelope.type,
            created_at=envelope.created_at,
            data_object=envelope.data_object,
            finish=finish,
        )
    )


def _record_failure(
    *, event_log_id: int, event_id: str, error: Exception, count_retry: bool, duration_ms: float
) -> WebhookReceipt:
    logger.error(
        "webhook.processing_failed",
        exc_info=error,
        extra={"event_id": event_id, "error_class": type(error).__name__},
    )
    try:
        with transaction.atomic(durable=True):
            # Only if nobody finished it meanwhile (a concurrent delivery may have).
            event_log = (
                WebhookEventLog.objects.select_for_update()
                .only("id", "retry_count")
                .filter(pk=event_log_id)
                .exclude(status__in=WebhookEventLog.FINAL_STATUSES)
                .first()
            )
            if event_log is not None:
                retry_count = event_log.retry_count + int(count_retry)
                retries_left = retry_count < settings.WEBHOOK_MAX_RETRIES
                WebhookEventLog.objects.filter(pk=event_log_id).update(
                    status=Status.FAILED,
                    error_message=f"{type(error).__name__}: {error}"[:2000],
                    retry_count=retry_count,
                    next_retry_at=timezone.now() + webhook_retry_delay(retry_count)
                    if retries_left
                    else None,
                    processed_at=None,
                    processing_duration_ms=duration_ms,
                )
    except DatabaseError:
        logger.exception("webhook.failure_not_recorded", extra={"event_id": event_id})
    return WebhookReceipt(
        500,
        event_id,
        Status.FAILED,
        "Processing failed; it will be retried.",
        error_code="processing_failed",
    )
