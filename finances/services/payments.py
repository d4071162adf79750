"""Payment state changes (spec R5): the only code that moves a purchase between statuses.

Webhook handlers, reconciliation and operator actions all come here with what Stripe
says about a PaymentIntent. Each function locks the purchase, lets the state machine
decide, and writes every effect in the caller's transaction, so a duplicate, late or
out-of-order report changes nothing it should not.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from finances.locks import purchase_transaction_lock, student_balance_lock
from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.ledger import ledger_entry_append, lot_totals
from finances.signals import purchase_completion_signals_send, purchase_refund_signal_send
from finances.state_machine import PaymentReport, transition_for
from finances.stripe_payloads import ChargeData, PaymentIntentData

logger = logging.getLogger(__name__)
Status = PurchaseTransaction.Status


class OutcomeKind(StrEnum):
    APPLIED = "APPLIED"
    NO_CHANGE = "NO_CHANGE"
    FLAGGED = "FLAGGED"
    NOT_OURS = "NOT_OURS"


@dataclass(frozen=True)
class PaymentOutcome:
    kind: OutcomeKind
    message: str
    transaction_id: object = None


class PurchaseNotFound(ApplicationError):
    """Our PaymentIntent, but no purchase here: retrying later may find it."""

    default_code = "purchase_not_found"
    default_message = "No purchase matches this PaymentIntent."
    default_status_code = 500


def is_our_payment_intent(metadata: dict[str, str]) -> bool:
    return metadata.get("application") == settings.STRIPE_METADATA_APPLICATION


def _metadata_transaction_id(metadata: dict[str, str]) -> uuid.UUID | None:
    try:
        return uuid.UUID(metadata.get("transaction_id", ""))
    except ValueError:
        return None


def _locate(
    *, payment_intent_id: str | None, metadata: dict[str, str]
) -> tuple[PurchaseTransaction | None, str | None]:
    """(the locked purchase, a conflict to flag) for a PaymentIntent Stripe reports on."""
    ours = is_our_payment_intent(metadata)
    found = purchase_transaction_lock(
        payment_intent_id=payment_intent_id,
        transaction_id=_metadata_transaction_id(metadata) if ours else None,
    )
    if found is None and ours:
        raise PurchaseNotFound(
            f"PaymentIntent {payment_intent_id} carries our tag but no purchase matches it."
        )
    if found is None or not payment_intent_id:
        return found, None
    if found.stripe_payment_intent_id is None:
        # The PaymentIntent id was never stored (the initiating request died after the
        # Stripe call): adopt it now.
        found.stripe_payment_intent_id = payment_intent_id
        found.save(update_fields=["stripe_payment_intent_id", "updated_at"])
    elif found.stripe_payment_intent_id != payment_intent_id:
        return found, (
            f"PaymentIntent {payment_intent_id} names this purchase, which belongs to "
            f"{found.stripe_payment_intent_id}; nothing applied."
        )
    return found, None


def _flag(purchase: PurchaseTransaction, reason: str) -> PaymentOutcome:
    if reason not in purchase.review_reason.splitlines():
        purchase.needs_review = True
        purchase.review_reason = f"{purchase.review_reason}\n{reason}".strip()
        purchase.save(update_fields=["needs_review", "review_reason", "updated_at"])
    logger.warning(
        "payment.flagged_for_review",
        extra={"transaction_id": str(purchase.pk), "reason": reason},
    )
    return PaymentOutcome(OutcomeKind.FLAGGED, reason, purchase.pk)


def _mismatch(
    purchase: PurchaseTransaction, *, amount_cents: int | None, currency: str, livemode: bool
) -> str:
    problems = []
    if amount_cents is not None and amount_cents != purchase.amount_cents:
        problems.append(f"amount {amount_cents} != expected {purchase.amount_cents}")
    if currency != purchase.currency:
        problems.append(f"currency {currency} != expected {purchase.currency}")
    if livemode != purchase.livemode:
        problems.append(f"livemode {livemode} != expected {purchase.livemode}")
    return "; ".join(problems)


def _log_transition(purchase: PurchaseTransaction, previous: str, source_event_id: str) -> None:
    logger.info(
        "payment.status_changed",
        extra={
            "transaction_id": str(purchase.pk),
            "payment_intent_id": purchase.stripe_payment_intent_id,
            "from_status": previous,
            "to_status": purchase.status,
            "event_id": source_event_id or None,
        },
    )


def confirm_payment_completion(
    *,
    payment_intent: PaymentIntentData,
    source_event_id: str = "",
    reported_at: datetime | None = None,
) -> PaymentOutcome:
    """Stripe took the money: complete the purchase and credit its hours, once."""
    with transaction.atomic(savepoint=False):
        purchase, conflict = _locate(
            payment_intent_id=payment_intent.id, metadata=payment_intent.metadata
        )
        if purchase is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "PaymentIntent is not ours.")
        if conflict:
            return _flag(purchase, conflict)
        problems = _mismatch(
            purchase,
            amount_cents=payment_intent.collected_amount_cents,
            currency=payment_intent.currency,
            livemode=payment_intent.livemode,
        )
        if problems:
            return _flag(
                purchase, f"Payment succeeded but does not match: {problems}. Nothing credited."
            )
        decision = transition_for(purchase.status, PaymentReport.SUCCEEDED)
        if decision.target is None:
            return PaymentOutcome(OutcomeKind.NO_CHANGE, decision.reason, purchase.pk)

        previous = purchase.status
        paid_at = payment_intent.succeeded_at or reported_at or timezone.now()
        purchase.mark_completed(paid_at=paid_at, from_statuses=[previous])
        if payment_intent.customer_id and not purchase.stripe_customer_id:
            purchase.stripe_customer_id = payment_intent.customer_id
            purchase.save(update_fields=["stripe_customer_id", "updated_at"])
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=HoursLedgerEntry.EntryType.CREDIT,
            minutes=purchase.minutes,
            amount_cents=purchase.amount_cents,
            expires_at=purchase.expires_at,
            idempotency_key=f"credit:{purchase.pk}",
            stripe_event_id=source_event_id,
            note=f"{purchase.plan_name} paid",
        )
        _log_transition(purchase, previous, source_event_id)
        purchase_completion_signals_send(purchase=purchase)
        if decision.needs_review:
            _flag(purchase, decision.reason)
        if purchase.refunded_amount_cents:
            # A refund was reported before the success (out-of-order delivery).
            _reverse_refunded_hours(
                purchase,
                refunded_total_cents=purchase.refunded_amount_cents,
                source_event_id=source_event_id,
            )
        return PaymentOutcome(
            OutcomeKind.APPLIED, "Payment completed and hours credited.", purchase.pk
        )


def _apply_simple_transition(
    *, payment_intent: PaymentIntentData, report: PaymentReport, source_event_id: str
) -> PaymentOutcome:
    with transaction.atomic(savepoint=False):
        purchase, conflict = _locate(
            payment_intent_id=payment_intent.id, metadata=payment_intent.metadata
        )
        if purchase is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "PaymentIntent is not ours.")
        if conflict:
            return _flag(purchase, conflict)
        decision = transition_for(purchase.status, report)
        if decision.target is None:
            return PaymentOutcome(OutcomeKind.NO_CHANGE, decision.reason, purchase.pk)
        failure_reason = (payment_intent.failure_message or "The payment failed.")[:2000]
        if decision.target == purchase.status and (
            report != PaymentReport.FAILED or failure_reason == purchase.failure_reason
        ):
            return PaymentOutcome(OutcomeKind.NO_CHANGE, decision.reason, purchase.pk)
        previous = purchase.status
        purchase.status = decision.target
        update_fields = ["status", "updated_at"]
        if report == PaymentReport.FAILED:
            purchase.failure_reason = failure_reason
            update_fields.append("failure_reason")
        purchase.save(update_fields=update_fields)
        _log_transition(purchase, previous, source_event_id)
        return PaymentOutcome(
            OutcomeKind.APPLIED, f"Purchase is now {purchase.status}.", purchase.pk
        )


def handle_payment_failure(
    *, payment_intent: PaymentIntentData, source_event_id: str = ""
) -> PaymentOutcome:
    """An attempt to pay failed. Not final: the buyer may retry and still succeed."""
    return _apply_simple_transition(
        payment_intent=payment_intent, report=PaymentReport.FAILED, source_event_id=source_event_id
    )


def handle_payment_processing(
    *, payment_intent: PaymentIntentData, source_event_id: str = ""
) -> PaymentOutcome:
    return _apply_simple_transition(
        payment_intent=payment_intent,
        report=PaymentReport.PROCESSING,
        source_event_id=source_event_id,
    )


def handle_payment_cancellation(
    *, payment_intent: PaymentIntentData, source_event_id: str = ""
) -> PaymentOutcome:
    return _apply_simple_transition(
        payment_intent=payment_intent,
        report=PaymentReport.CANCELED,
        source_event_id=source_event_id,
    )


def apply_refund(*, charge: ChargeData, source_event_id: str = "") -> PaymentOutcome:
    """Stripe refunded (part of) a payment: take back hours in proportion to the money.

    `charge.amount_refunded_cents` is Stripe's running total, so the same total reported
    twice, or an older total reported late, changes nothing.
    """
    with transaction.atomic(savepoint=False):
        purchase, conflict = _locate(
            payment_intent_id=charge.payment_intent_id, metadata=charge.metadata
        )
        if conflict:
            return _flag(purchase, conflict)
        if purchase is None:
            return PaymentOutcome(
                OutcomeKind.NOT_OURS, "Charge is not for a PaymentIntent of ours."
            )
        if charge.currency != purchase.currency or charge.livemode != purchase.livemode:
            return _flag(purchase, f"Refund does not match the purchase (charge {charge.id}).")
        refunded_total = charge.amount_refunded_cents
        if refunded_total > purchase.amount_cents:
            _flag(purchase, f"Stripe reports {refunded_total} refunded of {purchase.amount_cents}.")
            refunded_total = purchase.amount_cents
        if refunded_total <= purchase.refunded_amount_cents:
            return PaymentOutcome(OutcomeKind.NO_CHANGE, "Refund already recorded.", purchase.pk)
        purchase.refunded_amount_cents = refunded_total
        purchase.save(update_fields=["refunded_amount_cents", "updated_at"])
        if purchase.status not in (Status.COMPLETED, Status.REFUNDED):
            return PaymentOutcome(
                OutcomeKind.APPLIED,
                "Refund recorded; hours will be taken back when the payment completes.",
                purchase.pk,
            )
        _reverse_refunded_hours(
            purchase, refunded_total_cents=refunded_total, source_event_id=source_event_id
        )
        return PaymentOutcome(
            OutcomeKind.APPLIED, f"Refund of {refunded_total} cents applied.", purchase.pk
        )


def _reverse_refunded_hours(
    purchase: PurchaseTransaction, *, refunded_total_cents: int, source_event_id: str
) -> None:
    """Brings the lot's refund reversals up to `refunded_total_cents`, never below zero."""
    student_balance_lock(student_id=purchase.student_id)
    lot = lot_totals(purchase_transaction_id=purchase.pk)
    cents_to_reverse = refunded_total_cents - lot["refunded_cents"]
    if cents_to_reverse <= 0:
        return
    target_minutes = purchase.minutes * refunded_total_cents // purchase.amount_cents
    wanted_minutes = max(0, target_minutes - lot["refunded_minutes"])
    taken_minutes = min(wanted_minutes, max(0, lot["unused_minutes"]))
    ledger_entry_append(
        student_id=purchase.student_id,
        purchase_transaction_id=purchase.pk,
        entry_type=HoursLedgerEntry.EntryType.REFUND_REVERSAL,
        minutes=-taken_minutes,
        amount_cents=-cents_to_reverse,
        idempotency_key=f"refund:{purchase.pk}:{refunded_total_cents}",
        stripe_event_id=source_event_id,
        note=f"Refund of {cents_to_reverse} cents",
    )
    purchase_refund_signal_send(
        purchase=purchase, refunded_total_cents=refunded_total_cents, minutes=taken_minutes
    )
    previous = purchase.status
    if refunded_total_cents >= purchase.amount_cents and purchase.status != Status.REFUNDED:
        purchase.status = Status.REFUNDED
        purchase.save(update_fields=["status", "updated_at"])
        _log_transition(purchase, previous, source_event_id)
    if taken_minutes < wanted_minutes:
        _flag(
            purchase,
            f"Refund should take back {wanted_minutes} minutes but only {taken_minutes} were "
            "unused (the rest was consumed or expired).",
        )
