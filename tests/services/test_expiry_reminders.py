"""`expiry_reminders_send`: "3 h expire on Friday", once per lot per recipient."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from finances.services.consumption import lesson_consumption_record
from finances.services.expiry_reminders import EXPIRY_REMINDER, expiry_reminders_send
from notifications.models import Notification
from notifications.services import notification_send
from tests.factories import UserFactory
from tests.support.lesson_recorders import lesson_recorder
from tests.support.operations_helpers import paid_package

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)  # a Tuesday


@pytest.fixture(autouse=True)
def _frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def _package_expiring_in(days: float, *, minutes: int = 300, used: int = 120):
    student = UserFactory()
    package = paid_package(
        student, minutes=minutes, validity_days=30, paid_at=NOW + timedelta(days=days - 30)
    )
    if used:
        lesson_consumption_record(
            actor=lesson_recorder(),
            student_id=student.pk,
            minutes=used,
            lesson_reference=f"L-{student.pk}",
            now=NOW,
        )
    return package


def test_a_lot_expiring_within_the_reminder_days_gets_one_reminder_with_its_unused_hours(
    settings,
):
    settings.EXPIRY_REMINDER_DAYS = 3
    package = _package_expiring_in(3)  # Friday

    run = expiry_reminders_send()

    [notification] = Notification.objects.filter(kind="expiry_reminder")
    assert run.enqueued == [notification.pk]
    assert (notification.kind, notification.recipient_email) == (
        EXPIRY_REMINDER,
        package.student.email,
    )
    assert notification.context["hours"] == "3"
    assert notification.context["purchase_transaction_id"] == str(package.pk)
    notification.language = "en"
    notification.save()
    notification_send(notification_id=notification.pk)
    assert mail.outbox[0].subject == f"3 h of your {package.plan_name} expire on Friday"


def test_running_the_reminders_again_reminds_nobody_twice():
    _package_expiring_in(2)
    expiry_reminders_send()

    second = expiry_reminders_send()

    assert second.lots == 1
    assert second.enqueued == []
    assert Notification.objects.filter(kind="expiry_reminder").count() == 1


def test_lots_expiring_later_already_expired_or_used_up_get_no_reminder():
    _package_expiring_in(10)
    _package_expiring_in(-1, used=0)
    _package_expiring_in(2, minutes=120, used=120)

    run = expiry_reminders_send()

    assert (run.lots, run.enqueued) == (0, [])
