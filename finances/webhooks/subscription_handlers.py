"""Stripe Billing events: subscriptions, invoices, invoice payments (issue 12).

Registered into `finances.webhooks.handlers.EVENT_HANDLERS`, so they run inside the same
verify → record → dedupe → process → remember pipeline as payment events.
"""

from collections.abc import Callable

from django.db import transaction

from finances.locks import subscription_lock
from finances.models import SubscriptionPeriod
from finances.services.payment_outcomes import OutcomeKind, PaymentOutcome
from finances.services.subscription_invoices import (
    invoice_paid_apply,
    invoice_payment_failed_apply,
    subscription_period_payment_store,
)
from finances.services.subscription_state import subscription_event_apply
from finances.stripe_billing_payloads import invoice_parse, subscription_parse
from finances.stripe_payloads import MalformedStripeObject, _object_or_id


def _invoice_paid(event) -> PaymentOutcome:
    return invoice_paid_apply(
        invoice=invoice_parse(event.data_object),
        source_event_id=event.id,
        reported_at=event.created_at,
    )


def _invoice_payment_failed(event) -> PaymentOutcome:
    return invoice_payment_failed_apply(
        invoice=invoice_parse(event.data_object),
        source_event_id=event.id,
        reported_at=event.created_at,
    )


def _subscription_changed(event) -> PaymentOutcome:
    return subscription_event_apply(
        data=subscription_parse(event.data_object),
        event_type=event.type,
        source_event_id=event.id,
        reported_at=event.created_at,
    )


def _invoice_payment_paid(event) -> PaymentOutcome:
    """Current API: which PaymentIntent paid an invoice, stored on its period so that a
    refund or dispute of that charge finds the period's purchase."""
    document = event.data_object
    invoice_id, _ = _object_or_id(document, "invoice")
    payment = document.get("payment")
    if not invoice_id or not isinstance(payment, dict):
        raise MalformedStripeObject("an invoice payment needs its invoice and payment")
    intent_id, _ = _object_or_id(payment, "payment_intent")
    if not intent_id:
        return PaymentOutcome(OutcomeKind.NOT_OURS, "Invoice paid without a PaymentIntent.")
    with transaction.atomic(savepoint=False):
        period = SubscriptionPeriod.objects.filter(stripe_invoice_id=invoice_id).first()
        if period is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "No granted period for this invoice.")
        subscription_lock(subscription_id=period.subscription_id)
        period.refresh_from_db()
        if period.stripe_payment_intent_id:
            return PaymentOutcome(OutcomeKind.NO_CHANGE, "PaymentIntent already known.")
        subscription_period_payment_store(
            period=period, payment_intent_id=intent_id, charge_id=None
        )
        return PaymentOutcome(OutcomeKind.APPLIED, "PaymentIntent stored.", period.purchase_id)


def _invoice_payment_intent_guard(delegate: Callable) -> Callable:
    """payment_intent.succeeded for an invoice's PaymentIntent credits nothing: the
    invoice's own events grant its period (no path credits a period twice).

    Old shape (localstripe): the PaymentIntent names its `invoice`, and is answered here
    without a query. Current API: it names no invoice and carries no metadata, so the
    payment service finds either no purchase (NOT_OURS) or the period's purchase, which
    is COMPLETED or REFUNDED already and which a success never changes again."""

    def handle(event) -> PaymentOutcome:
        invoice_id, _ = _object_or_id(event.data_object, "invoice")
        if invoice_id:
            return PaymentOutcome(
                OutcomeKind.NOT_OURS,
                f"PaymentIntent of invoice {invoice_id}: its hours are granted by the "
                "invoice's events.",
            )
        return delegate(event)

    return handle


def subscription_event_handlers(handlers: dict[str, Callable]) -> dict[str, Callable]:
    return {
        "invoice.paid": _invoice_paid,
        "invoice.payment_succeeded": _invoice_paid,
        "invoice.payment_failed": _invoice_payment_failed,
        "invoice_payment.paid": _invoice_payment_paid,
        "customer.subscription.created": _subscription_changed,
        "customer.subscription.updated": _subscription_changed,
        "customer.subscription.deleted": _subscription_changed,
        "payment_intent.succeeded": _invoice_payment_intent_guard(
            handlers["payment_intent.succeeded"]
        ),
    }
