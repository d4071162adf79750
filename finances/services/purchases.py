"""Starting a purchase (spec R1): a pending row, then the PaymentIntent, then its id.

No database transaction is open during the Stripe call. Whatever fails, the row and
Stripe stay consistent: a failed call leaves the purchase FAILED with its reason; a
PaymentIntent whose id we could not store is still found later through its metadata.
"""

import hashlib
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import GuardianStudentLink, User
from accounts.selectors import guardian_link_get
from accounts.services import guest_user_get_or_create, user_language_set
from core.errors import ApplicationError
from finances import stripe_gateway
from finances.errors import PaymentDeclined, PaymentProviderError, PaymentProviderObjectNotFound
from finances.models import PricingPlan, PurchaseTransaction
from finances.services.family_requests import student_purchase_approval_check
from finances.stripe_payloads import MalformedStripeObject

logger = logging.getLogger(__name__)


# Namespace of the purchase ids derived from a checkout page's idempotency key.
CHECKOUT_KEY_NAMESPACE = uuid.UUID("5f0b8f52-3c3e-4d5e-9a57-2f1b6c0f7a11")


@dataclass(frozen=True)
class PurchaseInitiation:
    purchase: PurchaseTransaction
    client_secret: str
    # The PaymentIntent's status: "requires_payment_method" for a PaymentIntent the
    # browser confirms, "succeeded" or "requires_action" (3-D Secure) for one confirmed
    # here with the buyer's payment method.
    payment_intent_status: str = ""
    # True when an earlier request with the same idempotency key already started it.
    replayed: bool = False


class CheckoutInProgress(ApplicationError):
    default_code = "checkout_in_progress"
    default_message = "This payment is already being processed. Wait a moment."
    default_status_code = 409


def client_secret_hash(client_secret: str) -> str:
    return hashlib.sha256(client_secret.encode()).hexdigest()


def _purchase_parties(
    *,
    buyer: User | None,
    student_name: str | None,
    student_email: str | None,
    language: str = "",
) -> tuple[User, User | None, GuardianStudentLink | None]:
    """(student, purchased_by, guardian_link) for this request."""
    if buyer is not None:
        user_language_set(user=buyer, language=language)  # the language of their emails
    if buyer is None:
        if not student_name or not student_email:
            raise ApplicationError(
                code="validation_error",
                message="The request has invalid fields.",
                fields={"student_info": ["Name and email are required for a guest purchase."]},
            )
        student = guest_user_get_or_create(
            email=student_email, name=student_name, language=language
        )
        return student, None, None
    if not student_email or student_email == buyer.email:
        return buyer, None, None
    link = guardian_link_get(guardian=buyer, student_email=student_email)
    if link is None:
        raise ApplicationError(
            code="validation_error",
            message="The request has invalid fields.",
            fields={"student_info": ["You can buy for yourself or for a student linked to you."]},
        )
    return link.student, buyer, link


def pricing_plan_for_purchase(*, plan_id: int) -> PricingPlan:
    """The active plan with this id, or the 400 a purchase of any other id answers."""
    plan = PricingPlan.objects.filter(pk=plan_id, is_active=True).first()
    if plan is None:
        raise ApplicationError(
            code="validation_error",
            message="The request has invalid fields.",
            fields={"plan_id": ["No active pricing plan has this id."]},
        )
    if plan.plan_type == PricingPlan.PlanType.SUBSCRIPTION:
        # Subscription plans renew through Stripe Billing (docs/subscriptions.md).
        raise ApplicationError(
            code="validation_error",
            message="Subscription plans are bought at POST /api/finances/subscriptions/.",
            fields={"plan_id": ["This plan is a subscription: POST /api/finances/subscriptions/."]},
        )
    return plan


def purchase_id_for_checkout_key(
    *, checkout_key: str, plan_id: int, buyer: User | None, student_email: str | None
) -> uuid.UUID:
    """The purchase id one checkout attempt gets: the same key (a page's double submit or
    a network retry) from the same buyer for the same plan names the same purchase, which
    the primary key makes unique in the database."""
    identity = ":".join(
        [checkout_key, str(plan_id), str(buyer.pk) if buyer else "", (student_email or "").lower()]
    )
    return uuid.uuid5(CHECKOUT_KEY_NAMESPACE, identity)


def _purchase_initiation_replay(*, purchase: PurchaseTransaction) -> PurchaseInitiation:
    """What a repeated request gets: the first request's outcome, never a second charge."""
    if purchase.status == PurchaseTransaction.Status.FAILED:
        code, _, message = purchase.failure_reason.partition(": ")
        if code == PaymentDeclined.default_code:
            raise PaymentDeclined(message or None)
        raise PaymentProviderError()
    if not purchase.stripe_payment_intent_id:
        raise CheckoutInProgress()
    payment_intent = stripe_gateway.payment_intent_retrieve(
        payment_intent_id=purchase.stripe_payment_intent_id
    )
    return PurchaseInitiation(
        purchase=purchase,
        client_secret=payment_intent.client_secret or "",
        payment_intent_status=payment_intent.status,
        replayed=True,
    )


def purchase_initiate(
    *,
    plan_id: int,
    buyer: User | None,
    student_name: str | None = None,
    student_email: str | None = None,
    language: str = "",
    payment_method_id: str | None = None,
    checkout_key: str | None = None,
    plan: PricingPlan | None = None,
) -> PurchaseInitiation:
    """Starts a purchase. With `payment_method_id` (a card from Stripe.js) the
    PaymentIntent is confirmed here too; with `checkout_key` a repeated request answers
    what the first one did instead of starting a second purchase. `language`: the
    request's (en, pt-pt); the buyer's emails are written in it (a new guest's, a signed-in
    buyer's; an existing account named by a guest checkout keeps its own). `plan`: the
    plan `pricing_plan_for_purchase` already returned for `plan_id` (the view reads it
    before the rate limit), so that it is not read twice."""
    if plan is None or plan.pk != plan_id:
        plan = pricing_plan_for_purchase(plan_id=plan_id)
    purchase_id = (
        purchase_id_for_checkout_key(
            checkout_key=checkout_key, plan_id=plan.pk, buyer=buyer, student_email=student_email
        )
        if checkout_key
        else uuid.uuid4()
    )
    if checkout_key:
        existing = PurchaseTransaction.objects.filter(pk=purchase_id).first()
        if existing is not None:
            return _purchase_initiation_replay(purchase=existing)
    try:
        with transaction.atomic(durable=True):
            student, purchased_by, guardian_link = _purchase_parties(
                buyer=buyer,
                student_name=student_name,
                student_email=student_email,
                language=language,
            )
            # families: a purchase the student's guardians must approve is refused (403).
            student_purchase_approval_check(
                student=student, payer=purchased_by, amount_cents=plan.price_cents
            )
            purchase = PurchaseTransaction.objects.create(
                id=purchase_id,
                student=student,
                purchased_by=purchased_by,
                guardian_link=guardian_link,
                livemode=settings.STRIPE_LIVEMODE,
                **PurchaseTransaction.plan_snapshot(plan),
            )
    except IntegrityError:
        # A concurrent request with the same key inserted it first.
        existing = (
            PurchaseTransaction.objects.filter(pk=purchase_id).first() if checkout_key else None
        )
        if existing is None:
            raise
        return _purchase_initiation_replay(purchase=existing)

    # families: the PaymentIntent part is shared with a guardian paying a request.
    return purchase_payment_intent_start(
        purchase=purchase, guest=buyer is None, payment_method_id=payment_method_id
    )


def purchase_payment_intent_start(
    *,
    purchase: PurchaseTransaction,
    guest: bool = False,
    metadata_extra: dict[str, str] | None = None,
    customer_id: str | None = None,
    payment_method_id: str | None = None,
) -> PurchaseInitiation:
    """Creates the PaymentIntent of a just-created PENDING purchase (no transaction open)
    and stores its id; a failure leaves the purchase FAILED with its reason. With
    `payment_method_id` (a card from Stripe.js) the PaymentIntent is confirmed here too."""
    try:
        payment_intent = stripe_gateway.payment_intent_create(
            amount_cents=purchase.amount_cents,
            currency=purchase.currency,
            metadata={
                "application": settings.STRIPE_METADATA_APPLICATION,
                "transaction_id": str(purchase.pk),
                "plan_id": str(purchase.plan_id),
                "student_id": str(purchase.student_id),
                **(metadata_extra or {}),
            },
            idempotency_key=f"purchase-initiate:{purchase.pk}",
            description=purchase.plan_name,
            receipt_email=(purchase.purchased_by or purchase.student).email,
            payment_method_id=payment_method_id,
            customer_id=customer_id,
        )
    except PaymentProviderObjectNotFound as error:
        purchase_mark_failed(purchase=purchase, reason=f"{error.code}: {error.message}")
        if payment_method_id:
            # The only object this call names: the buyer's payment method.
            raise ApplicationError(
                code="validation_error",
                message="The request has invalid fields.",
                fields={"payment_method_id": ["The payment provider knows no such method."]},
            ) from error
        raise
    except PaymentProviderError as error:
        purchase_mark_failed(purchase=purchase, reason=f"{error.code}: {error.message}")
        raise
    except MalformedStripeObject as error:
        purchase_mark_failed(purchase=purchase, reason=f"Unreadable answer from Stripe: {error}")
        raise PaymentProviderError() from error
    except Exception:
        purchase_mark_failed(purchase=purchase, reason="Unexpected error while calling Stripe.")
        raise

    # One UPDATE is its own short transaction.
    stored = {
        "stripe_payment_intent_id": payment_intent.id,
        "client_secret_hash": client_secret_hash(payment_intent.client_secret or ""),
        "livemode": payment_intent.livemode,
        "stripe_customer_id": payment_intent.customer_id or "",
        "updated_at": timezone.now(),
    }
    PurchaseTransaction.objects.filter(
        Q(stripe_payment_intent_id__isnull=True) | Q(stripe_payment_intent_id=payment_intent.id),
        pk=purchase.pk,
    ).update(**stored)
    for field, value in stored.items():
        setattr(purchase, field, value)
    logger.info(
        "purchase.initiated",
        extra={
            "transaction_id": str(purchase.pk),
            "payment_intent_id": payment_intent.id,
            "plan_id": purchase.plan_id,
            "amount_cents": purchase.amount_cents,
            "guest": guest,
            "confirmed_here": bool(payment_method_id),
            "payment_intent_status": payment_intent.status,
        },
    )
    return PurchaseInitiation(
        purchase=purchase,
        client_secret=payment_intent.client_secret or "",
        payment_intent_status=payment_intent.status,
    )


def purchase_mark_failed(*, purchase: PurchaseTransaction, reason: str) -> None:
    """Records why starting the payment failed; only a still-pending purchase changes."""
    PurchaseTransaction.objects.filter(
        pk=purchase.pk, status=PurchaseTransaction.Status.PENDING
    ).update(
        status=PurchaseTransaction.Status.FAILED,
        failure_reason=reason[:2000],
        updated_at=timezone.now(),
    )
    logger.warning(
        "purchase.initiation_failed",
        extra={"transaction_id": str(purchase.pk), "reason": reason},
    )
