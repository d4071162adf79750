"""Notifications: written with the change they report, sent once by the worker, retried."""

import contextlib
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from django_q.models import Failure, OrmQ
from django_q.tasks import async_task

from notifications.models import Notification
from notifications.services import (
    SEND_JOB,
    NotificationSendError,
    notification_enqueue,
    notification_send,
    notifications_retry,
)
from tests.support.jobs import jobs_run_queued

Status = Notification.Status
FAILING_BACKEND = "tests.support.failing_email_backend.EmailBackend"
LOCMEM_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
EXPIRES_AT = "2025-06-06T18:00:00+00:00"  # a Friday


def _reminder(recipient: str = "ana@example.com", **overrides) -> Notification | None:
    return notification_enqueue(
        kind="expiry_reminder",
        object_key="purchase:1",
        recipient=recipient,
        context={"plan_name": "Pacote 10 h", "hours": "3", "expires_at": EXPIRES_AT},
        **overrides,
    )


def _backoff_elapses(notification: Notification) -> None:
    Notification.objects.filter(pk=notification.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


class Rollback(Exception):
    pass


@pytest.mark.django_db
def test_a_notification_of_a_rolled_back_change_is_neither_recorded_nor_queued():
    with contextlib.suppress(Rollback), transaction.atomic():
        _reminder()
        raise Rollback

    assert not Notification.objects.exists()
    assert not OrmQ.objects.exists()


@pytest.mark.django_db
def test_the_same_kind_object_and_recipient_is_recorded_and_queued_once():
    first = _reminder()
    second = _reminder()
    other_recipient = _reminder("rui@example.com")

    assert first is not None
    assert second is None
    assert other_recipient is not None
    assert Notification.objects.count() == 2
    assert OrmQ.objects.count() == 2


@pytest.mark.django_db
def test_the_worker_sends_it_in_portuguese_by_default_and_marks_it_sent():
    notification = _reminder()

    assert notification_send(notification_id=notification.pk).endswith("sent.")

    [message] = mail.outbox
    assert message.to == ["ana@example.com"]
    assert message.subject == "3 h do seu Pacote 10 h expiram na sexta-feira"
    assert "sexta-feira, 6 de junho de 2025" in message.body
    assert message.alternatives[0][1] == "text/html"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (Status.SENT, 1)
    assert notification.sent_at is not None


@pytest.mark.django_db
def test_an_english_reminder_says_the_hours_expire_on_friday():
    notification = _reminder(language="en")

    notification_send(notification_id=notification.pk)

    assert mail.outbox[0].subject == "3 h of your Pacote 10 h expire on Friday"


@pytest.mark.django_db
def test_a_sent_notification_is_not_sent_again_by_a_second_run_of_its_job():
    notification = _reminder()
    notification_send(notification_id=notification.pk)

    again = notification_send(notification_id=notification.pk)

    assert "nothing to send" in again
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_failed_send_is_recorded_with_its_error_and_a_backoff(settings):
    settings.EMAIL_BACKEND = FAILING_BACKEND
    settings.NOTIFICATION_RETRY_BACKOFF_SECONDS = 60
    notification = _reminder()

    with pytest.raises(NotificationSendError, match="Connection refused"):
        notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    first_backoff = notification.next_attempt_at - timezone.now()
    _backoff_elapses(notification)
    notifications_retry()
    notification.refresh_from_db()
    second_backoff = notification.next_attempt_at - timezone.now()

    assert notification.status == Status.FAILED
    assert notification.attempts == 2
    assert "ConnectionRefusedError" in notification.last_error
    assert timedelta(seconds=50) < first_backoff <= timedelta(seconds=60)
    assert timedelta(seconds=110) < second_backoff <= timedelta(seconds=120)


@pytest.mark.django_db
def test_nothing_is_retried_before_its_backoff(settings):
    settings.EMAIL_BACKEND = FAILING_BACKEND
    notification = _reminder()
    with pytest.raises(NotificationSendError):
        notification_send(notification_id=notification.pk)
    settings.EMAIL_BACKEND = LOCMEM_BACKEND

    assert notifications_retry() == "0 notifications retried and sent, 0 failed again."
    assert mail.outbox == []


@pytest.mark.django_db
def test_after_the_last_attempt_it_is_abandoned(settings):
    settings.EMAIL_BACKEND = FAILING_BACKEND
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    notification = _reminder()
    with pytest.raises(NotificationSendError):
        notification_send(notification_id=notification.pk)
    _backoff_elapses(notification)
    with pytest.raises(NotificationSendError):
        notification_send(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.status == Status.ABANDONED
    assert notification.next_attempt_at is None
    assert "given up" in notification_send(notification_id=notification.pk)


@pytest.mark.django_db
def test_a_notification_left_sending_by_a_dead_worker_is_sent_by_the_retry(settings):
    notification = _reminder()
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.SENDING,
        attempts=1,
        attempt_started_at=timezone.now()
        - timedelta(seconds=settings.NOTIFICATION_STALE_SENDING_SECONDS + 1),
    )

    notifications_retry()

    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (Status.SENT, 2)


@pytest.mark.django_db(transaction=True)
def test_through_the_worker_a_failing_notification_is_a_failed_job_then_retried_and_sent_once(
    settings,
):
    settings.EMAIL_BACKEND = FAILING_BACKEND
    with transaction.atomic():
        notification = _reminder()

    jobs_run_queued()
    failure = Failure.objects.get()
    assert "Connection refused" in failure.result
    assert mail.outbox == []

    settings.EMAIL_BACKEND = LOCMEM_BACKEND
    _backoff_elapses(notification)
    async_task("notifications.services.notifications_retry")
    async_task(SEND_JOB, notification_id=notification.pk)  # an operator resubmits the job
    jobs_run_queued()

    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (Status.SENT, 2)
