"""Payment events driven through the signed webhook endpoint, checked in the database."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.ledger_verification import ledger_verify
from finances.services.purchases import purchase_initiate
from finances.stripe_redaction import REDACTED, stripe_document_redact
from tests.factories import (
    PricingPlanFactory,
    PurchaseTransactionFactory,
    SubscriptionPlanFactory,
    UserFactory,
)
from tests.support.stripe_events import event, payment_intent_object, post_event
from tests.support.webhook_pipeline_helpers import balance_totals, ledger_rows, succeeded_event

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
LogStatus = WebhookEventLog.Status

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def purchase():
    return PurchaseTransactionFactory()  # 600 minutes, 14000 cents EUR, valid 45 days


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def test_a_success_completes_the_purchase_from_the_charge_time_and_credits_its_hours(
    frozen, api_client, purchase
):
    charged_at = NOW - timedelta(minutes=7)
    document = succeeded_event(purchase, legacy_shape=True, charge_created=unix(charged_at))

    response = post_event(api_client, document)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": True,
        "event_id": document["id"],
        "status": LogStatus.PROCESSED,
        "duplicate": False,
    }
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert purchase.paid_at == charged_at
    assert purchase.expires_at == datetime(2024, 4, 24, 11, 53, tzinfo=UTC)  # + 45 days
    assert ledger_rows(purchase) == [(HoursLedgerEntry.EntryType.CREDIT, 600, 14000)]
    credit = HoursLedgerEntry.objects.get()
    assert credit.expires_at == purchase.expires_at
    assert credit.stripe_event_id == document["id"]
    balance = balance_totals(purchase.student)
    assert (balance["purchased_minutes"], balance["remaining_minutes"]) == (600, 600)
    assert (balance["paid_cents"], balance["consumed_minutes"]) == (14000, 0)
    assert ledger_verify().is_clean


def test_the_event_is_recorded_with_its_payload_and_linked_to_the_purchase(
    frozen, api_client, purchase
):
    document = succeeded_event(purchase)

    post_event(api_client, document)

    row = WebhookEventLog.objects.get()
    assert row.stripe_event_id == document["id"]
    assert row.event_type == "payment_intent.succeeded"
    assert row.stripe_object_id == purchase.stripe_payment_intent_id
    # The payload as sent, but for the client secret (a guest's credential).
    assert row.payload == stripe_document_redact(document)
    assert row.payload["data"]["object"]["client_secret"] == REDACTED
    assert row.purchase_transaction_id == purchase.pk
    assert (row.status, row.retry_count, row.delivery_count) == (LogStatus.PROCESSED, 0, 1)
    assert row.received_at == NOW
    assert row.processed_at == NOW
    assert row.processing_duration_ms is not None
    assert row.processing_duration_ms >= 0
    assert row.error_message == ""


def test_in_the_current_shape_without_the_charge_the_event_time_is_the_payment_time(
    frozen, api_client, purchase
):
    event_created = NOW - timedelta(minutes=3)
    document = succeeded_event(purchase, created=unix(event_created))
    assert isinstance(document["data"]["object"]["latest_charge"], str)

    post_event(api_client, document)

    purchase.refresh_from_db()
    assert purchase.paid_at == event_created
    assert purchase.expires_at == event_created + timedelta(days=45)


@pytest.mark.parametrize("legacy_shape", [True, False], ids=["legacy", "current"])
def test_both_payment_intent_shapes_complete_the_purchase(
    frozen, api_client, purchase, legacy_shape
):
    response = post_event(api_client, succeeded_event(purchase, legacy_shape=legacy_shape))

    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert balance_totals(purchase.student)["remaining_minutes"] == 600


def test_a_success_event_produced_by_localstripe_completes_the_purchase(localstripe, api_client):
    initiation = purchase_initiate(plan_id=PricingPlanFactory().pk, buyer=UserFactory())
    purchase = initiation.purchase
    localstripe.pay(purchase.stripe_payment_intent_id)
    produced = [
        found.to_dict()
        for found in localstripe.events("payment_intent.succeeded")
        if found.data.object.id == purchase.stripe_payment_intent_id
    ]
    assert len(produced) == 1

    response = post_event(api_client, produced[0])

    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert ledger_rows(purchase) == [(HoursLedgerEntry.EntryType.CREDIT, 600, 14000)]


@pytest.mark.parametrize(
    ("paid_at", "expected_expiry"),
    [
        (datetime(2024, 3, 15, 9, 30, tzinfo=UTC), datetime(2024, 4, 15, 9, 30, tzinfo=UTC)),
        (datetime(2024, 1, 31, 9, 30, tzinfo=UTC), datetime(2024, 2, 29, 9, 30, tzinfo=UTC)),
        (datetime(2024, 12, 20, 9, 30, tzinfo=UTC), datetime(2025, 1, 20, 9, 30, tzinfo=UTC)),
    ],
)
def test_subscription_hours_expire_one_month_after_payment(api_client, paid_at, expected_expiry):
    purchase = PurchaseTransactionFactory(plan=SubscriptionPlanFactory())
    with time_machine.travel(paid_at + timedelta(minutes=1), tick=False):
        post_event(
            api_client, succeeded_event(purchase, charge_created=unix(paid_at), legacy_shape=True)
        )

    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert (purchase.paid_at, purchase.expires_at) == (paid_at, expected_expiry)
    assert ledger_rows(purchase) == [(HoursLedgerEntry.EntryType.CREDIT, 900, 11900)]


def test_a_duplicate_delivery_credits_nothing_more(frozen, api_client, purchase):
    document = succeeded_event(purchase)
    post_event(api_client, document)

    response = post_event(api_client, document)

    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert response.json()["status"] == LogStatus.PROCESSED
    assert len(ledger_rows(purchase)) == 1
    assert balance_totals(purchase.student)["remaining_minutes"] == 600
    row = WebhookEventLog.objects.get()
    assert (row.delivery_count, row.retry_count) == (2, 0)


def test_two_success_events_for_one_payment_intent_credit_once(frozen, api_client, purchase):
    first = post_event(api_client, succeeded_event(purchase))
    second = post_event(api_client, succeeded_event(purchase))

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["duplicate"] is False
    assert len(ledger_rows(purchase)) == 1
    assert balance_totals(purchase.student)["purchased_minutes"] == 600
    assert set(WebhookEventLog.objects.values_list("status", flat=True)) == {LogStatus.PROCESSED}
    assert ledger_verify().is_clean


def failed_event(purchase, message="Your card was declined."):
    return event(
        "payment_intent.payment_failed",
        payment_intent_object(purchase, status="requires_payment_method", failure_message=message),
    )


def test_a_failed_payment_marks_the_purchase_failed_with_stripes_message(
    frozen, api_client, purchase
):
    response = post_event(api_client, failed_event(purchase, "Your card has insufficient funds."))

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == Status.FAILED
    assert purchase.failure_reason == "Your card has insufficient funds."
    assert ledger_rows(purchase) == []


def test_a_failed_attempt_is_not_final_and_a_later_success_completes(frozen, api_client, purchase):
    post_event(api_client, failed_event(purchase))

    response = post_event(api_client, succeeded_event(purchase))

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == Status.COMPLETED
    assert purchase.failure_reason == ""
    assert ledger_rows(purchase) == [(HoursLedgerEntry.EntryType.CREDIT, 600, 14000)]


@pytest.mark.parametrize(
    ("event_type", "intent_status"),
    [
        ("payment_intent.payment_failed", "requires_payment_method"),
        ("payment_intent.canceled", "canceled"),
        ("payment_intent.processing", "processing"),
    ],
)
def test_a_late_report_after_completion_changes_nothing(
    frozen, api_client, purchase, event_type, intent_status
):
    post_event(api_client, succeeded_event(purchase))
    purchase.refresh_from_db()
    before = (purchase.status, purchase.paid_at, purchase.expires_at, purchase.failure_reason)
    late = payment_intent_object(purchase, status=intent_status, failure_message="Declined.")

    response = post_event(api_client, event(event_type, late))

    assert response.status_code == 200
    assert response.json()["status"] == LogStatus.PROCESSED
    purchase.refresh_from_db()
    after = (purchase.status, purchase.paid_at, purchase.expires_at, purchase.failure_reason)
    assert after == before
    assert after[0] == Status.COMPLETED
    assert len(ledger_rows(purchase)) == 1
    assert balance_totals(purchase.student)["remaining_minutes"] == 600


def test_a_cancellation_cancels_a_pending_purchase(frozen, api_client, purchase):
    document = event("payment_intent.canceled", payment_intent_object(purchase, status="canceled"))

    response = post_event(api_client, document)

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == Status.CANCELLED
    assert ledger_rows(purchase) == []


def test_processing_marks_a_pending_purchase_processing(frozen, api_client, purchase):
    document = event(
        "payment_intent.processing", payment_intent_object(purchase, status="processing")
    )

    response = post_event(api_client, document)

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == Status.PROCESSING
    assert ledger_rows(purchase) == []


def test_an_event_type_we_do_not_handle_is_ignored(frozen, api_client, purchase):
    document = event("customer.created", {"id": "cus_123", "object": "customer"})

    response = post_event(api_client, document)

    assert response.status_code == 200
    assert response.json()["status"] == LogStatus.IGNORED
    assert WebhookEventLog.objects.get().status == LogStatus.IGNORED
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING


def test_a_redelivered_ignored_event_is_a_duplicate(frozen, api_client):
    document = event("invoice.paid", {"id": "in_123", "object": "invoice"})
    post_event(api_client, document)

    response = post_event(api_client, document)

    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert response.json()["status"] == LogStatus.IGNORED
    assert WebhookEventLog.objects.get().delivery_count == 2


@pytest.mark.parametrize(
    "metadata",
    [{}, {"application": "another-app", "transaction_id": "x"}],
    ids=["no-metadata", "other-application"],
)
def test_a_payment_intent_that_is_not_ours_is_ignored(frozen, api_client, purchase, metadata):
    foreign = payment_intent_object(purchase, payment_intent_id="pi_foreign_1", metadata=metadata)

    response = post_event(api_client, event("payment_intent.succeeded", foreign))

    assert response.status_code == 200
    assert response.json()["status"] == LogStatus.IGNORED
    row = WebhookEventLog.objects.get()
    assert (row.status, row.purchase_transaction_id) == (LogStatus.IGNORED, None)
    purchase.refresh_from_db()
    assert purchase.status == Status.PENDING
    assert not HoursLedgerEntry.objects.exists()


def test_a_purchase_without_a_stored_payment_intent_is_found_by_its_metadata_and_adopts_it(
    frozen, api_client
):
    purchase = PurchaseTransactionFactory(stripe_payment_intent_id=None)
    intent = payment_intent_object(purchase, payment_intent_id="pi_never_stored")
    assert intent["metadata"]["transaction_id"] == str(purchase.pk)
    assert intent["metadata"]["application"] == settings.STRIPE_METADATA_APPLICATION

    response = post_event(api_client, event("payment_intent.succeeded", intent))

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.stripe_payment_intent_id == "pi_never_stored"
    assert purchase.status == Status.COMPLETED
    assert len(ledger_rows(purchase)) == 1
