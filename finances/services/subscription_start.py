"""Subscribing (issue 12, item 2): one open subscription per student, and a repeated
request (same Idempotency-Key) answered with the first one's outcome.

Same shape as `purchase_initiate`: a short transaction records our row, Stripe is called
with no transaction open and a deterministic idempotency key, a short transaction stores
what Stripe answered. The first invoice is charged by `subscriptions.create` itself with
the payer's saved card; when it is already paid, its period is granted right away (the
webhooks that follow find it granted).
"""

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError, field_invalid
from finances import stripe_billing
from finances.errors import (
    IdempotencyConflict,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderMisconfigured,
    PaymentProviderObjectNotFound,
    PaymentProviderUnavailable,
)
from finances.locks import subscription_lock
from finances.models import PricingPlan, Subscription
from finances.services.family_requests import (
    GuardianApprovalRequired,
    student_purchase_approval_check,
)
from finances.services.purchases import (
    CheckoutInProgress,
    _purchase_parties,
    purchase_id_for_checkout_key,
)
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


@dataclass(frozen=True)
class SubscriptionStart:
    subscription: Subscription
    client_secret: str  # empty unless the first payment needs the buyer (3-D Secure)
    replayed: bool = False  # the answer to a repeated request (same Idempotency-Key)


class SubscriptionExists(ApplicationError):
    default_code = "subscription_exists"
    default_message = (
        "This student already has an open subscription (active, past due, unpaid, or waiting "
        "for its first payment): change its plan or cancel it instead of subscribing again."
    )
    default_status_code = 409


# The database's name for "one open subscription per student" (finances/models).
_ONE_OPEN_PER_STUDENT = "subscription_one_open_per_student"
_DECLINED_REASON = "The first payment was declined."
# A failed start stores "<code>: <message>"; its replay answers the same error.
_PROVIDER_ERRORS_BY_CODE = {
    error.default_code: error
    for error in (
        PaymentDeclined,
        PaymentProviderUnavailable,
        PaymentProviderMisconfigured,
        PaymentProviderObjectNotFound,
        IdempotencyConflict,
    )
}


def subscription_plan_get(*, plan_id: int) -> PricingPlan:
    plan = PricingPlan.objects.filter(pk=plan_id, is_active=True).first()
    if plan is None:
        raise field_invalid("plan_id", "No active pricing plan has this id.")
    if plan.plan_type != PricingPlan.PlanType.SUBSCRIPTION:
        raise field_invalid("plan_id", "This plan is a package: buy it at /api/finances/purchase/.")
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


def subscription_id_for_checkout_key(
    *, checkout_key: str, plan_id: int, buyer: User | None, student_email: str | None
) -> uuid.UUID:
    """The subscription id one checkout attempt gets, as a package's
    (`purchase_id_for_checkout_key`, in its own name space): the same key from the same
    buyer for the same plan names the same row, so a double submit or a network retry
    never starts a second subscription; the primary key makes that unique."""
    return purchase_id_for_checkout_key(
        checkout_key=f"subscription:{checkout_key}",
        plan_id=plan_id,
        buyer=buyer,
        student_email=student_email,
    )


def _names_constraint(error: IntegrityError, name: str, column: str) -> bool:
    """Whether the unique violation is `name` (PostgreSQL names it; SQLite names the
    table's column instead)."""
    diag = getattr(error.__cause__, "diag", None)
    if diag is not None:
        return diag.constraint_name == name
    return f"{Subscription._meta.db_table}.{column}" in str(error)


def _subscription_start_replay(*, subscription: Subscription) -> SubscriptionStart:
    """What a repeated request gets: the first request's outcome, never a second
    subscription or charge."""
    code, _, message = subscription.failure_reason.partition(": ")
    if not subscription.stripe_subscription_id:
        if subscription.status == Status.INCOMPLETE and not subscription.failure_reason:
            raise CheckoutInProgress()  # the first request is still talking to Stripe
        first_error = _PROVIDER_ERRORS_BY_CODE.get(code)
        raise first_error(message or None) if first_error else PaymentProviderError()
    if subscription.failure_reason == _DECLINED_REASON:
        raise PaymentDeclined("The card was declined; try another card.")
    data = stripe_billing.subscription_retrieve(
        subscription_id=subscription.stripe_subscription_id, with_latest_invoice=True
    )
    subscription.refresh_from_db()
    return SubscriptionStart(
        subscription=subscription, client_secret=_client_secret(data), replayed=True
    )


def subscription_create(
    *,
    plan_id: int,
    payment_method_id: str,
    buyer: User | None,
    student_name: str | None = None,
    student_email: str | None = None,
    checkout_key: str | None = None,
) -> SubscriptionStart:
    """Starts a monthly plan. A student has at most one open subscription (not CANCELED
    or INCOMPLETE_EXPIRED: the database's unique index), so a second attempt, even a
    concurrent one, answers 409 `subscription_exists` before Stripe is called; with
    `checkout_key` a repeated request answers what the first one did."""
    plan = subscription_plan_get(plan_id=plan_id)
    subscription_id = (
        subscription_id_for_checkout_key(
            checkout_key=checkout_key, plan_id=plan.pk, buyer=buyer, student_email=student_email
        )
        if checkout_key
        else uuid.uuid4()
    )
    if checkout_key:
        existing = Subscription.objects.filter(pk=subscription_id).first()
        if existing is not None:
            return _subscription_start_replay(subscription=existing)
    try:
        subscription = _subscription_row_create(
            subscription_id=subscription_id,
            plan=plan,
            buyer=buyer,
            student_name=student_name,
            student_email=student_email,
        )
    except IntegrityError as error:
        # A request with the same key may have inserted it first (its primary key, or the
        # student's open subscription, taken): that is a repeat.
        existing = Subscription.objects.filter(pk=subscription_id).first() if checkout_key else None
        if existing is not None:
            return _subscription_start_replay(subscription=existing)
        if _names_constraint(error, _ONE_OPEN_PER_STUDENT, "student_id"):
            raise SubscriptionExists() from error
        raise
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


def _subscription_row_create(
    *,
    subscription_id: uuid.UUID,
    plan: PricingPlan,
    buyer: User | None,
    student_name: str | None,
    student_email: str | None,
) -> Subscription:
    with transaction.atomic(durable=True):
        student, purchased_by, guardian_link = _purchase_parties(
            buyer=buyer, student_name=student_name, student_email=student_email
        )
        _guardian_approval_check(student=student, payer=purchased_by, plan=plan)
        # An open subscription of the student's refuses the INSERT (the unique index
        # subscription_one_open_per_student), sequential or concurrent alike.
        subscription = Subscription.objects.create(
            id=subscription_id,
            student=student,
            payer=purchased_by or student,
            guardian_link=guardian_link,
            plan=plan,
            livemode=settings.STRIPE_LIVEMODE,
        )
        subscription_status_change_record(
            subscription, previous="", source="api", actor=buyer, note="Subscription started."
        )
    return subscription


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
        locked.failure_reason = _DECLINED_REASON
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
