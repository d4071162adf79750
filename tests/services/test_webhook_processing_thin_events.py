"""v2 "thin" events and signed bodies of unknown shape: recorded and answered 2xx, so that
Stripe does not resend them for three days; only a bad signature or non-JSON gets 4xx."""

import json
from datetime import UTC, datetime

import pytest
import time_machine

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from finances.services.webhooks import unidentified_event_id, webhook_event_process
from tests.factories import PurchaseTransactionFactory
from tests.support.stripe_events import post_event
from tests.support.webhook_pipeline_helpers import assert_error_envelope

pytestmark = pytest.mark.django_db
LogStatus = WebhookEventLog.Status
NOW = datetime(2026, 11, 30, 10, 0, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def thin_event(**changes) -> dict:
    document = {
        "id": "evt_test_65R6Thin",
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "created": "2026-11-30T10:00:00.000Z",
        "livemode": False,
        "context": None,
        "reason": None,
        "related_object": {
            "id": "mtr_test_61Thin",
            "type": "billing.meter",
            "url": "/v1/billing/meters/mtr_test_61Thin",
        },
    }
    document.update(changes)
    return document


def test_a_thin_event_is_recorded_as_ignored_with_200(api_client):
    document = thin_event()

    response = post_event(api_client, document)

    assert response.status_code == 200
    assert response.json() == {
        "received": True,
        "event_id": "evt_test_65R6Thin",
        "status": "IGNORED",
        "duplicate": False,
    }
    row = WebhookEventLog.objects.get()
    assert (row.status, row.event_type, row.stripe_object_id) == (
        LogStatus.IGNORED,
        "v1.billing.meter.error_report_triggered",
        "mtr_test_61Thin",
    )
    assert row.stripe_created_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert row.payload == document
    assert row.next_retry_at is None


def test_a_thin_event_delivered_twice_is_a_duplicate_the_second_time(api_client):
    post_event(api_client, thin_event())

    again = post_event(api_client, thin_event())

    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert WebhookEventLog.objects.get().delivery_count == 2


def test_a_thin_event_named_like_a_handled_type_still_changes_no_purchase(api_client):
    purchase = PurchaseTransactionFactory()
    document = thin_event(
        type="payment_intent.succeeded",
        related_object={"id": purchase.stripe_payment_intent_id, "type": "payment_intent"},
    )

    response = post_event(api_client, document)

    assert response.json()["status"] == "IGNORED"
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.PENDING
    assert not HoursLedgerEntry.objects.exists()


def test_a_thin_event_with_an_unreadable_time_is_recorded_failed_for_a_person(api_client):
    response = post_event(api_client, thin_event(created="last tuesday"))

    assert (response.status_code, response.json()["status"]) == (200, "FAILED")
    row = WebhookEventLog.objects.get()
    assert (row.stripe_event_id, row.next_retry_at) == ("evt_test_65R6Thin", None)
    assert row.error_message == ("Not a readable Stripe event: created is not an ISO-8601 time")


def test_a_signed_event_of_a_weird_type_without_an_object_is_recorded_not_refused(api_client):
    body = json.dumps({"id": "evt_weird", "type": "🦆" * 200, "data": "quack"})

    response = post_event(api_client, body)

    assert response.status_code == 200
    row = WebhookEventLog.objects.get()
    assert (row.stripe_event_id, row.event_type, row.status) == (
        "evt_weird",
        "🦆" * 100,
        LogStatus.FAILED,
    )


def test_an_unreadable_row_processed_again_stays_failed_without_a_retry(api_client):
    body = '{"object": "event", "data": {"object": {"id": "pi_1"}}}'
    post_event(api_client, body)
    row = WebhookEventLog.objects.get()
    assert row.stripe_event_id == unidentified_event_id(body.encode())
    WebhookEventLog.objects.filter(pk=row.pk).update(status=LogStatus.RECEIVED)

    receipt = webhook_event_process(event_log_id=row.pk)

    assert (receipt.http_status, receipt.status) == (200, LogStatus.FAILED)
    row.refresh_from_db()
    assert (row.status, row.next_retry_at) == (LogStatus.FAILED, None)


def test_a_body_that_is_not_json_is_still_refused_and_not_recorded(api_client):
    response = post_event(api_client, '{"id": "evt_cut", "type": "payment_intent.succ')

    assert_error_envelope(response, 400, "malformed_event")
    assert not WebhookEventLog.objects.exists()


def test_a_thin_event_with_a_bad_signature_is_refused(api_client):
    response = post_event(api_client, thin_event(), secret="whsec_someone_else")

    assert_error_envelope(response, 400, "invalid_signature")
    assert not WebhookEventLog.objects.exists()
