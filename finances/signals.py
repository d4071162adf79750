"""What the payments app tells the rest of the school system: Django signals, sent once
the change they report is committed (never for a rolled-back one).

Payloads are ids and numbers only (no names, emails or Stripe objects); receivers look up
what they need. Every signal is sent with `sender="finances"` and `send_robust`, so a
failing receiver is logged and never undoes or blocks the payment path. A receiver that
does slow work (an email, an HTTP call) enqueues a job. The payloads are documented in
docs/architecture.md ("Outbound signals").
"""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# purchase_transaction_id (str), student_id, plan_id, amount_cents, currency, minutes
purchase_completed = Signal()
# purchase_transaction_id, student_id, minutes, expires_at (ISO 8601)
hours_credited = Signal()
# purchase_transaction_id, student_id, refunded_total_cents, amount_cents, minutes_taken_back,
# fully_refunded
purchase_refunded = Signal()
# purchase_transaction_id, student_id, dispute_id, amount_cents, status
# (sent by the disputes service)
purchase_disputed = Signal()
# purchase_transaction_id, student_id, minutes, expires_at (ISO 8601)
hours_expiring_soon = Signal()
# purchase_transaction_id, student_id, minutes
hours_expired = Signal()


EVENT_TYPES = {
    purchase_completed: "purchase.completed",
    hours_credited: "hours.credited",
    purchase_refunded: "purchase.refunded",
    purchase_disputed: "purchase.disputed",
    hours_expiring_soon: "hours.expiring_soon",
    hours_expired: "hours.expired",
}


def signal_send_on_commit(signal: Signal, **payload) -> None:
    """Sends `signal` after the current transaction commits (at once outside one), and
    enqueues its platform webhook in the transaction itself (when configured)."""
    from finances.services.platform_webhooks import platform_webhook_enqueue

    platform_webhook_enqueue(event_type=EVENT_TYPES[signal], payload=payload)

    def send() -> None:
        for receiver, result in signal.send_robust(sender="finances", **payload):
            if isinstance(result, Exception):
                logger.error(
                    "signal.receiver_failed",
                    extra={"receiver": getattr(receiver, "__qualname__", str(receiver))},
                    exc_info=result,
                )

    transaction.on_commit(send)


def purchase_completion_signals_send(*, purchase) -> None:
    """purchase_completed, then hours_credited, after commit."""
    signal_send_on_commit(
        purchase_completed,
        purchase_transaction_id=str(purchase.pk),
        student_id=purchase.student_id,
        plan_id=purchase.plan_id,
        amount_cents=purchase.amount_cents,
        currency=purchase.currency,
        minutes=purchase.minutes,
    )
    signal_send_on_commit(
        hours_credited,
        purchase_transaction_id=str(purchase.pk),
        student_id=purchase.student_id,
        minutes=purchase.minutes,
        expires_at=purchase.expires_at.isoformat() if purchase.expires_at else None,
    )


def purchase_refund_signal_send(*, purchase, refunded_total_cents: int, minutes: int) -> None:
    signal_send_on_commit(
        purchase_refunded,
        purchase_transaction_id=str(purchase.pk),
        student_id=purchase.student_id,
        refunded_total_cents=refunded_total_cents,
        amount_cents=purchase.amount_cents,
        minutes_taken_back=minutes,
        fully_refunded=refunded_total_cents >= purchase.amount_cents,
    )
