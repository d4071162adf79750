"""Abandoned checkouts expire (issue 8, item 5): nothing stays PENDING forever.

A PENDING or FAILED purchase older than `CHECKOUT_EXPIRY_HOURS` is re-read from Stripe
with no transaction open, then decided under the purchase lock:

- its PaymentIntent succeeded → credited through `confirm_payment_completion` (a missed
  webhook);
- processing → left alone (the bank has not answered yet);
- canceled at Stripe already → CANCELLED;
- anything else → the PaymentIntent is cancelled at Stripe (idempotency key
  `checkout-expire:<purchase id>`, `cancellation_reason=abandoned` where accepted) and the
  purchase becomes CANCELLED with the reason in `failure_reason`.

A purchase whose PaymentIntent id was never stored (the initiating process died, or its
Stripe call timed out) is looked up at Stripe by its metadata and adopted; with none there
it is closed as FAILED. FAILED is included because it is not final (the buyer may retry
with another card) but leaves an open PaymentIntent at Stripe; PROCESSING never is.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from finances import stripe_gateway
from finances.errors import PaymentProviderError
from finances.locks import purchase_transaction_lock
from finances.models import OperatorAction, PurchaseTransaction
from finances.services.operator_actions import (
    RECONCILE_PERMISSION,
    operator_action_record,
    operator_permission_require,
)
from finances.services.payments import OutcomeKind, confirm_payment_completion
from finances.state_machine import PaymentReport, transition_for
from finances.stripe_payloads import MalformedStripeObject, PaymentIntentData

logger = logging.getLogger(__name__)
Status = PurchaseTransaction.Status

# PaymentIntent statuses in which Stripe accepts a cancel.
_CANCELLABLE = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
}


class ExpiryAction(StrEnum):
    CANCELLED = "CANCELLED"  # PaymentIntent cancelled (or found cancelled); purchase CANCELLED
    CREDITED = "CREDITED"  # it had been paid after all: completed and credited
    LEFT_PROCESSING = "LEFT_PROCESSING"  # Stripe is still processing the payment
    CLOSED_FAILED = "CLOSED_FAILED"  # no PaymentIntent at Stripe: FAILED
    UNCHANGED = "UNCHANGED"  # someone else (a webhook) moved it first
    ERROR = "ERROR"  # Stripe could not be asked; tried again next run


@dataclass(frozen=True)
class CheckoutExpiry:
    purchase_id: object
    action: ExpiryAction
    message: str
    stripe_status: str | None = None
    dry_run: bool = False


@dataclass
class CheckoutExpiryRun:
    dry_run: bool
    results: list[CheckoutExpiry] = field(default_factory=list)

    @property
    def errors(self) -> list[CheckoutExpiry]:
        return [result for result in self.results if result.action == ExpiryAction.ERROR]

    def count(self, action: ExpiryAction) -> int:
        return sum(1 for result in self.results if result.action == action)


def abandoned_checkouts(
    *, now: datetime, older_than: timedelta, purchase_ids=None
) -> QuerySet[PurchaseTransaction]:
    """PENDING and FAILED purchases started before `now - older_than`, oldest first.

    A FAILED purchase without a PaymentIntent id is looked for once: after that lookup
    (`last_reconciled_at` set) it is closed.
    """
    queryset = PurchaseTransaction.objects.filter(
        Q(status=Status.PENDING)
        | Q(status=Status.FAILED, stripe_payment_intent_id__isnull=False)
        | Q(status=Status.FAILED, stripe_payment_intent_id=None, last_reconciled_at=None),
        created_at__lte=now - older_than,
    ).exclude(is_test_data=True)  # test_stripe_webhook's own, like reconciliation and expiry
    if purchase_ids is not None:
        queryset = queryset.filter(pk__in=list(purchase_ids))
    return queryset.order_by("created_at")


def abandoned_checkouts_expire(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    limit: int = 200,
    older_than: timedelta | None = None,
    purchase_ids=None,
    actor=None,
) -> CheckoutExpiryRun:
    """Expires at most `limit` abandoned checkouts; `dry_run` reads Stripe, changes nothing.

    A person (`actor`) needs `finances.reconcile_purchasetransaction`, checked before Stripe
    is asked, and each purchase they expire is recorded; `actor=None` is the system."""
    operator_permission_require(actor=actor, permission=RECONCILE_PERMISSION)
    now = now or timezone.now()
    older_than = older_than or timedelta(hours=settings.CHECKOUT_EXPIRY_HOURS)
    run = CheckoutExpiryRun(dry_run=dry_run)
    candidates = abandoned_checkouts(now=now, older_than=older_than, purchase_ids=purchase_ids)
    for purchase in list(candidates[:limit]):
        result = abandoned_checkout_expire(purchase=purchase, now=now, dry_run=dry_run)
        run.results.append(result)
        if actor is not None and not dry_run:
            operator_action_record(
                actor=actor,
                action=OperatorAction.Action.EXPIRE,
                purchase=purchase,
                details={"via": "admin", "action": result.action, "message": result.message},
            )
    return run


def abandoned_checkout_expire(
    *, purchase: PurchaseTransaction, now: datetime, dry_run: bool = False
) -> CheckoutExpiry:
    """One abandoned checkout: read Stripe, then credit, leave, cancel or close it."""
    try:
        intent = _payment_intent_of(purchase)
    except (PaymentProviderError, MalformedStripeObject) as error:
        return _error(purchase, f"Stripe could not be asked: {error}")
    if intent is None:
        return _close_without_payment_intent(purchase, now=now, dry_run=dry_run)
    if intent.status == "succeeded":
        if dry_run:
            return _result(purchase, ExpiryAction.CREDITED, "Would credit: paid.", intent, True)
        return _credit(purchase, intent)
    if intent.status == "processing":
        return _result(
            purchase, ExpiryAction.LEFT_PROCESSING, "Stripe is still processing it.", intent
        )
    if dry_run:
        return _result(purchase, ExpiryAction.CANCELLED, "Would cancel.", intent, True)
    if intent.status in _CANCELLABLE:
        try:
            intent = stripe_gateway.payment_intent_cancel(
                payment_intent_id=intent.id,
                idempotency_key=f"checkout-expire:{purchase.pk}",
                reason="abandoned",
            )
        except (PaymentProviderError, MalformedStripeObject) as error:
            # It may have been paid (or cancelled) in the meantime: read it again.
            return _after_refused_cancel(purchase, error)
    if intent.status == "succeeded":
        return _credit(purchase, intent)
    if intent.status != "canceled":
        return _error(purchase, f"PaymentIntent {intent.id} is {intent.status}; not cancelled.")
    return _mark_cancelled(purchase, intent, now=now)


def _payment_intent_of(purchase: PurchaseTransaction) -> PaymentIntentData | None:
    if purchase.stripe_payment_intent_id:
        return stripe_gateway.payment_intent_retrieve(
            payment_intent_id=purchase.stripe_payment_intent_id
        )
    found = stripe_gateway.payment_intents_find_by_metadata(
        key="transaction_id", value=str(purchase.pk), created_around=purchase.created_at
    )
    ours = [
        intent
        for intent in found
        if intent.metadata.get("application") == settings.STRIPE_METADATA_APPLICATION
    ]
    if not ours:
        return None
    # A paid one wins; otherwise the newest (initiation makes one, idempotently).
    paid = [intent for intent in ours if intent.status == "succeeded"]
    intent = (paid or ours)[0]
    if intent.status in ("succeeded", "processing"):
        return intent
    # Read it again by id, as for a stored one (the search index lags behind).
    return stripe_gateway.payment_intent_retrieve(payment_intent_id=intent.id)


def _after_refused_cancel(purchase: PurchaseTransaction, error: Exception) -> CheckoutExpiry:
    try:
        intent = _payment_intent_of(purchase)
    except (PaymentProviderError, MalformedStripeObject) as second:
        return _error(purchase, f"Cancelling failed ({error}) and reading it again too: {second}")
    if intent is not None and intent.status == "succeeded":
        return _credit(purchase, intent)
    if intent is not None and intent.status == "canceled":
        return _mark_cancelled(purchase, intent, now=timezone.now())
    return _error(purchase, f"Stripe refused to cancel the PaymentIntent: {error}")


def _credit(purchase: PurchaseTransaction, intent: PaymentIntentData) -> CheckoutExpiry:
    with transaction.atomic(durable=True):
        outcome = confirm_payment_completion(payment_intent=intent, source_event_id="")
    action = (
        ExpiryAction.CREDITED if outcome.kind == OutcomeKind.APPLIED else ExpiryAction.UNCHANGED
    )
    _log(purchase, action, intent)
    return _result(purchase, action, outcome.message, intent)


def _mark_cancelled(
    purchase: PurchaseTransaction, intent: PaymentIntentData, *, now: datetime
) -> CheckoutExpiry:
    reason = (
        f"Checkout abandoned: not paid within {settings.CHECKOUT_EXPIRY_HOURS} h; "
        f"PaymentIntent {intent.id} cancelled at Stripe."
    )
    with transaction.atomic(durable=True):
        locked = purchase_transaction_lock(transaction_id=purchase.pk)
        decision = transition_for(locked.status, PaymentReport.CANCELED)
        if decision.target != Status.CANCELLED:
            return _result(purchase, ExpiryAction.UNCHANGED, decision.reason, intent)
        if locked.stripe_payment_intent_id is None:
            locked.stripe_payment_intent_id = intent.id  # adopted: found by its metadata
        locked.status = Status.CANCELLED
        locked.failure_reason = reason
        locked.last_reconciled_at = now
        locked.save(
            update_fields=[
                "status",
                "failure_reason",
                "stripe_payment_intent_id",
                "last_reconciled_at",
                "updated_at",
            ]
        )
    _log(purchase, ExpiryAction.CANCELLED, intent)
    return _result(purchase, ExpiryAction.CANCELLED, reason, intent)


def _close_without_payment_intent(
    purchase: PurchaseTransaction, *, now: datetime, dry_run: bool
) -> CheckoutExpiry:
    reason = "No PaymentIntent exists at Stripe for this purchase; closed by checkout expiry."
    if dry_run:
        return _result(purchase, ExpiryAction.CLOSED_FAILED, f"Would close: {reason}", None, True)
    with transaction.atomic(durable=True):
        locked = purchase_transaction_lock(transaction_id=purchase.pk)
        if locked.status not in (Status.PENDING, Status.FAILED) or locked.stripe_payment_intent_id:
            return _result(purchase, ExpiryAction.UNCHANGED, "It moved on meanwhile.", None)
        previous_reason = locked.failure_reason
        locked.status = Status.FAILED
        locked.failure_reason = f"{previous_reason}\n{reason}".strip()[:2000]
        locked.last_reconciled_at = now
        locked.save(update_fields=["status", "failure_reason", "last_reconciled_at", "updated_at"])
    _log(purchase, ExpiryAction.CLOSED_FAILED, None)
    return _result(purchase, ExpiryAction.CLOSED_FAILED, reason, None)


def _result(
    purchase, action: ExpiryAction, message: str, intent, dry_run: bool = False
) -> CheckoutExpiry:
    return CheckoutExpiry(purchase.pk, action, message, intent.status if intent else None, dry_run)


def _error(purchase: PurchaseTransaction, message: str) -> CheckoutExpiry:
    logger.warning(
        "checkout.expiry_failed", extra={"transaction_id": str(purchase.pk), "error": message}
    )
    return CheckoutExpiry(purchase.pk, ExpiryAction.ERROR, message)


def _log(purchase: PurchaseTransaction, action: ExpiryAction, intent) -> None:
    logger.info(
        "checkout.expired",
        extra={
            "transaction_id": str(purchase.pk),
            "payment_intent_id": intent.id if intent else None,
            "action": action.value,
        },
    )
