"""Operator-initiated refunds: ask Stripe, then apply Stripe's answer like a webhook would."""

import logging

from core.errors import ApplicationError
from finances import stripe_gateway
from finances.models import PurchaseTransaction
from finances.services.reconciliation import PurchaseReconciliation, purchase_reconcile

logger = logging.getLogger(__name__)


def purchase_refund_at_stripe(
    *, purchase: PurchaseTransaction, amount_cents: int | None = None
) -> PurchaseReconciliation:
    """Refunds `amount_cents` (default: all that is left) and applies it at once.

    The idempotency key names the purchase's refund state, so a double click (or a retry
    after a timeout) cannot refund twice. The `charge.refunded` webhook that follows
    finds the refund already applied and changes nothing.
    """
    refundable = purchase.amount_cents - purchase.refunded_amount_cents
    amount = refundable if amount_cents is None else amount_cents
    if (
        purchase.status != PurchaseTransaction.Status.COMPLETED
        or not purchase.stripe_payment_intent_id
    ):
        raise ApplicationError("Only a completed purchase can be refunded.", code="not_refundable")
    if not 0 < amount <= refundable:
        raise ApplicationError(
            f"Between 1 and {refundable} cents can be refunded.", code="invalid_refund_amount"
        )
    refund = stripe_gateway.refund_create(
        payment_intent_id=purchase.stripe_payment_intent_id,
        amount_cents=amount,
        idempotency_key=f"refund:{purchase.pk}:{purchase.refunded_amount_cents}:{amount}",
    )
    logger.info(
        "refund.requested",
        extra={"transaction_id": str(purchase.pk), "refund_id": refund.id, "amount_cents": amount},
    )
    return purchase_reconcile(purchase=purchase)
