"""Disputes (chargebacks): the hours follow the money while Stripe decides.

`dispute_apply` is the one place a dispute is opened, won or lost (a signal for
notifications belongs there). Every `charge.dispute.*` event comes here with the dispute
as Stripe reports it; the decision depends only on its status and on what is recorded,
never on the event type alone, so duplicates and any order (closed before created,
funds_withdrawn or funds_reinstated alone) change the hours at most once per outcome:

- open (any status but won/lost/warning_closed): the purchase is flagged and the lot's
  unused minutes, up to the disputed share (all of them for a full dispute), are put on
  hold by a DISPUTE_HOLD entry: lessons cannot use them (a lot's unused sum leaves them
  out). Minutes that come back later (a reversed lesson) top the hold up.
- won (`won`, `warning_closed`, or a `funds_reinstated` event): a DISPUTE_RELEASE entry
  gives the hold back.
- lost: the hold is released and taken for good by a DISPUTE_LOSS entry (counted with
  refunds in the balance totals); what was already consumed beyond it is the purchase's
  `dispute_shortfall_minutes`, taken as soon as minutes come back.

A dispute's outcome is final once won or lost. Locks: the purchase (found by the
PaymentIntent, or by the charge in older payloads), then the balance.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from finances.locks import (
    purchase_transaction_lock,
    purchase_transaction_lock_by_charge,
    student_balance_lock,
)
from finances.models import Dispute, HoursLedgerEntry, PurchaseTransaction
from finances.services.expiry import hours_lot_expire
from finances.services.ledger import ledger_entry_append, lot_totals
from finances.services.payment_outcomes import OutcomeKind, PaymentOutcome, purchase_flag
from finances.services.shortfalls import dispute_share_minutes
from finances.signals import purchase_disputed, signal_send_on_commit
from finances.stripe_payloads import DisputeData

logger = logging.getLogger(__name__)
EntryType = HoursLedgerEntry.EntryType
Outcome = Dispute.Outcome
WON_STATUSES = ("won", "warning_closed")
LOST_STATUSES = ("lost",)
_CREDITED = (PurchaseTransaction.Status.COMPLETED, PurchaseTransaction.Status.REFUNDED)


def dispute_outcome_for(*, dispute: DisputeData, event_type: str) -> str:
    if dispute.status in LOST_STATUSES:
        return Outcome.LOST
    if dispute.status in WON_STATUSES or event_type == "charge.dispute.funds_reinstated":
        return Outcome.WON
    return Outcome.OPEN


def _purchase_for(dispute: DisputeData) -> PurchaseTransaction | None:
    purchase = None
    if dispute.payment_intent_id:
        purchase = purchase_transaction_lock(payment_intent_id=dispute.payment_intent_id)
    if purchase is None and dispute.charge_id:
        purchase = purchase_transaction_lock_by_charge(charge_id=dispute.charge_id)
    return purchase


def dispute_apply(
    *,
    dispute: DisputeData,
    event_type: str,
    source_event_id: str = "",
    reported_at: datetime | None = None,
) -> PaymentOutcome:
    """Records what Stripe reports about a dispute and moves the lot's hours, once."""
    with transaction.atomic(savepoint=False):
        purchase = _purchase_for(dispute)
        if purchase is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "Dispute is not for a payment of ours.")
        record, created = Dispute.objects.get_or_create(
            stripe_dispute_id=dispute.id,
            defaults={
                "purchase": purchase,
                "stripe_charge_id": dispute.charge_id or "",
                "amount_cents": dispute.amount_cents,
                "currency": dispute.currency,
                "stripe_status": dispute.status,
                "reason": dispute.reason,
                "evidence_due_by": dispute.evidence_due_by,
            },
        )
        if created:
            purchase.has_disputes = True  # what the lock read is no longer true
        if record.purchase_id != purchase.pk:
            return purchase_flag(
                purchase, f"Dispute {dispute.id} is recorded for another purchase; nothing applied."
            )
        if record.outcome != Outcome.OPEN:
            return PaymentOutcome(
                OutcomeKind.NO_CHANGE,
                f"Dispute {dispute.id} was already {record.outcome.lower()}.",
                purchase.pk,
            )
        if event_type == "charge.dispute.funds_withdrawn":
            record.funds_withdrawn = True
        record.stripe_status = dispute.status
        record.amount_cents = dispute.amount_cents
        record.reason = dispute.reason or record.reason
        record.evidence_due_by = dispute.evidence_due_by or record.evidence_due_by
        record.save()
        target = dispute_outcome_for(dispute=dispute, event_type=event_type)
        if target == Outcome.OPEN and not created:
            return PaymentOutcome(
                OutcomeKind.NO_CHANGE,
                f"Dispute {dispute.id} is still open ({dispute.status}).",
                purchase.pk,
            )
        if created:
            _dispute_open(purchase, record, source_event_id=source_event_id)
        if target == Outcome.WON:
            _dispute_won(purchase, record, source_event_id=source_event_id)
        elif target == Outcome.LOST:
            _dispute_lost(purchase, record, source_event_id=source_event_id)
        signal_send_on_commit(
            purchase_disputed,
            purchase_transaction_id=str(purchase.pk),
            student_id=purchase.student_id,
            dispute_id=record.stripe_dispute_id,
            amount_cents=record.amount_cents,
            currency=record.currency,
            status=record.stripe_status,
            outcome=record.outcome,
            held_minutes=record.held_minutes,
            lost_minutes=record.lost_minutes,
        )
        logger.info(
            "dispute.applied",
            extra={
                "transaction_id": str(purchase.pk),
                "dispute_id": dispute.id,
                "stripe_status": dispute.status,
                "outcome": record.outcome,
                "held_minutes": record.held_minutes,
                "lost_minutes": record.lost_minutes,
            },
        )
        return PaymentOutcome(
            OutcomeKind.APPLIED, f"Dispute {dispute.id} is {record.outcome.lower()}.", purchase.pk
        )


def purchase_disputes_after_credit(
    *, purchase: PurchaseTransaction, source_event_id: str = ""
) -> None:
    """A dispute reported before the payment's success (out of order) applies once the
    lot is credited: an open one holds, a lost one takes its share. Caller holds the
    purchase lock (whose query says whether there are disputes at all)."""
    if getattr(purchase, "has_disputes", None) is False:
        return
    for record in purchase.disputes.order_by("created_at"):
        if record.outcome == Outcome.OPEN and record.held_minutes == 0:
            _hold(purchase, record, source_event_id=source_event_id)
        elif record.outcome == Outcome.LOST and not _loss_entered(purchase, record):
            record.outcome = Outcome.OPEN  # taken again as a loss, now that there are hours
            _dispute_lost(purchase, record, source_event_id=source_event_id)


def _loss_entered(purchase: PurchaseTransaction, record: Dispute) -> bool:
    return HoursLedgerEntry.objects.filter(
        purchase_transaction=purchase,
        entry_type=EntryType.DISPUTE_LOSS,
        idempotency_key__startswith=f"dispute_loss:{record.stripe_dispute_id}:",
    ).exists()


def _entry(purchase, record, *, entry_type: str, minutes: int, amount_cents: int = 0, **kwargs):
    entries = lot_totals(purchase_transaction_id=purchase.pk)["entries"]
    return ledger_entry_append(
        student_id=purchase.student_id,
        purchase_transaction_id=purchase.pk,
        entry_type=entry_type,
        minutes=minutes,
        amount_cents=amount_cents,
        idempotency_key=f"{entry_type.lower()}:{record.stripe_dispute_id}:{entries}",
        **kwargs,
    )


def _hold(purchase: PurchaseTransaction, record: Dispute, *, source_event_id: str) -> int:
    held = 0
    if purchase.status in _CREDITED:
        student_balance_lock(student_id=purchase.student_id)
        unused = lot_totals(purchase_transaction_id=purchase.pk)["unused_minutes"]
        held = max(0, min(dispute_share_minutes(dispute=record, purchase=purchase), unused))
    if held:
        _entry(
            purchase,
            record,
            entry_type=EntryType.DISPUTE_HOLD,
            minutes=-held,
            stripe_event_id=source_event_id,
            note=f"Dispute {record.stripe_dispute_id} opened",
        )
        record.held_minutes = held
        record.save(update_fields=["held_minutes", "updated_at"])
    return held


def _dispute_open(purchase: PurchaseTransaction, record: Dispute, *, source_event_id: str) -> None:
    held = _hold(purchase, record, source_event_id=source_event_id)
    due = (
        record.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC")
        if record.evidence_due_by
        else "not given"
    )
    purchase_flag(
        purchase,
        f"Dispute {record.stripe_dispute_id} opened for {record.amount_cents} cents "
        f"{record.currency} ({record.reason or 'no reason given'}); evidence due {due}; "
        f"{held} minutes on hold.",
    )


def _release_hold(purchase, record, *, source_event_id: str, note: str) -> int:
    held = record.held_minutes
    if held:
        student_balance_lock(student_id=purchase.student_id)
        _entry(
            purchase,
            record,
            entry_type=EntryType.DISPUTE_RELEASE,
            minutes=held,
            stripe_event_id=source_event_id,
            note=note,
        )
    record.held_minutes = 0
    return held


def _dispute_won(purchase: PurchaseTransaction, record: Dispute, *, source_event_id: str) -> None:
    released = _release_hold(
        purchase,
        record,
        source_event_id=source_event_id,
        note=f"Dispute {record.stripe_dispute_id} won",
    )
    record.outcome = Outcome.WON
    record.closed_at = timezone.now()
    record.save(update_fields=["held_minutes", "outcome", "closed_at", "updated_at"])
    if released and purchase.is_expired:  # the lot expired meanwhile: so do these minutes
        hours_lot_expire(purchase=purchase, note=f"Released by dispute {record.stripe_dispute_id}")
    purchase_flag(
        purchase,
        f"Dispute {record.stripe_dispute_id} won: {released} minutes released.",
    )


def _dispute_lost(purchase: PurchaseTransaction, record: Dispute, *, source_event_id: str) -> None:
    share = (
        dispute_share_minutes(dispute=record, purchase=purchase)
        if purchase.status in _CREDITED
        else 0
    )
    held = _release_hold(
        purchase,
        record,
        source_event_id=source_event_id,
        note=f"Dispute {record.stripe_dispute_id} lost: hold made final",
    )
    lost_minutes, lost_cents = 0, 0
    if purchase.status in _CREDITED:
        student_balance_lock(student_id=purchase.student_id)
        lot = lot_totals(purchase_transaction_id=purchase.pk)
        lost_minutes = min(share, max(0, lot["unused_minutes"]))
        # Never more money out than was paid: refunds and earlier losses count.
        lost_cents = max(
            0,
            min(
                record.amount_cents,
                purchase.amount_cents - purchase.refunded_amount_cents - lot["dispute_lost_cents"],
            ),
        )
        if lost_minutes or lost_cents:
            _entry(
                purchase,
                record,
                entry_type=EntryType.DISPUTE_LOSS,
                minutes=-lost_minutes,
                amount_cents=-lost_cents,
                stripe_event_id=source_event_id,
                note=f"Dispute {record.stripe_dispute_id} lost",
            )
    shortfall = share - lost_minutes
    record.outcome = Outcome.LOST
    record.lost_minutes = lost_minutes
    record.closed_at = timezone.now()
    record.save(
        update_fields=["held_minutes", "lost_minutes", "outcome", "closed_at", "updated_at"]
    )
    if shortfall:
        purchase.dispute_shortfall_minutes += shortfall
        purchase.save(update_fields=["dispute_shortfall_minutes", "updated_at"])
    purchase_flag(
        purchase,
        f"Dispute {record.stripe_dispute_id} lost: {lost_cents} cents and {lost_minutes} "
        f"minutes gone ({held} were on hold); {shortfall} minutes already used are a "
        "shortfall.",
    )
