"""Proves the balances equal the ledger, and the ledger agrees with the purchases."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from finances.models import Dispute, HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance
from finances.services.shortfalls import dispute_share_minutes

EntryType = HoursLedgerEntry.EntryType
BALANCE_FIELDS = StudentAccountBalance.TOTAL_FIELDS
# Entry types the balance counts as refunded: refunds, failed refunds, lost disputes.
REFUNDED_TYPES = (EntryType.REFUND_REVERSAL, EntryType.REFUND_FAILURE, EntryType.DISPUTE_LOSS)
HOLD_TYPES = (EntryType.DISPUTE_HOLD, EntryType.DISPUTE_RELEASE)
REFUND_ONLY_TYPES = (EntryType.REFUND_REVERSAL, EntryType.REFUND_FAILURE)


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
        refund_minutes=Sum("minutes", filter=Q(entry_type__in=REFUNDED_TYPES)),
        held_minutes=Sum("minutes", filter=Q(entry_type__in=HOLD_TYPES)),
        expiry_minutes=Sum("minutes", filter=Q(entry_type=EntryType.EXPIRY)),
        all_minutes=Sum("minutes"),
        paid=Sum("amount_cents", filter=Q(entry_type=EntryType.CREDIT)),
        refunded=Sum("amount_cents", filter=Q(entry_type__in=REFUNDED_TYPES)),
    )
    return {
        row["student_id"]: {
            "purchased_minutes": row["credit_minutes"] or 0,
            "consumed_minutes": -(row["debit_minutes"] or 0),
            "refunded_minutes": -(row["refund_minutes"] or 0),
            "expired_minutes": -(row["expiry_minutes"] or 0),
            "held_minutes": -(row["held_minutes"] or 0),
            "remaining_minutes": row["all_minutes"] or 0,
            "paid_cents": row["paid"] or 0,
            "refunded_cents": -(row["refunded"] or 0),
        }
        for row in rows
    }


def _lot_money_problems(lot_rows: dict) -> list[str]:
    """Per lot: its refund entries carry exactly the refunded amount; its usable minutes
    are at most what the money that stayed pays for (purchased - refunded share - held -
    lost disputes' share), none on a REFUNDED lot; its holds are its open disputes'."""
    problems = []
    disputes_by_lot: dict = defaultdict(list)
    for dispute in Dispute.objects.all().iterator():
        disputes_by_lot[dispute.purchase_id].append(dispute)
    # Every purchase, in chunks, with the five fields the checks read: a million lots
    # neither build a million-id IN list nor a million full model instances at once.
    purchases = PurchaseTransaction.objects.only(
        "id", "status", "minutes", "amount_cents", "refunded_amount_cents"
    ).iterator(chunk_size=5000)
    for purchase in purchases:
        if purchase.pk not in lot_rows:
            continue
        lot = lot_rows[purchase.pk]
        unused, held = lot["unused"] or 0, -(lot["held"] or 0)
        disputes = disputes_by_lot.get(purchase.pk, [])
        refund_cents = -(lot["refund_cents"] or 0)
        if refund_cents != purchase.refunded_amount_cents:
            problems.append(
                f"purchase {purchase.pk}: refund entries carry {refund_cents} cents, "
                f"{purchase.refunded_amount_cents} recorded refunded"
            )
        open_held = sum(d.held_minutes for d in disputes if d.outcome == Dispute.Outcome.OPEN)
        if held != open_held:
            problems.append(
                f"purchase {purchase.pk}: {held} minutes on hold, its open disputes hold "
                f"{open_held}"
            )
        lost_share = sum(
            dispute_share_minutes(dispute=d, purchase=purchase)
            for d in disputes
            if d.outcome == Dispute.Outcome.LOST
        )
        refunded_share = purchase.minutes * purchase.refunded_amount_cents // purchase.amount_cents
        allowed = max(0, purchase.minutes - refunded_share - lost_share)
        if purchase.status == PurchaseTransaction.Status.REFUNDED and unused > 0:
            problems.append(f"purchase {purchase.pk}: REFUNDED with {unused} usable minutes")
        if unused > allowed:
            problems.append(
                f"purchase {purchase.pk}: {unused} usable minutes, more than the {allowed} its "
                "money still pays for"
            )
    return problems


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
        unused=Sum("minutes"),
        credits=Count("id", filter=Q(entry_type=EntryType.CREDIT)),
        refund_cents=Sum("amount_cents", filter=Q(entry_type__in=REFUND_ONLY_TYPES)),
        held=Sum("minutes", filter=Q(entry_type__in=HOLD_TYPES)),
    )
    credits_by_lot: dict = defaultdict(int)
    lot_rows = {}
    for lot in lots:
        result.lots_checked += 1
        credits_by_lot[lot["purchase_transaction_id"]] = lot["credits"]
        lot_rows[lot["purchase_transaction_id"]] = lot
        if lot["unused"] < 0:
            result.problems.append(
                f"purchase {lot['purchase_transaction_id']}: {lot['unused']} unused minutes"
            )
    result.problems.extend(_lot_money_problems(lot_rows))
    paid_statuses = [PurchaseTransaction.Status.COMPLETED, PurchaseTransaction.Status.REFUNDED]
    for purchase_id, status in PurchaseTransaction.objects.values_list("id", "status").iterator():
        credits = credits_by_lot.get(purchase_id, 0)
        if status in paid_statuses and credits != 1:
            result.problems.append(f"purchase {purchase_id}: {status} with {credits} credits")
        elif status not in paid_statuses and credits:
            result.problems.append(f"purchase {purchase_id}: {status} but credited")
    return result
