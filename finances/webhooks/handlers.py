"""What each Stripe event type does: parse the object, call the payment service."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from finances.services.disputes import dispute_apply
from finances.services.package_completion import EventFinish
from finances.services.payments import (
    OutcomeKind,
    PaymentOutcome,
    apply_refund,
    confirm_payment_completion,
    handle_payment_cancellation,
    handle_payment_failure,
    handle_payment_processing,
)
from finances.services.refund_accounting import refund_failure_apply
from finances.stripe_payloads import (
    charge_parse,
    dispute_parse,
    payment_intent_parse,
    refund_parse,
)
from finances.webhooks.subscription_handlers import subscription_event_handlers


@dataclass(frozen=True)
class EventContext:
    id: str
    type: str
    created_at: datetime | None
    data_object: dict
    # A delivery's event row, for a service that can finish it in its own statement.
    finish: EventFinish | None = None


def _payment_intent_succeeded(event: EventContext) -> PaymentOutcome:
    return confirm_payment_completion(
        payment_intent=payment_intent_parse(event.data_object),
        source_event_id=event.id,
        reported_at=event.created_at,
        event_finish=event.finish,
    )


def _payment_intent_payment_failed(event: EventContext) -> PaymentOutcome:
    return handle_payment_failure(
        payment_intent=payment_intent_parse(event.data_object), source_event_id=event.id
    )


def _payment_intent_canceled(event: EventContext) -> PaymentOutcome:
    return handle_payment_cancellation(
        payment_intent=payment_intent_parse(event.data_object), source_event_id=event.id
    )


def _payment_intent_processing(event: EventContext) -> PaymentOutcome:
    return handle_payment_processing(
        payment_intent=payment_intent_parse(event.data_object), source_event_id=event.id
    )


def _charge_refunded(event: EventContext) -> PaymentOutcome:
    return apply_refund(
        charge=charge_parse(event.data_object),
        source_event_id=event.id,
        reported_at=event.created_at,
    )


def _refund_changed(event: EventContext) -> PaymentOutcome:
    """refund.failed, refund.updated, charge.refund.updated: only a refund that failed or
    was canceled changes anything (the others are counted by charge.refunded)."""
    return refund_failure_apply(
        refund=refund_parse(event.data_object),
        source_event_id=event.id,
        reported_at=event.created_at,
    )


def _charge_dispute(event: EventContext) -> PaymentOutcome:
    return dispute_apply(
        dispute=dispute_parse(event.data_object),
        event_type=event.type,
        source_event_id=event.id,
        reported_at=event.created_at,
    )


EVENT_HANDLERS: dict[str, Callable[[EventContext], PaymentOutcome]] = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_payment_failed,
    "payment_intent.canceled": _payment_intent_canceled,
    "payment_intent.processing": _payment_intent_processing,
    "charge.refunded": _charge_refunded,
    "refund.failed": _refund_changed,
    "refund.updated": _refund_changed,
    "charge.refund.updated": _refund_changed,
    "charge.dispute.created": _charge_dispute,
    "charge.dispute.updated": _charge_dispute,
    "charge.dispute.funds_withdrawn": _charge_dispute,
    "charge.dispute.funds_reinstated": _charge_dispute,
    "charge.dispute.closed": _charge_dispute,
}

# Stripe Billing (issue 12): subscriptions, invoices, and the guard that keeps an
# invoice's PaymentIntent from being credited by payment_intent.succeeded.
EVENT_HANDLERS.update(subscription_event_handlers(EVENT_HANDLERS))


def webhook_event_dispatch(event: EventContext) -> PaymentOutcome:
    handler = EVENT_HANDLERS.get(event.type)
    if handler is None:
        return PaymentOutcome(OutcomeKind.NOT_OURS, f"Event type {event.type} is not handled.")
    return handler(event)
