"""Retry runs started at the same time (cron on several machines) on PostgreSQL: every
event is retried by exactly one of them."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.webhook_retries import webhook_events_retry
from tests.factories import PricingPlanFactory, UserFactory
from tests.support.operations_helpers import assert_ledger_clean, run_in_threads
from tests.support.webhook_retry_helpers import failed_event, purchase_not_saved_yet

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

Status = WebhookEventLog.Status
EVENTS = 20
RUNS = 4


def _failed_events(count: int) -> tuple[list[PurchaseTransaction], list[WebhookEventLog]]:
    students = [UserFactory() for _ in range(3)]
    plan = PricingPlanFactory(minutes=600, price_cents=14000)
    purchases = [
        purchase_not_saved_yet(student=students[index % 3], plan=plan) for index in range(count)
    ]
    return purchases, [failed_event(purchase) for purchase in purchases]


def test_simultaneous_retry_runs_process_each_event_exactly_once(time_machine):
    purchases, logs = _failed_events(EVENTS)
    for purchase in purchases:
        purchase.save()
    time_machine.move_to(timezone.now() + timedelta(minutes=2), tick=True)

    results = run_in_threads([webhook_events_retry] * RUNS)

    assert [result.error for result in results] == [None] * RUNS
    runs = [result.value for result in results]
    processed = Counter(receipt.event_id for run in runs for receipt in run.receipts)
    assert processed == Counter({log.stripe_event_id: 1 for log in logs})
    assert all(receipt.status == Status.PROCESSED for run in runs for receipt in run.receipts)
    assert all(len(run.receipts) + len(run.skipped) == run.selected for run in runs)
    assert set(
        WebhookEventLog.objects.filter(pk__in=[log.pk for log in logs]).values_list(
            "status", "retry_count"
        )
    ) == {(Status.PROCESSED, 1)}
    credits = Counter(
        HoursLedgerEntry.objects.filter(entry_type=HoursLedgerEntry.EntryType.CREDIT).values_list(
            "purchase_transaction_id", flat=True
        )
    )
    assert credits == Counter({purchase.pk: 1 for purchase in purchases})
    assert set(PurchaseTransaction.objects.values_list("status", flat=True)) == {
        PurchaseTransaction.Status.COMPLETED
    }
    assert_ledger_clean()


def test_simultaneous_retry_runs_retry_a_still_failing_event_only_once(time_machine):
    """The module promises runs at once "never process one event twice": an event that
    fails again must not be claimed by a second run that selected it before the first
    run's attempt ended (that would burn its retries and ignore its new backoff)."""
    _, logs = _failed_events(EVENTS)
    time_machine.move_to(timezone.now() + timedelta(minutes=2), tick=True)

    results = run_in_threads([webhook_events_retry] * RUNS)

    assert [result.error for result in results] == [None] * RUNS
    attempts = Counter(receipt.event_id for result in results for receipt in result.value.receipts)
    assert attempts == Counter({log.stripe_event_id: 1 for log in logs})
    assert set(
        WebhookEventLog.objects.filter(pk__in=[log.pk for log in logs]).values_list(
            "status", "retry_count"
        )
    ) == {(Status.FAILED, 1)}
