"""Webhook events that really failed, for the retry tests.

The cause is real: the event carries our metadata for a purchase that is not in the
database yet (`PurchaseNotFound`, 500, retried with backoff). Saving the purchase later
removes the cause, so the next retry succeeds.
"""

from django.test import Client

from finances.models import PurchaseTransaction, WebhookEventLog
from tests.factories import PricingPlanFactory, PurchaseTransactionFactory, UserFactory
from tests.support.stripe_events import event, payment_intent_object, post_event

_INTENT_STATUS = {
    "payment_intent.succeeded": {"status": "succeeded"},
    "payment_intent.canceled": {"status": "canceled"},
    "payment_intent.payment_failed": {
        "status": "requires_payment_method",
        "failure_message": "Your card was declined.",
    },
    "payment_intent.processing": {"status": "processing"},
}


def purchase_not_saved_yet(*, student=None, plan=None) -> PurchaseTransaction:
    """A purchase with its id and PaymentIntent id, not in the database (yet)."""
    return PurchaseTransactionFactory.build(
        student=student or UserFactory(), plan=plan or PricingPlanFactory()
    )


def event_document(purchase: PurchaseTransaction, event_type: str = "payment_intent.succeeded"):
    return event(event_type, payment_intent_object(purchase, **_INTENT_STATUS[event_type]))


def deliver(document: dict):
    return post_event(Client(), document)


def failed_event(
    purchase: PurchaseTransaction, event_type: str = "payment_intent.succeeded"
) -> WebhookEventLog:
    """Delivers the event for a purchase that is not saved: it fails with a 500."""
    assert not PurchaseTransaction.objects.filter(pk=purchase.pk).exists()
    document = event_document(purchase, event_type)
    response = deliver(document)
    assert response.status_code == 500, response.content
    event_log = WebhookEventLog.objects.get(stripe_event_id=document["id"])
    assert event_log.status == WebhookEventLog.Status.FAILED
    assert "PurchaseNotFound" in event_log.error_message
    return event_log
