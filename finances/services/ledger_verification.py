"""Proves the balances equal the ledger, and the ledger agrees with the purchases."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from finances.models import HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance

EntryType = HoursLedgerEntry.EntryType
BALANCE_FIELDS = StudentAccountBalance.TOTAL_FIELDS


@dataclass
class LedgerVerification:
    students_checked: int = 0
    lots_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not self.problems


def _ledger_totals_by_student() -> dict[int, dict[str, int]]:
    rows = HoursLedgerEntry.objects.values("student_id").annotate(
        credit_minutes=Sum("minutes", filter=Q(entry_type=EntryType.CREDIT)),
        debit_minutes=Sum(
            "minutes", filter=Q(entry_type__in=[EntryType.DEBIT, EntryType.DEBIT_REVERSAL])
        ),
        refund_minutes=Sum("minutes", filter=Q(entry_type=EntryType.REFUND_REVERSAL)),
        expiry_minutes=Sum("minutes", filter=Q(entry_type=EntryType.EXPIRY)),
        all_minutes=Sum("minutes"),
        paid=Sum("amount_cents", filter=Q(entry_type=EntryType.CREDIT)),
        refunded=Sum("amount_cents", filter=Q(entry_type=EntryType.REFUND_REVERSAL)),
    )
    return {
        row["student_id"]: {
            "purchased_minutes": row["credit_minutes"] or 0,
            "consumed_minutes": -(row["debit_minutes"] or 0),
            "refunded_minutes": -(row["refund_minutes"] or 0),
            "expired_minutes": -(row["expiry_minutes"] or 0),
            "remaining_minutes": row["all_minutes"] or 0,
            "paid_cents": row["paid"] or 0,
            "refunded_cents": -(row["refunded"] or 0),
        }
        for row in rows
    }


def ledger_verify() -> LedgerVerification:
    result = LedgerVerification()
    ledger = _ledger_totals_by_student()
    balances = {
        balance.student_id: balance for balance in StudentAccountBalance.objects.all().iterator()
    }
    zero = dict.fromkeys(BALANCE_FIELDS, 0)
    for student_id in sorted(set(ledger) | set(balances)):
        result.students_checked += 1
        expected = ledger.get(student_id, zero)
        balance = balances.get(student_id)
        for name in BALANCE_FIELDS:
            actual = getattr(balance, name) if balance else 0
            if actual != expected[name]:
                result.problems.append(
                    f"student {student_id}: balance {name}={actual}, ledger {expected[name]}"
                )

    lots = HoursLedgerEntry.objects.values("purchase_transaction_id").annotate(
        unused=Sum("minutes"), credits=Count("id", filter=Q(entry_type=EntryType.CREDIT))
    )
    credits_by_lot: dict = defaultdict(int)
    for lot in lots:
        result.lots_checked += 1
        credits_by_lot[lot["purchase_transaction_id"]] = lot["credits"]
        if lot["unused"] < 0:
            result.problems.append(
                f"purchase {lot['purchase_transaction_id']}: {lot['unused']} unused minutes"
            )
    paid_statuses = [PurchaseTransaction.Status.COMPLETED, PurchaseTransaction.Status.REFUNDED]
    for purchase_id, status in PurchaseTransaction.objects.values_list("id", "status").iterator():
        credits = credits_by_lot.get(purchase_id, 0)
        if status in paid_statuses and credits != 1:
            result.problems.append(f"purchase {purchase_id}: {status} with {credits} credits")
        elif status not in paid_statuses and credits:
            result.problems.append(f"purchase {purchase_id}: {status} but credited")
    return result
