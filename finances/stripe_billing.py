"""Stripe Billing calls (Customers, payment methods and the SetupIntents that make them,
Products/Plans, Subscriptions, Invoices): the gateway's second half, built on
`finances.stripe_gateway`'s client and error translation, so `stripe` is still imported by
that one module only.

Works against real Stripe (current API: Plans used as Prices, invoice payments) and
localstripe (Plans only, `items[].plan`, `invoice.payment_intent`); where they differ,
`STRIPE_SEND_OPTIONAL_PARAMETERS` (on for api.stripe.com) picks the real-Stripe form.
"""

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from finances.errors import PaymentProviderError, PaymentProviderObjectNotFound
from finances.stripe_billing_payloads import (
    InvoiceData,
    SubscriptionData,
    invoice_parse,
    subscription_parse,
)
from finances.stripe_gateway import _assert_no_transaction_open, _client, _translate_stripe_errors
from finances.stripe_payloads import MalformedStripeObject

logger = logging.getLogger(__name__)

_INTERVALS = {"MONTH": "month", "YEAR": "year"}


def _real_stripe() -> bool:
    return settings.STRIPE_SEND_OPTIONAL_PARAMETERS


@_translate_stripe_errors
def customer_create(
    *, email: str, name: str, metadata: dict[str, str], idempotency_key: str
) -> str:
    """A Customer for receipts: only the email and name Stripe shows on them."""
    _assert_no_transaction_open()
    params: dict[str, Any] = {"email": email, "metadata": metadata}
    if name:
        params["name"] = name
    result = _client().v1.customers.create(
        params=params, options={"idempotency_key": idempotency_key}
    )
    return result.id


@_translate_stripe_errors
def payment_method_set_default(*, customer_id: str, payment_method_id: str) -> str:
    """Saves the buyer's card on the Customer as the one its invoices charge; returns the
    id now saved (attaching a test card such as `pm_card_visa` yields a new id).

    `pm_…` (Stripe.js `confirmCardSetup`/`createPaymentMethod`) is attached; a `tok_…`
    (`createToken`) becomes a PaymentMethod where Stripe accepts `card[token]` (real
    Stripe), and otherwise a card source of the Customer (localstripe)."""
    _assert_no_transaction_open()
    client = _client().v1
    if payment_method_id.startswith("tok_"):
        try:
            created = client.payment_methods.create(
                params={"type": "card", "card": {"token": payment_method_id}}
            )
            payment_method_id = created.id
        except Exception as error:  # translated below if it is not a Stripe rejection
            if getattr(error, "http_status", None) != 400:
                raise
            source = client.customers.payment_sources.create(
                customer_id, params={"source": payment_method_id}
            )
            client.customers.update(
                customer_id,
                params={
                    "default_source": source.id,
                    "invoice_settings": {"default_payment_method": ""},
                },
            )
            return source.id
    attached = client.payment_methods.attach(payment_method_id, params={"customer": customer_id})
    client.customers.update(
        customer_id, params={"invoice_settings": {"default_payment_method": attached.id}}
    )
    return attached.id


@_translate_stripe_errors
def product_ensure(*, product_id: str, name: str) -> str:
    _assert_no_transaction_open()
    products = _client().v1.products
    try:
        return products.retrieve(product_id).id
    except Exception as error:
        if getattr(error, "http_status", None) != 404:
            raise
    params: dict[str, Any] = {"id": product_id, "name": name}
    if not _real_stripe():
        params["type"] = "service"
    return products.create(params=params, options={"idempotency_key": f"product:{product_id}"}).id


@_translate_stripe_errors
def plan_ensure(
    *,
    plan_id: str,
    product_id: str,
    amount_cents: int,
    currency: str,
    billing_period: str,
) -> str:
    """The Stripe Plan with this deterministic id (amount, currency and interval are part
    of the id, since a Plan cannot change them), created when missing."""
    _assert_no_transaction_open()
    plans = _client().v1.plans
    try:
        return plans.retrieve(plan_id).id
    except Exception as error:
        if getattr(error, "http_status", None) != 404:
            raise
    return plans.create(
        params={
            "id": plan_id,
            "product": product_id,
            "amount": amount_cents,
            "currency": currency.lower(),
            "interval": _INTERVALS[billing_period],
            "interval_count": 1,
        },
        options={"idempotency_key": f"plan:{plan_id}"},
    ).id


def _items(plan_id: str, item_id: str | None = None) -> list[dict]:
    item: dict[str, Any] = {"price" if _real_stripe() else "plan": plan_id}
    if item_id:
        item["id"] = item_id
    return [item]


def _expand_latest_invoice() -> list[str]:
    if _real_stripe():
        return ["latest_invoice.confirmation_secret", "latest_invoice.payments"]
    return ["latest_invoice.payment_intent"]


def _subscription(result) -> SubscriptionData:
    return subscription_parse(result.to_dict())


@_translate_stripe_errors
def subscription_create(
    *, customer_id: str, plan_id: str, metadata: dict[str, str], idempotency_key: str
) -> SubscriptionData:
    """Starts it and charges the first invoice with the Customer's default card; a card
    that needs 3-D Secure leaves it `incomplete` with the client secret to confirm."""
    _assert_no_transaction_open()
    params: dict[str, Any] = {
        "customer": customer_id,
        "items": _items(plan_id),
        "metadata": metadata,
        "expand": _expand_latest_invoice(),
    }
    if _real_stripe():
        params["payment_behavior"] = "allow_incomplete"
        params["payment_settings"] = {"save_default_payment_method": "on_subscription"}
    result = _client().v1.subscriptions.create(
        params=params, options={"idempotency_key": idempotency_key}
    )
    return _subscription(result)


@_translate_stripe_errors
def subscription_retrieve(
    *, subscription_id: str, with_latest_invoice: bool = False
) -> SubscriptionData:
    """`with_latest_invoice`: its first payment's state and client secret too, as
    `subscription_create` answers them."""
    _assert_no_transaction_open()
    params = {"expand": _expand_latest_invoice()} if with_latest_invoice else None
    return _subscription(_client().v1.subscriptions.retrieve(subscription_id, params=params))


@_translate_stripe_errors
def subscription_find_by_metadata(
    *, key: str, value: str, customer_id: str
) -> SubscriptionData | None:
    """The Customer's subscription whose metadata[key] == value (a create whose answer was
    lost); listing is by customer, which both Stripes accept."""
    _assert_no_transaction_open()
    listed = _client().v1.subscriptions.list(
        params={"customer": customer_id, "status": "all", "limit": 100}
    )
    for item in listed.auto_paging_iter():
        document = item.to_dict()
        if (document.get("metadata") or {}).get(key) == value:
            return subscription_parse(document)
    return None


@_translate_stripe_errors
def subscription_cancel_at_period_end_set(
    *, subscription_id: str, cancel: bool, idempotency_key: str
) -> SubscriptionData:
    _assert_no_transaction_open()
    result = _client().v1.subscriptions.update(
        subscription_id,
        params={"cancel_at_period_end": cancel},
        options={"idempotency_key": idempotency_key},
    )
    return _subscription(result)


@_translate_stripe_errors
def subscription_plan_change(
    *, subscription_id: str, plan_id: str, idempotency_key: str
) -> SubscriptionData:
    """Bills `plan_id` from the next renewal on: nothing prorated, nothing charged now."""
    _assert_no_transaction_open()
    subscriptions = _client().v1.subscriptions
    current = subscriptions.retrieve(subscription_id).to_dict()
    items = (current.get("items") or {}).get("data") or []
    item_id = items[0]["id"] if items else None
    params: dict[str, Any] = {"items": _items(plan_id, item_id)}
    if _real_stripe():
        params["proration_behavior"] = "none"
    result = subscriptions.update(
        subscription_id, params=params, options={"idempotency_key": idempotency_key}
    )
    return _subscription(result)


@_translate_stripe_errors
def subscription_cancel_now(*, subscription_id: str, idempotency_key: str) -> SubscriptionData:
    _assert_no_transaction_open()
    result = _client().v1.subscriptions.cancel(
        subscription_id, options={"idempotency_key": idempotency_key}
    )
    return _subscription(result)


@_translate_stripe_errors
def invoices_list_for_subscription(*, subscription_id: str, limit: int = 24) -> list[InvoiceData]:
    """Its most recent invoices (at most `limit`)."""
    _assert_no_transaction_open()
    page = _client().v1.invoices.list(params={"subscription": subscription_id, "limit": limit})
    return [invoice_parse(item.to_dict()) for item in page.data]


@_translate_stripe_errors
def invoice_retrieve(*, invoice_id: str) -> InvoiceData:
    _assert_no_transaction_open()
    return invoice_parse(_client().v1.invoices.retrieve(invoice_id).to_dict())


@_translate_stripe_errors
def invoice_payment_find(*, invoice_id: str) -> tuple[str | None, str | None]:
    """(PaymentIntent id, charge id) that paid an invoice: on the invoice itself (old
    shape), else through `GET /v1/invoice_payments?invoice=…` (current API)."""
    _assert_no_transaction_open()
    invoice = invoice_retrieve.__wrapped__(invoice_id=invoice_id)
    intent_id, charge_id = invoice.payment_intent_id, invoice.charge_id
    if intent_id is None and _real_stripe():
        listed = _client().v1.invoice_payments.list(
            params={"invoice": invoice_id, "status": "paid", "limit": 10}
        )
        for payment in listed.data:
            inner = payment.to_dict().get("payment") or {}
            if inner.get("payment_intent"):
                intent_id = inner["payment_intent"]
                break
    if intent_id and charge_id is None:
        intent = _client().v1.payment_intents.retrieve(intent_id)
        latest = intent.to_dict().get("latest_charge")
        charge_id = latest.get("id") if isinstance(latest, dict) else latest
    return intent_id, charge_id


__all__ = [
    "PaymentProviderError",
    "PaymentProviderObjectNotFound",
    "customer_create",
    "invoice_payment_find",
    "invoice_retrieve",
    "invoices_list_for_subscription",
    "payment_method_set_default",
    "plan_ensure",
    "product_ensure",
    "subscription_cancel_at_period_end_set",
    "subscription_cancel_now",
    "subscription_create",
    "subscription_find_by_metadata",
    "subscription_plan_change",
    "subscription_retrieve",
]


@dataclass(frozen=True)
class SetupIntentData:
    id: str
    client_secret: str


@_translate_stripe_errors
def setup_intent_create(*, idempotency_key: str) -> SetupIntentData:
    """A SetupIntent for the browser's `confirmCardSetup`: it turns the card typed into
    Stripe.js's Card Element into a PaymentMethod (no customer, used once, on session)."""
    _assert_no_transaction_open()
    result = _client().v1.setup_intents.create(
        params={"payment_method_types": ["card"], "usage": "on_session"},
        options={"idempotency_key": idempotency_key},
    )
    document = result.to_dict()
    if not document.get("id") or not document.get("client_secret"):
        raise MalformedStripeObject("A SetupIntent without id or client secret.")
    return SetupIntentData(id=document["id"], client_secret=document["client_secret"])
