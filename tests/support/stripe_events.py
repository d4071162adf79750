"""Stripe objects and events as Stripe sends them, signed with the real HMAC scheme."""

import itertools
import json
import time

import stripe
from django.conf import settings

TEST_WEBHOOK_SECRET = "whsec_test_suite_secret"
WEBHOOK_URL = "/api/finances/webhooks/stripe/"
_sequence = itertools.count(1)


def our_metadata(purchase) -> dict[str, str]:
    return {
        "application": settings.STRIPE_METADATA_APPLICATION,
        "transaction_id": str(purchase.pk),
        "plan_id": str(purchase.plan_id),
        "student_id": str(purchase.student_id),
    }


def charge_object(
    purchase=None,
    *,
    charge_id: str | None = None,
    payment_intent_id: str | None = None,
    amount: int | None = None,
    amount_refunded: int = 0,
    currency: str | None = None,
    livemode: bool = False,
    created: int | None = None,
    status: str = "succeeded",
) -> dict:
    amount = purchase.amount_cents if amount is None else amount
    return {
        "id": charge_id or f"ch_test_{next(_sequence):06d}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded >= amount,
        "currency": (currency or purchase.currency).lower(),
        "livemode": livemode,
        "created": created or int(time.time()),
        "payment_intent": payment_intent_id
        or (purchase.stripe_payment_intent_id if purchase else None),
        "status": status,
        "metadata": {},
    }


def payment_intent_object(
    purchase=None,
    *,
    payment_intent_id: str | None = None,
    status: str = "succeeded",
    amount: int | None = None,
    currency: str | None = None,
    livemode: bool | None = None,
    metadata: dict | None = None,
    failure_message: str | None = None,
    legacy_shape: bool = False,
    charge_created: int | None = None,
) -> dict:
    """A PaymentIntent in the current API shape (latest_charge is an id), or with
    `legacy_shape` the localstripe/2017 shape (embedded charge and `charges` list)."""
    amount = purchase.amount_cents if amount is None else amount
    payment_intent_id = payment_intent_id or purchase.stripe_payment_intent_id
    document = {
        "id": payment_intent_id,
        "object": "payment_intent",
        "amount": amount,
        "currency": (currency or purchase.currency).lower(),
        "status": status,
        "livemode": bool(livemode)
        if livemode is not None
        else bool(purchase and purchase.livemode),
        "metadata": our_metadata(purchase) if metadata is None else metadata,
        "client_secret": f"{payment_intent_id}_secret_test",
        "customer": None,
        "created": int(time.time()),
        "last_payment_error": {"message": failure_message, "code": "card_declined"}
        if failure_message
        else None,
    }
    charge = None
    if status == "succeeded":
        charge = charge_object(
            purchase,
            payment_intent_id=payment_intent_id,
            amount=amount,
            currency=currency,
            created=charge_created,
        )
    if legacy_shape:
        document["latest_charge"] = charge
        document["charges"] = {"object": "list", "data": [charge] if charge else []}
    else:
        document["latest_charge"] = charge["id"] if charge else None
        document["amount_received"] = amount if status == "succeeded" else 0
    return document


def event(
    event_type: str,
    data_object: dict,
    *,
    event_id: str | None = None,
    created: int | None = None,
    livemode: bool | None = None,
    api_version: str = "2024-06-20",
) -> dict:
    return {
        "id": event_id or f"evt_test_{next(_sequence):06d}",
        "object": "event",
        "type": event_type,
        "api_version": api_version,
        "created": created or int(time.time()),
        "livemode": data_object.get("livemode", False) if livemode is None else livemode,
        "data": {"object": data_object},
    }


def sign(payload: str, *, secret: str = TEST_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def post_event(
    client,
    document: dict | str | bytes,
    *,
    secret: str = TEST_WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
):
    """POSTs an event to the webhook endpoint as Stripe would: exact bytes, signed
    (pass `signature` to send a header of your own, e.g. for bytes that are not UTF-8)."""
    if isinstance(document, bytes):
        body = document
    else:
        body = (json.dumps(document) if isinstance(document, dict) else document).encode("utf-8")
    if signature is None:
        signature = sign(body.decode("utf-8"), secret=secret, timestamp=timestamp)
    return client.generic(
        "POST", WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def refund_object(
    purchase,
    *,
    amount: int,
    refund_id: str | None = None,
    status: str = "failed",
    shape: str = "current",
) -> dict:
    """A Refund. `shape`: "current" (payment_intent and charge ids), "charge_only" (an
    older refund naming only its charge id) or "embedded_charge" (the charge expanded)."""
    charge_id = purchase.stripe_charge_id or f"ch_of_{purchase.stripe_payment_intent_id}"
    document = {
        "id": refund_id or f"re_test_{next(_sequence):06d}",
        "object": "refund",
        "amount": amount,
        "currency": purchase.currency.lower(),
        "status": status,
        "created": int(time.time()),
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
        "metadata": {},
        "payment_intent": purchase.stripe_payment_intent_id,
        "charge": charge_id,
    }
    if shape == "charge_only":
        del document["payment_intent"]
    elif shape == "embedded_charge":
        del document["payment_intent"]
        document["charge"] = charge_object(purchase, charge_id=charge_id)
    return document


def dispute_object(
    purchase,
    *,
    dispute_id: str,
    status: str = "needs_response",
    amount: int | None = None,
    shape: str = "current",
    due_by: int | None = None,
) -> dict:
    """A Dispute. `shape`: "current" (charge id and payment_intent id), "charge_only"
    (older API versions: no payment_intent) or "embedded_charge" (charge expanded)."""
    charge_id = purchase.stripe_charge_id or f"ch_of_{purchase.stripe_payment_intent_id}"
    document = {
        "id": dispute_id,
        "object": "dispute",
        "amount": purchase.amount_cents if amount is None else amount,
        "currency": purchase.currency.lower(),
        "status": status,
        "reason": "fraudulent",
        "livemode": purchase.livemode,
        "created": int(time.time()),
        "evidence_details": {"due_by": due_by or int(time.time()) + 7 * 86400},
        "charge": charge_id,
        "payment_intent": purchase.stripe_payment_intent_id,
    }
    if shape == "charge_only":
        del document["payment_intent"]
    elif shape == "embedded_charge":
        del document["payment_intent"]
        document["charge"] = charge_object(purchase, charge_id=charge_id)
    return document
