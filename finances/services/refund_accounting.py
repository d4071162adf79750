"""Refunds and failed refunds: the lot's hours follow the money Stripe reports refunded.

`purchase.refunded_amount_cents` is what Stripe says is refunded now (succeeded and
pending refunds). Every report moves it, and `lot_refunds_settle` then brings the lot's
refund entries to exactly that total: REFUND_REVERSAL entries take minutes back in
proportion (as far as they are unused; the rest is the refund shortfall), REFUND_FAILURE
entries give back what a refund that failed had taken.

Reports are ordered by when Stripe made them (`refunds_reported_at`): a charge's
cumulative `amount_refunded` older than the one recorded changes nothing, one that is
newer applies whether it is higher or lower (a lower one means a refund failed). A
refund reported `failed`/`canceled` lowers the total by its amount once per refund id,
unless a newer cumulative total (which already leaves it out) was recorded. A failure
reported before the refund it undoes was ever recorded cannot be told apart here;
reconciliation, which reads Stripe's total, corrects it.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from finances.locks import (
    purchase_transaction_lock,
    purchase_transaction_lock_by_charge,
    student_balance_lock,
)
from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.expiry import hours_lot_expire
from finances.services.ledger import ledger_entry_append, lot_totals
from finances.services.payment_outcomes import (
    OutcomeKind,
    PaymentOutcome,
    purchase_flag,
    purchase_locate,
    purchase_transition_log,
)
from finances.services.purchase_notifications import purchase_refunded_notify
from finances.services.shortfalls import lot_shortfalls_settle
from finances.signals import purchase_refund_signal_send
from finances.stripe_payloads import ChargeData, RefundData

Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
FAILED_REFUND_STATUSES = ("failed", "canceled")
_CREDITED = (Status.COMPLETED, Status.REFUNDED)


def refund_target_minutes(*, purchase: PurchaseTransaction) -> int:
    """The minutes the recorded refunded amount takes back (its share of the lot)."""
    return purchase.minutes * purchase.refunded_amount_cents // purchase.amount_cents


def apply_refund(
    *, charge: ChargeData, source_event_id: str = "", reported_at: datetime | None = None
) -> PaymentOutcome:
    """Stripe reports a charge's cumulative refunded amount (charge.refunded, or
    reconciliation with Stripe's current total and `reported_at` now)."""
    reported_at = reported_at or timezone.now()
    with transaction.atomic(savepoint=False):
        purchase, conflict = purchase_locate(
            payment_intent_id=charge.payment_intent_id, metadata=charge.metadata
        )
        if conflict:
            return purchase_flag(purchase, conflict)
        if purchase is None:
            return PaymentOutcome(
                OutcomeKind.NOT_OURS, "Charge is not for a PaymentIntent of ours."
            )
        if charge.currency != purchase.currency or charge.livemode != purchase.livemode:
            return purchase_flag(
                purchase, f"Refund does not match the purchase (charge {charge.id})."
            )
        refunded_total = charge.amount_refunded_cents
        if refunded_total > purchase.amount_cents:
            purchase_flag(
                purchase, f"Stripe reports {refunded_total} refunded of {purchase.amount_cents}."
            )
            refunded_total = purchase.amount_cents
        recorded = purchase.refunded_amount_cents
        last_report = purchase.refunds_reported_at
        if refunded_total == recorded:
            return PaymentOutcome(OutcomeKind.NO_CHANGE, "Refund already recorded.", purchase.pk)
        if last_report is not None and (
            reported_at < last_report or (reported_at == last_report and refunded_total < recorded)
        ):
            return PaymentOutcome(
                OutcomeKind.NO_CHANGE,
                "An older refund total; a newer one is recorded.",
                purchase.pk,
            )
        return _refunded_total_record(
            purchase,
            refunded_total=refunded_total,
            reported_at=reported_at,
            source_event_id=source_event_id,
            why=f"Stripe's refunded total for charge {charge.id} fell from {recorded} to "
            f"{refunded_total} cents (a refund failed)",
        )


def refund_failure_apply(
    *, refund: RefundData, source_event_id: str = "", reported_at: datetime | None = None
) -> PaymentOutcome:
    """A refund failed or was canceled at Stripe: what it took comes back, once."""
    if refund.status not in FAILED_REFUND_STATUSES:
        return PaymentOutcome(
            OutcomeKind.NO_CHANGE,
            f"Refund {refund.id} is {refund.status}; charge.refunded counts it.",
        )
    reported_at = reported_at or timezone.now()
    with transaction.atomic(savepoint=False):
        purchase = None
        if refund.payment_intent_id:
            purchase = purchase_transaction_lock(payment_intent_id=refund.payment_intent_id)
        if purchase is None and refund.charge_id:
            purchase = purchase_transaction_lock_by_charge(charge_id=refund.charge_id)
        if purchase is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "Refund is not for a payment of ours.")
        if refund.id in purchase.failed_refund_ids:
            return PaymentOutcome(
                OutcomeKind.NO_CHANGE, f"Refund {refund.id} failure already applied.", purchase.pk
            )
        purchase.failed_refund_ids = [*purchase.failed_refund_ids, refund.id]
        purchase.save(update_fields=["failed_refund_ids", "updated_at"])
        recorded = purchase.refunded_amount_cents
        last_report = purchase.refunds_reported_at
        if last_report is not None and reported_at < last_report:
            return purchase_flag(
                purchase,
                f"Refund {refund.id} of {refund.amount_cents} cents {refund.status}; the newer "
                "refunded total recorded already leaves it out.",
            )
        return _refunded_total_record(
            purchase,
            refunded_total=max(0, recorded - refund.amount_cents),
            reported_at=reported_at,
            source_event_id=source_event_id,
            why=f"Refund {refund.id} of {refund.amount_cents} cents {refund.status} at Stripe "
            f"({refund.failure_reason or 'no reason given'})",
            refund_id=refund.id,
        )


def _refunded_total_record(
    purchase: PurchaseTransaction,
    *,
    refunded_total: int,
    reported_at: datetime,
    source_event_id: str,
    why: str,
    refund_id: str = "",
) -> PaymentOutcome:
    recorded = purchase.refunded_amount_cents
    purchase.refunded_amount_cents = refunded_total
    purchase.refunds_reported_at = reported_at
    purchase.save(update_fields=["refunded_amount_cents", "refunds_reported_at", "updated_at"])
    if refunded_total < recorded:
        purchase_flag(purchase, f"{why}: {recorded - refunded_total} cents no longer refunded.")
    if purchase.status not in _CREDITED:
        return PaymentOutcome(
            OutcomeKind.APPLIED,
            "Refund recorded; hours follow when the payment completes.",
            purchase.pk,
        )
    lot_refunds_settle(purchase=purchase, source_event_id=source_event_id, refund_id=refund_id)
    message = (
        f"Refund of {refunded_total} cents applied."
        if refunded_total > recorded
        else f"Refunded total lowered to {refunded_total} cents; hours given back."
    )
    return PaymentOutcome(OutcomeKind.APPLIED, message, purchase.pk)


def lot_refunds_settle(
    *, purchase: PurchaseTransaction, source_event_id: str = "", refund_id: str = ""
) -> None:
    """Brings the lot's refund entries to `purchase.refunded_amount_cents`, under the
    purchase lock the caller holds (then the balance lock, taken here)."""
    student_balance_lock(student_id=purchase.student_id)
    lot = lot_totals(purchase_transaction_id=purchase.pk)
    target_cents = purchase.refunded_amount_cents
    target_minutes = refund_target_minutes(purchase=purchase)
    cents_change = target_cents - lot["refunded_cents"]
    refunded_minutes = lot["refunded_minutes"]
    if cents_change > 0:
        wanted = max(0, target_minutes - refunded_minutes)
        taken = min(wanted, max(0, lot["unused_minutes"]))
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=EntryType.REFUND_REVERSAL,
            minutes=-taken,
            amount_cents=-cents_change,
            idempotency_key=f"refund:{purchase.pk}:{target_cents}:{lot['entries']}",
            stripe_event_id=source_event_id,
            note=f"Refund of {cents_change} cents",
        )
        purchase_refund_signal_send(
            purchase=purchase, refunded_total_cents=target_cents, minutes=taken
        )
        purchase_refunded_notify(
            purchase=purchase,
            refunded_total_cents=target_cents,
            refunded_now_cents=cents_change,
            minutes_taken_back=taken,
        )
        refunded_minutes += taken
        if taken < wanted:
            purchase_flag(
                purchase,
                f"Refund should take back {wanted} minutes but only {taken} were unused "
                "(the rest was consumed or expired).",
            )
    elif cents_change < 0:
        # Give back what the failed refund took: the minutes taken beyond the new share.
        given_back = max(0, refunded_minutes - target_minutes)
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=EntryType.REFUND_FAILURE,
            minutes=given_back,
            amount_cents=-cents_change,
            idempotency_key=f"refund-failure:{purchase.pk}:{refund_id or target_cents}:"
            f"{lot['entries']}",
            stripe_event_id=source_event_id,
            note=f"Refund {refund_id or ''} failed: {-cents_change} cents".replace("  ", " "),
        )
        refunded_minutes -= given_back
    shortfall = max(0, target_minutes - refunded_minutes)
    if shortfall != purchase.refund_shortfall_minutes:
        purchase.refund_shortfall_minutes = shortfall
        purchase.save(update_fields=["refund_shortfall_minutes", "updated_at"])
    previous = purchase.status
    if target_cents >= purchase.amount_cents and purchase.status != Status.REFUNDED:
        purchase.status = Status.REFUNDED
    elif target_cents < purchase.amount_cents and purchase.status == Status.REFUNDED:
        purchase.status = Status.COMPLETED  # a refund failed: part of the money stayed
    if purchase.status != previous:
        purchase.save(update_fields=["status", "updated_at"])
        purchase_transition_log(purchase, previous, source_event_id)
    if cents_change < 0:
        # Minutes came back: a lost dispute's shortfall takes them first; on an expired lot
        # what is left expires again at once.
        lot_shortfalls_settle(purchase=purchase, note=f"after refund {refund_id} failed")
        if purchase.is_expired:
            hours_lot_expire(purchase=purchase, note=f"Returned by failed refund {refund_id}")
