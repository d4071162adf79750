"""What tests do to localstripe's Billing besides what the product does: renew (create
and pay an invoice, as localstripe has no clock), fail a renewal, swap the saved card, and
deliver localstripe's own events through our webhook endpoint, signed."""

import itertools
import json

import stripe
from django.conf import settings
from django.test import Client

from tests.support.stripe_events import post_event

SUBSCRIPTIONS_URL = "/api/finances/subscriptions/"
DECLINING_CARD = "4000000000000341"  # attaches, then every charge is declined
_ids = itertools.count(1)


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


def localstripe_events(localstripe, event_type: str, *, object_id=None, **fields) -> list:
    """localstripe's events of this type about this object, or whose object has these
    field values (`subscription=…` also matches the subscription itself)."""
    found = []
    for sent in localstripe.events(event_type):
        document = sent.to_dict()
        data_object = document["data"]["object"]
        if object_id is not None and data_object["id"] != object_id:
            continue
        if any(
            value not in (data_object.get(key), data_object["id"]) for key, value in fields.items()
        ):
            continue
        found.append(document)
    return found


def deliver(document: dict, client=None):
    """POSTs one of localstripe's events (its own body) to our endpoint, signed."""
    response = post_event(client or Client(), json.dumps(document))
    assert response.status_code == 200, response.content
    return response.json()


def deliver_localstripe_events(localstripe, event_type: str, **which):
    return [deliver(document) for document in localstripe_events(localstripe, event_type, **which)]


def invoice_event_from_localstripe(localstripe, event_type: str, invoice_id: str) -> dict:
    """An event localstripe never sends (`invoice.payment_failed` after a declined
    `/pay`, `invoice.paid`), around localstripe's own current invoice object."""
    from tests.support.stripe_events import event

    invoice = localstripe.client.v1.invoices.retrieve(invoice_id).to_dict()
    return event(event_type, invoice, api_version="2017-08-15")


def subscription_record(*, plan, student=None, payer=None, status="ACTIVE", **fields):
    """Our record of a subscription that Stripe knows as `sub_test_<n>`."""
    from finances.models import Subscription
    from finances.services.subscription_customers import stripe_plan_id_for
    from tests.factories import UserFactory

    student = student or UserFactory()
    type(plan).objects.filter(pk=plan.pk).update(stripe_plan_id=stripe_plan_id_for(plan))
    plan.refresh_from_db()
    return Subscription.objects.create(
        student=student,
        payer=payer or student,
        plan=plan,
        status=status,
        stripe_subscription_id=fields.pop("stripe_subscription_id", f"sub_test_{next(_ids)}"),
        stripe_customer_id=fields.pop("stripe_customer_id", "cus_test_1"),
        **fields,
    )


def _unix(moment) -> int:
    return int(moment.timestamp())


def invoice_object(
    subscription,
    *,
    invoice_id: str | None = None,
    period_start,
    period_end,
    amount: int | None = None,
    currency: str | None = None,
    plan=None,
    status: str = "paid",
    shape: str = "current",
    payment_intent_id: str | None = None,
    charge_id: str | None = None,
    paid_at=None,
    billing_reason: str = "subscription_cycle",
) -> dict:
    """An Invoice of `subscription`. `shape="current"` (API 2025-03-31 and later): the
    subscription under `parent.subscription_details` with its metadata, the price under
    the line's `pricing`, no `payment_intent`; `shape="old"` (localstripe, 2017-08-15):
    `subscription`, `payment_intent`, `charge`, `line.plan`."""
    from finances.services.subscription_customers import stripe_plan_id_for

    plan = plan or subscription.plan
    amount = plan.price_cents if amount is None else amount
    invoice_id = invoice_id or f"in_test_{next(_ids)}"
    stripe_plan = stripe_plan_id_for(plan)
    line = {
        "id": f"il_{invoice_id}",
        "object": "line_item",
        "amount": amount,
        "currency": (currency or plan.currency).lower(),
        "period": {"start": _unix(period_start), "end": _unix(period_end)},
    }
    document = {
        "id": invoice_id,
        "object": "invoice",
        "status": status,
        "customer": subscription.stripe_customer_id,
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "currency": (currency or plan.currency).lower(),
        "livemode": subscription.livemode,
        "billing_reason": billing_reason,
        "created": _unix(period_start),
        "status_transitions": {
            "paid_at": _unix(paid_at or period_start) if status == "paid" else None
        },
        "lines": {"object": "list", "data": [line]},
    }
    if shape == "current":
        line["parent"] = {
            "type": "subscription_item_details",
            "subscription_item_details": {"subscription": subscription.stripe_subscription_id},
        }
        line["pricing"] = {"type": "price_details", "price_details": {"price": stripe_plan}}
        document["parent"] = {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": subscription.stripe_subscription_id,
                "metadata": {
                    "application": settings.STRIPE_METADATA_APPLICATION,
                    "subscription_id": str(subscription.pk),
                },
            },
        }
        if payment_intent_id:
            document["payments"] = {
                "object": "list",
                "data": [
                    {
                        "object": "invoice_payment",
                        "status": "paid",
                        "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                    }
                ],
            }
    else:
        line["type"] = "subscription"
        line["plan"] = {"id": stripe_plan, "object": "plan"}
        document["subscription"] = subscription.stripe_subscription_id
        document["payment_intent"] = payment_intent_id
        document["charge"] = charge_id
    return document


def subscription_object(
    subscription,
    *,
    status: str = "active",
    cancel_at_period_end: bool = False,
    period_start=None,
    period_end=None,
    plan=None,
) -> dict:
    """A Subscription in the current shape (periods on its item, `price`)."""
    from finances.services.subscription_customers import stripe_plan_id_for

    item = {
        "id": "si_test_1",
        "object": "subscription_item",
        "price": {"id": stripe_plan_id_for(plan or subscription.plan), "object": "price"},
    }
    if period_start is not None:
        item["current_period_start"] = _unix(period_start)
        item["current_period_end"] = _unix(period_end)
    return {
        "id": subscription.stripe_subscription_id,
        "object": "subscription",
        "status": status,
        "customer": subscription.stripe_customer_id,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "ended_at": None,
        "livemode": subscription.livemode,
        "metadata": {
            "application": settings.STRIPE_METADATA_APPLICATION,
            "subscription_id": str(subscription.pk),
        },
        "items": {"object": "list", "data": [item]},
        "latest_invoice": None,
    }


def subscription_with_a_period():
    """An ACTIVE subscription (with its payer's StripeCustomer) whose first invoice was
    granted, applied directly through the grant service."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from finances.models import StripeCustomer
    from finances.services.subscription_invoices import invoice_paid_apply
    from finances.stripe_billing_payloads import invoice_parse
    from tests.factories import SubscriptionPlanFactory

    plan = SubscriptionPlanFactory()
    subscription = subscription_record(plan=plan, stripe_customer_id=f"cus_test_{next(_ids)}")
    StripeCustomer.objects.create(
        user=subscription.payer, stripe_customer_id=subscription.stripe_customer_id
    )
    start = timezone.now()
    document = invoice_object(
        subscription,
        period_start=start,
        period_end=start + timedelta(days=30),
        payment_intent_id=f"pi_test_sub_{next(_ids)}",
    )
    with transaction.atomic():
        invoice_paid_apply(invoice=invoice_parse(document))
    subscription.refresh_from_db()
    return subscription
