"""Retrying failed webhook events: after their backoff, at most five times, or on demand."""

from datetime import UTC, datetime, timedelta

import pytest

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services import webhooks
from finances.services.webhook_retries import (
    webhook_event_claim,
    webhook_events_for_retry,
    webhook_events_retry,
)
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory
from tests.support.operations_helpers import assert_ledger_clean
from tests.support.stripe_events import event, payment_intent_object
from tests.support.webhook_retry_helpers import (
    deliver,
    event_document,
    failed_event,
    purchase_not_saved_yet,
)

pytestmark = pytest.mark.django_db

Status = WebhookEventLog.Status
EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


class WorkerKilled(BaseException):
    """The process died mid-event (SIGKILL, OOM): nothing in it runs any more."""


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


def _credits(purchase) -> int:
    return HoursLedgerEntry.objects.filter(
        purchase_transaction_id=purchase.pk, entry_type=EntryType.CREDIT
    ).count()


def _fresh(event_log: WebhookEventLog) -> WebhookEventLog:
    event_log.refresh_from_db()
    return event_log


def test_a_failed_event_is_retried_after_its_backoff_and_processed(clock):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    assert (event_log.retry_count, event_log.next_retry_at) == (0, NOW + timedelta(seconds=60))
    purchase.save()  # the cause is gone (e.g. the initiating request finally committed)
    clock.move_to(NOW + timedelta(seconds=60), tick=False)

    run = webhook_events_retry()

    assert run.selected == 1
    assert [(r.event_id, r.status, r.http_status) for r in run.receipts] == [
        (event_log.stripe_event_id, Status.PROCESSED, 200)
    ]
    assert run.failed == 0
    event_log = _fresh(event_log)
    assert (event_log.status, event_log.retry_count, event_log.next_retry_at) == (
        Status.PROCESSED,
        1,
        None,
    )
    assert event_log.error_message == ""
    assert event_log.purchase_transaction_id == purchase.pk
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED
    assert _credits(purchase) == 1
    assert_ledger_clean()


def test_a_failed_event_is_not_retried_before_its_backoff_has_elapsed(clock):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    purchase.save()
    clock.move_to(NOW + timedelta(seconds=59), tick=False)

    run = webhook_events_retry()

    assert (run.selected, run.receipts) == (0, [])
    assert _fresh(event_log).status == Status.FAILED
    assert _fresh(event_log).retry_count == 0
    assert _credits(purchase) == 0


def test_a_retry_that_fails_again_waits_twice_as_long_before_the_next(clock):
    event_log = failed_event(purchase_not_saved_yet())
    clock.move_to(NOW + timedelta(seconds=60), tick=False)

    run = webhook_events_retry()

    assert [(r.status, r.http_status) for r in run.receipts] == [(Status.FAILED, 500)]
    assert run.failed == 1
    event_log = _fresh(event_log)
    assert event_log.status == Status.FAILED
    assert event_log.retry_count == 1
    assert event_log.next_retry_at == NOW + timedelta(seconds=60 + 120)
    assert "PurchaseNotFound" in event_log.error_message


def test_after_five_failed_retries_the_event_is_no_longer_retried_automatically(clock):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    waits = []
    for attempt in range(1, 6):
        due = _fresh(event_log).next_retry_at
        clock.move_to(due, tick=False)
        run = webhook_events_retry()
        assert [r.status for r in run.receipts] == [Status.FAILED], attempt
        assert _fresh(event_log).retry_count == attempt
        if _fresh(event_log).next_retry_at:
            waits.append((_fresh(event_log).next_retry_at - due).total_seconds())
    assert waits == [120, 240, 480, 960]  # after the first wait of 60 s
    exhausted = _fresh(event_log)
    assert (exhausted.status, exhausted.retry_count, exhausted.next_retry_at) == (
        Status.FAILED,
        5,
        None,
    )
    purchase.save()
    clock.move_to(NOW + timedelta(days=30), tick=False)

    automatic = webhook_events_retry()
    failed_only = webhook_events_retry(failed_only=True)

    assert (automatic.selected, failed_only.selected) == (0, 0)
    assert _fresh(event_log).retry_count == 5
    assert _credits(purchase) == 0


@pytest.mark.parametrize("by", ["stripe event id", "row id"])
def test_an_exhausted_event_is_retried_when_an_operator_asks_for_it(clock, by):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    WebhookEventLog.objects.filter(pk=event_log.pk).update(retry_count=5, next_retry_at=None)
    purchase.save()
    asked_for = event_log.stripe_event_id if by == "stripe event id" else str(event_log.pk)

    run = webhook_events_retry(event_ids=[asked_for])

    assert [r.status for r in run.receipts] == [Status.PROCESSED]
    assert (_fresh(event_log).status, _fresh(event_log).retry_count) == (Status.PROCESSED, 6)
    assert _credits(purchase) == 1


def test_failed_only_retries_failed_events_at_once_whatever_their_backoff(clock):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    purchase.save()

    assert webhook_events_retry().selected == 0
    run = webhook_events_retry(failed_only=True)

    assert [r.status for r in run.receipts] == [Status.PROCESSED]
    assert _fresh(event_log).status == Status.PROCESSED
    assert _credits(purchase) == 1


def test_an_event_type_filter_retries_only_events_of_that_type(clock):
    paid, cancelled = purchase_not_saved_yet(), purchase_not_saved_yet()
    succeeded_log = failed_event(paid, "payment_intent.succeeded")
    canceled_log = failed_event(cancelled, "payment_intent.canceled")
    paid.save()
    cancelled.save()
    clock.move_to(NOW + timedelta(minutes=5), tick=False)

    run = webhook_events_retry(event_type="payment_intent.canceled")

    assert [r.event_id for r in run.receipts] == [canceled_log.stripe_event_id]
    assert _fresh(canceled_log).status == Status.PROCESSED
    cancelled.refresh_from_db()
    assert cancelled.status == PurchaseTransaction.Status.CANCELLED
    assert (_fresh(succeeded_log).status, _fresh(succeeded_log).retry_count) == (Status.FAILED, 0)
    assert _credits(paid) == 0


def test_a_dry_run_lists_the_events_and_changes_nothing(clock):
    purchase = purchase_not_saved_yet()
    event_log = failed_event(purchase)
    purchase.save()
    clock.move_to(NOW + timedelta(minutes=5), tick=False)
    before = WebhookEventLog.objects.values().get(pk=event_log.pk)

    run = webhook_events_retry(dry_run=True)

    assert (run.dry_run, run.selected, run.skipped, run.receipts) == (
        True,
        1,
        [event_log.stripe_event_id],
        [],
    )
    assert WebhookEventLog.objects.values().get(pk=event_log.pk) == before
    assert _credits(purchase) == 0


def _crash_while_processing(monkeypatch, document: dict) -> WebhookEventLog:
    """Fault injection: the worker dies inside the handler, leaving the row PROCESSING."""

    def die(context):
        raise WorkerKilled

    with monkeypatch.context() as patched:
        patched.setattr(webhooks, "webhook_event_dispatch", die)
        with pytest.raises(WorkerKilled):
            deliver(document)
    event_log = WebhookEventLog.objects.get(stripe_event_id=document["id"])
    assert event_log.status == Status.PROCESSING
    return event_log


def test_an_event_left_processing_by_a_dead_worker_is_picked_up_once_stale(clock, monkeypatch):
    purchase = PurchaseTransactionFactory()
    event_log = _crash_while_processing(monkeypatch, event_document(purchase))
    clock.move_to(NOW + timedelta(seconds=300), tick=False)

    run = webhook_events_retry()

    assert [r.status for r in run.receipts] == [Status.PROCESSED]
    event_log = _fresh(event_log)
    assert (event_log.status, event_log.retry_count) == (Status.PROCESSED, 1)
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED
    assert _credits(purchase) == 1
    assert_ledger_clean()


def test_an_event_a_live_worker_is_processing_is_left_alone_even_when_asked_for(clock, monkeypatch):
    purchase = PurchaseTransactionFactory()
    event_log = _crash_while_processing(monkeypatch, event_document(purchase))
    clock.move_to(NOW + timedelta(seconds=299), tick=False)

    automatic = webhook_events_retry()
    by_id = webhook_events_retry(event_ids=[event_log.stripe_event_id])

    assert (automatic.selected, automatic.receipts) == (0, [])
    assert (by_id.selected, by_id.receipts, by_id.skipped) == (1, [], [event_log.stripe_event_id])
    assert (_fresh(event_log).status, _fresh(event_log).retry_count) == (Status.PROCESSING, 0)
    assert _credits(purchase) == 0


def test_finished_events_are_never_retried_even_when_asked_for(clock):
    purchase = PurchaseTransactionFactory()
    document = event_document(purchase)
    assert deliver(document).status_code == 200
    ignored = event("payment_intent.succeeded", payment_intent_object(purchase, metadata={}))
    ignored["data"]["object"]["id"] = "pi_someone_else"
    assert deliver(ignored).status_code == 200

    run = webhook_events_retry(event_ids=[document["id"], ignored["id"]], failed_only=True)

    assert (run.selected, run.receipts) == (0, [])
    assert _credits(purchase) == 1


def test_a_flagged_event_waits_for_a_person_and_is_not_retried_automatically(clock):
    purchase = PurchaseTransactionFactory()
    wrong_amount = event(
        "payment_intent.succeeded",
        payment_intent_object(purchase, amount=purchase.amount_cents - 1),
    )
    assert deliver(wrong_amount).status_code == 200
    event_log = WebhookEventLog.objects.get(stripe_event_id=wrong_amount["id"])
    assert (event_log.status, event_log.next_retry_at) == (Status.FAILED, None)
    clock.move_to(NOW + timedelta(days=1), tick=False)

    assert webhook_events_retry().selected == 0
    assert _credits(purchase) == 0


def test_the_limit_caps_how_many_events_one_run_retries(clock):
    plan = PricingPlanFactory()
    purchases = [purchase_not_saved_yet(plan=plan) for _ in range(3)]
    logs = [failed_event(purchase) for purchase in purchases]
    for purchase in purchases:
        purchase.save()
    clock.move_to(NOW + timedelta(minutes=5), tick=False)

    run = webhook_events_retry(limit=2)

    assert run.selected == 2
    assert [_fresh(log).status for log in logs] == [
        Status.PROCESSED,
        Status.PROCESSED,
        Status.FAILED,
    ]
    assert [r.status for r in webhook_events_retry().receipts] == [Status.PROCESSED]


def test_the_selection_of_retryable_events_is_oldest_first(clock):
    purchases = [purchase_not_saved_yet() for _ in range(3)]
    logs = []
    for index, purchase in enumerate(purchases):
        clock.move_to(NOW + timedelta(seconds=index), tick=False)
        logs.append(failed_event(purchase))
    clock.move_to(NOW + timedelta(minutes=5), tick=False)

    selected = list(webhook_events_for_retry().values_list("pk", flat=True))

    assert selected == [log.pk for log in logs]


def test_an_event_another_run_retried_meanwhile_is_not_claimed_again(clock):
    """A run selects its events first and claims them one by one; by the time it claims
    this one, another run has retried it (it failed again, its next retry is 2 minutes
    away). Claiming it now would retry it twice within one backoff."""
    event_log = failed_event(purchase_not_saved_yet())
    clock.move_to(NOW + timedelta(seconds=60), tick=False)
    selected_by_a_slower_run = list(webhook_events_for_retry().values_list("pk", flat=True))
    webhook_events_retry()  # the faster run: fails again
    assert _fresh(event_log).next_retry_at == NOW + timedelta(seconds=180)

    claimed = webhook_event_claim(event_log_id=selected_by_a_slower_run[0])

    assert claimed is False
    assert (_fresh(event_log).status, _fresh(event_log).retry_count) == (Status.FAILED, 1)
