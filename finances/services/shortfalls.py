"""What refunds and lost disputes could not take at once is taken as soon as minutes
come back to the lot (a lesson reversed, a refund failed), so a refunded or disputed lot
never has usable minutes its money paid for.

The shortfalls are stored on the purchase (`refund_shortfall_minutes`,
`dispute_shortfall_minutes`) and settled here, in the caller's transaction, holding the
purchase lock (the caller's) and the balance lock (taken here, in that order). An open
dispute whose hold is short of its share is topped up the same way.
"""

from finances.locks import student_balance_lock
from finances.models import Dispute, HoursLedgerEntry, PurchaseTransaction
from finances.services.ledger import ledger_entry_append, lot_totals

EntryType = HoursLedgerEntry.EntryType


def dispute_share_minutes(*, dispute: Dispute, purchase: PurchaseTransaction) -> int:
    """The lot's minutes the disputed amount paid for (all of them for a full dispute)."""
    return min(purchase.minutes, purchase.minutes * dispute.amount_cents // purchase.amount_cents)


def lot_shortfalls_settle(*, purchase: PurchaseTransaction, note: str = "") -> int:
    """Takes the lot's shortfalls (refunds first) and tops up open dispute holds from its
    unused minutes. Returns the minutes taken."""
    student_balance_lock(student_id=purchase.student_id)
    unused = lot_totals(purchase_transaction_id=purchase.pk)["unused_minutes"]
    taken_total = 0
    steps = (
        ("refund_shortfall_minutes", EntryType.REFUND_REVERSAL, "refund-shortfall", "Refund"),
        ("dispute_shortfall_minutes", EntryType.DISPUTE_LOSS, "dispute-shortfall", "Lost dispute"),
    )
    for field, entry_type, key, what in steps:
        taken = min(getattr(purchase, field), max(0, unused))
        if taken <= 0:
            continue
        entries = lot_totals(purchase_transaction_id=purchase.pk)["entries"]
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=entry_type,
            minutes=-taken,
            idempotency_key=f"{key}:{purchase.pk}:{entries}",
            note=f"{what} shortfall settled {note}".strip(),
        )
        setattr(purchase, field, getattr(purchase, field) - taken)
        purchase.save(update_fields=[field, "updated_at"])
        unused -= taken
        taken_total += taken
    for dispute in purchase.disputes.filter(outcome=Dispute.Outcome.OPEN).order_by("created_at"):
        if unused <= 0:
            break
        top_up = min(
            dispute_share_minutes(dispute=dispute, purchase=purchase) - dispute.held_minutes, unused
        )
        if top_up <= 0:
            continue
        entries = lot_totals(purchase_transaction_id=purchase.pk)["entries"]
        ledger_entry_append(
            student_id=purchase.student_id,
            purchase_transaction_id=purchase.pk,
            entry_type=EntryType.DISPUTE_HOLD,
            minutes=-top_up,
            idempotency_key=f"dispute-hold:{dispute.stripe_dispute_id}:{entries}",
            note=f"Dispute {dispute.stripe_dispute_id} hold topped up {note}".strip(),
        )
        dispute.held_minutes += top_up
        dispute.save(update_fields=["held_minutes", "updated_at"])
        unused -= top_up
        taken_total += top_up
    return taken_total
