"""The payer's Stripe Customer and the Stripe Product/Plan of each subscription plan,
created lazily, once, with deterministic idempotency keys and ids."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from finances import stripe_billing
from finances.models import PricingPlan, StripeCustomer

logger = logging.getLogger(__name__)


def stripe_customer_ensure(*, user: User) -> str:
    """The Stripe Customer id of this payer, created at Stripe the first time.

    The idempotency key is derived from the user, so two concurrent first calls create one
    Customer at Stripe; if two were created anyway (a Stripe that ignores keys), the first
    one stored wins and is the only one used. Only the email and name go to Stripe (it puts
    them on receipts)."""
    stored = StripeCustomer.objects.filter(user=user).values_list("stripe_customer_id", flat=True)
    if stored:
        return stored[0]
    name = (user.get_full_name() or "").strip()
    customer_id = stripe_billing.customer_create(
        email=user.email,
        name=name,
        metadata={"application": settings.STRIPE_METADATA_APPLICATION, "user_id": str(user.pk)},
        idempotency_key=f"customer:{settings.STRIPE_METADATA_APPLICATION}:{user.pk}",
    )
    try:
        with transaction.atomic(durable=True):
            StripeCustomer.objects.create(
                user=user, stripe_customer_id=customer_id, livemode=settings.STRIPE_LIVEMODE
            )
    except IntegrityError:
        winner = StripeCustomer.objects.get(user=user).stripe_customer_id
        if winner != customer_id:
            logger.warning(
                "stripe_customer.duplicate_created",
                extra={"user_id": user.pk, "kept": winner, "unused": customer_id},
            )
        return winner
    logger.info("stripe_customer.created", extra={"user_id": user.pk, "customer_id": customer_id})
    return customer_id


def stripe_plan_id_for(plan: PricingPlan) -> str:
    """Deterministic: a Stripe Plan cannot change its amount, currency or interval, so they
    are part of the id, and a repriced plan gets a new Stripe Plan."""
    return (
        f"aprende-{plan.slug}-{plan.price_cents}-{plan.currency.lower()}-"
        f"{(plan.billing_period or '').lower()}"
    )


def stripe_product_id_for(plan: PricingPlan) -> str:
    return f"aprende-{plan.slug}"


def pricing_plan_stripe_plan_ensure(*, plan: PricingPlan) -> str:
    """The Stripe Plan id billed for this subscription plan, created once and stored."""
    if plan.plan_type != PricingPlan.PlanType.SUBSCRIPTION:
        raise ValueError("Only subscription plans are billed by Stripe Billing.")
    wanted = stripe_plan_id_for(plan)
    if plan.stripe_plan_id == wanted:
        return wanted
    product_id = stripe_billing.product_ensure(
        product_id=stripe_product_id_for(plan), name=plan.name
    )
    stripe_billing.plan_ensure(
        plan_id=wanted,
        product_id=product_id,
        amount_cents=plan.price_cents,
        currency=plan.currency,
        billing_period=plan.billing_period,
    )
    PricingPlan.objects.filter(pk=plan.pk).update(
        stripe_product_id=product_id, stripe_plan_id=wanted
    )
    plan.stripe_product_id, plan.stripe_plan_id = product_id, wanted
    return wanted


def pricing_plan_for_stripe_plan(*, stripe_plan_id: str | None) -> PricingPlan | None:
    """Our plan billed as this Stripe Plan/Price (a repriced plan no longer matches its
    old Stripe Plan: that one is looked up by its id's slug and price)."""
    if not stripe_plan_id:
        return None
    plan = PricingPlan.objects.filter(stripe_plan_id=stripe_plan_id).first()
    if plan is not None:
        return plan
    for candidate in PricingPlan.objects.filter(plan_type=PricingPlan.PlanType.SUBSCRIPTION):
        if stripe_plan_id_for(candidate) == stripe_plan_id:
            return candidate
    return None


def is_our_stripe_plan(stripe_plan_id: str | None) -> bool:
    return bool(stripe_plan_id and stripe_plan_id.startswith("aprende-"))
