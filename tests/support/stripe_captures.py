"""Stripe objects as the current API version (`2026-04-22.dahlia`) sends them.

Shaped after real captures, with every field a current payload carries (most of them
null), so that the tolerant parser is proven on what Stripe sends today: `latest_charge`
is a bare id, there is no `charges` list on the PaymentIntent and no `refunds` list on the
charge, and `amount_received` is present. The localstripe/2017 shape is covered by
`tests/support/stripe_events.py` (`legacy_shape=True`) and by localstripe itself.
"""

import itertools
import time

from tests.support.stripe_events import our_metadata

CURRENT_API_VERSION = "2026-04-22.dahlia"
_sequence = itertools.count(1)


def _suffix() -> str:
    return f"{next(_sequence):06d}"


def current_payment_intent(
    purchase, *, status: str = "succeeded", charge_id: str | None = None, failure: str = ""
) -> dict:
    amount = purchase.amount_cents
    succeeded = status == "succeeded"
    return {
        "id": purchase.stripe_payment_intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if succeeded else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{purchase.stripe_payment_intent_id}_secret_capture",
        "confirmation_method": "automatic",
        "created": int(time.time()) - 60,
        "currency": purchase.currency.lower(),
        "customer": None,
        "description": purchase.plan_name,
        "excluded_payment_method_types": None,
        "last_payment_error": (
            {"code": "card_declined", "decline_code": "generic_decline", "message": failure}
            if failure
            else None
        ),
        "latest_charge": (charge_id or f"ch_3Capture{_suffix()}") if succeeded or failure else None,
        "livemode": purchase.livemode,
        "metadata": our_metadata(purchase),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": "pm_1CaptureCard" if succeeded else None,
        "payment_method_configuration_details": {"id": "pmc_1Capture", "parent": None},
        "payment_method_options": {
            "card": {"installments": None, "network": None, "request_three_d_secure": "automatic"}
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def current_charge(
    purchase, *, amount_refunded: int = 0, charge_id: str | None = None, status: str = "succeeded"
) -> dict:
    """A charge without the `refunds` list (Stripe stopped embedding it in 2022-11-15)."""
    amount = purchase.amount_cents
    return {
        "id": charge_id or f"ch_3Capture{_suffix()}",
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "application": None,
        "application_fee": None,
        "balance_transaction": f"txn_3Capture{_suffix()}",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": "APRENDE COMIGO",
        "captured": True,
        "created": int(time.time()) - 30,
        "currency": purchase.currency.lower(),
        "customer": None,
        "description": purchase.plan_name,
        "disputed": False,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": purchase.livemode,
        "metadata": our_metadata(purchase),
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
        "paid": True,
        "payment_intent": purchase.stripe_payment_intent_id,
        "payment_method": "pm_1CaptureCard",
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242"}, "type": "card"},
        "receipt_url": "https://pay.stripe.com/receipts/capture",
        "refunded": amount_refunded >= amount,
        "review": None,
        "status": status,
    }


def current_event(event_type: str, data_object: dict, *, previous_attributes=None) -> dict:
    data = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": f"evt_3Capture{_suffix()}",
        "object": "event",
        "api_version": CURRENT_API_VERSION,
        "context": None,
        "created": int(time.time()),
        "data": data,
        "livemode": data_object.get("livemode", False),
        "pending_webhooks": 1,
        "request": {"id": f"req_Capture{_suffix()}", "idempotency_key": None},
        "type": event_type,
    }
