from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, StudentAccountBalance


@dataclass(frozen=True)
class HoursLot:
    """Hours bought by one purchase, with what is still unused of them."""

    purchase_transaction_id: object
    plan_name: str
    plan_type: str
    purchased_minutes: int
    unused_minutes: int
    paid_at: datetime | None
    expires_at: datetime | None


def student_balance_get(*, student_id: int) -> StudentAccountBalance:
    return StudentAccountBalance.objects.filter(student_id=student_id).first() or (
        StudentAccountBalance(student_id=student_id)
    )


def hours_lots_with_unused_minutes(*, student_id: int) -> list[HoursLot]:
    """Every lot of the student that still has unused minutes, soonest expiry first
    (including lots past their expiry that the expiry run has not closed yet)."""
    unused_by_lot = dict(
        HoursLedgerEntry.objects.filter(student_id=student_id)
        .values("purchase_transaction_id")
        .annotate(unused=Sum("minutes"))
        .filter(unused__gt=0)
        .values_list("purchase_transaction_id", "unused")
    )
    purchases = PurchaseTransaction.objects.filter(pk__in=unused_by_lot).only(
        "id", "plan_name", "plan_type", "minutes", "paid_at", "expires_at"
    )
    lots = [
        HoursLot(
            purchase_transaction_id=purchase.pk,
            plan_name=purchase.plan_name,
            plan_type=purchase.plan_type,
            purchased_minutes=purchase.minutes,
            unused_minutes=unused_by_lot[purchase.pk],
            paid_at=purchase.paid_at,
            expires_at=purchase.expires_at,
        )
        for purchase in purchases
    ]
    far_future = timezone.now() + timedelta(days=365 * 100)
    return sorted(
        lots, key=lambda lot: (lot.expires_at or far_future, str(lot.purchase_transaction_id))
    )


def hours_lots_active(*, student_id: int, now: datetime | None = None) -> list[HoursLot]:
    now = now or timezone.now()
    return [
        lot
        for lot in hours_lots_with_unused_minutes(student_id=student_id)
        if lot.expires_at is None or lot.expires_at > now
    ]


@dataclass(frozen=True)
class BalanceSummary:
    student_id: int
    available_minutes: int
    totals: StudentAccountBalance
    active_packages: list[HoursLot]
    upcoming_expirations: list[HoursLot]
    expiring_within_days: int


def balance_summary_get(
    *, student_id: int, expiring_within_days: int, now: datetime | None = None
) -> BalanceSummary:
    now = now or timezone.now()
    active = hours_lots_active(student_id=student_id, now=now)
    horizon = now + timedelta(days=expiring_within_days)
    return BalanceSummary(
        student_id=student_id,
        available_minutes=sum(lot.unused_minutes for lot in active),
        totals=student_balance_get(student_id=student_id),
        active_packages=active,
        upcoming_expirations=[
            lot for lot in active if lot.expires_at is not None and lot.expires_at <= horizon
        ],
        expiring_within_days=expiring_within_days,
    )


def ledger_entries_for_student(*, student_id: int) -> QuerySet[HoursLedgerEntry]:
    """The student's hours ledger, newest first, with the name of whoever recorded each
    lesson (never more of that account than its name)."""
    return (
        HoursLedgerEntry.objects.filter(student_id=student_id)
        .select_related("recorded_by")
        .only(
            "id",
            "entry_type",
            "minutes",
            "lesson_reference",
            "purchase_transaction_id",
            "created_at",
            "recorded_by__name",
        )
        .order_by("-created_at", "-id")
    )
