"""Subscribing, cancelling, resuming and changing plan (issue 12, item 2).

Same shape as `purchase_initiate`: a short transaction records our row, Stripe is called
with no transaction open and a deterministic idempotency key, a short transaction stores
what Stripe answered. The first invoice is charged by `subscriptions.create` itself with
the payer's saved card; when it is already paid, its period is granted right away (the
webhooks that follow find it granted).
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError, PermissionDeniedError
from finances import stripe_billing
from finances.errors import PaymentDeclined, PaymentProviderError
from finances.locks import subscription_lock
from finances.models import PricingPlan, Subscription
from finances.services.family_requests import (
    GuardianApprovalRequired,
    student_purchase_approval_check,
)
from finances.services.purchases import _purchase_parties
from finances.services.subscription_customers import (
    pricing_plan_stripe_plan_ensure,
    stripe_customer_ensure,
)
from finances.services.subscription_invoices import invoice_paid_apply
from finances.services.subscription_state import (
    subscription_state_apply,
    subscription_status_change_record,
)
from finances.stripe_billing_payloads import SubscriptionData
from finances.stripe_payloads import MalformedStripeObject

logger = logging.getLogger(__name__)
Status = Subscription.Status

CANCEL_PERMISSION = "finances.cancel_subscription"


@dataclass(frozen=True)
class SubscriptionStart:
    subscription: Subscription
    client_secret: str  # empty unless the first payment needs the buyer (3-D Secure)


class SubscriptionExists(ApplicationError):
    default_code = "subscription_exists"
    default_message = (
        "This student already has a subscription; change its plan instead of subscribing again."
    )
    default_status_code = 409


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(
        code="validation_error",
        message="The request has invalid fields.",
        fields={field: [message]},
    )


def subscription_plan_get(*, plan_id: int) -> PricingPlan:
    plan = PricingPlan.objects.filter(pk=plan_id, is_active=True).first()
    if plan is None:
        raise _invalid("plan_id", "No active pricing plan has this id.")
    if plan.plan_type != PricingPlan.PlanType.SUBSCRIPTION:
        raise _invalid("plan_id", "This plan is a package: buy it at /api/finances/purchase/.")
    return plan


def _guardian_approval_check(*, student: User, payer: User | None, plan: PricingPlan) -> None:
    """A supervised student's guardians approve their purchases (docs/families.md), and a
    monthly plan renews by itself, so there is no request for one: the guardian starts it,
    for the student. The same rules as a package: the strictest active guardian wins."""
    try:
        student_purchase_approval_check(student=student, payer=payer, amount_cents=plan.price_cents)
    except GuardianApprovalRequired as refused:
        raise GuardianApprovalRequired(
            "A guardian approves this student's purchases: a monthly plan is started by the "
            "guardian, for the student (POST /api/finances/subscriptions/ with student_info)."
        ) from refused


def subscription_create(
    *,
    plan_id: int,
    payment_method_id: str,
    buyer: User | None,
    student_name: str | None = None,
    student_email: str | None = None,
) -> SubscriptionStart:
    plan = subscription_plan_get(plan_id=plan_id)
    with transaction.atomic(durable=True):
        student, purchased_by, guardian_link = _purchase_parties(
            buyer=buyer, student_name=student_name, student_email=student_email
        )
        _guardian_approval_check(student=student, payer=purchased_by, plan=plan)
        if Subscription.objects.filter(
            student=student, status__in=[Status.ACTIVE, Status.PAST_DUE]
        ).exists():
            raise SubscriptionExists()
        subscription = Subscription.objects.create(
            student=student,
            payer=purchased_by or student,
            guardian_link=guardian_link,
            plan=plan,
            livemode=settings.STRIPE_LIVEMODE,
        )
        subscription_status_change_record(
            subscription, previous="", source="api", actor=buyer, note="Subscription started."
        )
    try:
        customer_id = stripe_customer_ensure(user=subscription.payer)
        stripe_plan_id = pricing_plan_stripe_plan_ensure(plan=plan)
        stripe_billing.payment_method_set_default(
            customer_id=customer_id, payment_method_id=payment_method_id
        )
        read_at = timezone.now()
        data = stripe_billing.subscription_create(
            customer_id=customer_id,
            plan_id=stripe_plan_id,
            metadata={
                "application": settings.STRIPE_METADATA_APPLICATION,
                "subscription_id": str(subscription.pk),
                "plan_id": str(plan.pk),
                "student_id": str(subscription.student_id),
            },
            idempotency_key=f"subscription-create:{subscription.pk}",
        )
    except PaymentProviderError as error:
        # A retryable error may hide a subscription Stripe did create (the answer was
        # lost): it stays INCOMPLETE for its webhooks or reconciliation to adopt.
        _mark_not_started(
            subscription, f"{error.code}: {error.message}", outcome_unknown=error.retryable
        )
        raise
    except MalformedStripeObject as error:
        _mark_not_started(subscription, f"Unreadable answer from Stripe: {error}")
        raise PaymentProviderError() from error
    with transaction.atomic(durable=True):
        locked = subscription_lock(subscription_id=subscription.pk)
        locked.stripe_subscription_id = data.id
        locked.stripe_customer_id = customer_id
        locked.save(update_fields=["stripe_subscription_id", "stripe_customer_id", "updated_at"])
        # The state as read now: the `customer.subscription.created` event (made before the
        # first payment, so often `incomplete`) is older and will not overwrite it.
        subscription_state_apply(locked, data, state_at=read_at, source="api", actor=buyer)
        if data.latest_invoice is not None and data.latest_invoice.is_paid:
            invoice_paid_apply(invoice=data.latest_invoice)
    locked.refresh_from_db()
    if _first_payment_declined(data):
        _abandon_declined(locked)
        raise PaymentDeclined("The card was declined; try another card.")
    logger.info(
        "subscription.created",
        extra={
            "subscription_id": str(locked.pk),
            "stripe_subscription_id": data.id,
            "status": locked.status,
            "plan_id": plan.pk,
            "guest": buyer is None,
        },
    )
    return SubscriptionStart(subscription=locked, client_secret=_client_secret(data))


def _first_payment_declined(data: SubscriptionData) -> bool:
    invoice = data.latest_invoice
    return (
        data.status == Status.INCOMPLETE
        and invoice is not None
        and not invoice.is_paid
        and invoice.payment_intent_status == "requires_payment_method"
    )


def _abandon_declined(subscription: Subscription) -> None:
    """A declined first payment: the subscription is ended at Stripe (nothing was paid,
    no period granted) so that the buyer starts again with another card."""
    data = stripe_billing.subscription_cancel_now(
        subscription_id=subscription.stripe_subscription_id,
        idempotency_key=f"subscription-declined:{subscription.pk}",
    )
    with transaction.atomic(durable=True):
        locked = subscription_lock(subscription_id=subscription.pk)
        previous = locked.status
        locked.failure_reason = "The first payment was declined."
        locked.ended_at = data.ended_at or timezone.now()
        locked.stripe_state_at = timezone.now()
        if not locked.is_final:
            locked.status = Status.INCOMPLETE_EXPIRED
        locked.save()
        if locked.status != previous:
            subscription_status_change_record(
                locked, previous=previous, source="api", note=locked.failure_reason
            )


def _client_secret(data: SubscriptionData) -> str:
    invoice = data.latest_invoice
    if invoice is None or invoice.is_paid or data.status != Status.INCOMPLETE:
        return ""
    if invoice.payment_intent_status not in (None, "requires_action", "requires_confirmation"):
        return ""
    return invoice.client_secret or ""


def _mark_not_started(subscription: Subscription, reason: str, *, outcome_unknown=False) -> None:
    with transaction.atomic(durable=True):
        locked = subscription_lock(subscription_id=subscription.pk)
        if locked.stripe_subscription_id or locked.status != Status.INCOMPLETE:
            return
        locked.failure_reason = reason[:2000]
        if outcome_unknown:
            locked.save(update_fields=["failure_reason", "updated_at"])
            return
        locked.status = Status.INCOMPLETE_EXPIRED
        locked.save(update_fields=["status", "failure_reason", "updated_at"])
        subscription_status_change_record(
            locked, previous=Status.INCOMPLETE, source="api", note=reason
        )
    logger.warning(
        "subscription.start_failed",
        extra={"subscription_id": str(subscription.pk), "reason": reason},
    )


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
        raise _invalid("plan_id", "The new plan must be in the same currency.")
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
