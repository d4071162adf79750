"""Events that cannot be applied: flagged mismatches, missing purchases, crashes, bad objects."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from finances.models import PurchaseTransaction, WebhookEventLog
from finances.services import payments
from finances.services.ledger_verification import ledger_verify
from finances.services.webhooks import webhook_event_process
from tests.factories import PurchaseTransactionFactory, WebhookEventLogFactory
from tests.support.stripe_events import event, payment_intent_object, post_event
from tests.support.webhook_pipeline_helpers import (
    NO_BALANCE,
    assert_error_envelope,
    balance_totals,
    ledger_rows,
    succeeded_event,
)

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
LogStatus = WebhookEventLog.Status

NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def purchase():
    return PurchaseTransactionFactory()


@pytest.mark.parametrize(
    ("intent_options", "expected_problem"),
    [
        ({"amount": 10000}, "amount 10000 != expected 14000"),
        ({"currency": "usd"}, "currency USD != expected EUR"),
        ({"livemode": True}, "livemode True != expected False"),
    ],
    ids=["amount", "currency", "livemode"],
)
def test_a_success_that_does_not_match_the_purchase_credits_nothing_and_is_flagged(
    api_client, purchase, intent_options, expected_problem
):
    response = post_event(api_client, succeeded_event(purchase, **intent_options))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == LogStatus.FAILED
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING
    assert purchase.paid_at is None
    assert purchase.needs_review is True
    assert expected_problem in purchase.review_reason
    assert ledger_rows(purchase) == []
    assert balance_totals(purchase.student) == NO_BALANCE
    row = WebhookEventLog.objects.get()
    assert row.status == LogStatus.FAILED
    assert expected_problem in row.error_message
    assert row.next_retry_at is None
    assert row.purchase_transaction_id == purchase.pk
    assert not WebhookEventLog.objects.retryable(now=NOW + timedelta(days=1)).exists()


def test_the_amount_check_uses_what_stripe_actually_received(api_client, purchase):
    intent = payment_intent_object(purchase)
    intent["amount_received"] = 13999  # amount says 14000, only 13999 collected

    post_event(api_client, event("payment_intent.succeeded", intent))

    purchase.refresh_from_db()
    assert (purchase.status, purchase.needs_review) == (Status.PENDING, True)
    assert ledger_rows(purchase) == []


def test_our_payment_intent_without_a_purchase_fails_for_a_retry(api_client, purchase):
    metadata = {
        "application": settings.STRIPE_METADATA_APPLICATION,
        "transaction_id": str(uuid.uuid4()),
    }
    orphan = payment_intent_object(purchase, payment_intent_id="pi_ours_orphan", metadata=metadata)

    response = post_event(api_client, event("payment_intent.succeeded", orphan))

    assert_error_envelope(response, 500, "processing_failed")
    row = WebhookEventLog.objects.get()
    assert row.status == LogStatus.FAILED
    assert "PurchaseNotFound" in row.error_message
    assert "pi_ours_orphan" in row.error_message
    assert row.next_retry_at == NOW + timedelta(seconds=60)
    assert row.retry_count == 0
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING


def test_a_crash_after_the_status_update_leaves_no_partial_effect(
    api_client, purchase, monkeypatch, frozen
):
    # Fault injection: the completion crashes after the purchase was marked COMPLETED and
    # credited in the same transaction, as a lost database connection would.
    seen_by_crash = []

    def crashing_completion(**kwargs):
        seen_by_crash.append(PurchaseTransaction.objects.get(pk=purchase.pk).status)
        raise RuntimeError("injected crash")

    monkeypatch.setattr(payments, "purchase_completion_signals_send", crashing_completion)
    document = succeeded_event(purchase)

    response = post_event(api_client, document)

    assert_error_envelope(response, 500, "processing_failed")
    assert seen_by_crash == [Status.COMPLETED]
    purchase.refresh_from_db()
    assert (purchase.status, purchase.paid_at, purchase.expires_at) == (Status.PENDING, None, None)
    assert ledger_rows(purchase) == []
    assert balance_totals(purchase.student) == NO_BALANCE
    row = WebhookEventLog.objects.get()
    assert row.status == LogStatus.FAILED
    assert row.error_message == "RuntimeError: injected crash"
    assert row.next_retry_at == NOW + timedelta(seconds=60)
    assert not WebhookEventLog.objects.retryable(now=NOW).exists()
    assert list(WebhookEventLog.objects.retryable(now=NOW + timedelta(seconds=60))) == [row]
    assert list(WebhookEventLog.objects.failed()) == [row]

    monkeypatch.undo()
    frozen.shift(timedelta(seconds=61))
    redelivery = post_event(api_client, document)

    assert redelivery.status_code == 200, redelivery.content
    assert redelivery.json()["duplicate"] is False
    row.refresh_from_db()
    assert (row.status, row.retry_count, row.delivery_count) == (LogStatus.PROCESSED, 1, 2)
    assert (row.next_retry_at, row.error_message) == (None, "")
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert len(ledger_rows(purchase)) == 1
    assert balance_totals(purchase.student)["remaining_minutes"] == 600
    assert ledger_verify().is_clean


def test_each_failed_redelivery_counts_a_retry_until_the_retries_are_used_up(
    api_client, purchase, monkeypatch, frozen
):
    # Fault injection as above, on every delivery.
    def crashing_completion(**kwargs):
        raise RuntimeError("still down")

    monkeypatch.setattr(payments, "purchase_completion_signals_send", crashing_completion)
    document = succeeded_event(purchase)
    schedule = []
    for _ in range(6):
        assert post_event(api_client, document).status_code == 500
        row = WebhookEventLog.objects.get()
        delay = row.next_retry_at - NOW if row.next_retry_at else None
        schedule.append((row.retry_count, delay))

    assert schedule == [
        (0, timedelta(minutes=1)),
        (1, timedelta(minutes=2)),
        (2, timedelta(minutes=4)),
        (3, timedelta(minutes=8)),
        (4, timedelta(minutes=16)),
        (5, None),  # WEBHOOK_MAX_RETRIES reached: a person takes over
    ]
    assert row.status == LogStatus.FAILED
    assert not WebhookEventLog.objects.retryable(now=NOW + timedelta(days=1)).exists()


def test_processing_a_row_already_processed_is_a_duplicate_without_effects(purchase):
    document = succeeded_event(purchase)
    row = WebhookEventLogFactory(
        stripe_event_id=document["id"], payload=document, status=LogStatus.PROCESSED
    )

    receipt = webhook_event_process(event_log_id=row.pk)

    assert receipt.duplicate is True
    assert receipt.http_status == 200
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING
    assert ledger_rows(purchase) == []


def test_processing_a_recorded_row_applies_its_stored_event(purchase):
    document = succeeded_event(purchase)
    row = WebhookEventLogFactory(
        stripe_event_id=document["id"], payload=document, status=LogStatus.RECEIVED
    )

    receipt = webhook_event_process(event_log_id=row.pk)

    assert (receipt.duplicate, receipt.status) == (False, LogStatus.PROCESSED)
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert len(ledger_rows(purchase)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "14000"),
        ("amount", -5),
        ("amount", None),
        ("amount", True),
        ("currency", 978),
        ("status", None),
        ("id", 42),
        ("latest_charge", 7),
    ],
)
def test_a_malformed_payment_intent_is_recorded_failed_answered_200_and_not_retried(
    api_client, purchase, field, value
):
    document = succeeded_event(purchase)
    document["data"]["object"][field] = value

    response = post_event(api_client, document)

    # Signed by Stripe: a 4xx would only make Stripe resend it for three days.
    assert (response.status_code, response.json()["status"]) == (200, "FAILED")
    row = WebhookEventLog.objects.get()
    assert row.status == LogStatus.FAILED
    assert row.error_message.startswith("Malformed event object")
    assert row.next_retry_at is None
    assert not WebhookEventLog.objects.retryable(now=NOW + timedelta(days=1)).exists()
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING
    assert ledger_rows(purchase) == []


def test_a_malformed_refunded_charge_is_recorded_failed_and_not_retried(api_client, purchase):
    document = event("charge.refunded", {"id": "ch_1", "amount": 14000, "amount_refunded": "all"})

    response = post_event(api_client, document)

    assert (response.status_code, response.json()["status"]) == (200, "FAILED")
    row = WebhookEventLog.objects.get()
    assert (row.status, row.next_retry_at) == (LogStatus.FAILED, None)
