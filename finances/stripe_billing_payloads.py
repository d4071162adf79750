"""Typed views of Stripe Billing objects (Subscriptions, Invoices), in both shapes.

- Current API (2025-03-31 and later): the invoice names its subscription at
  `parent.subscription_details.subscription` (with the subscription's metadata), its
  periods are on its lines, and its PaymentIntent is not on it at all (invoice payments,
  `GET /v1/invoice_payments?invoice=…`, or an expanded `payments` list); a subscription's
  periods are on its items; a line's price is at `pricing.price_details.price`.
- Old API (localstripe, 2017-08-15): `invoice.subscription`, `invoice.payment_intent`,
  `invoice.charge`, subscription-level `current_period_*`, `line.plan`.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from finances.stripe_payloads import (
    MalformedStripeObject,
    _livemode,
    _metadata,
    _object_or_id,
    _optional_int,
    _optional_str,
    _require_dict,
    _require_str,
    _timestamp,
)

SUBSCRIPTION_STATUSES = {
    "incomplete": "INCOMPLETE",
    "incomplete_expired": "INCOMPLETE_EXPIRED",
    "trialing": "ACTIVE",
    "active": "ACTIVE",
    "past_due": "PAST_DUE",
    "unpaid": "UNPAID",
    "canceled": "CANCELED",
    "paused": "PAST_DUE",
}


@dataclass(frozen=True)
class InvoiceData:
    id: str
    status: str | None
    subscription_id: str | None
    subscription_metadata: dict[str, str]
    customer_id: str | None
    amount_paid_cents: int
    amount_due_cents: int
    currency: str
    livemode: bool
    billing_reason: str
    period_start: datetime | None
    period_end: datetime | None
    plan_id: str | None  # the Stripe Plan/Price of its subscription line
    payment_intent_id: str | None
    charge_id: str | None
    client_secret: str | None  # to confirm its payment (3-D Secure)
    payment_intent_status: str | None
    paid_at: datetime | None
    created_at: datetime | None

    @property
    def is_paid(self) -> bool:
        return self.status == "paid"


@dataclass(frozen=True)
class SubscriptionData:
    id: str
    status: str  # ours: Subscription.Status values
    stripe_status: str
    customer_id: str | None
    plan_id: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    livemode: bool
    metadata: dict[str, str] = field(default_factory=dict)
    latest_invoice_id: str | None = None
    latest_invoice: InvoiceData | None = None
    created_at: datetime | None = None


def _list_data(document: dict, key: str) -> list[dict]:
    value = document.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        items = value
    elif isinstance(value, dict):
        items = value.get("data") or []
    else:
        raise MalformedStripeObject(f"{key} must be a list")
    if not isinstance(items, list):
        raise MalformedStripeObject(f"{key}.data must be a list")
    return [item for item in items if isinstance(item, dict)]


def _price_of(document: dict) -> str | None:
    """The Plan/Price id of a subscription item or invoice line, in any shape."""
    pricing = document.get("pricing")
    if isinstance(pricing, dict) and isinstance(pricing.get("price_details"), dict):
        price, _ = _object_or_id(pricing["price_details"], "price")
        if price:
            return price
    for key in ("price", "plan"):
        value, _ = _object_or_id(document, key)
        if value:
            return value
    return None


def _subscription_line(lines: list[dict]) -> dict | None:
    for line in lines:
        parent = line.get("parent")
        is_subscription_line = line.get("type") == "subscription" or (
            isinstance(parent, dict) and parent.get("type") == "subscription_item_details"
        )
        if is_subscription_line and not line.get("proration"):
            return line
    return lines[0] if lines else None


def _invoice_subscription(document: dict) -> tuple[str | None, dict[str, str]]:
    parent = document.get("parent")
    if isinstance(parent, dict) and isinstance(parent.get("subscription_details"), dict):
        details = parent["subscription_details"]
        subscription_id, _ = _object_or_id(details, "subscription")
        if subscription_id:
            return subscription_id, _metadata(details)
    subscription_id, embedded = _object_or_id(document, "subscription")
    return subscription_id, _metadata(embedded) if embedded else {}


def _invoice_payment(document: dict) -> tuple[str | None, str | None, str | None, str | None]:
    """(PaymentIntent id, charge id, client secret, PaymentIntent status) an invoice names."""
    intent_id, intent = _object_or_id(document, "payment_intent")
    charge_id, _ = _object_or_id(document, "charge")
    secret = intent_status = None
    if intent is not None:
        secret = _optional_str(intent, "client_secret")
        intent_status = _optional_str(intent, "status")
        latest, _ = _object_or_id(intent, "latest_charge")
        charge_id = charge_id or latest
    if intent_id is None:
        for payment in _list_data(document, "payments"):
            inner = payment.get("payment")
            if not isinstance(inner, dict):
                continue
            candidate, expanded = _object_or_id(inner, "payment_intent")
            if candidate and payment.get("status") in (None, "paid", "open"):
                intent_id = candidate
                if expanded is not None:
                    secret = secret or _optional_str(expanded, "client_secret")
                    intent_status = _optional_str(expanded, "status")
                    latest, _ = _object_or_id(expanded, "latest_charge")
                    charge_id = charge_id or latest
    confirmation = document.get("confirmation_secret")
    if secret is None and isinstance(confirmation, dict):
        secret = _optional_str(confirmation, "client_secret")
    return intent_id, charge_id, secret, intent_status


def invoice_parse(document: Any) -> InvoiceData:
    document = _require_dict(document, "invoice")
    subscription_id, subscription_metadata = _invoice_subscription(document)
    line = _subscription_line(_list_data(document, "lines"))
    period = line.get("period") if line else None
    period_start = _timestamp(period, "start") if isinstance(period, dict) else None
    period_end = _timestamp(period, "end") if isinstance(period, dict) else None
    if period_start is None:
        period_start = _timestamp(document, "period_start")
        period_end = _timestamp(document, "period_end")
    transitions = document.get("status_transitions")
    paid_at = _timestamp(transitions, "paid_at") if isinstance(transitions, dict) else None
    intent_id, charge_id, secret, intent_status = _invoice_payment(document)
    customer_id, _ = _object_or_id(document, "customer")
    amount_paid = _optional_int(document, "amount_paid") or 0
    amount_due = _optional_int(document, "amount_due") or 0
    if amount_paid < 0 or amount_due < 0:
        raise MalformedStripeObject("invoice amounts cannot be negative")
    return InvoiceData(
        id=_require_str(document, "id"),
        status=_optional_str(document, "status"),
        subscription_id=subscription_id,
        subscription_metadata=subscription_metadata,
        customer_id=customer_id,
        amount_paid_cents=amount_paid,
        amount_due_cents=amount_due,
        currency=(_optional_str(document, "currency") or "").upper(),
        livemode=_livemode(document),
        billing_reason=(_optional_str(document, "billing_reason") or "")[:64],
        period_start=period_start,
        period_end=period_end,
        plan_id=_price_of(line) if line else None,
        payment_intent_id=intent_id,
        charge_id=charge_id,
        client_secret=secret,
        payment_intent_status=intent_status,
        paid_at=paid_at,
        created_at=_timestamp(document, "created"),
    )


def subscription_parse(document: Any) -> SubscriptionData:
    document = _require_dict(document, "subscription")
    stripe_status = _require_str(document, "status")
    if stripe_status not in SUBSCRIPTION_STATUSES:
        raise MalformedStripeObject(f"unknown subscription status {stripe_status}")
    items = _list_data(document, "items")
    item = items[0] if items else {}
    start = _timestamp(document, "current_period_start") or _timestamp(item, "current_period_start")
    end = _timestamp(document, "current_period_end") or _timestamp(item, "current_period_end")
    latest_id, latest = _object_or_id(document, "latest_invoice")
    customer_id, _ = _object_or_id(document, "customer")
    cancel_at_period_end = document.get("cancel_at_period_end", False)
    if not isinstance(cancel_at_period_end, bool):
        raise MalformedStripeObject("cancel_at_period_end must be a boolean")
    return SubscriptionData(
        id=_require_str(document, "id"),
        status=SUBSCRIPTION_STATUSES[stripe_status],
        stripe_status=stripe_status,
        customer_id=customer_id,
        plan_id=_price_of(item) if item else None,
        current_period_start=start,
        current_period_end=end if start and end and end > start else None,
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=_timestamp(document, "canceled_at"),
        ended_at=_timestamp(document, "ended_at"),
        livemode=_livemode(document),
        metadata=_metadata(document),
        latest_invoice_id=latest_id,
        latest_invoice=invoice_parse(latest) if latest is not None else None,
        created_at=_timestamp(document, "created"),
    )
