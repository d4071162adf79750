"""Reconciliation of subscriptions (issue 12, item 7): statuses re-read from Stripe, paid
invoices without a grant granted, periods' PaymentIntents found, within bounded work.

Each run takes at most `limit` open subscriptions, least recently reconciled first, and
reads at most `invoices_per_subscription` of each one's latest invoices; every Stripe call
happens with no transaction open, every write in a short transaction of its own (the same
services the webhooks use, so a concurrent webhook and a run grant once).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from finances import stripe_billing
from finances.errors import PaymentProviderError
from finances.locks import subscription_lock
from finances.models import StripeCustomer, Subscription, SubscriptionPeriod
from finances.services.operator_actions import RECONCILE_PERMISSION, operator_permission_require
from finances.services.payment_outcomes import OutcomeKind
from finances.services.subscription_invoices import (
    invoice_paid_apply,
    subscription_period_payment_attach,
)
from finances.services.subscription_state import (
    subscription_refresh,
    subscription_state_apply,
    subscription_status_change_record,
)
from finances.stripe_payloads import MalformedStripeObject

logger = logging.getLogger(__name__)
UNSTARTED_GRACE = timedelta(minutes=10)
UNSTARTED_EXPIRY = timedelta(days=1)


@dataclass
class SubscriptionReconciliationRun:
    checked: int = 0
    granted: list[str] = field(default_factory=list)  # invoice ids
    errors: list[str] = field(default_factory=list)


def subscriptions_to_reconcile(*, limit: int):
    return (
        Subscription.objects.exclude(status__in=Subscription.FINAL_STATUSES)
        .exclude(stripe_subscription_id=None)
        .order_by(F("last_reconciled_at").asc(nulls_first=True), "created_at")[:limit]
    )


def subscriptions_reconcile(
    *,
    limit: int = 50,
    invoices_per_subscription: int = 6,
    actor=None,
    now: datetime | None = None,
) -> SubscriptionReconciliationRun:
    operator_permission_require(actor=actor, permission=RECONCILE_PERMISSION)
    run = SubscriptionReconciliationRun()
    now = now or timezone.now()
    for subscription in list(unstarted_subscriptions(now=now, limit=limit)):
        try:
            unstarted_subscription_resolve(subscription=subscription, now=now)
        except (PaymentProviderError, MalformedStripeObject) as error:
            run.errors.append(f"{subscription.pk}: {error}")
    for subscription in list(subscriptions_to_reconcile(limit=limit)):
        run.checked += 1
        try:
            subscription_reconcile(
                subscription=subscription,
                invoices_per_subscription=invoices_per_subscription,
                run=run,
            )
        except (PaymentProviderError, MalformedStripeObject) as error:
            run.errors.append(f"{subscription.pk}: {error}")
            logger.warning(
                "subscription.reconcile_failed",
                extra={"subscription_id": str(subscription.pk), "error": str(error)},
            )
            Subscription.objects.filter(pk=subscription.pk).update(last_reconciled_at=now)
    return run


def unstarted_subscriptions(*, now: datetime, limit: int):
    """INCOMPLETE rows whose Stripe id was never stored (the create's answer was lost)."""
    return Subscription.objects.filter(
        status=Subscription.Status.INCOMPLETE,
        stripe_subscription_id=None,
        created_at__lte=now - UNSTARTED_GRACE,
    ).order_by(F("last_reconciled_at").asc(nulls_first=True), "created_at")[:limit]


def unstarted_subscription_resolve(*, subscription: Subscription, now: datetime) -> None:
    """Adopts the subscription Stripe made for it (found by its metadata on the payer's
    Customer), or, after a day with none, closes it as INCOMPLETE_EXPIRED."""
    customer_id = (
        StripeCustomer.objects.filter(user_id=subscription.payer_id)
        .values_list("stripe_customer_id", flat=True)
        .first()
    )
    found = None
    if customer_id:
        found = stripe_billing.subscription_find_by_metadata(
            key="subscription_id", value=str(subscription.pk), customer_id=customer_id
        )
    with transaction.atomic(durable=True):
        locked = subscription_lock(subscription_id=subscription.pk)
        locked.last_reconciled_at = now
        if locked.stripe_subscription_id or locked.status != Subscription.Status.INCOMPLETE:
            locked.save(update_fields=["last_reconciled_at", "updated_at"])
            return
        if found is not None:
            locked.stripe_subscription_id = found.id
            locked.stripe_customer_id = customer_id
            locked.save()
            subscription_state_apply(locked, found, state_at=now, source="reconciliation")
            logger.warning(
                "subscription.adopted",
                extra={"subscription_id": str(locked.pk), "stripe_subscription_id": found.id},
            )
        elif locked.created_at <= now - UNSTARTED_EXPIRY:
            locked.status = Subscription.Status.INCOMPLETE_EXPIRED
            locked.save()
            subscription_status_change_record(
                locked,
                previous=Subscription.Status.INCOMPLETE,
                source="reconciliation",
                note="No subscription at Stripe for it after a day.",
            )
        else:
            locked.save(update_fields=["last_reconciled_at", "updated_at"])
    if found is not None:
        subscription_reconcile(subscription=Subscription.objects.get(pk=subscription.pk))


def subscription_reconcile(
    *, subscription: Subscription, invoices_per_subscription: int = 6, run=None
) -> None:
    run = run or SubscriptionReconciliationRun()
    invoices = stripe_billing.invoices_list_for_subscription(
        subscription_id=subscription.stripe_subscription_id, limit=invoices_per_subscription
    )
    granted = set(
        SubscriptionPeriod.objects.filter(
            stripe_invoice_id__in=[invoice.id for invoice in invoices]
        ).values_list("stripe_invoice_id", flat=True)
    )
    # Oldest first, so that periods are granted in their order.
    for invoice in sorted(invoices, key=lambda item: item.created_at or timezone.now()):
        if not invoice.is_paid or invoice.id in granted:
            continue
        with transaction.atomic(durable=True):
            outcome = invoice_paid_apply(invoice=invoice, source_event_id="")
        if outcome.kind == OutcomeKind.APPLIED:
            run.granted.append(invoice.id)
            logger.warning(
                "subscription.reconciled_missing_grant",
                extra={"subscription_id": str(subscription.pk), "invoice_id": invoice.id},
            )
    for period_id in SubscriptionPeriod.objects.filter(
        subscription=subscription, stripe_payment_intent_id=""
    ).values_list("pk", flat=True)[:invoices_per_subscription]:
        subscription_period_payment_attach(period_id=period_id)
    subscription_refresh(subscription_id=subscription.pk, source="reconciliation")


def subscriptions_reconcile_task() -> str:
    run = subscriptions_reconcile()
    return f"checked={run.checked} granted={len(run.granted)} errors={len(run.errors)}"
