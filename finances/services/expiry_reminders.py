"""Reminds the owner of a lot, `EXPIRY_REMINDER_DAYS` before it expires, of its unused
hours ("3 h expire on Friday"): one notification per lot per recipient, ever."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction
from finances.signals import hours_expiring_soon, signal_send_on_commit
from finances.units import minutes_to_hours
from notifications.services import notification_enqueue

EXPIRY_REMINDER = "expiry_reminder"


@dataclass
class ReminderRun:
    lots: int = 0
    enqueued: list[int] = field(default_factory=list)  # notification ids


def lots_expiring_soon(*, now: datetime, days: int) -> list[tuple[object, int]]:
    """(purchase id, unused minutes) of paid lots expiring within `days`, minutes left."""
    return list(
        HoursLedgerEntry.objects.filter(
            purchase_transaction__expires_at__gt=now,
            purchase_transaction__expires_at__lte=now + timedelta(days=days),
            purchase_transaction__status=PurchaseTransaction.Status.COMPLETED,
        )
        .values("purchase_transaction_id")
        .annotate(unused=Sum("minutes"))
        .filter(unused__gt=0)
        .order_by("purchase_transaction_id")
        .values_list("purchase_transaction_id", "unused")
    )


def expiry_reminders_send(*, now: datetime | None = None) -> ReminderRun:
    now = now or timezone.now()
    run = ReminderRun()
    for purchase_id, unused in lots_expiring_soon(now=now, days=settings.EXPIRY_REMINDER_DAYS):
        run.lots += 1
        purchase = PurchaseTransaction.objects.select_related("student").get(pk=purchase_id)
        with transaction.atomic(durable=True):
            notification = notification_enqueue(
                kind=EXPIRY_REMINDER,
                object_key=f"purchase:{purchase.pk}:{purchase.expires_at.isoformat()}",
                recipient=purchase.student.email,
                language=purchase.student.language or None,
                context={
                    "purchase_transaction_id": str(purchase.pk),
                    "student_id": purchase.student_id,
                    "plan_name": purchase.plan_name,
                    "minutes": unused,
                    "hours": f"{minutes_to_hours(unused).normalize():f}",  # "3", "2.5"
                    "expires_at": purchase.expires_at.isoformat(),
                },
            )
            if notification is not None:
                signal_send_on_commit(
                    hours_expiring_soon,
                    purchase_transaction_id=str(purchase.pk),
                    student_id=purchase.student_id,
                    minutes=unused,
                    expires_at=purchase.expires_at.isoformat(),
                )
        if notification is not None:
            run.enqueued.append(notification.pk)
    return run
