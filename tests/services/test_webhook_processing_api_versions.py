"""Events of the current API version (`2026-04-22.dahlia`) go through the same pipeline as
older ones: `latest_charge` a bare id, no `charges` list, no `refunds` list on the charge.
The endpoint is pinned to STRIPE_API_VERSION, but events already queued in another version
(or sent after a version bump) must still be read."""

from datetime import UTC, datetime

import pytest
import time_machine

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.stripe_payloads import charge_parse, payment_intent_parse
from tests.factories import PurchaseTransactionFactory
from tests.support.operations_helpers import assert_ledger_clean, lot_entries
from tests.support.stripe_captures import (
    CURRENT_API_VERSION,
    current_charge,
    current_event,
    current_payment_intent,
)
from tests.support.stripe_events import event, payment_intent_object, post_event

pytestmark = pytest.mark.django_db
Status = PurchaseTransaction.Status
EntryType = HoursLedgerEntry.EntryType
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _logged(document) -> WebhookEventLog:
    return WebhookEventLog.objects.get(stripe_event_id=document["id"])


def test_a_current_payment_intent_gives_the_charge_id_and_the_amount_received():
    purchase = PurchaseTransactionFactory()
    document = current_payment_intent(purchase, charge_id="ch_3CaptureOnly")

    intent = payment_intent_parse(document)

    assert "charges" not in document
    assert (intent.latest_charge_id, intent.latest_charge) == ("ch_3CaptureOnly", None)
    assert intent.collected_amount_cents == purchase.amount_cents
    assert intent.succeeded_at is None  # no embedded charge: the event time is used


def test_a_current_charge_without_a_refunds_list_gives_the_refunded_total():
    purchase = PurchaseTransactionFactory()
    document = current_charge(purchase, amount_refunded=3500)

    charge = charge_parse(document)

    assert "refunds" not in document
    assert (charge.amount_refunded_cents, charge.payment_intent_id) == (
        3500,
        purchase.stripe_payment_intent_id,
    )


def test_a_current_version_success_credits_the_hours_once_at_the_event_time(api_client):
    purchase = PurchaseTransactionFactory()
    document = current_event("payment_intent.succeeded", current_payment_intent(purchase))

    first = post_event(api_client, document)
    again = post_event(api_client, document)

    assert (first.status_code, first.json()["status"]) == (200, "PROCESSED")
    assert again.json()["duplicate"] is True
    purchase.refresh_from_db()
    assert (purchase.status, purchase.paid_at) == (Status.COMPLETED, NOW)
    assert lot_entries(purchase) == [(EntryType.CREDIT, purchase.minutes)]
    assert _logged(document).api_version == CURRENT_API_VERSION


def test_a_current_version_refund_takes_hours_back_in_proportion(api_client):
    purchase = PurchaseTransactionFactory()  # 600 minutes for 14000 cents
    post_event(
        api_client, current_event("payment_intent.succeeded", current_payment_intent(purchase))
    )
    document = current_event(
        "charge.refunded",
        current_charge(purchase, amount_refunded=7000),
        previous_attributes={"amount_refunded": 0, "refunded": False},
    )

    response = post_event(api_client, document)

    assert response.json()["status"] == "PROCESSED"
    purchase.refresh_from_db()
    assert (purchase.status, purchase.refunded_amount_cents) == (Status.COMPLETED, 7000)
    assert lot_entries(purchase) == [(EntryType.CREDIT, 600), (EntryType.REFUND_REVERSAL, -300)]
    assert_ledger_clean()


def test_a_current_version_decline_marks_the_purchase_failed_with_the_message(api_client):
    purchase = PurchaseTransactionFactory()
    document = current_event(
        "payment_intent.payment_failed",
        current_payment_intent(
            purchase, status="requires_payment_method", failure="Your card was declined."
        ),
    )

    response = post_event(api_client, document)

    assert response.json()["status"] == "PROCESSED"
    purchase.refresh_from_db()
    assert (purchase.status, purchase.failure_reason) == (
        Status.FAILED,
        "Your card was declined.",
    )


@pytest.mark.parametrize("api_version", ["2017-08-15", "2022-11-15", "2024-06-20"])
def test_older_versions_still_credit_the_same_purchase_shape(api_client, api_version):
    purchase = PurchaseTransactionFactory()
    document = event(
        "payment_intent.succeeded",
        payment_intent_object(purchase, legacy_shape=api_version < "2022-11-15"),
        api_version=api_version,
    )

    response = post_event(api_client, document)

    assert response.json()["status"] == "PROCESSED"
    assert lot_entries(purchase) == [(EntryType.CREDIT, purchase.minutes)]
    assert _logged(document).api_version == api_version
