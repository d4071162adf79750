"""The only code that writes hours ledger entries and changes balances.

Each append inserts one entry and moves the balance totals by the same amounts, in the
caller's transaction. The UPDATE takes the balance row lock; callers that must read
the balance or a lot before deciding (consumption, refunds, expiry) lock it first with
`student_balance_lock`.
"""

from datetime import datetime

from django.db import connection
from django.db.models import F, Q, Sum
from django.utils import timezone

from finances.models import HoursLedgerEntry, StudentAccountBalance

EntryType = HoursLedgerEntry.EntryType


def _balance_changes(*, entry_type: str, minutes: int, amount_cents: int) -> dict[str, int]:
    if entry_type == EntryType.CREDIT:
        return {
            "purchased_minutes": minutes,
            "remaining_minutes": minutes,
            "paid_cents": amount_cents,
        }
    if entry_type in (EntryType.DEBIT, EntryType.DEBIT_REVERSAL):
        return {"consumed_minutes": -minutes, "remaining_minutes": minutes}
    if entry_type == EntryType.REFUND_REVERSAL:
        return {
            "refunded_minutes": -minutes,
            "remaining_minutes": minutes,
            "refunded_cents": -amount_cents,
        }
    if entry_type == EntryType.EXPIRY:
        return {"expired_minutes": -minutes, "remaining_minutes": minutes}
    raise ValueError(f"Unknown ledger entry type {entry_type}")


def ledger_entry_append(
    *,
    student_id: int,
    purchase_transaction_id,
    entry_type: str,
    minutes: int,
    idempotency_key: str,
    amount_cents: int = 0,
    expires_at: datetime | None = None,
    stripe_event_id: str = "",
    lesson_reference: str = "",
    note: str = "",
) -> HoursLedgerEntry:
    if not connection.in_atomic_block:
        raise RuntimeError("Ledger entries are written inside the transaction that causes them.")
    entry = HoursLedgerEntry.objects.create(
        student_id=student_id,
        purchase_transaction_id=purchase_transaction_id,
        entry_type=entry_type,
        minutes=minutes,
        amount_cents=amount_cents,
        expires_at=expires_at,
        idempotency_key=idempotency_key,
        stripe_event_id=stripe_event_id,
        lesson_reference=lesson_reference,
        note=note[:500],
    )
    changes = _balance_changes(entry_type=entry_type, minutes=minutes, amount_cents=amount_cents)
    update = {field: F(field) + delta for field, delta in changes.items() if delta}
    update["updated_at"] = timezone.now()
    if not StudentAccountBalance.objects.filter(student_id=student_id).update(**update):
        StudentAccountBalance.objects.get_or_create(student_id=student_id)
        StudentAccountBalance.objects.filter(student_id=student_id).update(**update)
    return entry


def lot_totals(*, purchase_transaction_id) -> dict[str, int]:
    """Unused minutes of a lot, and what refunds have already taken from it."""
    totals = HoursLedgerEntry.objects.filter(
        purchase_transaction_id=purchase_transaction_id
    ).aggregate(
        unused_minutes=Sum("minutes"),
        refund_minutes=Sum("minutes", filter=Q(entry_type=EntryType.REFUND_REVERSAL)),
        refund_cents=Sum("amount_cents", filter=Q(entry_type=EntryType.REFUND_REVERSAL)),
    )
    return {
        "unused_minutes": totals["unused_minutes"] or 0,
        "refunded_minutes": -(totals["refund_minutes"] or 0),
        "refunded_cents": -(totals["refund_cents"] or 0),
    }
