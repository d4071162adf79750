"""Hours stop being usable at their purchase's `expires_at`; the expiry run writes one
EXPIRY ledger entry per lot for what was left unused.

Idempotent: a lot with nothing unused is not a candidate, and each entry's key names the
lot's state (its entry count), so running twice, or on two machines at once, expires
each minute once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from finances.locks import purchase_transaction_lock, student_balance_lock
from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.services.ledger import ledger_entry_append, lot_totals
from finances.signals import hours_expired, signal_send_on_commit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpiredLot:
    purchase_transaction_id: object
    student_id: int
    plan_name: str
    expires_at: datetime
    minutes: int

    @classmethod
    def of(cls, purchase: PurchaseTransaction, *, minutes: int) -> "ExpiredLot":
        return cls(
            purchase.pk, purchase.student_id, purchase.plan_name, purchase.expires_at, minutes
        )


@dataclass
class ExpiryRun:
    now: datetime
    dry_run: bool
    lots: list[ExpiredLot] = field(default_factory=list)

    @property
    def minutes_expired(self) -> int:
        return sum(lot.minutes for lot in self.lots)


def hours_lot_expire(*, purchase: PurchaseTransaction, note: str = "") -> HoursLedgerEntry | None:
    """Expires what is unused in the lot, in the caller's transaction, holding the
    student's balance lock (taken here if the caller has not)."""
    if not connection.in_atomic_block:
        raise RuntimeError("Expiry is written inside a transaction.")
    student_balance_lock(student_id=purchase.student_id)
    totals = lot_totals(purchase_transaction_id=purchase.pk)
    unused = totals["unused_minutes"]
    if unused <= 0:
        return None
    entry = ledger_entry_append(
        student_id=purchase.student_id,
        purchase_transaction_id=purchase.pk,
        entry_type=HoursLedgerEntry.EntryType.EXPIRY,
        minutes=-unused,
        idempotency_key=f"expiry:{purchase.pk}:{totals['entries']}",
        note=note or f"{purchase.plan_name} expired",
    )
    signal_send_on_commit(
        hours_expired,
        purchase_transaction_id=str(purchase.pk),
        student_id=purchase.student_id,
        minutes=unused,
    )
    logger.info(
        "expiry.lot_expired",
        extra={
            "transaction_id": str(purchase.pk),
            "student_id": purchase.student_id,
            "minutes": unused,
        },
    )
    return entry


def expired_lots_with_unused_minutes(*, now: datetime) -> list[tuple[object, int]]:
    """(purchase id, unused minutes) of every open lot past its expiry with minutes left.

    Proportional to the lots due, not to every lot that ever expired: only lots still
    marked open (`PurchaseTransaction.lot_open`, read through `purchase_open_lot_idx`),
    each summed through the ledger's index on its purchase."""
    # The ids first: the planner then knows how few lots it sums (a join estimated from
    # lot_open and expires_at separately is costed in the thousands, and JIT-compiled).
    due = list(_open_lots_due(now=now).values_list("pk", flat=True))
    return list(
        HoursLedgerEntry.objects.filter(purchase_transaction_id__in=due)
        .values("purchase_transaction_id")
        .annotate(unused=Sum("minutes"))
        .filter(unused__gt=0)
        .order_by("purchase_transaction_id")
        .values_list("purchase_transaction_id", "unused")
    )


def _open_lots_due(*, now: datetime):
    return PurchaseTransaction.objects.filter(lot_open=True, expires_at__lte=now).exclude(
        is_test_data=True  # test_stripe_webhook's own lots
    )


def packages_expire(*, now: datetime | None = None, dry_run: bool = False) -> ExpiryRun:
    now = now or timezone.now()
    run = ExpiryRun(now=now, dry_run=dry_run)
    if dry_run:
        for purchase_id, unused in expired_lots_with_unused_minutes(now=now):
            purchase = PurchaseTransaction.objects.get(pk=purchase_id)
            run.lots.append(ExpiredLot.of(purchase, minutes=unused))
        return run
    for purchase_id in _open_lots_due(now=now).order_by("expires_at").values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            purchase = purchase_transaction_lock(transaction_id=purchase_id)
            entry = hours_lot_expire(purchase=purchase)
            lot_close(purchase=purchase, now=now)
        if entry is not None:
            run.lots.append(ExpiredLot.of(purchase, minutes=-entry.minutes))
    return run


def lot_close(*, purchase: PurchaseTransaction, now: datetime) -> None:
    """Under the purchase's lock, after its expiry: nothing is usable in the lot any more,
    so the expiry run need not read it again. Minutes that come back later (a lesson
    cancelled, a dispute won, a refund failed) open it again: the ledger's insert trigger
    sets `lot_open` (migration 0011_perf_read_paths)."""
    if purchase.expires_at is None or purchase.expires_at > now:
        return
    PurchaseTransaction.objects.filter(pk=purchase.pk, lot_open=True).update(lot_open=False)
    purchase.lot_open = False
