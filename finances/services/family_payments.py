"""Approving is paying (docs/families.md): the guardian asked starts the payment of a
student's request. The student is credited, the guardian is the payer, and the
PaymentIntent's metadata names the request; the webhook closes it as PAID.

A request has at most one payment that is not cancelled (a unique constraint), taken under
the request's lock, so two approvals at once make one PaymentIntent: the second gets the
same one back. A failed payment is cancelled at Stripe before another starts, so an old
PaymentIntent can never be paid as well.
"""

import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ConflictError, NotFoundError, PermissionDeniedError
from finances import stripe_gateway
from finances.locks import purchase_request_lock
from finances.models import PurchaseRequest, PurchaseTransaction
from finances.models.families import FROZEN_FIELDS
from finances.services.checkouts import ExpiryAction, abandoned_checkout_expire
from finances.services.family_requests import (
    Kind,
    _expire_overdue,
    monthly_cap_check,
    purchase_request_event_record,
)
from finances.services.purchases import (
    PurchaseInitiation,
    client_secret_hash,
    purchase_mark_failed,
    purchase_payment_intent_start,
)
from finances.services.subscription_customers import stripe_customer_ensure
from finances.units import cents_to_amount_string, minutes_to_hours_string

logger = logging.getLogger(__name__)
Status = PurchaseRequest.Status
PaymentStatus = PurchaseTransaction.Status
STALE_INITIATION = timedelta(minutes=2)


def _payer_customer_id(payer: User) -> str | None:
    """The guardian's Stripe Customer for the PaymentIntent (`customer=`), created once
    (the same one their subscriptions use). Called with no transaction open."""
    return stripe_customer_ensure(user=payer)


@dataclass(frozen=True)
class _Step:
    action: str  # "new", "reuse", "close_failed", "expired"
    purchase: PurchaseTransaction | None = None


def _repriced(request: PurchaseRequest, plan) -> ConflictError:
    return ConflictError(
        f"The plan changed since the request was made: it now costs "
        f"{cents_to_amount_string(plan.price_cents)} {plan.currency} for "
        f"{minutes_to_hours_string(plan.minutes)} h (asked: {request.amount} "
        f"{request.currency} for {request.hours} h). Send confirm_new_price: true to pay "
        f"the new price.",
        code="purchase_request_repriced",
    )


def _prepare(*, request_id, payer: User, confirm_new_price: bool) -> _Step:
    now = timezone.now()
    with transaction.atomic(durable=True):
        request = purchase_request_lock(request_id=request_id)
        if request is None or payer.pk not in (request.student_id, request.guardian_id):
            raise NotFoundError("No purchase request of yours has this id.")
        if payer.pk != request.guardian_id:
            raise PermissionDeniedError(
                "Only the guardian asked can approve and pay this request.",
                code="not_the_guardian",
            )
        if request.guardian_link.ended_at is not None:
            raise PermissionDeniedError(
                "You are no longer linked to this student.", code="family_link_ended"
            )
        if _expire_overdue(PurchaseRequest.objects.filter(pk=request.pk), now=now):
            return _Step("expired")
        if request.status != Status.PENDING:
            raise ConflictError(
                f"This request is {request.status.lower()}.", code="purchase_request_closed"
            )
        live = (
            PurchaseTransaction.objects.filter(purchase_request=request)
            .exclude(status=PaymentStatus.CANCELLED)
            .first()
        )
        if live is not None:
            if _never_reached_stripe(live, now=now):
                return _Step("close_failed", live)
            if live.status in (PaymentStatus.PENDING, PaymentStatus.PROCESSING):
                return _Step("reuse", live)
            if live.status == PaymentStatus.FAILED:
                return _Step("close_failed", live)
            raise ConflictError("This request is already paid.", code="purchase_request_paid")
        plan = request.plan
        if not plan.is_active:
            raise ConflictError(
                "This plan is no longer sold; the request can only be declined.",
                code="plan_unavailable",
            )
        if request.differs_from_plan(plan):
            if not confirm_new_price:
                raise _repriced(request, plan)
            before = {name: getattr(request, name) for name in FROZEN_FIELDS}
            request.plan_type, request.plan_name = plan.plan_type, plan.name
            request.minutes, request.amount_cents = plan.minutes, plan.price_cents
            request.currency, request.validity_days = plan.currency, plan.validity_days
            request.billing_period = plan.billing_period
            request.save(update_fields=[*FROZEN_FIELDS, "updated_at"])
            after = {name: getattr(request, name) for name in FROZEN_FIELDS}
            purchase_request_event_record(
                request=request,
                kind=Kind.REPRICED,
                from_status=request.status,
                actor=payer,
                detail={"before": before, "after": after},
            )
        monthly_cap_check(link=request.guardian_link, amount_cents=request.amount_cents)
        try:
            with transaction.atomic():
                purchase = PurchaseTransaction.objects.create(
                    student_id=request.student_id,
                    purchased_by=payer,
                    guardian_link=request.guardian_link,
                    purchase_request=request,
                    livemode=settings.STRIPE_LIVEMODE,
                    **request.purchase_snapshot(),
                )
        except IntegrityError as error:  # cannot happen under the lock; never a 2nd charge
            raise ConflictError(
                "A payment for this request is being prepared; try again.",
                code="payment_in_progress",
            ) from error
        purchase_request_event_record(
            request=request,
            kind=Kind.PAYMENT_STARTED,
            from_status=request.status,
            actor=payer,
            purchase=purchase,
        )
    return _Step("new", purchase)


def _never_reached_stripe(purchase: PurchaseTransaction, *, now) -> bool:
    """A PENDING payment with no PaymentIntent id for a while: its initiating process died
    (or Stripe's answer was lost). Closed like a failed one, or it would block the request."""
    return (
        purchase.status == PaymentStatus.PENDING
        and not purchase.stripe_payment_intent_id
        and purchase.created_at < now - STALE_INITIATION
    )


def _supersede_without_payment_intent(purchase: PurchaseTransaction) -> bool:
    """No PaymentIntent exists at Stripe for this payment (checkout expiry looked it up by
    its metadata and closed it FAILED): cancelled here, so a new payment may start. No one
    holds a client secret for it, so it can never be paid."""
    return bool(
        PurchaseTransaction.objects.filter(
            pk=purchase.pk, status=PaymentStatus.FAILED, stripe_payment_intent_id__isnull=True
        ).update(
            status=PaymentStatus.CANCELLED,
            failure_reason="No PaymentIntent at Stripe; superseded by a new payment of its "
            "purchase request.",
            updated_at=timezone.now(),
        )
    )


def _in_progress() -> ConflictError:
    return ConflictError(
        "A payment for this request is being prepared; try again in a moment.",
        code="payment_in_progress",
    )


def _reuse(purchase: PurchaseTransaction) -> PurchaseInitiation:
    """The payment already started: its PaymentIntent's client secret, read from Stripe
    (only its hash is stored, and it must match)."""
    if not purchase.stripe_payment_intent_id:
        raise _in_progress()
    intent = stripe_gateway.payment_intent_retrieve(
        payment_intent_id=purchase.stripe_payment_intent_id
    )
    secret = intent.client_secret or ""
    if not secret or not hmac.compare_digest(
        client_secret_hash(secret), purchase.client_secret_hash
    ):
        raise _in_progress()
    # The browser confirms it with the card when it is still `requires_payment_method`
    # (started without one), or authenticates it on `requires_action`.
    status = intent.status or ""
    return PurchaseInitiation(
        purchase=purchase, client_secret=secret, payment_intent_status=status, replayed=True
    )


def purchase_request_pay(
    *,
    request_id,
    payer: User,
    confirm_new_price: bool = False,
    payment_method_id: str | None = None,
) -> PurchaseInitiation:
    """The guardian approves by paying: the same answer as purchase/initiate (the purchase
    and the PaymentIntent client secret). Calling it again returns the same payment. With
    `payment_method_id` (a card from Stripe.js) the PaymentIntent is confirmed here too."""
    for _ in range(3):
        step = _prepare(request_id=request_id, payer=payer, confirm_new_price=confirm_new_price)
        if step.action == "expired":
            raise ConflictError("This request has expired.", code="purchase_request_expired")
        if step.action == "reuse":
            return _reuse(step.purchase)
        if step.action == "close_failed":
            # Cancelled at Stripe before another payment starts (or credited, if paid).
            result = abandoned_checkout_expire(purchase=step.purchase, now=timezone.now())
            if result.action == ExpiryAction.CANCELLED:
                continue
            if result.action == ExpiryAction.CLOSED_FAILED and _supersede_without_payment_intent(
                step.purchase
            ):
                continue
            if result.action == ExpiryAction.CREDITED:
                raise ConflictError("This request is already paid.", code="purchase_request_paid")
            raise _in_progress()
        try:
            customer_id = _payer_customer_id(payer)
        except Exception:
            # Like a PaymentIntent that could not be created: the purchase is FAILED, so a
            # retry supersedes it instead of waiting for it.
            purchase_mark_failed(
                purchase=step.purchase, reason="The payer's Stripe Customer could not be created."
            )
            raise
        initiation = purchase_payment_intent_start(
            purchase=step.purchase,
            metadata_extra={
                "purchase_request_id": str(request_id),
                "payer_id": str(payer.pk),
            },
            customer_id=customer_id,
            payment_method_id=payment_method_id,
        )
        logger.info(
            "family.request_payment_started",
            extra={
                "purchase_request_id": str(request_id),
                "transaction_id": str(initiation.purchase.pk),
            },
        )
        return initiation
    raise _in_progress()
