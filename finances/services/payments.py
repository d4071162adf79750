"""Payment state changes (spec R5): the only code that moves a purchase between statuses.

Webhook handlers, reconciliation and operator actions all come here with what Stripe
says about a PaymentIntent. Each function locks the purchase, lets the state machine
decide, and writes every effect in the caller's transaction, so a duplicate, late or
out-of-order report changes nothing it should not.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from finances.models import PurchaseTransaction
from finances.services.disputes import purchase_disputes_after_credit
from finances.services.family_completion import purchase_request_close_paid
from finances.services.late_payments import late_payment_reasons
from finances.services.ledger import purchase_credit_append
from finances.services.package_completion import EventFinish, package_purchase_complete
from finances.services.payment_outcomes import (
    OutcomeKind,
    PaymentOutcome,
    PurchaseNotFound,
    is_our_payment_intent,
    purchase_flag,
    purchase_locate,
    purchase_transition_log,
)
from finances.services.purchase_notifications import (
    payment_failed_notify,
    purchase_completed_notify,
)
from finances.services.refund_accounting import apply_refund, lot_refunds_settle
from finances.signals import purchase_completion_signals_send
from finances.state_machine import PaymentReport, transition_for
from finances.stripe_payloads import PaymentIntentData

__all__ = [
    "OutcomeKind",
    "PaymentOutcome",
    "PurchaseNotFound",
    "apply_refund",
    "confirm_payment_completion",
    "handle_payment_cancellation",
    "handle_payment_failure",
    "handle_payment_processing",
    "is_our_payment_intent",
]

logger = logging.getLogger(__name__)
Status = PurchaseTransaction.Status


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


def confirm_payment_completion(
    *,
    payment_intent: PaymentIntentData,
    source_event_id: str = "",
    reported_at: datetime | None = None,
    event_finish: EventFinish | None = None,
) -> PaymentOutcome:
    """Stripe took the money: complete the purchase and credit its hours, once.

    A package's plain case is one statement (services/package_completion.py), which also
    finishes the delivery's event row when `event_finish` is given; every other case goes
    the general way below."""
    with transaction.atomic(savepoint=False):
        paid_at = payment_intent.succeeded_at or reported_at or timezone.now()
        completed = package_purchase_complete(
            payment_intent=payment_intent,
            paid_at=paid_at,
            source_event_id=source_event_id,
            event_finish=event_finish,
        )
        if completed is not None:
            _completion_effects(
                purchase=completed.purchase,
                previous=completed.previous_status,
                paid_at=paid_at,
                source_event_id=source_event_id,
                log_transition=event_finish is None,
            )
            return PaymentOutcome(
                OutcomeKind.APPLIED,
                "Payment completed and hours credited.",
                completed.purchase.pk,
                event_finished=completed.event_finished,
                transition=(completed.previous_status, completed.purchase.status),
            )
        purchase, conflict = purchase_locate(
            payment_intent_id=payment_intent.id, metadata=payment_intent.metadata
        )
        if purchase is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "PaymentIntent is not ours.")
        if conflict:
            return purchase_flag(purchase, conflict)
        problems = _mismatch(
            purchase,
            amount_cents=payment_intent.collected_amount_cents,
            currency=payment_intent.currency,
            livemode=payment_intent.livemode,
        )
        if problems:
            return purchase_flag(
                purchase, f"Payment succeeded but does not match: {problems}. Nothing credited."
            )
        decision = transition_for(purchase.status, PaymentReport.SUCCEEDED)
        if decision.target is None:
            return PaymentOutcome(OutcomeKind.NO_CHANGE, decision.reason, purchase.pk)

        previous = purchase.status
        purchase.mark_completed(
            paid_at=paid_at,
            from_statuses=[previous],
            customer_id=payment_intent.customer_id or "",
            charge_id=payment_intent.latest_charge_id or "",
        )
        purchase_credit_append(
            purchase=purchase, source_event_id=source_event_id, note=f"{purchase.plan_name} paid"
        )
        if decision.needs_review:
            purchase_flag(purchase, decision.reason)
        _completion_effects(
            purchase=purchase,
            previous=previous,
            paid_at=paid_at,
            source_event_id=source_event_id,
            log_transition=True,
        )
        return PaymentOutcome(
            OutcomeKind.APPLIED, "Payment completed and hours credited.", purchase.pk
        )


def _completion_effects(
    *,
    purchase: PurchaseTransaction,
    previous: str,
    paid_at: datetime,
    source_event_id: str,
    log_transition: bool,
) -> None:
    """What follows a purchase's move to COMPLETED and its credit, either way it was made."""
    if log_transition:  # a webhook logs the transition in its one line per event
        purchase_transition_log(purchase, previous, source_event_id)
    purchase_completion_signals_send(purchase=purchase)
    # families: a guardian's payment closes the student's request (docs/families.md).
    purchase_request_close_paid(purchase=purchase, source_event_id=source_event_id)
    purchase_completed_notify(purchase=purchase)  # the receipt, in this transaction
    # Paid after its checkout expired, or on a plan withdrawn or repriced since:
    # credited as bought (the snapshot), and flagged for a person.
    for reason in late_payment_reasons(purchase=purchase, paid_at=paid_at):
        purchase_flag(purchase, reason)
    if purchase.refunded_amount_cents:
        # A refund was reported before the success (out-of-order delivery).
        lot_refunds_settle(purchase=purchase, source_event_id=source_event_id)
    # A dispute reported before the success holds or takes its share now.
    purchase_disputes_after_credit(purchase=purchase, source_event_id=source_event_id)


def _apply_simple_transition(
    *, payment_intent: PaymentIntentData, report: PaymentReport, source_event_id: str
) -> PaymentOutcome:
    with transaction.atomic(savepoint=False):
        purchase, conflict = purchase_locate(
            payment_intent_id=payment_intent.id, metadata=payment_intent.metadata
        )
        if purchase is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "PaymentIntent is not ours.")
        if conflict:
            return purchase_flag(purchase, conflict)
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
        purchase_transition_log(purchase, previous, source_event_id)
        if report == PaymentReport.FAILED:
            payment_failed_notify(purchase=purchase)  # once per purchase
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
