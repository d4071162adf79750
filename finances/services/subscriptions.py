"""Cancelling, resuming and changing plan (issue 12, item 2); subscribing is in
`subscription_start`.

Same shape as `purchase_initiate`: a short transaction checks our row, Stripe is called
with no transaction open and a deterministic idempotency key, a short transaction stores
what Stripe answered.
"""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError, PermissionDeniedError, field_invalid
from finances import stripe_billing
from finances.locks import subscription_lock
from finances.models import Subscription
from finances.services.subscription_customers import pricing_plan_stripe_plan_ensure
from finances.services.subscription_start import subscription_plan_get
from finances.services.subscription_state import (
    subscription_state_apply,
    subscription_status_change_record,
)
from finances.stripe_billing_payloads import SubscriptionData

logger = logging.getLogger(__name__)
Status = Subscription.Status

CANCEL_PERMISSION = "finances.cancel_subscription"


def subscription_may_manage(*, subscription: Subscription, user: User) -> bool:
    """The payer, the student, or staff holding the cancel permission."""
    if user.pk in (subscription.payer_id, subscription.student_id):
        return True
    return user.is_active and user.has_perm(CANCEL_PERMISSION)


def _require_manager(subscription: Subscription, actor: User | None) -> None:
    if actor is not None and not subscription_may_manage(subscription=subscription, user=actor):
        raise PermissionDeniedError("You cannot change this subscription.")


def _require_open(subscription: Subscription) -> None:
    if subscription.is_final or not subscription.stripe_subscription_id:
        raise ApplicationError(
            code="subscription_not_active",
            message=f"This subscription is {subscription.status}; it cannot be changed.",
            status_code=409,
        )


def _store(
    subscription: Subscription, data: SubscriptionData, *, actor, source: str
) -> Subscription:
    with transaction.atomic(durable=True):
        locked = subscription_lock(subscription_id=subscription.pk)
        subscription_state_apply(locked, data, state_at=timezone.now(), source=source, actor=actor)
    locked.refresh_from_db()
    return locked


def subscription_cancel(
    *,
    subscription: Subscription,
    actor: User | None,
    immediately: bool = False,
    source: str = "api",
) -> Subscription:
    """At the period end (the hours paid for stay); staff may end it now, which keeps the
    granted hours too (they expire as usual)."""
    _require_manager(subscription, actor)
    _require_open(subscription)
    if immediately:
        if actor is not None and not (actor.is_active and actor.has_perm(CANCEL_PERMISSION)):
            raise PermissionDeniedError(f"Cancelling now needs the permission {CANCEL_PERMISSION}.")
        data = stripe_billing.subscription_cancel_now(
            subscription_id=subscription.stripe_subscription_id,
            idempotency_key=f"subscription-cancel-now:{subscription.pk}",
        )
    else:
        data = stripe_billing.subscription_cancel_at_period_end_set(
            subscription_id=subscription.stripe_subscription_id,
            cancel=True,
            idempotency_key=_toggle_key(subscription, "cancel"),
        )
    return _store(subscription, data, actor=actor, source=source)


def subscription_resume(
    *, subscription: Subscription, actor: User | None, source: str = "api"
) -> Subscription:
    """Undoes a pending cancel at the period end."""
    _require_manager(subscription, actor)
    _require_open(subscription)
    data = stripe_billing.subscription_cancel_at_period_end_set(
        subscription_id=subscription.stripe_subscription_id,
        cancel=False,
        idempotency_key=_toggle_key(subscription, "resume"),
    )
    return _store(subscription, data, actor=actor, source=source)


def _toggle_key(subscription: Subscription, what: str) -> str:
    # Cancel, resume, cancel again are distinct requests: the key counts the history.
    return f"subscription-{what}:{subscription.pk}:{subscription.status_changes.count()}"


def subscription_change_plan(
    *, subscription: Subscription, plan_id: int, actor: User | None
) -> Subscription:
    """The new plan is billed, and its hours granted, from the next period on; the
    current period keeps what was paid for (nothing prorated)."""
    _require_manager(subscription, actor)
    _require_open(subscription)
    plan = subscription_plan_get(plan_id=plan_id)
    if plan.currency != subscription.plan.currency:
        raise field_invalid("plan_id", "The new plan must be in the same currency.")
    target = None if plan.pk == subscription.plan_id else plan
    stripe_plan_id = pricing_plan_stripe_plan_ensure(plan=plan)
    data = stripe_billing.subscription_plan_change(
        subscription_id=subscription.stripe_subscription_id,
        plan_id=stripe_plan_id,
        idempotency_key=f"subscription-plan:{subscription.pk}:{plan.pk}:"
        f"{subscription.status_changes.count()}",
    )
    with transaction.atomic(durable=True):
        locked = subscription_lock(subscription_id=subscription.pk)
        locked.scheduled_plan = target
        locked.save(update_fields=["scheduled_plan", "updated_at"])
        subscription_state_apply(locked, data, state_at=timezone.now(), source="api", actor=actor)
        subscription_status_change_record(
            locked,
            previous=locked.status,
            source="api",
            actor=actor,
            note=f"Plan from the next period: {plan.name}.",
        )
    locked.refresh_from_db()
    return locked
