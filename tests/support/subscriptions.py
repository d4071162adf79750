"""What tests do to localstripe's Billing besides what the product does: renew (create
and pay an invoice, as localstripe has no clock), fail a renewal, swap the saved card, and
deliver localstripe's own events through our webhook endpoint, signed."""

import json

import stripe
from django.test import Client

from tests.support.stripe_events import post_event

SUBSCRIPTIONS_URL = "/api/finances/subscriptions/"
DECLINING_CARD = "4000000000000341"  # attaches, then every charge is declined


def renew(localstripe, stripe_subscription_id: str):
    """A renewal: an invoice for the subscription, paid with the saved card."""
    subscription = localstripe.client.v1.subscriptions.retrieve(stripe_subscription_id)
    invoice = localstripe.client.v1.invoices.create(
        params={"customer": subscription.customer, "subscription": stripe_subscription_id}
    )
    try:
        return localstripe.client.v1.invoices.pay(invoice.id)
    except stripe.CardError:
        return localstripe.client.v1.invoices.retrieve(invoice.id)


def saved_card_replace(localstripe, customer_id: str, number: str):
    """The Customer's default card becomes a new one with this number."""
    card = localstripe.client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    localstripe.client.v1.payment_methods.attach(card.id, params={"customer": customer_id})
    localstripe.client.v1.customers.update(
        customer_id, params={"invoice_settings": {"default_payment_method": card.id}}
    )


def localstripe_events(localstripe, event_type: str, *, object_id: str | None = None) -> list:
    found = []
    for sent in localstripe.events(event_type):
        document = sent.to_dict()
        if object_id is None or document["data"]["object"]["id"] == object_id:
            found.append(document)
    return found


def deliver(document: dict, client=None):
    """POSTs one of localstripe's events (its own body) to our endpoint, signed."""
    response = post_event(client or Client(), json.dumps(document))
    assert response.status_code == 200, response.content
    return response.json()


def deliver_localstripe_events(localstripe, event_type: str, *, object_id: str | None = None):
    return [
        deliver(document)
        for document in localstripe_events(localstripe, event_type, object_id=object_id)
    ]


def invoice_event_from_localstripe(localstripe, event_type: str, invoice_id: str) -> dict:
    """An event localstripe never sends (`invoice.payment_failed` after a declined
    `/pay`, `invoice.paid`), around localstripe's own current invoice object."""
    from tests.support.stripe_events import event

    invoice = localstripe.client.v1.invoices.retrieve(invoice_id).to_dict()
    return event(event_type, invoice, api_version="2017-08-15")
