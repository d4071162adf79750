"""Edge cases of processing: a PaymentIntent naming someone else's purchase, a NUL
character inside an otherwise valid event, a flag raised twice."""

import json

import pytest

from finances.models import HoursLedgerEntry, PurchaseTransaction, WebhookEventLog
from tests.factories import PurchaseTransactionFactory
from tests.support.stripe_events import our_metadata, post_event
from tests.support.webhook_pipeline_helpers import NO_BALANCE, balance_totals, succeeded_event

pytestmark = pytest.mark.django_db


def test_a_payment_intent_naming_a_purchase_that_belongs_to_another_is_flagged_not_credited(
    client,
):
    purchase = PurchaseTransactionFactory(stripe_payment_intent_id="pi_original")
    stray = succeeded_event(purchase, payment_intent_id="pi_stray", metadata=our_metadata(purchase))

    response = post_event(client, stray)

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.PENDING
    assert purchase.stripe_payment_intent_id == "pi_original"
    assert purchase.needs_review
    assert "pi_stray" in purchase.review_reason
    assert not HoursLedgerEntry.objects.exists()
    assert balance_totals(purchase.student) == NO_BALANCE
    log = WebhookEventLog.objects.get(stripe_event_id=stray["id"])
    assert log.status == WebhookEventLog.Status.FAILED
    assert log.next_retry_at is None


def test_an_event_with_a_nul_character_in_a_free_text_field_is_still_credited(client):
    purchase = PurchaseTransactionFactory()
    document = succeeded_event(purchase)
    document["data"]["object"]["description"] = "before\x00after"

    response = post_event(client, json.dumps(document))

    assert response.status_code == 200, response.content
    purchase.refresh_from_db()
    assert purchase.status == PurchaseTransaction.Status.COMPLETED
    stored = WebhookEventLog.objects.get(stripe_event_id=document["id"]).payload
    assert stored["data"]["object"]["description"] == "before\ufffdafter"


def test_a_reason_flagged_again_on_redelivery_is_written_once(client):
    purchase = PurchaseTransactionFactory()
    mismatched = succeeded_event(purchase, amount=purchase.amount_cents - 1)

    post_event(client, mismatched)
    post_event(client, mismatched)  # FAILED is not final: the redelivery is processed again

    purchase.refresh_from_db()
    assert purchase.needs_review
    assert len(purchase.review_reason.splitlines()) == 1
