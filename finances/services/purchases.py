"""Starting a purchase (spec R1): a pending row, then the PaymentIntent, then its id.

No database transaction is open during the Stripe call. Whatever fails, the row and
Stripe stay consistent: a failed call leaves the purchase FAILED with its reason; a
PaymentIntent whose id we could not store is still found later through its metadata.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import GuardianStudentLink, User
from accounts.selectors import guardian_link_get
from accounts.services import guest_user_get_or_create
from core.errors import ApplicationError
from finances import stripe_gateway
from finances.errors import PaymentProviderError
from finances.models import PricingPlan, PurchaseTransaction
from finances.services.family_requests import student_purchase_approval_check
from finances.stripe_payloads import MalformedStripeObject

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurchaseInitiation:
    purchase: PurchaseTransaction
    client_secret: str


def client_secret_hash(client_secret: str) -> str:
    return hashlib.sha256(client_secret.encode()).hexdigest()


def _purchase_parties(
    *, buyer: User | None, student_name: str | None, student_email: str | None
) -> tuple[User, User | None, GuardianStudentLink | None]:
    """(student, purchased_by, guardian_link) for this request."""
    if buyer is None:
        if not student_name or not student_email:
            raise ApplicationError(
                code="validation_error",
                message="The request has invalid fields.",
                fields={"student_info": ["Name and email are required for a guest purchase."]},
            )
        return guest_user_get_or_create(email=student_email, name=student_name), None, None
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
    return plan


def purchase_initiate(
    *,
    plan_id: int,
    buyer: User | None,
    student_name: str | None = None,
    student_email: str | None = None,
) -> PurchaseInitiation:
    plan = pricing_plan_for_purchase(plan_id=plan_id)
    with transaction.atomic(durable=True):
        student, purchased_by, guardian_link = _purchase_parties(
            buyer=buyer, student_name=student_name, student_email=student_email
        )
        # families: a purchase the student's guardians must approve is refused (403).
        student_purchase_approval_check(
            student=student, payer=purchased_by, amount_cents=plan.price_cents
        )
        purchase = PurchaseTransaction.objects.create(
            student=student,
            purchased_by=purchased_by,
            guardian_link=guardian_link,
            livemode=settings.STRIPE_LIVEMODE,
            **PurchaseTransaction.plan_snapshot(plan),
        )

    # families: the PaymentIntent part is shared with a guardian paying a request.
    return purchase_payment_intent_start(purchase=purchase, guest=buyer is None)


def purchase_payment_intent_start(
    *,
    purchase: PurchaseTransaction,
    guest: bool = False,
    metadata_extra: dict[str, str] | None = None,
    customer_id: str | None = None,
) -> PurchaseInitiation:
    """Creates the PaymentIntent of a just-created PENDING purchase (no transaction open)
    and stores its id; a failure leaves the purchase FAILED with its reason."""
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
            **({"customer_id": customer_id} if customer_id else {}),
        )
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
        },
    )
    return PurchaseInitiation(purchase=purchase, client_secret=payment_intent.client_secret or "")


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
