"""Applying what the webhooks missed, by asking Stripe.

localstripe never sends `canceled` or refund webhooks and never retries; real Stripe
gives up after three days. Reconciliation reads each open purchase's PaymentIntent (and
its refunds) and feeds it to the same payment services the webhooks use, then replays
recent Stripe events that never reached the log. Every Stripe call happens with no
database transaction open; each purchase is applied in its own short transaction.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from accounts.models import User
from finances import stripe_gateway
from finances.errors import PaymentProviderError
from finances.models import OperatorAction, PurchaseTransaction, WebhookEventLog
from finances.services.operator_actions import (
    RECONCILE_PERMISSION,
    operator_action_record,
    operator_permission_require,
)
from finances.services.payments import (
    OutcomeKind,
    PaymentOutcome,
    apply_refund,
    confirm_payment_completion,
    handle_payment_cancellation,
    handle_payment_failure,
    handle_payment_processing,
)
from finances.services.webhook_recording import webhook_event_record
from finances.services.webhooks import webhook_event_process
from finances.stripe_payloads import ChargeData, MalformedStripeObject, event_envelope_parse

logger = logging.getLogger(__name__)
Status = PurchaseTransaction.Status
OPEN_STATUSES = (Status.PENDING, Status.PROCESSING, Status.FAILED)


@dataclass(frozen=True)
class PurchaseReconciliation:
    purchase_id: object
    stripe_status: str | None
    outcomes: list[PaymentOutcome]
    error: str | None = None

    @property
    def changed(self) -> bool:
        return any(
            outcome.kind in (OutcomeKind.APPLIED, OutcomeKind.FLAGGED) for outcome in self.outcomes
        )


@dataclass
class ReconciliationRun:
    purchases: list[PurchaseReconciliation] = field(default_factory=list)
    events_listed: int = 0
    events_missing: list[str] = field(default_factory=list)
    event_errors: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [f"{item.purchase_id}: {item.error}" for item in self.purchases if item.error] + (
            self.event_errors
        )


def purchase_reconcile(
    *, purchase: PurchaseTransaction, actor: User | None = None
) -> PurchaseReconciliation:
    """Brings one purchase in line with Stripe. A person (`actor`) needs
    `finances.reconcile_purchasetransaction`, checked before Stripe is asked, and is
    recorded; `actor=None` is the system (commands record their runs themselves)."""
    operator_permission_require(actor=actor, permission=RECONCILE_PERMISSION)
    result = _purchase_bring_in_line(purchase=purchase)
    if actor is not None:
        operator_action_record(
            actor=actor,
            action=OperatorAction.Action.RECONCILE,
            purchase=purchase,
            details={"via": "admin", **reconciliation_audit_details(result)},
        )
    return result


def reconciliation_audit_details(result: PurchaseReconciliation) -> dict:
    return {
        "stripe_status": result.stripe_status,
        "changed": result.changed,
        "outcomes": [f"{outcome.kind}: {outcome.message}" for outcome in result.outcomes],
        **({"error": result.error} if result.error else {}),
    }


def _purchase_bring_in_line(*, purchase: PurchaseTransaction) -> PurchaseReconciliation:
    """Brings one purchase in line with its PaymentIntent and refunds at Stripe."""
    if not purchase.stripe_payment_intent_id:
        return PurchaseReconciliation(purchase.pk, None, [], "No PaymentIntent id was stored.")
    try:
        intent = stripe_gateway.payment_intent_retrieve(
            payment_intent_id=purchase.stripe_payment_intent_id
        )
        refunded_total = (
            stripe_gateway.refunded_amount_for_payment_intent(payment_intent_id=intent.id)
            if intent.status == "succeeded"
            else 0
        )
    except (PaymentProviderError, MalformedStripeObject) as error:
        logger.warning(
            "reconciliation.stripe_failed",
            extra={"transaction_id": str(purchase.pk), "error": str(error)},
        )
        return PurchaseReconciliation(purchase.pk, None, [], str(error))

    reconciliation_checked(purchase=purchase)
    outcomes = []
    with transaction.atomic(durable=True):
        if intent.status == "succeeded":
            outcomes.append(confirm_payment_completion(payment_intent=intent, source_event_id=""))
            if refunded_total or purchase.refunded_amount_cents:
                # Stripe's total now, applied lower as well as higher (a refund failed).
                outcomes.append(
                    apply_refund(
                        reported_at=timezone.now(),
                        charge=ChargeData(
                            id=intent.latest_charge_id or f"reconciliation:{intent.id}",
                            payment_intent_id=intent.id,
                            amount_cents=intent.amount_cents,
                            amount_refunded_cents=refunded_total,
                            currency=intent.currency,
                            livemode=intent.livemode,
                            status="succeeded",
                            metadata=intent.metadata,
                        ),
                    )
                )
        elif intent.status == "canceled":
            outcomes.append(handle_payment_cancellation(payment_intent=intent))
        elif intent.status == "processing":
            outcomes.append(handle_payment_processing(payment_intent=intent))
        elif intent.status == "requires_payment_method" and intent.failure_message:
            outcomes.append(handle_payment_failure(payment_intent=intent))
    result = PurchaseReconciliation(purchase.pk, intent.status, outcomes)
    logger.info(
        "reconciliation.purchase_checked",
        extra={
            "transaction_id": str(purchase.pk),
            "payment_intent_id": intent.id,
            "stripe_status": intent.status,
            "changed": result.changed,
        },
    )
    return result


# Open purchases are asked about again after a quarter of their age, at most every 6 h:
# at 30 min old every 7.5 min, at a day old every 6 h (checkout expiry closes them then).
_BACKOFF_FRACTION_OF_AGE = 4
_BACKOFF_CEILING = timedelta(hours=6)


def reconciliation_checked(*, purchase: PurchaseTransaction, now: datetime | None = None) -> None:
    """Remembers that Stripe was just asked about this purchase, and when to ask again."""
    now = now or timezone.now()
    age = max(now - purchase.created_at, timedelta(0))
    next_at = now + min(age / _BACKOFF_FRACTION_OF_AGE, _BACKOFF_CEILING)
    # One UPDATE is its own short transaction.
    PurchaseTransaction.objects.filter(pk=purchase.pk).update(
        last_reconciled_at=now, next_reconciliation_at=next_at
    )


def _due_first(queryset, *, now: datetime, limit: int | None):
    """Backoff and bounded work: open purchases only once their next check is due; open
    ones before completed ones; least recently checked first; at most `limit`."""
    open_not_due = Q(status__in=OPEN_STATUSES, next_reconciliation_at__gt=now)
    queryset = queryset.exclude(open_not_due).annotate(
        completed_last=Case(When(status__in=OPEN_STATUSES, then=0), default=1)
    )
    queryset = queryset.order_by(
        "completed_last", F("last_reconciled_at").asc(nulls_first=True), "created_at"
    )
    return queryset[:limit] if limit is not None else queryset


def purchases_to_reconcile(
    *,
    older_than: timedelta,
    created_from: datetime | None = None,
    created_until: datetime | None = None,
    include_completed: bool = True,
    now: datetime | None = None,
    limit: int | None = None,
):
    """Open purchases older than `older_than` and, with `include_completed`, completed ones
    (their refunds may have been missed), created in the date range; open ones only when
    their backed-off next check is due, at most `limit` (see `_due_first`)."""
    now = now or timezone.now()
    # REFUNDED too: a refund may have failed since.
    statuses = list(OPEN_STATUSES) + (
        [Status.COMPLETED, Status.REFUNDED] if include_completed else []
    )
    queryset = PurchaseTransaction.objects.filter(
        status__in=statuses, created_at__lte=now - older_than
    ).exclude(stripe_payment_intent_id=None)
    queryset = queryset.exclude(is_test_data=True)  # test_stripe_webhook's own purchases
    if created_from:
        queryset = queryset.filter(created_at__gte=created_from)
    if created_until:
        queryset = queryset.filter(created_at__lt=created_until)
    return _due_first(queryset, now=now, limit=limit)


def stripe_events_backfill(*, created_after: datetime, run: ReconciliationRun) -> None:
    """Records and processes the Stripe events of the period that never reached the log."""
    try:
        events = stripe_gateway.events_list(created_after=int(created_after.timestamp()))
    except PaymentProviderError as error:
        run.event_errors.append(f"Listing Stripe events failed: {error}")
        return
    run.events_listed = len(events)
    known = set(
        WebhookEventLog.objects.filter(
            stripe_event_id__in=[event.get("id") for event in events]
        ).values_list("stripe_event_id", flat=True)
    )
    for document in events:
        if document.get("id") in known:
            continue
        try:
            envelope = event_envelope_parse(document)
        except MalformedStripeObject as error:
            run.event_errors.append(f"Unreadable event from Stripe: {error}")
            continue
        event_log, created = webhook_event_record(
            envelope=envelope, document=document, source=WebhookEventLog.Source.RECONCILIATION
        )
        if not created:
            continue  # a delivery beat us to it
        run.events_missing.append(envelope.id)
        receipt = webhook_event_process(event_log_id=event_log.pk, envelope=envelope)
        if receipt.http_status >= 500:
            run.event_errors.append(f"Event {envelope.id} failed: {receipt.message}")


def payments_reconcile(
    *,
    older_than: timedelta = timedelta(minutes=30),
    created_from: datetime | None = None,
    created_until: datetime | None = None,
    include_completed: bool = True,
    events_since: timedelta | None = timedelta(hours=72),
    now: datetime | None = None,
    limit: int | None = None,
) -> ReconciliationRun:
    now = now or timezone.now()
    run = ReconciliationRun()
    for purchase in purchases_to_reconcile(
        older_than=older_than,
        created_from=created_from,
        created_until=created_until,
        include_completed=include_completed,
        now=now,
        limit=settings.RECONCILE_MAX_PURCHASES_PER_RUN if limit is None else limit,
    ).iterator():
        run.purchases.append(purchase_reconcile(purchase=purchase))
    if events_since is not None:
        stripe_events_backfill(created_after=now - events_since, run=run)
    return run


def reconciliation_run_record(*, run: ReconciliationRun, via: str) -> None:
    """The system's record of a run (a command, a schedule): each purchase it changed and
    the Stripe events it fetched and processed."""
    for item in run.purchases:
        if item.changed:
            operator_action_record(
                actor=None,
                action=OperatorAction.Action.RECONCILE,
                purchase=PurchaseTransaction.objects.filter(pk=item.purchase_id).first(),
                details={"via": via, **reconciliation_audit_details(item)},
            )
    if run.events_missing:
        operator_action_record(
            actor=None,
            action=OperatorAction.Action.RECONCILE,
            details={"via": via, "events_backfilled": run.events_missing},
        )
