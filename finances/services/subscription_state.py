"""A subscription's state kept in step with Stripe: `customer.subscription.*` events,
re-reads from Stripe, and the status history every change leaves.

Events arrive in any order. Each carries the time its state was true (the event's
`created`); a state older than the one stored is not applied (the subscription is re-read
from Stripe instead, by a job, since no Stripe call may happen inside the webhook's
transaction), and a final status (CANCELED, INCOMPLETE_EXPIRED) is never left.
"""

import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from core.errors import ApplicationError
from finances import stripe_billing
from finances.locks import subscription_lock
from finances.models import Subscription, SubscriptionStatusChange
from finances.services.payment_outcomes import OutcomeKind, PaymentOutcome
from finances.services.subscription_customers import is_our_stripe_plan
from finances.stripe_billing_payloads import SubscriptionData

logger = logging.getLogger(__name__)
Status = Subscription.Status

REFRESH_JOB = "finances.services.subscription_state.subscription_refresh"
SUBSCRIPTION_CANCELLED = "subscription_cancelled"


class SubscriptionNotFound(ApplicationError):
    """Ours at Stripe but not (yet) here: the create may not have stored its id yet, so
    the event fails and is retried."""

    default_code = "subscription_not_found"
    default_message = "No subscription matches this Stripe subscription."
    default_status_code = 500


def _record_id(metadata: dict[str, str]) -> uuid.UUID | None:
    if metadata.get("application") != settings.STRIPE_METADATA_APPLICATION:
        return None
    try:
        return uuid.UUID(metadata.get("subscription_id", ""))
    except ValueError:
        return None


def subscription_locate(
    *, stripe_subscription_id: str, metadata: dict[str, str], stripe_plan_id: str | None = None
) -> Subscription | None:
    """The locked subscription Stripe reports on; None when it is not ours; raises
    `SubscriptionNotFound` when it is ours but not recorded (retried later)."""
    record_id = _record_id(metadata)
    found = subscription_lock(
        stripe_subscription_id=stripe_subscription_id, subscription_id=record_id
    )
    if found is None:
        if record_id is not None or is_our_stripe_plan(stripe_plan_id):
            raise SubscriptionNotFound(
                f"Stripe subscription {stripe_subscription_id} is ours but not recorded."
            )
        return None
    if found.stripe_subscription_id is None:
        found.stripe_subscription_id = stripe_subscription_id  # adopted (answer was lost)
        found.save(update_fields=["stripe_subscription_id", "updated_at"])
    return found


def subscription_status_change_record(
    subscription: Subscription,
    *,
    previous: str,
    source: str,
    event_id: str = "",
    actor=None,
    note: str = "",
) -> None:
    SubscriptionStatusChange.objects.create(
        subscription=subscription,
        from_status=previous,
        to_status=subscription.status,
        cancel_at_period_end=subscription.cancel_at_period_end,
        source=source,
        stripe_event_id=event_id,
        actor=actor,
        note=note[:2000],
    )
    logger.info(
        "subscription.status_changed",
        extra={
            "subscription_id": str(subscription.pk),
            "stripe_subscription_id": subscription.stripe_subscription_id,
            "from_status": previous,
            "to_status": subscription.status,
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "source": source,
            "event_id": event_id or None,
        },
    )


def subscription_flag(subscription: Subscription, reason: str) -> None:
    if reason not in subscription.review_reason.splitlines():
        subscription.needs_review = True
        subscription.review_reason = f"{subscription.review_reason}\n{reason}".strip()
        subscription.save(update_fields=["needs_review", "review_reason", "updated_at"])
    logger.warning(
        "subscription.flagged_for_review",
        extra={"subscription_id": str(subscription.pk), "reason": reason},
    )


def subscription_state_apply(
    subscription: Subscription,
    data: SubscriptionData,
    *,
    state_at: datetime,
    source: str,
    event_id: str = "",
    actor=None,
) -> bool:
    """Writes Stripe's state onto the locked subscription unless a newer one is stored;
    True when it was applied."""
    if subscription.stripe_state_at is not None and state_at < subscription.stripe_state_at:
        return False
    previous = (subscription.status, subscription.cancel_at_period_end)
    # A final status is never left (not even for another), and a subscription with a paid
    # period is never `incomplete` again (a late `customer.subscription.created`).
    paid_before = data.status == Status.INCOMPLETE and subscription.periods.exists()
    if not subscription.is_final and not paid_before:
        subscription.status = data.status
    subscription.cancel_at_period_end = data.cancel_at_period_end
    if data.current_period_start and data.current_period_end:
        stored_end = subscription.current_period_end
        if stored_end is None or data.current_period_end >= stored_end:
            subscription.current_period_start = data.current_period_start
            subscription.current_period_end = data.current_period_end
    subscription.canceled_at = data.canceled_at or subscription.canceled_at
    subscription.ended_at = data.ended_at or subscription.ended_at
    subscription.stripe_customer_id = data.customer_id or subscription.stripe_customer_id
    subscription.latest_invoice_id = data.latest_invoice_id or subscription.latest_invoice_id
    subscription.livemode = data.livemode
    subscription.stripe_state_at = state_at
    subscription.save()
    if (subscription.status, subscription.cancel_at_period_end) != previous:
        subscription_status_change_record(
            subscription, previous=previous[0], source=source, event_id=event_id, actor=actor
        )
        if subscription.status == Status.CANCELED and previous[0] != Status.CANCELED:
            _cancelled_notify(subscription)
    return True


def _cancelled_notify(subscription: Subscription) -> None:
    from notifications.services import notification_enqueue

    notification_enqueue(
        kind=SUBSCRIPTION_CANCELLED,
        object_key=f"subscription:{subscription.pk}:canceled",
        recipient=subscription.payer.email,
        context={
            "subscription_id": str(subscription.pk),
            "plan_name": subscription.plan.name,
            "student_name": subscription.student.get_full_name() or subscription.student.email,
            "ended_at": (subscription.ended_at or timezone.now()).isoformat(),
        },
    )


def subscription_refresh_enqueue(subscription: Subscription) -> None:
    """A job re-reads it from Stripe once the caller's transaction commits (ORM broker:
    the job exists only if the transaction does)."""
    async_task(REFRESH_JOB, subscription_id=str(subscription.pk), group="subscriptions")


def subscription_event_apply(
    *, data: SubscriptionData, event_type: str, source_event_id: str, reported_at: datetime | None
) -> PaymentOutcome:
    """customer.subscription.created|updated|deleted (in the caller's transaction)."""
    with transaction.atomic(savepoint=False):
        subscription = subscription_locate(
            stripe_subscription_id=data.id, metadata=data.metadata, stripe_plan_id=data.plan_id
        )
        if subscription is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "Subscription is not ours.")
        state_at = reported_at or timezone.now()
        applied = subscription_state_apply(
            subscription, data, state_at=state_at, source="webhook", event_id=source_event_id
        )
        if not applied:
            subscription_refresh_enqueue(subscription)
            return PaymentOutcome(
                OutcomeKind.NO_CHANGE,
                f"{event_type} is older than the stored state; re-reading from Stripe.",
            )
        return PaymentOutcome(OutcomeKind.APPLIED, f"Subscription is {subscription.status}.")


def subscription_refresh(*, subscription_id, source: str = "refresh") -> Subscription:
    """Re-reads the subscription from Stripe (no transaction open), then applies it."""
    subscription = Subscription.objects.get(pk=subscription_id)
    if not subscription.stripe_subscription_id:
        return subscription
    read_at = timezone.now()
    data = stripe_billing.subscription_retrieve(subscription_id=subscription.stripe_subscription_id)
    with transaction.atomic(durable=True):
        locked = subscription_lock(subscription_id=subscription.pk)
        subscription_state_apply(locked, data, state_at=read_at, source=source)
        locked.last_reconciled_at = read_at
        locked.save(update_fields=["last_reconciled_at", "updated_at"])
    return locked
