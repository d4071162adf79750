"""The scheduled jobs of finances/tasks.py, run by the worker (in this process)."""

import logging
from datetime import timedelta
from multiprocessing import Event, Queue

import pytest
from django.db.models import F
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, OrmQ, Success
from django_q.pusher import pusher
from django_q.tasks import async_task

from finances.models import HoursLedgerEntry, StudentAccountBalance, WebhookEventLog
from finances.tasks import (
    ScheduledJobError,
    ledger_verify_task,
    packages_expire_task,
    webhook_events_retry_task,
)
from tests.factories import UserFactory
from tests.support.jobs import jobs_run_queued
from tests.support.operations_helpers import assert_ledger_clean, lot_entries, paid_package
from tests.support.webhook_retry_helpers import failed_event, purchase_not_saved_yet

EntryType = HoursLedgerEntry.EntryType


def _recoverable_event_due_now() -> WebhookEventLog:
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    purchase.save()
    WebhookEventLog.objects.filter(pk=event_log.pk).update(
        next_retry_at=timezone.now() - timedelta(seconds=1)
    )
    return event_log


@pytest.fixture(autouse=True)
def _no_buyer_emails(settings):
    # These tests count the queue's jobs: the receipts of the purchases they pay would be
    # jobs too (their own tests: tests/notifications/test_purchase_emails.py).
    settings.BUYER_EMAILS_ENABLED = False


def _credits(event_log: WebhookEventLog) -> int:
    return HoursLedgerEntry.objects.filter(
        stripe_event_id=event_log.stripe_event_id, entry_type=EntryType.CREDIT
    ).count()


def _expired_package():
    return paid_package(
        UserFactory(), minutes=600, validity_days=30, paid_at=timezone.now() - timedelta(days=40)
    )


def _worker_takes_the_job_and_dies(job) -> None:
    """A worker takes the job from the queue, does its work, and is killed before it
    acknowledges it; after `Q_RETRY_SECONDS` the queue hands the job out again."""
    task_queue = Queue()
    stop = Event()
    stop.set()
    pusher(task_queue, stop, broker=get_broker())
    assert task_queue.qsize() == 1
    job()  # its effects are committed; the acknowledgement never comes
    assert OrmQ.objects.count() == 1
    OrmQ.objects.update(lock=F("lock") - timedelta(days=1))  # the retry delay elapses


@pytest.mark.django_db
def test_the_webhook_retry_job_retries_a_due_failed_event():
    event_log = _recoverable_event_due_now()

    summary = webhook_events_retry_task()

    assert summary == "Retried 1 of 1 events: 1 processed, 0 ignored, 0 failed, 0 skipped."
    event_log.refresh_from_db()
    assert event_log.status == WebhookEventLog.Status.PROCESSED
    assert _credits(event_log) == 1


@pytest.mark.django_db
def test_the_expiry_job_expires_lots_past_their_date():
    package = _expired_package()

    assert packages_expire_task() == "1 lots expired, 600 minutes."
    assert lot_entries(package)[-1] == (EntryType.EXPIRY, -600)


@pytest.mark.django_db
def test_ledger_drift_is_an_error_log_line_and_a_failed_job(caplog):
    package = _expired_package()
    StudentAccountBalance.objects.filter(student=package.student).update(
        purchased_minutes=F("purchased_minutes") + 60,
        remaining_minutes=F("remaining_minutes") + 60,
    )

    with (
        caplog.at_level(logging.ERROR, logger="finances"),
        pytest.raises(ScheduledJobError) as raised,
    ):
        ledger_verify_task()

    assert "Ledger drift" in str(raised.value)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == ["ledger.drift"]


@pytest.mark.django_db
def test_a_clean_ledger_is_a_successful_job():
    _expired_package()

    assert ledger_verify_task().endswith("0 problems.")


@pytest.mark.django_db(transaction=True)
def test_a_drifting_ledger_job_shows_as_failed_with_its_error_in_the_admin_models():
    package = _expired_package()
    StudentAccountBalance.objects.filter(student=package.student).update(
        paid_cents=F("paid_cents") + 1
    )
    async_task("finances.tasks.ledger_verify_task")

    jobs_run_queued()

    failure = Failure.objects.get()
    assert failure.func == "finances.tasks.ledger_verify_task"
    assert "Ledger drift" in failure.result
    assert not Success.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_expiry_job_rerun_after_its_worker_was_killed_expires_each_lot_once():
    package = _expired_package()
    async_task("finances.tasks.packages_expire_task")

    _worker_takes_the_job_and_dies(packages_expire_task)
    assert jobs_run_queued() == 1

    assert [entry for entry in lot_entries(package) if entry[0] == EntryType.EXPIRY] == [
        (EntryType.EXPIRY, -600)
    ]
    assert Success.objects.get().result == "0 lots expired, 0 minutes."
    assert_ledger_clean()


@pytest.mark.django_db(transaction=True)
def test_a_webhook_retry_job_rerun_after_its_worker_was_killed_credits_once():
    event_log = _recoverable_event_due_now()
    async_task("finances.tasks.webhook_events_retry_task")

    _worker_takes_the_job_and_dies(webhook_events_retry_task)
    assert jobs_run_queued() == 1

    assert _credits(event_log) == 1
    assert Success.objects.get().result.startswith("Retried 0 of 0 events")
    assert_ledger_clean()
