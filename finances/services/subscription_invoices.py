"""One grant of hours per paid invoice (issue 12, items 4 to 6), and dunning.

`invoice.paid` and `invoice.payment_succeeded` (real Stripe sends both; localstripe only
the second), the create call's own answer and reconciliation all come here. Under the
subscription's lock, the invoice id (unique on `SubscriptionPeriod`) decides: the first
report grants, every other finds the period and changes nothing. The grant is its own
COMPLETED purchase (with the invoice's PaymentIntent and charge ids) and one ledger CREDIT,
so refunds, disputes, expiry and review work per period through the existing code. The
invoice's PaymentIntent carries no purchase metadata and is never credited by
`payment_intent.succeeded` (see `finances.webhooks.subscription_handlers`).
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from finances import stripe_billing
from finances.locks import subscription_lock
from finances.models import (
    PricingPlan,
    PurchaseTransaction,
    Subscription,
    SubscriptionPeriod,
)
from finances.models.plans import BILLING_PERIOD_MONTHS
from finances.services.ledger import purchase_credit_append
from finances.services.payment_outcomes import OutcomeKind, PaymentOutcome
from finances.services.subscription_customers import pricing_plan_for_stripe_plan
from finances.services.subscription_state import (
    subscription_flag,
    subscription_locate,
    subscription_status_change_record,
)
from finances.signals import purchase_completion_signals_send
from finances.stripe_billing_payloads import InvoiceData
from finances.units import add_months, minutes_to_hours

logger = logging.getLogger(__name__)
Status = Subscription.Status

ATTACH_JOB = "finances.services.subscription_invoices.subscription_period_payment_attach"
SUBSCRIPTION_RENEWED = "subscription_renewed"
SUBSCRIPTION_PAYMENT_FAILED = "subscription_payment_failed"


def _months(plan: PricingPlan) -> int:
    return BILLING_PERIOD_MONTHS[plan.billing_period]


def _period_of(
    subscription: Subscription, invoice: InvoiceData, plan: PricingPlan, paid_at: datetime
) -> tuple[datetime, datetime, bool]:
    """(start, end, advanced here). A period that does not advance past the last grant
    (localstripe has no clock) is advanced by one plan interval from that grant."""
    start, end = invoice.period_start, invoice.period_end
    last = subscription.periods.filter(purchase__isnull=False).order_by("-period_end").first()
    reported = start is not None and end is not None and end > start
    if reported and (last is None or start > last.period_start):
        return start, end, False
    base = last.period_end if last is not None else (start or paid_at)
    logger.warning(
        "subscription.period_not_advanced",
        extra={
            "subscription_id": str(subscription.pk),
            "invoice_id": invoice.id,
            "reported_start": start.isoformat() if start else None,
            "advanced_start": base.isoformat(),
        },
    )
    return base, add_months(base, _months(plan)), True


def _mismatch(subscription: Subscription, invoice: InvoiceData, plan: PricingPlan | None) -> str:
    if plan is None:
        return f"the invoice bills Stripe plan {invoice.plan_id}, which is none of ours"
    problems = []
    if invoice.amount_paid_cents != plan.price_cents:
        problems.append(f"amount {invoice.amount_paid_cents} != expected {plan.price_cents}")
    if invoice.currency != plan.currency:
        problems.append(f"currency {invoice.currency} != expected {plan.currency}")
    if invoice.livemode != subscription.livemode:
        problems.append(f"livemode {invoice.livemode} != expected {subscription.livemode}")
    return "; ".join(problems)


def invoice_paid_apply(
    *, invoice: InvoiceData, source_event_id: str = "", reported_at: datetime | None = None
) -> PaymentOutcome:
    """A paid invoice of a subscription grants its period once (caller's transaction)."""
    if not invoice.subscription_id:
        return PaymentOutcome(OutcomeKind.NOT_OURS, "Invoice of no subscription.")
    if not invoice.is_paid:
        return PaymentOutcome(OutcomeKind.NO_CHANGE, f"Invoice is {invoice.status}, not paid.")
    with transaction.atomic(savepoint=False):
        subscription = subscription_locate(
            stripe_subscription_id=invoice.subscription_id,
            metadata=invoice.subscription_metadata,
            stripe_plan_id=invoice.plan_id,
        )
        if subscription is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "Subscription is not ours.")
        existing = SubscriptionPeriod.objects.filter(stripe_invoice_id=invoice.id).first()
        if existing is not None:
            _payment_ids_complete(existing, invoice)
            return PaymentOutcome(
                OutcomeKind.NO_CHANGE, "This invoice was granted already.", existing.purchase_id
            )
        plan = pricing_plan_for_stripe_plan(stripe_plan_id=invoice.plan_id) or (
            subscription.plan if invoice.plan_id is None else None
        )
        paid_at = invoice.paid_at or reported_at or timezone.now()
        problems = _mismatch(subscription, invoice, plan)
        if not problems and subscription.status not in Subscription.GRANTING_STATUSES:
            problems = f"paid while the subscription is {subscription.status}"
        if problems:
            return _record_ungranted(
                subscription, invoice, plan, paid_at, problems, source_event_id
            )
        start, end, advanced = _period_of(subscription, invoice, plan, paid_at)
        purchase = _grant(subscription, invoice, plan, paid_at, start, end, source_event_id)
        period = SubscriptionPeriod.objects.create(
            subscription=subscription,
            stripe_invoice_id=invoice.id,
            purchase=purchase,
            plan=plan,
            period_start=start,
            period_end=end,
            period_advanced_locally=advanced,
            amount_cents=invoice.amount_paid_cents,
            currency=invoice.currency,
            stripe_payment_intent_id=invoice.payment_intent_id or "",
            stripe_charge_id=invoice.charge_id or "",
            billing_reason=invoice.billing_reason,
            source_event_id=source_event_id,
        )
        is_renewal = subscription.periods.count() > 1
        _subscription_after_payment(subscription, invoice, plan, start, end, source_event_id)
        if not invoice.payment_intent_id:
            async_task(ATTACH_JOB, period_id=period.pk, group="subscriptions")
        if is_renewal:
            _renewed_notify(subscription, period, purchase)
        logger.info(
            "subscription.period_granted",
            extra={
                "subscription_id": str(subscription.pk),
                "invoice_id": invoice.id,
                "transaction_id": str(purchase.pk),
                "minutes": purchase.minutes,
                "period_start": start.isoformat(),
                "event_id": source_event_id or None,
            },
        )
        return PaymentOutcome(OutcomeKind.APPLIED, "Period paid and hours credited.", purchase.pk)


def _grant(subscription, invoice, plan, paid_at, start, end, source_event_id):
    expires_at = add_months(end, _months(plan) * plan.rollover_periods)
    purchase = PurchaseTransaction.objects.create(
        student_id=subscription.student_id,
        purchased_by_id=None
        if subscription.payer_id == subscription.student_id
        else subscription.payer_id,
        guardian_link_id=subscription.guardian_link_id,
        livemode=subscription.livemode,
        status=PurchaseTransaction.Status.COMPLETED,
        paid_at=paid_at,
        expires_at=expires_at,
        stripe_payment_intent_id=invoice.payment_intent_id or None,
        stripe_customer_id=invoice.customer_id or subscription.stripe_customer_id,
        stripe_charge_id=(invoice.charge_id or "")[:255],
        metadata={
            "subscription_id": str(subscription.pk),
            "stripe_subscription_id": subscription.stripe_subscription_id,
            "stripe_invoice_id": invoice.id,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
        },
        **PurchaseTransaction.plan_snapshot(plan),
    )
    purchase_credit_append(
        purchase=purchase,
        source_event_id=source_event_id,
        note=f"{plan.name}: {start:%Y-%m-%d} to {end:%Y-%m-%d}",
    )
    purchase_completion_signals_send(purchase=purchase)
    return purchase


def _record_ungranted(subscription, invoice, plan, paid_at, problems, source_event_id):
    reason = f"Invoice {invoice.id} paid but {problems}. Nothing credited."
    start = invoice.period_start or paid_at
    end = invoice.period_end if invoice.period_end and invoice.period_end > start else None
    SubscriptionPeriod.objects.create(
        subscription=subscription,
        stripe_invoice_id=invoice.id,
        plan=plan or subscription.plan,
        period_start=start,
        period_end=end or add_months(start, _months(plan or subscription.plan)),
        amount_cents=invoice.amount_paid_cents,
        currency=invoice.currency[:3],
        stripe_payment_intent_id=invoice.payment_intent_id or "",
        stripe_charge_id=invoice.charge_id or "",
        billing_reason=invoice.billing_reason,
        needs_review=True,
        review_reason=reason,
        source_event_id=source_event_id,
    )
    subscription_flag(subscription, reason)
    return PaymentOutcome(OutcomeKind.FLAGGED, reason)


def _subscription_after_payment(subscription, invoice, plan, start, end, source_event_id):
    previous = subscription.status
    subscription.status = Status.ACTIVE
    subscription.latest_invoice_id = invoice.id
    if invoice.paid_at and (
        subscription.stripe_state_at is None or invoice.paid_at > subscription.stripe_state_at
    ):
        # Active since this payment: subscription events from before it are stale.
        subscription.stripe_state_at = invoice.paid_at
    subscription.failure_reason = ""
    if subscription.current_period_end is None or end >= subscription.current_period_end:
        subscription.current_period_start, subscription.current_period_end = start, end
    if subscription.scheduled_plan_id == plan.pk:
        subscription.plan, subscription.scheduled_plan = plan, None
    subscription.save()
    if previous != subscription.status:
        subscription_status_change_record(
            subscription,
            previous=previous,
            source="webhook" if source_event_id else "api",
            event_id=source_event_id,
            note=f"Invoice {invoice.id} paid.",
        )


def _payment_ids_complete(period: SubscriptionPeriod, invoice: InvoiceData) -> None:
    """A later report of the invoice may name the PaymentIntent an earlier one did not."""
    if period.stripe_payment_intent_id or not invoice.payment_intent_id:
        return
    subscription_period_payment_store(
        period=period, payment_intent_id=invoice.payment_intent_id, charge_id=invoice.charge_id
    )


def subscription_period_payment_store(
    *, period: SubscriptionPeriod, payment_intent_id: str, charge_id: str | None
) -> None:
    period.stripe_payment_intent_id = payment_intent_id
    period.stripe_charge_id = period.stripe_charge_id or (charge_id or "")
    period.save(update_fields=["stripe_payment_intent_id", "stripe_charge_id"])
    if period.purchase_id:
        purchase = PurchaseTransaction.objects.get(pk=period.purchase_id)
        if purchase.stripe_payment_intent_id is None:
            purchase.stripe_payment_intent_id = payment_intent_id
            purchase.stripe_charge_id = purchase.stripe_charge_id or (charge_id or "")[:255]
            purchase.save(
                update_fields=["stripe_payment_intent_id", "stripe_charge_id", "updated_at"]
            )


def subscription_period_payment_attach(*, period_id: int) -> None:
    """Job: finds the PaymentIntent and charge that paid a period's invoice (current API:
    invoice payments) and stores them on the period and its purchase, so that refunds and
    disputes of that charge find the period's purchase."""
    period = SubscriptionPeriod.objects.get(pk=period_id)
    if period.stripe_payment_intent_id:
        return
    intent_id, charge_id = stripe_billing.invoice_payment_find(invoice_id=period.stripe_invoice_id)
    if not intent_id:
        logger.warning("subscription.invoice_payment_not_found", extra={"period_id": period_id})
        return
    with transaction.atomic(durable=True):
        subscription_lock(subscription_id=period.subscription_id)  # step 0 of the lock order
        locked = SubscriptionPeriod.objects.get(pk=period_id)
        if not locked.stripe_payment_intent_id:
            subscription_period_payment_store(
                period=locked, payment_intent_id=intent_id, charge_id=charge_id
            )


def _renewed_notify(subscription: Subscription, period: SubscriptionPeriod, purchase) -> None:
    from notifications.services import notification_enqueue

    notification_enqueue(
        kind=SUBSCRIPTION_RENEWED,
        object_key=f"invoice:{period.stripe_invoice_id}",
        recipient=subscription.payer.email,
        context={
            "subscription_id": str(subscription.pk),
            "plan_name": purchase.plan_name,
            "hours": f"{minutes_to_hours(purchase.minutes).normalize():f}",  # "15", "7.5"
            "amount": purchase.amount,
            "currency": purchase.currency,
            "period_starts_at": period.period_start.isoformat(),
            "period_ends_at": period.period_end.isoformat(),
            "expires_at": purchase.expires_at.isoformat(),
        },
    )


def invoice_payment_failed_apply(
    *, invoice: InvoiceData, source_event_id: str = "", reported_at: datetime | None = None
) -> PaymentOutcome:
    """Dunning: a failed renewal makes it PAST_DUE and tells the payer; nothing granted,
    hours already granted stay. A first payment that fails leaves it INCOMPLETE."""
    if not invoice.subscription_id:
        return PaymentOutcome(OutcomeKind.NOT_OURS, "Invoice of no subscription.")
    with transaction.atomic(savepoint=False):
        subscription = subscription_locate(
            stripe_subscription_id=invoice.subscription_id,
            metadata=invoice.subscription_metadata,
            stripe_plan_id=invoice.plan_id,
        )
        if subscription is None:
            return PaymentOutcome(OutcomeKind.NOT_OURS, "Subscription is not ours.")
        if SubscriptionPeriod.objects.filter(stripe_invoice_id=invoice.id).exists():
            return PaymentOutcome(OutcomeKind.NO_CHANGE, "This invoice was paid meanwhile.")
        subscription.failure_reason = f"Invoice {invoice.id} payment failed."
        previous = subscription.status
        if previous == Status.ACTIVE:
            subscription.status = Status.PAST_DUE
        subscription.save(update_fields=["status", "failure_reason", "updated_at"])
        if previous != subscription.status:
            subscription_status_change_record(
                subscription,
                previous=previous,
                source="webhook",
                event_id=source_event_id,
                note=subscription.failure_reason,
            )
        if subscription.periods.exists():
            _payment_failed_notify(subscription, invoice)
        return PaymentOutcome(OutcomeKind.APPLIED, f"Subscription is {subscription.status}.")


def _payment_failed_notify(subscription: Subscription, invoice: InvoiceData) -> None:
    from notifications.services import notification_enqueue

    notification_enqueue(
        kind=SUBSCRIPTION_PAYMENT_FAILED,
        object_key=f"invoice:{invoice.id}",
        recipient=subscription.payer.email,
        context={
            "subscription_id": str(subscription.pk),
            "plan_name": subscription.plan.name,
            "amount_cents": invoice.amount_due_cents,
            "currency": invoice.currency,
            "invoice_id": invoice.id,
        },
    )
